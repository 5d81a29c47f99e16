"""Block Kit for `/reopen`: the reopened conversation's card, and the takeover question.

Mobile first: a headline, the contact in two lines, its story in short
context lines (who had it, why it was closed, the last messages sent, when
the customer last wrote on each channel), the windows, and the buttons.
"""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.messages import OutboundMessage
from bot.domain.models import ConversationStatus
from bot.services.reopen import ReopenOutcome, ReopenResult
from bot.slack import ids
from bot.slack.blocks.contact_blocks import contact_summary, windows_context
from bot.slack.blocks.parts import CONTEXT_TEXT_MAX, button
from bot.slack.blocks.threads import status_words
from bot.slack.i18n import t
from bot.slack.render import ago, channel_label, escape

#: Characters of a sent message shown in the card (the thread has it all).
PREVIEW_CHARS = 80

_HEADS = {
    ReopenOutcome.REOPENED: "reopen.done",
    ReopenOutcome.TAKEN_OVER: "reopen.taken_over",
    ReopenOutcome.ASSIGNED: "reopen.assigned",
    ReopenOutcome.ALREADY_YOURS: "reopen.already_yours",
}


def mention(user_id: str | None, lang: str) -> str:
    return f"<@{user_id}>" if user_id else t("contact.unassigned", lang)


def _preview(message: OutboundMessage) -> str:
    template = message.content.template
    text = message.content.text or (template.name if template else "")
    text = " ".join(text.split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return escape(text)


def history_lines(result: ReopenResult, now: datetime, lang: str) -> list[str]:
    """Who had it and, if it was closed, when and why (where known)."""
    before = result.before.conversation
    lines = [
        t("reopen.previous", lang, agent=mention(before.assignee, lang))
        if before.assignee
        else t("reopen.previous_none", lang)
    ]
    if before.status is ConversationStatus.CLOSED:
        if before.closed_at is None:
            lines.append(t("reopen.closed_unknown", lang))
        elif before.closed_reason:
            lines.append(
                t(
                    "reopen.closed_reason",
                    lang,
                    ago=ago(before.closed_at, now, lang),
                    reason=escape(before.closed_reason),
                )
            )
        else:
            lines.append(t("reopen.closed_no_reason", lang, ago=ago(before.closed_at, now, lang)))
    return lines


def message_lines(result: ReopenResult, now: datetime, lang: str) -> str:
    """The last messages sent to the customer, newest first, with their status."""
    if not result.messages:
        return t("reopen.no_messages", lang)
    lines = [t("reopen.messages", lang)]
    for message in result.messages:
        lines.append(
            t(
                "reopen.message",
                lang,
                ago=ago(message.created_at, now, lang),
                channel=channel_label(message.channel),
                status=status_words(message, lang),
                text=_preview(message),
            )
        )
    return "\n".join(lines)


def customer_line(result: ReopenResult, now: datetime, lang: str) -> str:
    """When the customer last wrote, per channel (their words are in the thread)."""
    wrote = result.contact.conversation.last_inbound_at
    if not wrote:
        return t("reopen.customer_never", lang)
    parts = [
        f"{channel_label(channel)} {ago(at, now, lang)}"
        for channel, at in sorted(wrote.items(), key=lambda item: item[1], reverse=True)
    ]
    return t("reopen.customer_last", lang, channels=" · ".join(parts))


def reopen_card(result: ReopenResult, now: datetime, lang: str) -> tuple[str, list[Block]]:
    """The answer to a reopen: what changed, the conversation's story, windows, buttons."""
    contact = result.contact
    name = escape(contact.display_name)
    head = t(
        _HEADS[result.outcome], lang, name=name, previous=mention(result.previous_assignee, lang)
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        SectionBlock(text=MarkdownTextObject(text=contact_summary(contact, now, lang))),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=line[:CONTEXT_TEXT_MAX])
                for line in [
                    *history_lines(result, now, lang),
                    customer_line(result, now, lang),
                ]
            ]
        ),
        SectionBlock(text=MarkdownTextObject(text=message_lines(result, now, lang)[:3000])),
    ]
    windows = windows_context(contact, result.decisions, lang)
    if windows is not None:
        blocks.append(windows)
    buttons = [
        button(t("button.followup", lang), ids.CONTACT_FOLLOWUP, contact.id, style="primary"),
        button(t("button.open_thread", lang), ids.CONTACT_OPEN_THREAD, contact.id),
        button(t("button.edit", lang), ids.CONTACT_EDIT, contact.id),
    ]
    blocks.append(ActionsBlock(block_id=f"reopen:{contact.id}", elements=buttons))
    return head, blocks


def takeover_question(result: ReopenResult, lang: str) -> tuple[str, list[Block]]:
    """Open and another agent's: take it over? (announced in the thread if so)."""
    contact = result.before
    text = t(
        "reopen.takeover_question",
        lang,
        name=escape(contact.display_name),
        agent=mention(result.previous_assignee, lang),
    )
    return text, [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(
            block_id=f"takeover:{contact.id}",
            elements=[
                button(t("reopen.take_over", lang), ids.REOPEN_TAKEOVER, contact.id, "danger"),
                button(t("button.cancel", lang), ids.REOPEN_CANCEL, contact.id),
            ],
        ),
    ]


def left_with(name: str, agent: str | None, lang: str) -> str:
    """The takeover was cancelled: the conversation stays with its agent."""
    return t("reopen.left_with", lang, name=escape(name), agent=mention(agent, lang))
