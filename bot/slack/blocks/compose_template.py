"""The compose modal's template section: the template picker with its language,
one input per value the chosen template needs, the category, the templates we
cannot send, and the preview as the customer will see it.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.blocks.block_elements import FileInputElement

from bot.domain.templates import InputKind, TemplateInput, default_language
from bot.services.compose_plan import ComposePlan
from bot.slack import ids
from bot.slack.blocks.compose_context import (
    BLOCK_FILES,
    BLOCK_PREVIEW,
    BLOCK_TEMPLATE,
    language_block,
    param_action,
    param_block,
    template_name,
)
from bot.slack.blocks.parts import (
    INPUT_MAX,
    LABEL_MAX,
    OPTION_TEXT_MAX,
    PLACEHOLDER_MAX,
    STATIC_OPTIONS_MAX,
    bold,
    button,
    context_block,
    markdown,
    plain_text,
    quoted,
)
from bot.slack.i18n import t


def _names(plan: ComposePlan) -> dict[str, list[str]]:
    """Each offered template name with its approved languages, in the plan's order."""
    names: dict[str, list[str]] = {}
    for tpl in plan.templates:
        names.setdefault(tpl.name, []).append(tpl.language)
    return names


def template_option(plan: ComposePlan, name: str, lang: str) -> Option:
    """One template, whatever its languages: its value is the variant in the agent's
    language where it has one (`default_language`); the language select picks another."""
    languages = _names(plan).get(name, [])
    language = default_language(languages, lang) or ""
    text = f"{name} ({', '.join(languages)})"
    return Option(value=f"{name}:{language}", text=plain_text(text[:OPTION_TEXT_MAX]))


def template_options(plan: ComposePlan, query: str = "", *, lang: str = "en") -> list[Option]:
    """Approved templates matching `query` (name or language), one option per name."""
    wanted = query.strip().casefold()
    return [
        template_option(plan, name, lang)
        for name, languages in _names(plan).items()
        if not wanted
        or wanted in name.casefold()
        or any(wanted in language.casefold() for language in languages)
    ][:STATIC_OPTIONS_MAX]


def template_blocks(plan: ComposePlan, lang: str) -> list[Block]:
    current = plan.template
    options = template_options(plan, lang=lang)
    initial = None
    if current is not None:
        initial = next((o for o in options if template_name(o.value) == current.name), None)
        initial = initial or template_option(plan, current.name, lang)
    element: StaticSelectElement | ExternalDataSelectElement
    if len(_names(plan)) > STATIC_OPTIONS_MAX:
        # More than a static select holds: Slack asks for options as the agent types.
        element = ExternalDataSelectElement(
            action_id=ids.COMPOSE_TEMPLATE,
            min_query_length=0,
            initial_option=initial,
            placeholder=plain_text(t("compose.template.search", lang)),
        )
    else:
        element = StaticSelectElement(
            action_id=ids.COMPOSE_TEMPLATE,
            options=options,
            initial_option=initial,
            placeholder=plain_text(t("compose.template.placeholder", lang)),
        )
    blocks: list[Block] = [
        InputBlock(
            block_id=BLOCK_TEMPLATE,
            label=plain_text(t("compose.template.label", lang)),
            element=element,
            dispatch_action=True,
        )
    ]
    unavailable = unavailable_line(plan, lang)
    if unavailable:
        blocks.append(context_block(unavailable))
    if current is None:
        return blocks
    languages = plan.languages
    if len(languages) > 1:
        choices = [
            Option(value=v.field, text=plain_text(v.language[:OPTION_TEXT_MAX])) for v in languages
        ]
        blocks.append(
            SectionBlock(
                block_id=language_block(current.name),
                text=markdown(bold(t("compose.template.language", lang))),
                accessory=StaticSelectElement(
                    action_id=ids.COMPOSE_TEMPLATE_LANGUAGE,
                    options=choices,
                    initial_option=next(c for c in choices if c.value == current.field),
                ),
            )
        )
    blocks.append(context_block(category_line(current.category, lang)))
    for n, (spec, value) in enumerate(zip(plan.inputs, plan.draft.params, strict=False), start=1):
        example = spec.example or spec.default
        blocks.append(
            InputBlock(
                block_id=param_block(current.field, n),
                label=plain_text(input_label(spec, lang)[:LABEL_MAX]),
                # A media header may come as a file instead (the input below).
                optional=not spec.required or spec.kind is InputKind.HEADER_MEDIA,
                dispatch_action=True,
                element=PlainTextInputElement(
                    action_id=param_action(n),
                    initial_value=value[:INPUT_MAX] or None,
                    max_length=INPUT_MAX,
                    placeholder=plain_text(example[:PLACEHOLDER_MAX]) if example else None,
                    dispatch_action_config=DispatchActionConfig(
                        trigger_actions_on=["on_enter_pressed"]
                    ),
                ),
            )
        )
    media = next((s for s in plan.inputs if s.kind is InputKind.HEADER_MEDIA), None)
    if media is not None:
        blocks.append(
            InputBlock(
                block_id=BLOCK_FILES,
                label=plain_text(t(f"compose.input.header_file.{media.media}", lang)[:LABEL_MAX]),
                optional=True,
                element=FileInputElement(action_id=ids.COMPOSE_FILES, max_files=1),
            )
        )
    blocks.append(
        SectionBlock(
            block_id=BLOCK_PREVIEW,
            text=markdown(bold(t("compose.preview", lang)) + "\n" + preview_text(plan, lang)),
        )
    )
    if plan.inputs:
        blocks.append(
            ActionsBlock(
                block_id="compose_preview_actions",
                elements=[
                    button(t("compose.button.preview", lang), ids.COMPOSE_PREVIEW, current.field)
                ],
            )
        )
    return blocks


def input_label(spec: TemplateInput, lang: str) -> str:
    """What one template input asks for ("Parameter 2", "Header image: https link", …)."""
    if spec.kind is InputKind.BODY:
        return t("compose.param.label", lang, n=spec.label)
    if spec.kind is InputKind.HEADER_MEDIA:
        return t(f"compose.input.header_media.{spec.media}", lang)
    return t(f"compose.input.{spec.kind.value}", lang, label=spec.label)


def category_line(category: str, lang: str) -> str:
    """The template's category, with the note that Meta bills template messages by it."""
    key = f"compose.template.category.{category}"
    if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
        key = "compose.template.category.other"
    return t("compose.template.category", lang, category=t(key, lang, category=category or "—"))


#: How many unavailable templates the line names (the rest are counted).
UNAVAILABLE_SHOWN = 10


def unavailable_line(plan: ComposePlan, lang: str) -> str:
    """The approved templates we cannot send from here, each with its reason."""
    items = []
    for template in plan.unavailable[:UNAVAILABLE_SHOWN]:
        key, part = template.unsupported or ("compose.template.unsupported.other", "")
        reason = t(key, lang, part=part)
        items.append(
            t(
                "compose.template.unavailable.item",
                lang,
                name=f"{template.name} ({template.language})",
                reason=reason,
            )
        )
    if not items:
        return ""
    hidden = len(plan.unavailable) - len(items)
    return t(
        "compose.template.unavailable",
        lang,
        templates="; ".join(items) + (f" (+{hidden})" if hidden > 0 else ""),
    )


def preview_text(plan: ComposePlan, lang: str) -> str:
    """Header, body, footer and buttons as the customer will see them."""
    shown = plan.template_preview
    if shown is None:
        return ""
    lines: list[str] = []
    if shown.media:
        link = shown.media_link or "…"
        lines.append(t(f"compose.preview.media.{shown.media}", lang, link=link))
    if shown.header:
        lines.append(bold(shown.header))
    lines.append(shown.body)
    if shown.footer:
        lines.append(f"_{shown.footer}_")
    for b in shown.buttons:
        known = ("URL", "QUICK_REPLY", "COPY_CODE", "PHONE_NUMBER")
        key = f"compose.preview.button.{b.kind if b.kind in known else 'other'}"
        lines.append(t(key, lang, text=b.text, target=b.target))
    return quoted("\n".join(lines))  # escaped there
