"""Block Kit for the conversation thread, built with slack-sdk's models.

Short lines for phones; texts from the catalogue (`bot.slack.i18n`).
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.local_time import customer_zone
from bot.domain.media import human_size
from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, ConversationStatus, MessageStatus
from bot.domain.schedule import ScheduledItem
from bot.domain.templates import FilledParameter, InputKind
from bot.domain.windows import Decision
from bot.slack import ids
from bot.slack.blocks.contact_blocks import windows_context
from bot.slack.blocks.parts import SECTION_TEXT_MAX, button
from bot.slack.blocks.schedule import item_buttons, item_line
from bot.slack.i18n import t
from bot.slack.render import escape, stored_reason_text


def root_buttons(contact: Contact, lang: str) -> ActionsBlock:
    """*Follow up*, and *Reopen* when closed or *Close* when open (value: contact id).

    Slack allows no slash command in a thread: these and the message shortcut
    are how agents act on the conversation there.
    """
    elements = [button(t("button.followup", lang), ids.THREAD_FOLLOWUP, contact.id, "primary")]
    if contact.conversation.status is ConversationStatus.CLOSED:
        elements.append(button(t("button.reopen", lang), ids.THREAD_REOPEN, contact.id))
    else:
        elements.append(button(t("button.close", lang), ids.THREAD_CLOSE, contact.id))
    elements.append(button(t("button.edit", lang), ids.CONTACT_EDIT, contact.id))
    elements.append(button(t("schedule.button.remind", lang), ids.THREAD_REMIND, contact.id))
    return ActionsBlock(block_id=f"root:{contact.id}", elements=elements)


def mention(user_id: str | None, lang: str) -> str:
    return f"<@{user_id}>" if user_id else t("thread.root.unassigned", lang)


def quote(text: str) -> str:
    """The customer's or agent's words as a Slack quote (escaped, bounded)."""
    safe = escape(text)
    safe = safe[: SECTION_TEXT_MAX - 200]
    return "\n".join(f">{line}" for line in safe.splitlines() or [""])


def thread_root(
    contact: Contact,
    decisions: Sequence[Decision],
    lang: str,
    previous_link: str | None = None,
) -> tuple[str, list[Block]]:
    """The thread's root: who, which channels, status and assignee, each window in words."""
    channels = ", ".join(CHANNEL_LABELS[c] for c in contact.channels) or t(
        "thread.root.no_channels", lang
    )
    title = t("thread.root.title", lang, name=escape(contact.display_name), channels=channels)
    status = t(
        "thread.root.status",
        lang,
        status=t(f"status.{contact.conversation.status.value}", lang),
        assignee=mention(contact.conversation.assignee, lang),
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"{title}\n{status}"))]
    windows = windows_context(contact, decisions, lang)
    if windows is not None:
        blocks.append(windows)
    zone = customer_zone(set_zone=contact.time_zone, phone=contact.phone)
    if zone is not None:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t("contact.zone", lang, zone=zone.key))])
        )
    if previous_link:
        link = t("thread.root.previous", lang, link=previous_link)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=link)]))
    blocks.append(root_buttons(contact, lang))
    return title, blocks


def inbound_entry(
    contact: Contact, channel: Channel, text: str, lang: str
) -> tuple[str, list[Block]]:
    head = t(
        "thread.inbound", lang, name=escape(contact.display_name), channel=CHANNEL_LABELS[channel]
    )
    return head, [SectionBlock(text=MarkdownTextObject(text=f"{head}\n{quote(text)}"))]


def status_words(message: OutboundMessage, lang: str) -> str:
    if message.status is MessageStatus.FAILED:
        reason = stored_reason_text(message.reason, lang) if message.reason else "?"
        return t("message.status.failed", lang, reason=reason)
    if message.status is MessageStatus.OUTSIDE_WINDOW:
        if message.reason:
            reason = stored_reason_text(message.reason, lang)
            return t("message.status.outside_window_reason", lang, reason=reason)
        return t("message.status.outside_window", lang)
    return t(f"message.status.{message.status.value}", lang)


def mode_words(message: OutboundMessage, lang: str) -> str:
    content = message.content
    return t(
        f"mode.{message.mode.value}",
        lang,
        tag=content.tag or "",
        template=content.template.name if content.template else "",
    )


def outbound_entry(message: OutboundMessage, lang: str) -> tuple[str, list[Block]]:
    head = t(
        "thread.outbound",
        lang,
        sender=mention(message.sender, lang),
        channel=CHANNEL_LABELS[message.channel],
        mode=mode_words(message, lang),
    )
    body = message.content.text
    template = message.content.template
    if template is not None:
        body = f"{template.name} ({', '.join(template.parameters)})"
        extras = [_component_words(c, lang) for c in template.components]
        body += "".join(f"\n{line}" for line in extras if line)
    files = message.content.attachments
    if files:
        names = ", ".join(f"{f.file_name} ({human_size(f.size)})" for f in files)
        body = f"{body}\n📎 {names}" if body else f"📎 {names}"
    status = status_words(message, lang)
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"{head}\n{quote(body)}")),
        ContextBlock(elements=[MarkdownTextObject(text=status)]),
    ]
    if message.status in (MessageStatus.FAILED, MessageStatus.OUTSIDE_WINDOW):
        # Not delivered: one tap to the composer, on what may be sent now.
        another = button(
            t("compose.button.another_way", lang), ids.FOLLOWUP_ANOTHER_WAY, message.contact_id
        )
        blocks.append(ActionsBlock(block_id=f"another:{message.id}", elements=[another]))
    return f"{head} · {status}", blocks


def _component_words(component: FilledParameter, lang: str) -> str:
    """A template's header, button or code value, as the thread shows it."""
    if component.kind is InputKind.BODY:
        return ""
    key = f"thread.template.{component.kind.value}"
    value = component.media if component.by_id else component.value
    return t(key, lang, value=value, media=component.media or "")


def event_entry(key: str, lang: str, **params: str) -> tuple[str, list[Block]]:
    """A conversation event in words; a `reason_key` parameter (a catalogue
    key, e.g. `reach.reason.*`) is put in words too, as `reason`."""
    reason_key = params.pop("reason_key", None)
    if reason_key is not None:
        params["reason"] = t(reason_key, lang, **params)
    text = t(key, lang, **params)
    return text, [ContextBlock(elements=[MarkdownTextObject(text=text)])]


def scheduled_entry(item: ScheduledItem, contact: Contact, lang: str) -> tuple[str, list[Block]]:
    """A waiting follow-up or reminder in the thread, with Send now / Edit / Cancel."""
    zone = customer_zone(set_zone=contact.time_zone, phone=contact.phone)
    line = item_line(item, contact, zone, lang)
    line += f" · {t('schedule.item.by', lang, agent=mention(item.agent, lang))}"
    return line, [SectionBlock(text=MarkdownTextObject(text=line)), item_buttons(item, lang)]


def scheduled_gone_entry(what: str, lang: str) -> tuple[str, list[Block]]:
    """What became of a waiting item: sent, cancelled, not sent, reminded."""
    text = t(f"schedule.thread.gone.{what}", lang)
    return text, [ContextBlock(elements=[MarkdownTextObject(text=text)])]
