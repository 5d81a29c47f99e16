"""The compose modal: Block Kit for following up on a contact.

Pure functions from the composer's plan (`bot.services.compose.ComposePlan`)
to slack-sdk models (`bot.slack.compose_form` reads the modal back). The modal
adapts to the channel and its window (`views.update` with the view's hash,
driven by the selects' block actions): free text, the HUMAN_AGENT notice, a
message-tag picker, a WhatsApp template picker with one input per parameter
and a preview, the Viber chatbot-initiated notice, WeChat's messages and time
left, or no Send button at all with the reason and what would work instead.

Selects that change the layout sit in sections (so a modal where nothing may
be sent has no input block and needs no Send button); what is typed or picked
for sending sits in input blocks (so Slack can show field errors on them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    CheckboxesElement,
    ContextBlock,
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.views import View

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.limits import Unit
from bot.domain.templates import InputKind, TemplateInput, default_language
from bot.domain.windows import Form, SendMode
from bot.services.compose import (
    ChannelOption,
    ComposePlan,
    Draft,
    Field,
    FieldProblem,
)
from bot.slack import ids
from bot.slack.blocks.contact_blocks import channel_lines, contact_summary
from bot.slack.blocks.parts import (
    bold,
    button,
    context_block,
    markdown,
    number_text,
    plain_text,
    problem_text,
    quoted,
)
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.origin import Origin
from bot.slack.reach_text import unreachable_text
from bot.slack.render import escape, reason_params, reason_text

# --- block ids -------------------------------------------------------------------------
BLOCK_CHANNEL = "compose_channel"
BLOCK_FORM = "compose_form"
BLOCK_TEMPLATE = "compose_template"
BLOCK_TAG = "compose_tag"
BLOCK_TEXT = "compose_text"
BLOCK_TAKEOVER = "compose_takeover"
BLOCK_PREVIEW = "compose_preview"
PARAM_BLOCK = "compose_param:"  # + template digest + ":" + number
LANGUAGE_BLOCK = "compose_template_language:"  # + the template name's digest


#: Slack's limits: plain-text input length, select options, option text,
#: private metadata.
INPUT_MAX = 3000
STATIC_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
LABEL_MAX = 2000
PLACEHOLDER_MAX = 150
METADATA_MAX = 3000

_FORM_KEYS = {
    Form.TEXT: "compose.form.text",
    Form.TEMPLATE: "compose.form.template",
    Form.TAGGED: "compose.form.tagged",
}


# --- the modal's context (private_metadata) ------------------------------------------------


@dataclass(frozen=True)
class ComposeContext:
    """What the modal carries between updates: the contact, where to answer, and
    the channel and form it was rendered for (to tell a changed select)."""

    contact_id: str
    origin: Origin = dataclasses.field(default_factory=Origin)
    channel: Channel | None = None
    form: Form | None = None
    #: The message typed so far, kept while the modal shows no text input (a
    #: channel where nothing may go, the template form), so it is not lost.
    text: str = ""

    def pack(self) -> str:
        """As `private_metadata` (3,000 characters at most: a kept text is cut to fit)."""
        text = self.text
        while True:
            packed = json.dumps(
                {
                    "c": self.contact_id,
                    "o": self.origin.channel,
                    "t": self.origin.thread_ts,
                    "ch": self.channel.value if self.channel else "",
                    "f": self.form.value if self.form else "",
                    "x": text,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            if len(packed) <= METADATA_MAX or not text:
                return packed
            text = text[: max(0, len(text) - (len(packed) - METADATA_MAX))]

    @classmethod
    @reads_payload
    def unpack(cls, value: str) -> ComposeContext:
        data = json.loads(value)
        return cls(
            contact_id=str(data["c"]),
            origin=Origin(str(data.get("o") or ""), str(data.get("t") or "")),
            channel=Channel(data["ch"]) if data.get("ch") else None,
            form=Form(data["f"]) if data.get("f") else None,
            text=str(data.get("x") or ""),
        )


def template_digest(field: str | None) -> str:
    """A short stable id of a template: its parameter inputs' block ids contain it,
    so picking another template starts with empty inputs."""
    return hashlib.blake2b((field or "").encode(), digest_size=4).hexdigest()


def template_name(field: str) -> str:
    """`name` of a template's `name:language`."""
    return field.rpartition(":")[0]


def param_block(field: str | None, n: int) -> str:
    """Input `n`'s block id: per template name, so its values stay when only the
    language changes and go when another template is picked."""
    return f"{PARAM_BLOCK}{template_digest(template_name(field or ''))}:{n}"


def param_action(n: int) -> str:
    return f"{ids.COMPOSE_PARAM}_{n}"


#: The parameter inputs' action ids (`compose_param_1`, …).
PARAM_ACTION = re.compile(rf"^{ids.COMPOSE_PARAM}_\d+$")


# --- the compose modal ----------------------------------------------------------------------


def _channel_option(option: ChannelOption, lang: str) -> Option:
    label = CHANNEL_LABELS[option.channel]
    unreachable = option.unreachable
    if unreachable is not None and unreachable.refuses_all:
        # Option texts are plain: the date as the day it started (UTC).
        since = unreachable.since.strftime("%Y-%m-%d")
        label = t("compose.channel.unreachable", lang, channel=label, since=since)
    elif not option.open:
        label = t("compose.channel.closed", lang, channel=label)
    return Option(value=option.channel.value, text=plain_text(label[:OPTION_TEXT_MAX]))


def _form_option(form: Form, plan: ComposePlan, lang: str) -> Option:
    key = _FORM_KEYS[form]
    option = plan.option
    if form is Form.TEXT and option is not None:
        if option.decision.mode is SendMode.HUMAN_AGENT:
            key = "compose.form.text_human_agent"
        elif option.decision.mode is SendMode.CHATBOT:
            key = "compose.form.text_chatbot"
    return Option(value=form.value, text=plain_text(t(key, lang)[:OPTION_TEXT_MAX]))


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


def language_block(name: str) -> str:
    """The language select's block id: per template name, so a new template's select
    starts from its own default."""
    return f"{LANGUAGE_BLOCK}{template_digest(name)}"


def _notice(plan: ComposePlan, lang: str) -> str | None:
    """What the agent should know about how this goes out."""
    option = plan.option
    if option is None:
        return None
    decision, form = option.decision, plan.draft.form
    params = reason_params(decision.reason.params, lang)
    if form is Form.TEXT and decision.mode is SendMode.HUMAN_AGENT:
        return t("compose.notice.human_agent", lang)
    if form is Form.TEXT and decision.mode is SendMode.CHATBOT:
        used, limit = int(params.get("used", 0)), int(params.get("limit", 0))
        key = "compose.notice.chatbot" if used < limit else "compose.notice.chatbot_paid"
        return t(key, lang, used=number_text(used), limit=number_text(limit))
    if form is Form.TEXT and decision.counts_toward_wechat_window:
        return t(
            "compose.notice.wechat",
            lang,
            remaining=decision.remaining or 0,
            limit=decision.counter_limit or 0,
            closes_in=params.get("closes_in", "—"),
        )
    if form is Form.TAGGED:
        return t("compose.notice.tags", lang)
    if form is Form.TEMPLATE and decision.mode is SendMode.TEMPLATE:
        return t("compose.notice.template_only", lang)
    return None


def _text_input(plan: ComposePlan, lang: str) -> InputBlock:
    limit = plan.limit
    hint = None
    if limit is not None and plan.draft.channel is not None:
        key = "compose.text.hint_bytes" if limit.unit is Unit.BYTES else "compose.text.hint"
        hint = plain_text(
            t(
                key,
                lang,
                limit=number_text(limit.amount),
                channel=CHANNEL_LABELS[plan.draft.channel],
            )
        )
    return InputBlock(
        block_id=BLOCK_TEXT,
        label=plain_text(t("compose.text.label", lang)),
        hint=hint,
        element=PlainTextInputElement(
            action_id=ids.COMPOSE_TEXT,
            multiline=True,
            max_length=INPUT_MAX,
            initial_value=plan.draft.text[:INPUT_MAX] or None,
            placeholder=plain_text(t("compose.text.placeholder", lang)),
        ),
    )


def _template_blocks(plan: ComposePlan, lang: str) -> list[Block]:
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
    unavailable = _unavailable_line(plan, lang)
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
                optional=not spec.required,
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
    blocks.append(
        SectionBlock(
            block_id=BLOCK_PREVIEW,
            text=markdown(bold(t("compose.preview", lang)) + "\n" + _preview_text(plan, lang)),
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


def _unavailable_line(plan: ComposePlan, lang: str) -> str:
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


def _preview_text(plan: ComposePlan, lang: str) -> str:
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


def _blocked_blocks(plan: ComposePlan, lang: str) -> list[Block]:
    """Nothing may be sent on the chosen channel: why, and what would work."""
    option = plan.option
    channel = CHANNEL_LABELS[plan.draft.channel] if plan.draft.channel else "—"
    unreachable = option.unreachable if option is not None else None
    if option is not None and unreachable is not None and unreachable.refuses_all:
        # The customer cannot be reached here: why, since when, and where they can.
        lines = [
            t("compose.blocked", lang, channel=channel),
            unreachable_text(option.channel, unreachable, lang),
        ]
        instead = [CHANNEL_LABELS[o.channel] for o in plan.alternatives]
        if instead:
            lines.append(t("reach.instead", lang, channels=", ".join(instead)))
        else:
            name = escape(plan.contact.display_name)
            lines.append(t("compose.blocked.nowhere", lang, name=name))
        return [SectionBlock(block_id="compose_blocked", text=markdown("\n".join(lines)))]
    reasons = [reason_text(r, lang) for r in option.blocked] if option else []
    blocks: list[Block] = [
        SectionBlock(
            block_id="compose_blocked",
            text=markdown("\n".join([t("compose.blocked", lang, channel=channel), *reasons])),
        )
    ]
    if plan.alternatives:
        # What each of them allows is listed under the channel select.
        blocks.append(SectionBlock(text=markdown(t("compose.blocked.elsewhere", lang))))
    else:
        name = escape(plan.contact.display_name)
        blocks.append(SectionBlock(text=markdown(t("compose.blocked.nowhere", lang, name=name))))
    return blocks


def _other_channels(plan: ComposePlan, lang: str) -> ContextBlock | None:
    """The contact's other channels, each with what it allows now."""
    others = [o for o in plan.options if o.channel != plan.draft.channel]
    if not others:
        return None
    lines = channel_lines(plan.contact, [o.decision for o in others], lang)
    return context_block(bold(t("compose.channel.others", lang)), *lines)


def compose_modal(plan: ComposePlan, context: ComposeContext, now: datetime, lang: str) -> View:
    """The compose modal for `plan`; `context` says where to answer the agent."""
    draft = plan.draft
    has_text_input = plan.may_send and draft.form in (Form.TEXT, Form.TAGGED)
    meta = ComposeContext(
        context.contact_id,
        context.origin,
        draft.channel,
        draft.form,
        text="" if has_text_input else draft.text,
    )
    blocks: list[Block] = [
        SectionBlock(
            block_id="compose_contact", text=markdown(contact_summary(plan.contact, now, lang))
        )
    ]
    option = plan.option
    if len(plan.options) > 1:
        options = [_channel_option(o, lang) for o in plan.options]
        chosen = next((o for o in options if o.value == (draft.channel or "")), None)
        blocks.append(
            SectionBlock(
                block_id=BLOCK_CHANNEL,
                text=markdown(bold(t("compose.channel.label", lang))),
                accessory=StaticSelectElement(
                    action_id=ids.COMPOSE_CHANNEL, options=options, initial_option=chosen
                ),
            )
        )
    if option is not None:
        blocks.append(context_block(*channel_lines(plan.contact, [option.decision], lang)))
    quota = plan.line_quota
    if option is not None and option.channel is Channel.LINE and quota and quota.limit is not None:
        left = t("compose.line_quota", lang, remaining=quota.remaining, limit=quota.limit)
        blocks.append(context_block(left))
    others = _other_channels(plan, lang)
    if others is not None:
        blocks.append(others)
    if not plan.may_send:
        if option is None:
            name = escape(plan.contact.display_name)
            blocks.append(SectionBlock(text=markdown(t("compose.no_channel", lang, name=name))))
        else:
            blocks.extend(_blocked_blocks(plan, lang))
        return View(
            type="modal",
            callback_id=ids.COMPOSE_VIEW,
            title=plain_text(t("compose.title", lang)),
            close=plain_text(t("button.close", lang)),
            private_metadata=meta.pack(),
            blocks=blocks,
        )
    assert option is not None and draft.form is not None
    if plan.takeover_from:
        blocks.append(
            SectionBlock(
                text=markdown(t("compose.takeover.notice", lang, agent=f"<@{plan.takeover_from}>"))
            )
        )
        confirm = Option(value="yes", text=plain_text(t("compose.takeover.confirm", lang)))
        blocks.append(
            InputBlock(
                block_id=BLOCK_TAKEOVER,
                label=plain_text(t("compose.takeover.label", lang)),
                optional=True,
                element=CheckboxesElement(
                    action_id=ids.TAKEOVER_CONFIRM,
                    options=[confirm],
                    initial_options=[confirm] if draft.takeover else None,
                ),
            )
        )
    if len(option.forms) > 1:
        forms = [_form_option(f, plan, lang) for f in option.forms]
        blocks.append(
            SectionBlock(
                block_id=BLOCK_FORM,
                text=markdown(bold(t("compose.form.label", lang))),
                accessory=StaticSelectElement(
                    action_id=ids.COMPOSE_FORM,
                    options=forms,
                    initial_option=next(f for f in forms if f.value == draft.form.value),
                ),
            )
        )
    notice = _notice(plan, lang)
    if notice:
        blocks.append(SectionBlock(block_id="compose_notice", text=markdown(f"ℹ️ {notice}")))
    if draft.form is Form.TEMPLATE:
        blocks.extend(_template_blocks(plan, lang))
    else:
        if draft.form is Form.TAGGED:
            tags = [Option(value=tag, text=plain_text(tag[:OPTION_TEXT_MAX])) for tag in plan.tags]
            blocks.append(
                InputBlock(
                    block_id=BLOCK_TAG,
                    label=plain_text(t("compose.tag.label", lang)),
                    element=StaticSelectElement(
                        action_id=ids.COMPOSE_TAG,
                        options=tags[:STATIC_OPTIONS_MAX],
                        initial_option=next((o for o in tags if o.value == draft.tag), None),
                        placeholder=plain_text(t("compose.tag.placeholder", lang)),
                    ),
                )
            )
        blocks.append(_text_input(plan, lang))
    return View(
        type="modal",
        callback_id=ids.COMPOSE_VIEW,
        title=plain_text(t("compose.title", lang)),
        submit=plain_text(t("compose.submit", lang)),
        close=plain_text(t("button.cancel", lang)),
        private_metadata=meta.pack(),
        blocks=blocks,
    )


def field_errors(problems: Sequence[FieldProblem], submitted: Draft, lang: str) -> dict[str, str]:
    """Problems as Slack's `response_action: errors` (input block id -> words)."""
    main = BLOCK_TEMPLATE if submitted.form is Form.TEMPLATE else BLOCK_TEXT
    where = {
        Field.FORM: main,
        Field.TEXT: BLOCK_TEXT,
        Field.TEMPLATE: BLOCK_TEMPLATE,
        Field.TAG: BLOCK_TAG,
        Field.TAKEOVER: BLOCK_TAKEOVER,
    }
    errors: dict[str, str] = {}
    for problem in problems:
        if problem.field is Field.PARAM:
            block = param_block(submitted.template, problem.index)
        else:
            block = where[problem.field]
        text = problem_text(problem, lang)
        errors[block] = f"{errors[block]} · {text}" if block in errors else text
    return errors
