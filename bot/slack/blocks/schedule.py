"""Follow-ups in time on Slack: the answers to a scheduling command, the list of
what waits (App Home, the thread), the reminder an agent gets.

Times are shown twice where the customer's clock is known: the agent's own as
a Slack date (`<!date^…>`, which each viewer's client shows in their own zone)
and the customer's, written out in their zone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ConfirmObject,
    DateTimePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.models import Contact, to_epoch
from bot.domain.schedule import ItemKind, ItemState, ScheduledItem
from bot.services.scheduling import LineOutcome, LineSchedule
from bot.slack import ids
from bot.slack.blocks.parts import button, context_block, markdown, plain_text
from bot.slack.i18n import t
from bot.slack.render import clock_time, escape, reason_text
from bot.store.codec import content_from_json

#: Longest message preview in a list line.
PREVIEW_CHARS = 80


def your_time(moment: datetime) -> str:
    """A moment as a Slack date: each viewer's client shows it in their own zone."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{to_epoch(moment)}^{{date_short_pretty}} {{time}}|{fallback}>"


def their_time(moment: datetime, zone: tzinfo, lang: str) -> str:
    """A moment on the customer's clock: "Mon 7 Dec 09:00 (Africa/Cairo)"."""
    local = moment.astimezone(zone)
    name = getattr(zone, "key", None) or local.strftime("%Z")
    shown = local.strftime("%Y-%m-%d %H:%M") if lang == "ar" else local.strftime("%a %d %b %H:%M")
    return f"{shown} ({name})"


def local_time_line(contact_zone: tzinfo | None, now: datetime, lang: str) -> str | None:
    """ "🕘 14:05 their time (Africa/Cairo)" for a contact whose clock is known."""
    if contact_zone is None:
        return None
    local = now.astimezone(contact_zone)
    name = getattr(contact_zone, "key", None) or local.strftime("%Z")
    return t("contact.local_time.zone", lang, time=clock_time(local), zone=name)


def _message(text: str, *context: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=markdown(text))]
    if context:
        blocks.append(context_block(*context))
    return blocks


def line_schedule_answer(result: LineSchedule, lang: str) -> tuple[str, list[Block]]:
    """The answer to `/followup … --at / --when-they-write / --remind`."""
    name = escape(result.contact.display_name)
    channel = CHANNEL_LABELS[result.channel] if result.channel else ""
    extra: list[str] = []
    if result.reminder_at is not None and result.outcome is not LineOutcome.REMINDER:
        extra.append(
            t("schedule.answer.reminder", lang, your_time=your_time(result.reminder_at), name=name)
        )
    if result.outcome is LineOutcome.REFUSED:
        text = reason_text(result.reason, lang) if result.reason else t("schedule.error.past", lang)
        return text, _message(text)
    if result.outcome is LineOutcome.DUPLICATE:
        text = t("schedule.answer.duplicate", lang)
        return text, _message(text)
    if result.outcome is LineOutcome.REMINDER and result.reminder_at is not None:
        text = t(
            "schedule.answer.reminder", lang, your_time=your_time(result.reminder_at), name=name
        )
        return text, _message(text)
    if result.outcome is LineOutcome.WAITING:
        text = t("schedule.answer.waiting", lang, name=name, channel=channel)
        return text, _message(text, *extra)
    assert result.due_at is not None
    if result.customer_zone is not None:
        text = t(
            "schedule.answer.scheduled",
            lang,
            name=name,
            channel=channel,
            their_time=their_time(result.due_at, result.customer_zone, lang),
            your_time=your_time(result.due_at),
        )
    else:
        text = t(
            "schedule.answer.scheduled.yours",
            lang,
            name=name,
            channel=channel,
            your_time=your_time(result.due_at),
        )
    return text, _message(text, *extra)


def _preview(item: ScheduledItem) -> str:
    try:
        data = json.loads(item.payload or "{}")
    except ValueError:
        return ""
    # A follow-up's content as `bot.services.scheduling` stores it (codec JSON).
    content = content_from_json(data.get("content") or {})
    text = content.text or (content.template.name if content.template else "")
    text = " ".join(text.split())
    return escape(text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else ""))


def _channel_of(item: ScheduledItem) -> str:
    try:
        return CHANNEL_LABELS[Channel(json.loads(item.payload or "{}").get("channel"))]
    except (ValueError, KeyError):
        return ""


def item_line(item: ScheduledItem, contact: Contact | None, zone: tzinfo | None, lang: str) -> str:
    """One waiting item in words."""
    name = escape(contact.display_name) if contact is not None else item.contact_id
    if item.kind is ItemKind.REMIND and item.due_at is not None:
        line = t(
            "schedule.item.remind",
            lang,
            your_time=your_time(item.due_at),
            agent=f"<@{item.agent}>",
            name=name,
        )
    elif item.due_at is None:
        line = t(
            "schedule.item.when_they_write",
            lang,
            name=name,
            channel=_channel_of(item),
            preview=_preview(item),
        )
    elif zone is not None:
        line = t(
            "schedule.item.send_at",
            lang,
            your_time=your_time(item.due_at),
            name=name,
            channel=_channel_of(item),
            their_time=their_time(item.due_at, zone, lang),
            preview=_preview(item),
        )
    else:
        line = t(
            "schedule.item.send_at.yours",
            lang,
            your_time=your_time(item.due_at),
            name=name,
            channel=_channel_of(item),
            preview=_preview(item),
        )
    if item.state is ItemState.RUNNING:
        line += f" · _{t('schedule.item.running', lang)}_"
    return line


def item_buttons(item: ScheduledItem, lang: str) -> ActionsBlock:
    """Send now / Edit / Cancel for one waiting item (a reminder: Cancel only)."""
    cancel = button(t("schedule.button.cancel", lang), ids.SCHEDULE_CANCEL, item.id, "danger")
    cancel.confirm = ConfirmObject(
        title=plain_text(t("schedule.cancel.confirm.title", lang)),
        text=plain_text(t("schedule.cancel.confirm.text", lang)),
        confirm=plain_text(t("schedule.cancel.confirm.yes", lang)),
        deny=plain_text(t("schedule.cancel.confirm.no", lang)),
    )
    elements = []
    if item.sends:
        elements.append(button(t("schedule.button.send_now", lang), ids.SCHEDULE_SEND_NOW, item.id))
        elements.append(button(t("schedule.button.edit", lang), ids.SCHEDULE_EDIT, item.id))
    elements.append(cancel)
    return ActionsBlock(block_id=f"sched:{item.id}", elements=elements)


def waiting_blocks(
    items: Sequence[ScheduledItem],
    contacts: dict[str, Contact],
    zones: dict[str, tzinfo | None],
    lang: str,
    *,
    team: bool = False,
    limit: int = 10,
) -> list[Block]:
    """What waits, soonest first, each with its buttons (App Home, a thread)."""
    title = "schedule.list.team.title" if team else "schedule.list.title"
    blocks: list[Block] = [SectionBlock(text=markdown(t(title, lang, count=len(items))))]
    if not items:
        blocks.append(context_block(t("schedule.list.none", lang)))
        return blocks
    for item in items[:limit]:
        line = item_line(item, contacts.get(item.contact_id), zones.get(item.contact_id), lang)
        if team:
            line += f" · {t('schedule.item.by', lang, agent=f'<@{item.agent}>')}"
        blocks.append(SectionBlock(text=markdown(line)))
        blocks.append(item_buttons(item, lang))
    if len(items) > limit:
        blocks.append(context_block(t("home.more", lang, count=len(items) - limit)))
    return blocks


def reminder_message(
    item: ScheduledItem, contact: Contact | None, channel: Channel | None, lang: str
) -> tuple[str, list[Block]]:
    """The direct message at a reminder's time: Follow up, Close, Snooze."""
    name = escape(contact.display_name) if contact is not None else item.contact_id
    label = CHANNEL_LABELS[channel] if channel is not None else "—"
    text = t("schedule.remind.dm", lang, name=name, channel=label, since=your_time(item.created_at))
    blocks: list[Block] = [SectionBlock(text=markdown(text))]
    note = ""
    try:
        note = str(json.loads(item.payload or "{}").get("note") or "")
    except ValueError:
        note = ""
    if note:
        blocks.append(context_block(t("schedule.remind.dm.note", lang, note=escape(note))))
    blocks.append(
        ActionsBlock(
            block_id=f"remind:{item.id}",
            elements=[
                button(
                    t("schedule.remind.follow_up", lang),
                    ids.THREAD_FOLLOWUP,
                    item.contact_id,
                    "primary",
                ),
                button(t("schedule.remind.close", lang), ids.THREAD_CLOSE, item.contact_id),
                button(
                    t("schedule.remind.snooze.hour", lang),
                    ids.REMIND_SNOOZE_HOUR,
                    f"{item.contact_id}|1h",
                ),
                button(
                    t("schedule.remind.snooze.tomorrow", lang),
                    ids.REMIND_SNOOZE_DAY,
                    f"{item.contact_id}|1d",
                ),
                button(
                    t("schedule.remind.snooze.days", lang),
                    ids.REMIND_SNOOZE_DAYS,
                    f"{item.contact_id}|2d",
                ),
            ],
        )
    )
    return text, blocks


def edit_modal(item: ScheduledItem, text: str, lang: str) -> View:
    """Edit a waiting follow-up: its time (and its text, for a text message)."""
    blocks: list[Block] = []
    if item.due_at is not None:
        blocks.append(
            InputBlock(
                block_id=ids.SCHEDULE_EDIT_AT,
                label=plain_text(t("schedule.compose.pick", lang)),
                element=DateTimePickerElement(
                    action_id=ids.SCHEDULE_EDIT_AT, initial_date_time=to_epoch(item.due_at)
                ),
            )
        )
    if item.sends and text:
        blocks.append(
            InputBlock(
                block_id=ids.SCHEDULE_EDIT_TEXT,
                label=plain_text(t("compose.text.label", lang)),
                element=PlainTextInputElement(
                    action_id=ids.SCHEDULE_EDIT_TEXT, multiline=True, initial_value=text
                ),
            )
        )
    return View(
        type="modal",
        callback_id=ids.SCHEDULE_EDIT_VIEW,
        private_metadata=item.id,
        title=plain_text(t("schedule.edit.title", lang)),
        submit=plain_text(t("schedule.edit.submit", lang)),
        close=plain_text(t("schedule.cancel.confirm.no", lang)),
        blocks=blocks,
    )


#: The choices of "Remind me if no reply in…", as (value, hours).
REMIND_CHOICES: tuple[tuple[str, int], ...] = (
    ("1h", 1),
    ("4h", 4),
    ("1d", 24),
    ("2d", 48),
    ("3d", 72),
    ("1w", 168),
)
REMIND_DEFAULT = "2d"


def remind_option_text(value: str, lang: str) -> str:
    hours = dict(REMIND_CHOICES)[value]
    if hours == 168:
        return t("schedule.remind.option.week", lang)
    if hours < 24:
        return t("schedule.remind.option.hours", lang, count=hours)
    return t("schedule.remind.option.days", lang, count=hours // 24)


def remind_modal(contact: Contact, lang: str) -> View:
    """*Remind me* on a thread: if no reply in…, with a note to oneself."""
    options = [Option(value=v, text=remind_option_text(v, lang)) for v, _ in REMIND_CHOICES]
    default = next(o for o in options if o.value == REMIND_DEFAULT)
    return View(
        type="modal",
        callback_id=ids.REMIND_VIEW,
        private_metadata=contact.id,
        title=plain_text(t("schedule.remind.title", lang)),
        submit=plain_text(t("schedule.remind.submit", lang)),
        close=plain_text(t("schedule.cancel.confirm.no", lang)),
        blocks=[
            SectionBlock(text=markdown(f"*{escape(contact.display_name)}*")),
            InputBlock(
                block_id=ids.REMIND_AFTER,
                label=plain_text(t("schedule.remind.after", lang)),
                element=StaticSelectElement(
                    action_id=ids.REMIND_AFTER, options=options, initial_option=default
                ),
            ),
            InputBlock(
                block_id=ids.REMIND_NOTE,
                optional=True,
                label=plain_text(t("schedule.remind.note", lang)),
                element=PlainTextInputElement(
                    action_id=ids.REMIND_NOTE,
                    max_length=500,
                    placeholder=plain_text(t("schedule.remind.modal.note.placeholder", lang)),
                ),
            ),
        ],
    )
