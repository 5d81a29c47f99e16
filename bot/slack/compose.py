"""Block Kit for following up: the compose modal, the close modal, and the answers.

Pure functions from the composer's plan (`bot.services.compose.ComposePlan`)
to slack-sdk models, and back from a modal's state to a `Draft`. The modal
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

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.views import View

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.limits import Unit
from bot.domain.models import Contact
from bot.domain.reachability import Unreachable
from bot.domain.windows import Decision, Form, SendMode
from bot.services.compose import (
    ChannelOption,
    ComposePlan,
    Draft,
    Field,
    FieldProblem,
    LineOutcome,
    LineResult,
)
from bot.slack import ids
from bot.slack.contact_blocks import button, channel_lines, contact_summary
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.reach_text import reason_text as reach_reason_text
from bot.slack.reach_text import since_text, unreachable_text
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
BLOCK_CLOSE_REASON = "close_reason"

#: Slack's limits: plain-text input length, section text, select options,
#: option text and value, button value.
INPUT_MAX = 3000
SECTION_MAX = 3000
STATIC_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
METADATA_MAX = 3000
#: A closing reason is a short note for managers.
CLOSE_REASON_MAX = 500
#: Longest one-line message a "choose the contact" button carries
#: (`contact_blocks.choices_message` keeps 1,500 characters).
CHOICE_MESSAGE_MAX = 1500
#: A quoted message or preview in an answer.
QUOTE_MAX = 1500

_FORM_KEYS = {
    Form.TEXT: "compose.form.text",
    Form.TEMPLATE: "compose.form.template",
    Form.TAGGED: "compose.form.tagged",
}


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=True)


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text[:SECTION_MAX])


def _bold(text: str) -> str:
    return f"*{text}*"


def _context(*lines: str) -> ContextBlock:
    return ContextBlock(elements=[_md(line[:2000]) for line in lines[:10]])


def _quote(text: str) -> str:
    body = escape(text[:QUOTE_MAX]) + ("…" if len(text) > QUOTE_MAX else "")
    return "\n".join(f">{line}" for line in body.splitlines() or [""])


def _number(value: int) -> str:
    return f"{value:,}"


def problem_text(problem: FieldProblem, lang: str) -> str:
    """A composer problem (or a window reason it carries) in words."""
    params = reason_params(problem.params, lang)
    words = {k: _number(v) if isinstance(v, int) else v for k, v in params.items()}
    return t(problem.key, lang, **words)


# --- the modal's context (private_metadata) ------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where the agent started: a channel (and thread) to answer them in, or none (DM)."""

    channel: str = ""
    thread_ts: str = ""


@dataclass(frozen=True)
class ComposeContext:
    """What the modal carries between updates: the contact, where to answer, and
    the channel and form it was rendered for (to tell a changed select)."""

    contact_id: str
    origin: Origin = Origin()
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


def param_block(field: str | None, n: int) -> str:
    return f"{PARAM_BLOCK}{template_digest(field)}:{n}"


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
    return Option(value=option.channel.value, text=_plain(label[:OPTION_TEXT_MAX]))


def _form_option(form: Form, plan: ComposePlan, lang: str) -> Option:
    key = _FORM_KEYS[form]
    option = plan.option
    if form is Form.TEXT and option is not None:
        if option.decision.mode is SendMode.HUMAN_AGENT:
            key = "compose.form.text_human_agent"
        elif option.decision.mode is SendMode.CHATBOT:
            key = "compose.form.text_chatbot"
    return Option(value=form.value, text=_plain(t(key, lang)[:OPTION_TEXT_MAX]))


def template_option(field: str, name: str, language: str) -> Option:
    return Option(value=field, text=_plain(f"{name} ({language})"[:OPTION_TEXT_MAX]))


def template_options(plan: ComposePlan, query: str = "") -> list[Option]:
    """Approved templates matching `query` (name or language), as select options."""
    wanted = query.strip().casefold()
    return [
        template_option(tpl.field, tpl.name, tpl.language)
        for tpl in plan.templates
        if not wanted or wanted in tpl.name.casefold() or wanted in tpl.language.casefold()
    ][:STATIC_OPTIONS_MAX]


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
        return t(key, lang, used=_number(used), limit=_number(limit))
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
        hint = _plain(
            t(
                key,
                lang,
                limit=_number(limit.amount),
                channel=CHANNEL_LABELS[plan.draft.channel],
            )
        )
    return InputBlock(
        block_id=BLOCK_TEXT,
        label=_plain(t("compose.text.label", lang)),
        hint=hint,
        element=PlainTextInputElement(
            action_id=ids.COMPOSE_TEXT,
            multiline=True,
            max_length=INPUT_MAX,
            initial_value=plan.draft.text[:INPUT_MAX] or None,
            placeholder=_plain(t("compose.text.placeholder", lang)),
        ),
    )


def _template_blocks(plan: ComposePlan, lang: str) -> list[Block]:
    current = plan.template
    initial = template_option(current.field, current.name, current.language) if current else None
    element: StaticSelectElement | ExternalDataSelectElement
    if len(plan.templates) > STATIC_OPTIONS_MAX:
        # More than a static select holds: Slack asks for options as the agent types.
        element = ExternalDataSelectElement(
            action_id=ids.COMPOSE_TEMPLATE,
            min_query_length=0,
            initial_option=initial,
            placeholder=_plain(t("compose.template.search", lang)),
        )
    else:
        element = StaticSelectElement(
            action_id=ids.COMPOSE_TEMPLATE,
            options=template_options(plan),
            initial_option=initial,
            placeholder=_plain(t("compose.template.placeholder", lang)),
        )
    blocks: list[Block] = [
        InputBlock(
            block_id=BLOCK_TEMPLATE,
            label=_plain(t("compose.template.label", lang)),
            element=element,
            dispatch_action=True,
        )
    ]
    if current is None:
        return blocks
    for n, value in enumerate(plan.draft.params, start=1):
        blocks.append(
            InputBlock(
                block_id=param_block(current.field, n),
                label=_plain(t("compose.param.label", lang, n=current.parameter_label(n))),
                dispatch_action=True,
                element=PlainTextInputElement(
                    action_id=param_action(n),
                    initial_value=value[:INPUT_MAX] or None,
                    max_length=INPUT_MAX,
                    dispatch_action_config=DispatchActionConfig(
                        trigger_actions_on=["on_enter_pressed"]
                    ),
                ),
            )
        )
    preview = plan.preview or ""
    blocks.append(
        SectionBlock(
            block_id=BLOCK_PREVIEW,
            text=_md(_bold(t("compose.preview", lang)) + "\n" + _quote(preview)),
        )
    )
    if current.parameter_count:
        blocks.append(
            ActionsBlock(
                block_id="compose_preview_actions",
                elements=[
                    button(t("compose.button.preview", lang), ids.COMPOSE_PREVIEW, current.field)
                ],
            )
        )
    return blocks


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
        return [SectionBlock(block_id="compose_blocked", text=_md("\n".join(lines)))]
    reasons = [reason_text(r, lang) for r in option.blocked] if option else []
    blocks: list[Block] = [
        SectionBlock(
            block_id="compose_blocked",
            text=_md("\n".join([t("compose.blocked", lang, channel=channel), *reasons])),
        )
    ]
    if plan.alternatives:
        # What each of them allows is listed under the channel select.
        blocks.append(SectionBlock(text=_md(t("compose.blocked.elsewhere", lang))))
    else:
        name = escape(plan.contact.display_name)
        blocks.append(SectionBlock(text=_md(t("compose.blocked.nowhere", lang, name=name))))
    return blocks


def _other_channels(plan: ComposePlan, lang: str) -> ContextBlock | None:
    """The contact's other channels, each with what it allows now."""
    others = [o for o in plan.options if o.channel != plan.draft.channel]
    if not others:
        return None
    lines = channel_lines(plan.contact, [o.decision for o in others], lang)
    return _context(_bold(t("compose.channel.others", lang)), *lines)


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
        SectionBlock(block_id="compose_contact", text=_md(contact_summary(plan.contact, now, lang)))
    ]
    option = plan.option
    if len(plan.options) > 1:
        options = [_channel_option(o, lang) for o in plan.options]
        chosen = next((o for o in options if o.value == (draft.channel or "")), None)
        blocks.append(
            SectionBlock(
                block_id=BLOCK_CHANNEL,
                text=_md(_bold(t("compose.channel.label", lang))),
                accessory=StaticSelectElement(
                    action_id=ids.COMPOSE_CHANNEL, options=options, initial_option=chosen
                ),
            )
        )
    if option is not None:
        blocks.append(_context(*channel_lines(plan.contact, [option.decision], lang)))
    quota = plan.line_quota
    if option is not None and option.channel is Channel.LINE and quota and quota.limit is not None:
        left = t("compose.line_quota", lang, remaining=quota.remaining, limit=quota.limit)
        blocks.append(_context(left))
    others = _other_channels(plan, lang)
    if others is not None:
        blocks.append(others)
    if not plan.may_send:
        if option is None:
            name = escape(plan.contact.display_name)
            blocks.append(SectionBlock(text=_md(t("compose.no_channel", lang, name=name))))
        else:
            blocks.extend(_blocked_blocks(plan, lang))
        return View(
            type="modal",
            callback_id=ids.COMPOSE_VIEW,
            title=_plain(t("compose.title", lang)),
            close=_plain(t("button.close", lang)),
            private_metadata=meta.pack(),
            blocks=blocks,
        )
    assert option is not None and draft.form is not None
    if plan.takeover_from:
        blocks.append(
            SectionBlock(
                text=_md(t("compose.takeover.notice", lang, agent=f"<@{plan.takeover_from}>"))
            )
        )
        confirm = Option(value="yes", text=_plain(t("compose.takeover.confirm", lang)))
        blocks.append(
            InputBlock(
                block_id=BLOCK_TAKEOVER,
                label=_plain(t("compose.takeover.label", lang)),
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
                text=_md(_bold(t("compose.form.label", lang))),
                accessory=StaticSelectElement(
                    action_id=ids.COMPOSE_FORM,
                    options=forms,
                    initial_option=next(f for f in forms if f.value == draft.form.value),
                ),
            )
        )
    notice = _notice(plan, lang)
    if notice:
        blocks.append(SectionBlock(block_id="compose_notice", text=_md(f"ℹ️ {notice}")))
    if draft.form is Form.TEMPLATE:
        blocks.extend(_template_blocks(plan, lang))
    else:
        if draft.form is Form.TAGGED:
            tags = [Option(value=tag, text=_plain(tag[:OPTION_TEXT_MAX])) for tag in plan.tags]
            blocks.append(
                InputBlock(
                    block_id=BLOCK_TAG,
                    label=_plain(t("compose.tag.label", lang)),
                    element=StaticSelectElement(
                        action_id=ids.COMPOSE_TAG,
                        options=tags[:STATIC_OPTIONS_MAX],
                        initial_option=next((o for o in tags if o.value == draft.tag), None),
                        placeholder=_plain(t("compose.tag.placeholder", lang)),
                    ),
                )
            )
        blocks.append(_text_input(plan, lang))
    return View(
        type="modal",
        callback_id=ids.COMPOSE_VIEW,
        title=_plain(t("compose.title", lang)),
        submit=_plain(t("compose.submit", lang)),
        close=_plain(t("button.cancel", lang)),
        private_metadata=meta.pack(),
        blocks=blocks,
    )


# --- reading the modal back ----------------------------------------------------------------


def _selected(values: Mapping[str, Any], block: str, action: str) -> str | None:
    element = (values.get(block) or {}).get(action) or {}
    option = element.get("selected_option") or {}
    value = option.get("value")
    return str(value) if value else None


def _typed(values: Mapping[str, Any], block: str, action: str) -> str:
    element = (values.get(block) or {}).get(action) or {}
    return str(element.get("value") or "")


def read_compose(
    view: Mapping[str, Any], action: Mapping[str, Any] | None = None
) -> tuple[ComposeContext, Draft]:
    """The modal's context and what the agent has chosen and typed.

    `action` is a block action that just happened in the modal: its selection
    wins over the view's state (which Slack sends as of the same moment). A
    changed channel starts its form, template and tag afresh.
    """
    context = ComposeContext.unpack(str(view.get("private_metadata") or "{}"))
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    picked: dict[str, str] = {}
    if action is not None and isinstance(action.get("selected_option"), dict):
        picked[str(action.get("action_id"))] = str(action["selected_option"].get("value") or "")
    channel_value = picked.get(ids.COMPOSE_CHANNEL) or _selected(
        values, BLOCK_CHANNEL, ids.COMPOSE_CHANNEL
    )
    channel = _channel(channel_value) or context.channel
    form_value = picked.get(ids.COMPOSE_FORM) or _selected(values, BLOCK_FORM, ids.COMPOSE_FORM)
    form = _form(form_value) or context.form
    template = picked.get(ids.COMPOSE_TEMPLATE) or _selected(
        values, BLOCK_TEMPLATE, ids.COMPOSE_TEMPLATE
    )
    tag = picked.get(ids.COMPOSE_TAG) or _selected(values, BLOCK_TAG, ids.COMPOSE_TAG)
    text = _typed(values, BLOCK_TEXT, ids.COMPOSE_TEXT) if BLOCK_TEXT in values else context.text
    params: dict[int, str] = {}
    prefix = f"{PARAM_BLOCK}{template_digest(template)}:"
    for block_id, elements in values.items():
        if not block_id.startswith(prefix):
            continue
        number = block_id[len(prefix) :]
        if number.isdigit():
            params[int(number)] = str(
                (elements.get(param_action(int(number))) or {}).get("value") or ""
            )
    ordered = tuple(params.get(n, "") for n in range(1, max(params, default=0) + 1))
    takeover_element = (values.get(BLOCK_TAKEOVER) or {}).get(ids.TAKEOVER_CONFIRM) or {}
    takeover = bool(takeover_element.get("selected_options"))
    if channel != context.channel:
        form, template, tag, ordered = None, None, None, ()
    return context, Draft(
        channel=channel,
        form=form,
        template=template,
        tag=tag,
        text=text,
        params=ordered,
        takeover=takeover,
    )


def _channel(value: str | None) -> Channel | None:
    try:
        return Channel(value) if value else None
    except ValueError:
        return None


def _form(value: str | None) -> Form | None:
    try:
        return Form(value) if value else None
    except ValueError:
        return None


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


# --- the close modal ------------------------------------------------------------------------


def close_modal(contact: Contact, origin: Origin, close_unassigns: bool, lang: str) -> View:
    """Close a conversation, with an optional reason for the thread."""
    name = escape(contact.display_name)
    effect = "compose.close.unassigns" if close_unassigns else "compose.close.keeps_assignee"
    return View(
        type="modal",
        callback_id=ids.CLOSE_VIEW,
        title=_plain(t("compose.close.title", lang)),
        submit=_plain(t("button.close", lang)),
        close=_plain(t("button.cancel", lang)),
        private_metadata=json.dumps(
            {"c": contact.id, "o": origin.channel, "t": origin.thread_ts},
            separators=(",", ":"),
        ),
        blocks=[
            SectionBlock(text=_md(t("compose.close.question", lang, name=name))),
            _context(t(effect, lang)),
            InputBlock(
                block_id=BLOCK_CLOSE_REASON,
                label=_plain(t("compose.close.reason", lang)),
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.CLOSE_REASON,
                    max_length=CLOSE_REASON_MAX,
                    placeholder=_plain(t("compose.close.reason_placeholder", lang)),
                ),
            ),
        ],
    )


def read_close(view: Mapping[str, Any]) -> tuple[str, str | None]:
    """(contact id, reason or None) of a submitted close modal."""
    data = json.loads(str(view.get("private_metadata") or "{}"))
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    reason = " ".join(_typed(values, BLOCK_CLOSE_REASON, ids.CLOSE_REASON).split())
    return str(data["c"]), reason or None


# --- buttons that carry a one-line follow-up -----------------------------------------------


@dataclass(frozen=True)
class LineSend:
    """A one-line follow-up a button sends: to whom, where, what, under which key."""

    contact_id: str
    channel: Channel
    text: str
    key: str
    takeover: bool = False

    def pack(self) -> str | None:
        """The button's value, or None when the message is too long to carry."""
        value = json.dumps(
            {
                "c": self.contact_id,
                "ch": self.channel.value,
                "m": self.text,
                "k": self.key,
                "t": 1 if self.takeover else 0,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return value if len(value) <= BUTTON_VALUE_MAX else None

    @classmethod
    @reads_payload
    def unpack(cls, value: str) -> LineSend:
        data = json.loads(value)
        return cls(
            contact_id=str(data["c"]),
            channel=Channel(data["ch"]),
            text=str(data["m"]),
            key=str(data["k"]),
            takeover=bool(data.get("t")),
        )


def carries_in_choice(message: str) -> bool:
    """Whether a "this one" button can carry the message whole (see choices_message)."""
    return len(message) <= CHOICE_MESSAGE_MAX and (
        len(json.dumps({"c": "0-0000000000000000", "m": message}, ensure_ascii=False))
        <= BUTTON_VALUE_MAX
    )


def pack_template_choice(contact_id: str, channel: Channel) -> str:
    """*Use a template*: which contact, on which channel."""
    return json.dumps({"c": contact_id, "ch": channel.value}, separators=(",", ":"))


@reads_payload
def unpack_template_choice(value: str) -> tuple[str, Channel]:
    data = json.loads(value)
    return str(data["c"]), Channel(data["ch"])


# --- answers to the agent --------------------------------------------------------------------


def _message(
    *sections: str, context: Sequence[str] = (), actions: Sequence[ButtonElement] = ()
) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=_md(s)) for s in sections if s]
    if context:
        blocks.append(_context(*context))
    if actions:
        blocks.append(ActionsBlock(block_id="compose_answer", elements=list(actions)[:25]))
    return blocks


def how_sent(
    mode: SendMode, lang: str, *, tag: str | None = None, template: str | None = None
) -> str:
    """ "with the HUMAN_AGENT tag", "as the template order_update", …"""
    return t(f"compose.how.{mode.value}", lang, tag=tag or "", template=template or "")


def sent_message(
    contact: Contact,
    channel: Channel,
    mode: SendMode,
    lang: str,
    *,
    tag: str | None = None,
    template: str | None = None,
    reopened: bool = False,
    taken_from: str | None = None,
) -> tuple[str, list[Block]]:
    """The follow-up was accepted: where it goes, how, and what it did to the conversation."""
    name = escape(contact.display_name)
    text = t(
        "compose.sent",
        lang,
        name=name,
        channel=CHANNEL_LABELS[channel],
        how=how_sent(mode, lang, tag=tag, template=template),
    )
    notes = []
    if reopened:
        notes.append(t("compose.sent.reopened", lang))
    elif taken_from:
        notes.append(t("compose.sent.taken_over", lang, agent=f"<@{taken_from}>"))
    notes.append(t("compose.sent.thread", lang))
    return text, _message(text, context=notes)


def duplicate_message(
    contact: Contact, channel: Channel | None, lang: str
) -> tuple[str, list[Block]]:
    name = escape(contact.display_name)
    label = CHANNEL_LABELS[channel] if channel else "—"
    text = t("compose.duplicate", lang, name=name, channel=label)
    return text, _message(text)


def _alternative_buttons(line: LineResult, lang: str) -> list[ButtonElement]:
    buttons: list[ButtonElement] = []
    if line.template_possible and line.channel is not None:
        buttons.append(
            button(
                t("compose.button.use_template", lang),
                ids.USE_TEMPLATE,
                pack_template_choice(line.contact.id, line.channel),
                style="primary",
            )
        )
    elif line.composer_useful:
        buttons.append(
            button(t("compose.button.another_way", lang), ids.FOLLOWUP_ANOTHER_WAY, line.contact.id)
        )
    return buttons


def line_answer(
    line: LineResult, message: str, key: str, lang: str, *, rerun: bool = False
) -> tuple[str, list[Block]]:
    """The answer to a one-line `/followup <contact> <message>` (or its buttons).

    `rerun`: the same request worked again (bot.slack.intake) — found done, it
    is answered as sent, not as a repeat the agent never made."""
    contact = line.contact
    name = escape(contact.display_name)
    label = CHANNEL_LABELS[line.channel] if line.channel else "—"
    if line.outcome is LineOutcome.SENT and line.channel is not None:
        return sent_message(
            contact,
            line.channel,
            line.mode,
            lang,
            reopened=line.reopened,
            taken_from=line.previous_assignee,
        )
    if line.outcome is LineOutcome.DUPLICATE:
        if rerun and line.channel is not None:
            return sent_message(contact, line.channel, line.mode, lang)
        return duplicate_message(contact, line.channel, lang)
    if line.outcome is LineOutcome.NO_CHANNEL:
        text = t("compose.no_channel", lang, name=name)
        return text, _message(text)
    if line.outcome is LineOutcome.TOO_LONG and line.problem is not None:
        text = t("compose.line.not_sent", lang, problem=problem_text(line.problem, lang))
        return text, _message(text, context=[t("compose.line.use_form", lang)])
    if (
        line.outcome is LineOutcome.UNREACHABLE
        and line.unreachable is not None
        and line.channel is not None
    ):
        return unreachable_answer(contact, line.channel, line.unreachable, line.instead, lang)
    if line.outcome is LineOutcome.NEEDS_TAKEOVER and line.channel is not None:
        agent = f"<@{line.previous_assignee}>" if line.previous_assignee else "—"
        text = t("compose.line.takeover", lang, name=name, agent=agent)
        value = LineSend(contact.id, line.channel, message, key, takeover=True).pack()
        if value is None:
            return text, _message(text, context=[t("compose.line.use_form", lang)])
        confirm = button(
            t("compose.button.take_over_send", lang), ids.FOLLOWUP_LINE_SEND, value, "primary"
        )
        return text, _message(text, _quote(message), actions=[confirm])
    # Refused: by the window (recorded with ❗) or by Viber's quota (not recorded).
    reason = reason_text(line.reason, lang) if line.reason is not None else ""
    key_head = "compose.line.quota" if line.outcome is LineOutcome.QUOTA else "compose.line.refused"
    text = t(key_head, lang, name=name, channel=label, reason=reason)
    context: list[str] = []
    if line.template_possible:
        context.append(t("compose.line.template_works", lang))
    elif line.composer_useful:
        context.append(t("compose.line.another_way", lang))
    else:
        context.append(t("compose.blocked.nowhere", lang, name=name))
    actions = _alternative_buttons(line, lang)
    return text, _message(text, context=context, actions=actions)


def unreachable_answer(
    contact: Contact,
    channel: Channel,
    unreachable: Unreachable,
    instead: Sequence[Channel],
    lang: str,
) -> tuple[str, list[Block]]:
    """A follow-up refused because the customer cannot be reached on `channel`:
    why, since when, and the contact's channels that would go now (nothing was
    recorded: it is no window refusal)."""
    text = t(
        "compose.unreachable",
        lang,
        name=escape(contact.display_name),
        reason=reach_reason_text(channel, unreachable, lang),
        since=since_text(unreachable),
    )
    if not instead:
        return text, _message(text, context=[t("reach.no_other_channel", lang)])
    names = ", ".join(CHANNEL_LABELS[c] for c in instead)
    another = button(t("compose.button.another_way", lang), ids.FOLLOWUP_ANOTHER_WAY, contact.id)
    return text, _message(
        text, context=[t("reach.instead", lang, channels=names)], actions=[another]
    )


def refused_message(
    contact: Contact,
    decision: Decision | None,
    reason_words: str,
    lang: str,
    channel: Channel | None = None,
) -> tuple[str, list[Block]]:
    """A modal's follow-up the window refused after all (it changed meanwhile);
    `channel` where the refusal came with no decision (a learned limit)."""
    name = escape(contact.display_name)
    channel = channel or (decision.channel if decision else None)
    label = CHANNEL_LABELS[channel] if channel else "—"
    text = t("compose.refused", lang, name=name, channel=label, reason=reason_words)
    button_ = button(t("compose.button.another_way", lang), ids.FOLLOWUP_ANOTHER_WAY, contact.id)
    return text, _message(text, actions=[button_])


def taken_meanwhile_message(
    contact: Contact, agent: str | None, lang: str
) -> tuple[str, list[Block]]:
    """A modal's follow-up not sent: another agent took the conversation meanwhile."""
    name = escape(contact.display_name)
    text = t("compose.taken_meanwhile", lang, name=name, agent=f"<@{agent}>" if agent else "—")
    again = button(t("button.followup", lang), ids.CONTACT_FOLLOWUP, contact.id)
    return text, _message(text, actions=[again])


def text_answer(text: str) -> tuple[str, list[Block]]:
    return text, _message(text)


# --- a Slack message's text as the customer should read it --------------------------------

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text_of(mrkdwn: str) -> str:
    """An agent's Slack message as plain text: links and mentions unwrapped, entities undone.

    `<https://x.example|x.example>` → `https://x.example`; `<mailto:a@b.c|a@b.c>`
    → `a@b.c`; `<@U123|sara>` → `@sara`; `&lt;` → `<`.
    """

    def unwrap(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target[:1] in "@#!":
            # Mentions and special words: the label when Slack gave one.
            shown = label or target[1:].split("^")[0]
            return f"{target[0] if target[0] != '!' else '@'}{shown}"
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        if label and label not in target:
            return f"{label} ({target})"
        return target

    text = _LINK.sub(unwrap, mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
