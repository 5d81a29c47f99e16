"""The compose modal: Block Kit for following up on a contact.

Pure functions from the composer's plan (`bot.services.compose.ComposePlan`)
to slack-sdk models (`bot.slack.compose_form` reads the modal back; its ids and
context are `compose_context`, its template section `compose_template`). The modal
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

from collections.abc import Sequence
from datetime import datetime
from functools import cache, lru_cache

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.views import View

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.limits import Unit
from bot.domain.local_time import customer_zone
from bot.domain.media import human_size
from bot.domain.windows import Form, SendMode
from bot.services.compose_checks import Field, FieldProblem
from bot.services.compose_plan import ChannelOption, ComposePlan, Draft
from bot.slack import ids
from bot.slack.blocks.compose_context import (
    BLOCK_CHANNEL,
    BLOCK_FILES,
    BLOCK_FORM,
    BLOCK_TAG,
    BLOCK_TAKEOVER,
    BLOCK_TEMPLATE,
    BLOCK_TEXT,
    ComposeContext,
    param_block,
)
from bot.slack.blocks.compose_template import template_blocks
from bot.slack.blocks.compose_when import remind_block, wait_note, when_blocks
from bot.slack.blocks.contact_blocks import channel_lines, contact_summary
from bot.slack.blocks.parts import (
    INPUT_MAX,
    OPTION_TEXT_MAX,
    STATIC_OPTIONS_MAX,
    bold,
    context_block,
    markdown,
    number_text,
    plain_text,
    problem_text,
    section,
)
from bot.slack.i18n import t
from bot.slack.payloads import BlockTemplate, BuiltBlock, Slot
from bot.slack.reach_text import unreachable_text
from bot.slack.render import escape, reason_params, reason_text

_FORM_KEYS = {
    Form.TEXT: "compose.form.text",
    Form.TEMPLATE: "compose.form.template",
    Form.TAGGED: "compose.form.tagged",
}


@lru_cache(maxsize=1024)
def _channel_select(labels: tuple[tuple[str, str], ...], chosen: str, lang: str) -> Block:
    """The channel select for these (channel, label) pairs: the same in many
    modals (the labels say only closed or unreachable), so built once."""
    options = [Option(value=value, text=plain_text(label)) for value, label in labels]
    label = t("compose.channel.label", lang)
    return BuiltBlock(_select(BLOCK_CHANNEL, label, ids.COMPOSE_CHANNEL, options, chosen))


def _select(
    block_id: str, label: str, action_id: str, options: list[Option], chosen: str
) -> SectionBlock:
    """A select that changes the modal's layout, in a section (no input block)."""
    return SectionBlock(
        block_id=block_id,
        text=markdown(bold(label)),
        accessory=StaticSelectElement(
            action_id=action_id,
            options=options,
            initial_option=next((o for o in options if o.value == chosen), None),
        ),
    )


def _channel_label(option: ChannelOption, lang: str) -> str:
    """A channel as the select names it: with its state when it takes no text now."""
    label = CHANNEL_LABELS[option.channel]
    unreachable = option.unreachable
    if unreachable is not None and unreachable.refuses_all:
        # Option texts are plain: the date as the day it started (UTC).
        since = unreachable.since.strftime("%Y-%m-%d")
        label = t("compose.channel.unreachable", lang, channel=label, since=since)
    elif not option.open:
        label = t("compose.channel.closed", lang, channel=label)
    return label[:OPTION_TEXT_MAX]


def _form_option(form: Form, plan: ComposePlan, lang: str) -> Option:
    key = _FORM_KEYS[form]
    option = plan.option
    if form is Form.TEXT and option is not None:
        if option.decision.mode is SendMode.HUMAN_AGENT:
            key = "compose.form.text_human_agent"
        elif option.decision.mode is SendMode.CHATBOT:
            key = "compose.form.text_chatbot"
    return Option(value=form.value, text=plain_text(t(key, lang)[:OPTION_TEXT_MAX]))


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


#: What the agent typed before, kept in the text input when the modal is redrawn.
_TYPED = Slot("typed", INPUT_MAX)


def _text_input(plan: ComposePlan, lang: str) -> Block:
    """The message input, with what it may hold on the chosen channel as its hint."""
    limit = plan.limit
    hint = None
    if limit is not None and plan.draft.channel is not None:
        key = "compose.text.hint_bytes" if limit.unit is Unit.BYTES else "compose.text.hint"
        hint = t(
            key,
            lang,
            limit=number_text(limit.amount),
            channel=CHANNEL_LABELS[plan.draft.channel],
        )
    typed = plan.draft.text[:INPUT_MAX]
    if not typed:
        return _text_inputs(hint, False, lang).filled({})
    return _text_inputs(hint, True, lang).filled({_TYPED: typed})


@lru_cache(maxsize=256)
def _text_inputs(hint: str | None, typed: bool, lang: str) -> BlockTemplate:
    """The message input per hint and language: its models built once."""
    block = InputBlock(
        block_id=BLOCK_TEXT,
        label=plain_text(t("compose.text.label", lang)),
        hint=plain_text(hint) if hint else None,
        element=PlainTextInputElement(
            action_id=ids.COMPOSE_TEXT,
            multiline=True,
            max_length=INPUT_MAX,
            initial_value=_TYPED.placeholder if typed else None,
            placeholder=plain_text(t("compose.text.placeholder", lang)),
        ),
    )
    return BlockTemplate(block, [_TYPED] if typed else [])


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


def _other_channels(plan: ComposePlan, lang: str) -> Block | None:
    """The contact's other channels, each with what it allows now."""
    others = [o for o in plan.options if o.channel != plan.draft.channel]
    if not others:
        return None
    lines = channel_lines(plan.contact, [o.decision for o in others], lang)
    return context_block(bold(t("compose.channel.others", lang)), *lines)


#: Files an agent may attach to one message.
MAX_FILES = 3


def _file_blocks(plan: ComposePlan, context: ComposeContext, lang: str) -> list[Block]:
    """The files shared in the thread (the shortcut), or an input to attach some."""
    if context.files:
        names = ", ".join(f"{escape(f.name)} ({human_size(f.size)})" for f in context.files)
        return [context_block(t("compose.files.shared", lang, files=names))]
    return [_file_input(lang)]


@cache
def _file_input(lang: str) -> Block:
    """The file input: the same in every modal of a language, so kept as JSON."""
    return BuiltBlock(
        InputBlock(
            block_id=BLOCK_FILES,
            label=plain_text(t("compose.files.label", lang)),
            optional=True,
            element=FileInputElement(action_id=ids.COMPOSE_FILES, max_files=MAX_FILES),
        )
    )


def compose_modal(plan: ComposePlan, context: ComposeContext, now: datetime, lang: str) -> View:
    """The compose modal for `plan`; `context` says where to answer the agent."""
    draft = plan.draft
    has_text_input = (plan.may_send and draft.form in (Form.TEXT, Form.TAGGED)) or plan.may_wait
    meta = ComposeContext(
        context.contact_id,
        context.origin,
        draft.channel,
        draft.form,
        text="" if has_text_input else draft.text,
        files=context.files,
    )
    blocks: list[Block] = [section(contact_summary(plan.contact, now, lang), "compose_contact")]
    option = plan.option
    if len(plan.options) > 1:
        labels = tuple((o.channel.value, _channel_label(o, lang)) for o in plan.options)
        blocks.append(_channel_select(labels, draft.channel.value if draft.channel else "", lang))
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
        if plan.may_wait:
            # Nothing may go now, only because of the window: the message may
            # wait for the customer's next message.
            blocks.extend([wait_note(lang), _text_input(plan, lang), remind_block(lang)])
            return View(
                type="modal",
                callback_id=ids.COMPOSE_VIEW,
                title=plain_text(t("compose.title", lang)),
                submit=plain_text(t("schedule.compose.wait.submit", lang)),
                close=plain_text(t("button.cancel", lang)),
                private_metadata=meta.pack(),
                blocks=blocks,
            )
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
        label = t("compose.form.label", lang)
        blocks.append(_select(BLOCK_FORM, label, ids.COMPOSE_FORM, forms, draft.form.value))
    notice = _notice(plan, lang)
    if notice:
        blocks.append(section(f"ℹ️ {notice}", "compose_notice"))
    if draft.form is Form.TEMPLATE:
        blocks.extend(template_blocks(plan, lang))
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
        blocks.extend(_file_blocks(plan, context, lang))
    zone = customer_zone(set_zone=plan.contact.time_zone, phone=plan.contact.phone)
    blocks.extend(when_blocks(now, zone, lang))
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
        # Under the message: the file input is not there for a shared file.
        Field.FILES: main,
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
