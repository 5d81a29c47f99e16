"""Outbound messages: the atomic send commit, the outbox stream, the Viber quota.

The window policy decides in Python from a snapshot of the contact; the
commit (`apply.lua`) records the message, appends it to the partition's
outbox stream, bumps the WeChat window counter and opens/assigns the
conversation — only if the snapshot still holds: same window start on that
channel, same status and assignee, counter still under the policy's limit,
and no message yet for this idempotency key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import cast

from bot.domain.channels import Channel
from bot.domain.models import (
    Contact,
    ConversationStatus,
    MessageStatus,
    OutboundMessage,
    StatusChange,
    from_epoch,
    status_may_advance,
    to_epoch,
)
from bot.store.connection import RedisClient
from bot.store.contacts import (
    F_ASSIGNEE,
    F_STATUS,
    F_WECHAT_COUNT,
    F_WECHAT_WINDOW,
    INBOUND_FIELD,
    ContactStore,
)
from bot.store.keys import ContactId, Keys
from bot.store.scripts import QUOTA, Change, apply_change

#: How many recent message ids a contact keeps for "the last few messages".
RECENT_MESSAGES = 50
#: Status webhooks arrive within days; a channel's id is remembered this long.
CHANNEL_ID_TTL_SECONDS = 35 * 24 * 3600
#: A month's Viber counter is kept this long after its last change.
QUOTA_TTL_SECONDS = 62 * 24 * 3600


def message_id_for(idempotency_key: str) -> str:
    """The message id a request creates: the same request, the same message."""
    return hashlib.blake2b(idempotency_key.encode(), digest_size=10).hexdigest()


def month_of(now: datetime) -> str:
    """The calendar month (UTC) a Viber quota counter belongs to."""
    return f"{now.year:04d}-{now.month:02d}"


class CommitOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # this request was committed already
    MOVED = "moved"  # the snapshot no longer holds: decide again
    LIMIT = "limit"  # the WeChat window counter is at its limit


@dataclass(frozen=True)
class OutboundDraft:
    """A follow-up as decided: what to send, in which mode, by whom."""

    contact_id: str
    channel: Channel
    sender: str
    mode: str
    form: str
    idempotency_key: str
    text: str = ""
    template: str | None = None
    template_language: str | None = None
    template_params: tuple[str, ...] = ()
    tag: str | None = None


@dataclass(frozen=True)
class CommitResult:
    outcome: CommitOutcome
    message_id: str
    stream_id: str = ""
    detail: str = ""


class OutboxStore:
    def __init__(self, contacts: ContactStore) -> None:
        self.contacts = contacts
        self.redis: RedisClient = contacts.redis
        self.keys: Keys = contacts.keys

    # --- Viber quota (account-wide, its own slot) --------------------------------

    async def viber_count(self, now: datetime) -> int:
        value = await self.redis.get(self.keys.viber_quota(month_of(now)))
        return int(value or 0)

    async def reserve_viber(self, now: datetime, limit: int | None) -> bool:
        """Take one chatbot-initiated message of this month, if under `limit`."""
        key = self.keys.viber_quota(month_of(now))
        count = await QUOTA(
            self.redis, [key], [1, "" if limit is None else limit, QUOTA_TTL_SECONDS]
        )
        return int(count) >= 0

    async def release_viber(self, now: datetime) -> None:
        """Give back a reservation whose commit did not happen."""
        key = self.keys.viber_quota(month_of(now))
        await QUOTA(self.redis, [key], [-1, "", QUOTA_TTL_SECONDS])

    # --- the commit ----------------------------------------------------------------

    async def commit(
        self,
        draft: OutboundDraft,
        snapshot: Contact,
        now: datetime,
        *,
        wechat_limit: int | None = None,
    ) -> CommitResult:
        """Record the message and enqueue it, if `snapshot` still holds.

        `wechat_limit` (from the policy) makes the commit count the message in
        the WeChat window and refuse it at the limit. Sending opens a closed
        conversation and assigns it to the sender.
        """
        cid = ContactId.parse(draft.contact_id)
        p = cid.partition
        message_id = message_id_for(draft.idempotency_key)
        message_key = self.keys.message(p, message_id)
        conv = snapshot.conversation
        change = Change(self.keys.contact(cid)).must_exist(True)
        change.absent(message_key)
        window_start = conv.last_inbound_at.get(draft.channel)
        change.expect(
            INBOUND_FIELD + draft.channel.value,
            str(to_epoch(window_start)) if window_start else None,
        )
        if conv.status is not ConversationStatus.OPEN or conv.assignee != draft.sender:
            self.contacts.reopen_change(change, snapshot, draft.sender, now)
        else:
            change.expect(F_STATUS, conv.status.value)
            change.expect(F_ASSIGNEE, conv.assignee)
        if wechat_limit is not None:
            window = str(to_epoch(window_start)) if window_start else ""
            change.counter(F_WECHAT_COUNT, F_WECHAT_WINDOW, window, wechat_limit)
        at = to_epoch(now)
        fields = {
            "cid": draft.contact_id,
            "ch": draft.channel.value,
            "mode": draft.mode,
            "form": draft.form,
            "by": draft.sender,
            "txt": draft.text,
            "st": MessageStatus.QUEUED.value,
            "at": str(at),
            "h": f"{MessageStatus.QUEUED.value}:{at}",
            "ik": draft.idempotency_key,
        }
        if draft.template:
            fields["tpl"] = draft.template
            fields["tpl_lang"] = draft.template_language or ""
            fields["tpl_params"] = json.dumps(list(draft.template_params), ensure_ascii=False)
        if draft.tag:
            fields["tag"] = draft.tag
        change.hset_at(message_key, fields)
        change.xadd(self.keys.outbox(p), {"m": message_id, "c": draft.contact_id})
        change.lpush(self.keys.contact_messages(cid), message_id, RECENT_MESSAGES)
        result = await apply_change(self.redis, change)
        if result.ok:
            return CommitResult(CommitOutcome.ACCEPTED, message_id, result.stream_id)
        if result.outcome == "duplicate":
            return CommitResult(CommitOutcome.DUPLICATE, message_id)
        if result.outcome == "limit":
            return CommitResult(CommitOutcome.LIMIT, message_id, detail=result.detail)
        return CommitResult(CommitOutcome.MOVED, message_id, detail=result.detail)

    async def record_outside_window(self, draft: OutboundDraft, now: datetime) -> str:
        """Record a send the window rules refused: ❗, not relayed.

        Counts toward no limit and changes neither status nor assignee (SPEC).
        Returns the message id; the same request records once.
        """
        cid = ContactId.parse(draft.contact_id)
        message_id = message_id_for(draft.idempotency_key)
        message_key = self.keys.message(cid.partition, message_id)
        at = str(to_epoch(now))
        change = Change(self.keys.contact(cid)).must_exist(True).absent(message_key)
        change.hset_at(
            message_key,
            {
                "cid": draft.contact_id,
                "ch": draft.channel.value,
                "mode": draft.mode,
                "form": draft.form,
                "by": draft.sender,
                "txt": draft.text,
                "st": MessageStatus.OUTSIDE_WINDOW.value,
                "at": at,
                "h": f"{MessageStatus.OUTSIDE_WINDOW.value}:{at}",
                "ik": draft.idempotency_key,
            },
        )
        change.lpush(self.keys.contact_messages(cid), message_id, RECENT_MESSAGES)
        await apply_change(self.redis, change)
        return message_id

    async def record_status(
        self,
        partition: int,
        message_id: str,
        status: MessageStatus,
        at: datetime,
        *,
        reason: str = "",
        channel_message_id: str | None = None,
    ) -> OutboundMessage | None:
        """Move a message to `status` unless that would move it backwards.

        Returns the message as it now is, or None when nothing changed.
        """
        key = self.keys.message(partition, message_id)
        for _ in range(16):
            message = await self.get_message(partition, message_id)
            if message is None or not status_may_advance(message.status, status):
                return None
            history = "|".join(f"{h.status.value}:{to_epoch(h.at)}" for h in message.history)
            fields = {"st": status.value, "h": f"{history}|{status.value}:{to_epoch(at)}"}
            if reason:
                fields["why"] = reason
            if channel_message_id:
                fields["cmid"] = channel_message_id
            if status is MessageStatus.SENT:
                fields["sat"] = str(to_epoch(at))
            change = Change(key).must_exist(True).expect("st", message.status.value).hset(fields)
            if (await apply_change(self.redis, change)).ok:
                # What was written, without reading it back (a hot path).
                return replace(
                    message,
                    status=status,
                    history=(*message.history, StatusChange(status, at.replace(microsecond=0))),
                    reason=reason or message.reason,
                    channel_message_id=channel_message_id or message.channel_message_id,
                    sent_at=at.replace(microsecond=0)
                    if status is MessageStatus.SENT
                    else message.sent_at,
                )
        return None

    async def link_channel_message(
        self, channel: Channel, channel_message_id: str, partition: int, message_id: str
    ) -> None:
        """Remember which message a channel's id names, for its status webhooks."""
        key = self.keys.channel_message(channel.value, channel_message_id)
        await self.redis.set(key, f"{partition}:{message_id}", ex=CHANNEL_ID_TTL_SECONDS)

    async def find_by_channel_message(
        self, channel: Channel, channel_message_id: str
    ) -> tuple[int, str] | None:
        key = self.keys.channel_message(channel.value, channel_message_id)
        value = cast(str | None, await self.redis.get(key))
        if not value:
            return None
        partition, _, message_id = value.partition(":")
        return int(partition), message_id

    # --- reading -------------------------------------------------------------------

    async def get_message(self, partition: int, message_id: str) -> OutboundMessage | None:
        key = self.keys.message(partition, message_id)
        data = cast(dict[str, str], await self.redis.hgetall(key))
        if not data:
            return None
        history = []
        for entry in data.get("h", "").split("|"):
            if entry:
                status, _, at = entry.partition(":")
                when = from_epoch(at)
                if when is not None:
                    history.append(StatusChange(MessageStatus(status), when))
        return OutboundMessage(
            id=message_id,
            contact_id=data["cid"],
            channel=Channel(data["ch"]),
            mode=data["mode"],
            form=data["form"],
            sender=data["by"],
            text=data.get("txt", ""),
            template=data.get("tpl"),
            template_language=data.get("tpl_lang") or None,
            template_params=tuple(json.loads(data.get("tpl_params", "[]"))),
            tag=data.get("tag"),
            status=MessageStatus(data["st"]),
            created_at=from_epoch(data.get("at")),
            history=tuple(history),
            channel_message_id=data.get("cmid"),
            idempotency_key=data.get("ik"),
            reason=data.get("why", ""),
            sent_at=from_epoch(data.get("sat")),
        )

    async def recent_message_ids(self, contact_id: str, count: int = 5) -> Sequence[str]:
        cid = ContactId.parse(contact_id)
        key = self.keys.contact_messages(cid)
        return cast(list[str], await self.redis.lrange(key, 0, count - 1))

    async def outbox_length(self, partition: int) -> int:
        return int(await self.redis.xlen(self.keys.outbox(partition)))
