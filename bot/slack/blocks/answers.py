"""Answers to the agent about a follow-up (sent, refused, take over?), and the
buttons that carry a one-line follow-up or a template choice.

How an answer reaches the agent is `bot.slack.answers`' business.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    SectionBlock,
)

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.models import Contact
from bot.domain.reachability import Unreachable
from bot.domain.windows import Decision, SendMode
from bot.services.compose import LineOutcome, LineResult
from bot.slack import ids
from bot.slack.blocks.parts import button, context_block, markdown, problem_text, quoted
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.reach_text import reason_text as reach_reason_text
from bot.slack.reach_text import since_text
from bot.slack.render import escape, reason_text

#: Slack's limit for a button's value.
BUTTON_VALUE_MAX = 2000
#: Longest one-line message a "choose the contact" button carries
#: (`contact_blocks.choices_message` keeps 1,500 characters).
CHOICE_MESSAGE_MAX = 1500


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
    blocks: list[Block] = [SectionBlock(text=markdown(s)) for s in sections if s]
    if context:
        blocks.append(context_block(*context))
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
        return text, _message(text, quoted(message), actions=[confirm])
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
