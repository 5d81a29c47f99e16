"""Outbound messages: the atomic send commit, the outbox stream, the Viber quota.

The window policy decides in Python from a snapshot of the contact; the
commit (`commit_send.lua`) records the message, appends it to the partition's
outbox stream, bumps the WeChat window counter and opens/assigns the
conversation — only if the snapshot still holds: same window start on that
channel, same status and assignee, counter still under the policy's limit,
and no message yet for this idempotency key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import cast

import orjson

from bot.domain import conversations
from bot.domain.channels import Channel
from bot.domain.messages import OutboundMessage
from bot.domain.models import (
    Contact,
    Conversation,
    ConversationStatus,
    MessageStatus,
    StatusChange,
    from_epoch,
    status_may_advance,
    to_epoch,
)
from bot.domain.reachability import LineQuota
from bot.store.builders import builder
from bot.store.codec import (
    MESSAGE_FIELDS,
    MessageHash,
    OutboxStream,
    decode_message,
    decode_message_values,
    encode_history,
    encode_message,
    history_entry,
    outbox_entry,
    status_fields,
)
from bot.store.connection import RedisClient
from bot.store.contact_codec import (
    F_ASSIGNEE,
    F_EMAIL_SUBJECT,
    F_EMAIL_THREAD_ID,
    F_FIRST,
    F_LAST,
    F_MERGED_INTO,
    F_STATUS,
    F_VERSION,
    F_WECHAT_COUNT,
    F_WECHAT_LEARNED,
    F_WECHAT_WINDOW,
    IDENTITY_FIELD,
    INBOUND_FIELD,
    UNREACHABLE_FIELD,
    decode_unreachable,
    parse_wechat_learned,
)
from bot.store.contacts import ContactStore
from bot.store.index_writes import ContactWrite, transition
from bot.store.keys import ContactId, Keys
from bot.store.scripts import (
    CLAIM_BATCH,
    COMMIT_SEND,
    COUNT_IN_WINDOW,
    FINISH_BATCH,
    QUOTA,
    RECORD_OUTSIDE_WINDOW,
    RECORD_STATUS,
    parse_reply,
)

#: How many recent message ids a contact keeps for "the last few messages".
RECENT_MESSAGES = 50
#: Status webhooks arrive within days; a channel's id is remembered this long.
CHANNEL_ID_TTL_SECONDS = 35 * 24 * 3600
#: A month's Viber counter is kept this long after its last change.
QUOTA_TTL_SECONDS = 62 * 24 * 3600

#: A contact's fields a send needs: its name, e-mail thread and WeChat counter
#: (and what WeChat refused), its version, whether it was merged into another, and per
#: channel (the channel value appended) its identity, window start and
#: reachability.
SEND_CONTACT_FIELDS = (F_FIRST, F_LAST, F_EMAIL_THREAD_ID, F_EMAIL_SUBJECT, F_WECHAT_COUNT,
                       F_WECHAT_WINDOW, F_WECHAT_LEARNED, F_VERSION, F_MERGED_INTO)  # fmt: skip
SEND_CONTACT_CHANNEL_FIELDS = (IDENTITY_FIELD, INBOUND_FIELD, UNREACHABLE_FIELD)
SEND_MERGED_AT = SEND_CONTACT_FIELDS.index(F_MERGED_INTO)
_CLAIM_SPEC = json.dumps(
    {
        "queued": MessageStatus.QUEUED.value,
        "message": MESSAGE_FIELDS,
        "contact": SEND_CONTACT_FIELDS,
        "by_channel": SEND_CONTACT_CHANNEL_FIELDS,
    }
)
#: For each status, the statuses a message may be in to move to it (the rule
#: is `status_may_advance`; `finish_batch.lua` only looks the pair up).
ADVANCES_FROM = {
    new.value: [old.value for old in MessageStatus if status_may_advance(old, new)]
    for new in MessageStatus
}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def message_id_for(idempotency_key: str) -> str:
    """The message id a request creates: the same request, the same message."""
    return hashlib.blake2b(idempotency_key.encode(), digest_size=10).hexdigest()


def month_of(now: datetime) -> str:
    """The calendar month (UTC) a Viber quota counter belongs to."""
    return f"{now.year:04d}-{now.month:02d}"


#: Stored epochs as datetimes: a batch of contacts shares few seconds (a hot path).
_moment = functools.lru_cache(maxsize=4096)(from_epoch)
#: The records each claimed send and each recorded outcome make (see `bot.store.builders`).
_contact = builder(Contact)
_conversation = builder(Conversation)
_message = builder(OutboundMessage)
_change = builder(StatusChange)


class CommitOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # this request was committed already
    MOVED = "moved"  # the snapshot no longer holds: decide again
    LIMIT = "limit"  # the WeChat window counter is at its limit


@dataclass(frozen=True)
class CommitResult:
    outcome: CommitOutcome
    message_id: str
    stream_id: str = ""
    detail: str = ""
    #: ACCEPTED: the message as written (no need to read it back).
    message: OutboundMessage | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An outbox stream entry: which message, for which contact (None: unknown)."""

    entry_id: str
    message_id: str
    contact_id: str | None


def read_outbox_entry(entry_id: str, fields: Mapping[str, str]) -> OutboxEntry:
    """An outbox stream entry as read (an entry naming no message names none that exists)."""
    return _entry(
        entry_id, fields.get(OutboxStream.MESSAGE_ID, ""), fields.get(OutboxStream.CONTACT_ID)
    )


@dataclass(frozen=True, slots=True)
class ClaimedSend:
    """An entry this consumer holds the send lease of, with what the send needs.

    `contact` carries only the fields a send reads; None when the contact is gone.
    """

    entry_id: str
    message: OutboundMessage
    contact: Contact | None


#: Built for every entry the relay reads and claims (see `bot.store.builders`).
_entry = builder(OutboxEntry)
_claimed = builder(ClaimedSend)


@dataclass(frozen=True, slots=True)
class SendRecord:
    """The outcome of a claimed send, to be recorded by `finish_batch`."""

    claimed: ClaimedSend
    status: MessageStatus
    reason: str = ""
    channel_message_id: str | None = None


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

    async def counted_in_month(self, message: OutboundMessage, now: datetime) -> None:
        """Remember that `message` holds one of this month's chatbot-initiated
        Viber messages (reserved as it is sent): a retry of it is not counted
        again. The quota has its own slot: a crash between the two counts the
        message again on its retry (more, never fewer)."""
        partition = ContactId.parse(message.contact_id).partition
        key = self.keys.message(partition, message.id)
        await self.redis.hset(key, MessageHash.COUNTED_MONTH, month_of(now))

    async def uncounted_in_month(self, message: OutboundMessage, now: datetime) -> None:
        """`message` goes inside a window after all: it gives back its place in
        this month's Viber quota (its mark first: a crash between the two
        leaves the count one too high, never too low)."""
        partition = ContactId.parse(message.contact_id).partition
        await self.redis.hdel(self.keys.message(partition, message.id), MessageHash.COUNTED_MONTH)
        await self.release_viber(now)

    async def release_viber(self, now: datetime) -> None:
        """Give back a reservation whose commit did not happen."""
        key = self.keys.viber_quota(month_of(now))
        await QUOTA(self.redis, [key], [-1, "", QUOTA_TTL_SECONDS])

    # --- LINE's monthly push limit (account-wide, learned from its 429) ------------

    async def line_month_spent(self, now: datetime) -> bool:
        """Whether LINE refused pushes this month for the monthly limit."""
        return await self.redis.get(self.keys.line_month_spent()) == month_of(now)

    async def learn_line_month_spent(self, now: datetime) -> None:
        """LINE answered "You have reached your monthly limit": refuse pushes this month."""
        await self.redis.set(self.keys.line_month_spent(), month_of(now), ex=QUOTA_TTL_SECONDS)

    async def forget_line_month_spent(self) -> None:
        """LINE's quota API shows room again (the plan changed): pushes may go."""
        await self.redis.delete(self.keys.line_month_spent())

    async def line_quota_read(self) -> LineQuota | None:
        """LINE's monthly quota as last read from its API, while that read is kept."""
        cached = cast(str | None, await self.redis.get(self.keys.line_quota()))
        if not cached:
            return None
        data = json.loads(cached)
        return LineQuota(data["limit"], data["used"])

    async def keep_line_quota_read(self, quota: LineQuota, seconds: int) -> None:
        """Keep a read of LINE's quota API for `seconds` (the composer asks often)."""
        raw = json.dumps({"limit": quota.limit, "used": quota.used})
        await self.redis.set(self.keys.line_quota(), raw, ex=seconds)

    # --- the commit ----------------------------------------------------------------

    async def commit(
        self,
        message: OutboundMessage,
        snapshot: Contact,
        now: datetime,
        *,
        wechat_limit: int | None = None,
    ) -> CommitResult:
        """Record `message` (as decided; its id from `message_id_for`) as queued
        and enqueue it, if `snapshot` still holds.

        `wechat_limit` (from the policy) makes the commit count the message in
        the WeChat window and refuse it at the limit. Sending opens a closed
        conversation and assigns it to the sender.
        """
        cid = ContactId.parse(message.contact_id)
        p = cid.partition
        message_key = self.keys.message(p, message.id)
        conv = snapshot.conversation
        # The window start the policy judged, and the status and assignee it saw.
        write = ContactWrite(
            self.keys.contact(cid),
            message_key,
            self.keys.outbox(p),
            self.keys.contact_messages(cid),
        )
        window_start = conv.last_inbound_at.get(message.channel)
        write.expect(
            INBOUND_FIELD + message.channel.value,
            str(to_epoch(window_start)) if window_start else None,
        )
        write.expect(F_STATUS, conv.status.value).expect(F_ASSIGNEE, conv.assignee)
        transition(write, self.keys, snapshot, conversations.send(conv, message.sender, now), now)
        counted_window = ""
        if wechat_limit is not None:
            counted_window = str(to_epoch(window_start)) if window_start else ""
        written = _recorded(message, MessageStatus.QUEUED, now)
        if wechat_limit is not None and window_start is not None:
            # Which window's count holds this message: the send judges it
            # against the others (`windows.at_send`).
            written = replace(written, counted_window=to_epoch(window_start))
        args = write.argv(
            _json(encode_message(written)),
            _json(outbox_entry(message.id, message.contact_id)),
            message.id,
            RECENT_MESSAGES,
            counted_window,
            "" if wechat_limit is None else wechat_limit,
        )
        result = parse_reply(await COMMIT_SEND(self.redis, write.keys, args))
        if result.ok:
            return CommitResult(
                CommitOutcome.ACCEPTED, message.id, result.entry_id, message=written
            )
        if result.outcome == "duplicate":
            return CommitResult(CommitOutcome.DUPLICATE, message.id)
        if result.outcome == "limit":
            return CommitResult(CommitOutcome.LIMIT, message.id, detail=result.detail)
        return CommitResult(CommitOutcome.MOVED, message.id, detail=result.detail)

    async def count_in_window(
        self, message: OutboundMessage, contact_id: str, window: int, limit: int | None
    ) -> str:
        """Count `message` in the WeChat window of contact `contact_id` (the
        message's, or the one it was merged into) starting at `window` (epoch s) as
        it is sent, if that count is under `limit` (`windows.count_at_send`).

        One script call on the contact's slot: the window must still be the
        current one, the count under the limit; then the count grows by one
        and the message records that window (a retry of it is counted once).
        Returns "ok", "limit" (the window's count is spent: not sent) or
        "moved" (the customer wrote again, or the contact was merged: decide
        again).
        """
        cid = ContactId.parse(contact_id)
        keys = [self.keys.contact(cid)]
        partition = ContactId.parse(message.contact_id).partition
        if partition == cid.partition:
            # Else the contact was merged into one on another slot since the
            # commit: the message keeps its old window (a retry counts again).
            keys.append(self.keys.message(partition, message.id))
        args = [str(window), "" if limit is None else limit, MessageHash.COUNTED_WINDOW]
        reply = parse_reply(await COUNT_IN_WINDOW(self.redis, keys, args))
        return reply.outcome if reply.outcome in ("ok", "limit") else "moved"

    async def record_outside_window(self, message: OutboundMessage, now: datetime) -> str:
        """Record a send the window rules refused: ❗, not relayed.

        Counts toward no limit and changes neither status nor assignee (SPEC).
        Returns the message id; the same request records once.
        """
        cid = ContactId.parse(message.contact_id)
        message_key = self.keys.message(cid.partition, message.id)
        keys = [self.keys.contact(cid), message_key, self.keys.contact_messages(cid)]
        written = _recorded(message, MessageStatus.OUTSIDE_WINDOW, now)
        fields = _json(encode_message(written))
        await RECORD_OUTSIDE_WINDOW(self.redis, keys, [fields, message.id, RECENT_MESSAGES])
        return message.id

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
            epoch = str(to_epoch(at))
            history = encode_history(message.history)
            fields = {
                MessageHash.STATUS: status.value,
                MessageHash.HISTORY: f"{history}|{history_entry(status, epoch)}",
            }
            fields.update(status_fields(status, reason, channel_message_id, epoch))
            args = [MessageHash.STATUS, message.status.value, _json(fields)]
            if await RECORD_STATUS(self.redis, [key], args) == 1:
                # What was written, without reading it back (a hot path).
                return _as_written(message, status, at, reason, channel_message_id)
        return None

    # --- the relay's batches ------------------------------------------------------

    async def claim_batch(
        self,
        partition: int,
        group: str,
        consumer: str,
        lease_ms: int,
        entries: Sequence[OutboxEntry],
        *,
        dead: Sequence[str] = (),
    ) -> list[ClaimedSend]:
        """Take the send leases of a batch of one partition's entries (one script call).

        Entries whose message is no longer queued are acknowledged and deleted;
        entries another consumer holds the lease of are left pending, unless
        that consumer is one of `dead` (its work is being taken over). Returns
        the claimed ones, in order, with their message and contact.
        """
        if not entries:
            return []
        contact_ids = await self._contact_ids(partition, entries)
        keys = [self.keys.outbox(partition)]
        message_of, lease_of, contact_of = (
            self.keys.message,
            self.keys.send_lease,
            self.keys.contact,
        )
        for entry, cid in zip(entries, contact_ids, strict=True):
            message_key = message_of(partition, entry.message_id)
            keys.append(message_key)
            keys.append(lease_of(partition, entry.message_id))
            # A message without a contact is gone: any key of the slot will do.
            keys.append(contact_of(cid) if cid else message_key)
        args = [group, consumer, lease_ms, _CLAIM_SPEC, " ".join(e.entry_id for e in entries)]
        if dead:
            args.append(" ".join(dead))
        replies = await CLAIM_BATCH(self.redis, keys, args)
        claimed = []
        for entry, reply in zip(entries, replies, strict=True):
            if reply[0] != "ok":
                continue
            message = decode_message_values(entry.message_id, reply[1])
            contact = None
            if reply[2] is not None and reply[2][SEND_MERGED_AT]:
                # Queued before its contact was merged: the survivor's windows,
                # identities and reachability decide now (rare: a read more).
                contact = await self.contacts.get(message.contact_id)
            elif reply[2] is not None:
                contact = _contact_for_send(message.contact_id, message.channel, reply[2])
            claimed.append(_claimed(entry.entry_id, message, contact))
        return claimed

    async def _contact_ids(
        self, partition: int, entries: Sequence[OutboxEntry]
    ) -> list[ContactId | None]:
        """Each entry's contact; read from the message where the entry lacks it."""
        ids = [_contact_id(e.contact_id) for e in entries]
        missing = [i for i, cid in enumerate(ids) if cid is None]
        if missing:
            pipe = self.redis.pipeline(transaction=False)
            for i in missing:
                message_key = self.keys.message(partition, entries[i].message_id)
                pipe.hget(message_key, MessageHash.CONTACT_ID)
            for i, value in zip(missing, await pipe.execute(), strict=True):
                ids[i] = _contact_id(value)
        return ids

    async def finish_batch(
        self,
        partition: int,
        group: str,
        consumer: str,
        records: Sequence[SendRecord],
        at: datetime,
    ) -> list[OutboundMessage | None]:
        """Record each outcome unless it would move the message backwards, then
        acknowledge and delete the entries and give back the leases (one script call).

        Returns, per record, the message as it now is, or None when nothing changed.
        """
        if not records:
            return []
        epoch = str(to_epoch(at))
        at = at.replace(microsecond=0)  # as stored: whole seconds
        message_key, lease_key = self.keys.message, self.keys.send_lease
        keys = [self.keys.outbox(partition)]
        entries = []
        # What every record of one status shares (a batch holds one or two statuses):
        # its value, its history entry and the change the written message gains.
        shared: dict[MessageStatus, tuple[str, str, StatusChange]] = {}
        for record in records:
            message_id = record.claimed.message.id
            keys.append(message_key(partition, message_id))
            keys.append(lease_key(partition, message_id))
            status = record.status
            common = shared.get(status)
            if common is None:
                common = shared[status] = (
                    status.value,
                    history_entry(status, epoch),
                    _change(status, at, ""),
                )
            fields = status_fields(status, record.reason, record.channel_message_id, epoch)
            entries.append([record.claimed.entry_id, common[0], common[1], fields])
        spec = {
            "status_field": MessageHash.STATUS,
            "history_field": MessageHash.HISTORY,
            "advance": {value: ADVANCES_FROM[value] for value, _, _ in shared.values()},
            "entries": entries,
        }
        replies = await FINISH_BATCH(self.redis, keys, [group, consumer, orjson.dumps(spec)])
        written: list[OutboundMessage | None] = []
        for record, reply in zip(records, replies, strict=True):
            message = record.claimed.message
            if not reply.startswith("+"):
                written.append(None)
            elif reply[1:] != message.status:  # a StrEnum: equal to its value
                # It moved since it was claimed: what was written is read back.
                written.append(await self.get_message(partition, message.id))
            else:
                status = record.status
                written.append(
                    _written(
                        message,
                        status,
                        at,
                        shared[status][2],
                        record.reason,
                        record.channel_message_id,
                    )
                )
        return written

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
        return decode_message(message_id, data) if data else None

    async def recent_messages(self, contact: Contact, count: int = 5) -> list[OutboundMessage]:
        """The contact's latest outbound messages, newest first, with those of the
        contacts merged into it (kept in their own partitions)."""
        owners = [ContactId.parse(cid) for cid in (contact.id, *contact.merged_from)]
        pipe = self.redis.pipeline(transaction=False)
        for cid in owners:
            pipe.lrange(self.keys.contact_messages(cid), 0, count - 1)
        lists: list[list[str]] = await pipe.execute()
        refs = [(cid.partition, mid) for cid, ids in zip(owners, lists, strict=True) for mid in ids]
        pipe = self.redis.pipeline(transaction=False)
        for partition, message_id in refs:
            pipe.hgetall(self.keys.message(partition, message_id))
        rows: list[dict[str, str]] = await pipe.execute() if refs else []
        messages = [
            decode_message(mid, row) for (_, mid), row in zip(refs, rows, strict=True) if row
        ]
        if len(owners) > 1:  # each list is newest first; together they need sorting
            messages.sort(key=lambda m: to_epoch(m.created_at) if m.created_at else 0, reverse=True)
        return messages[:count]

    async def recent_message_ids(self, contact_id: str, count: int = 5) -> Sequence[str]:
        cid = ContactId.parse(contact_id)
        key = self.keys.contact_messages(cid)
        return cast(list[str], await self.redis.lrange(key, 0, count - 1))

    async def outbox_length(self, partition: int) -> int:
        return int(await self.redis.xlen(self.keys.outbox(partition)))


def _contact_for_send(contact_id: str, channel: Channel, values: Sequence[str | None]) -> Contact:
    """The contact as a send on `channel` sees it, from `SEND_CONTACT_FIELDS` and
    `SEND_CONTACT_CHANNEL_FIELDS` (what `contact_from_hash` would make of them,
    built directly: a hot path).

    Every field is passed, in order: a default made by a factory (the dicts, the
    conversation) or a keyword costs more than the value itself; this builds a
    contact in a third of the time `Contact(id=…, …)` with defaults took."""
    (first, last, email_thread, subject, wechat_count, wechat_window, wechat_learned, version,
     _merged, identity, inbound, unreachable) = values  # fmt: skip
    since = _moment(inbound) if inbound else None
    learned, learned_window = parse_wechat_learned(wechat_learned) if wechat_learned else _NONE2
    reach = decode_unreachable(unreachable) if unreachable else None
    conversation = _conversation(
        ConversationStatus.CLOSED,  # status: not read by a send
        None,  # assignee
        None,  # thread_ts
        None,  # previous_thread_ts
        {channel: since} if since is not None else {},  # last_inbound_at
        int(wechat_count) if wechat_count else 0,  # wechat_outbound
        int(wechat_window) if wechat_window else None,  # wechat_window_start
        None,  # closed_reason
        None,  # closed_at
        None,  # opened_at
        learned,  # wechat_learned
        learned_window,  # wechat_learned_window
    )
    return _contact(
        contact_id,  # id
        first or "",  # first_name
        last or "",  # last_name
        None,  # email
        None,  # phone
        {channel: identity} if identity is not None else {},  # identities
        conversation,
        int(version) if version else 0,  # version
        email_thread or None,  # email_thread_id
        subject or "",  # email_subject
        "",  # indexed
        {channel: reach} if reach is not None else {},  # reachability
        {},  # reachability_at
        {},  # handles
        (),  # merged_from
        None,  # time_zone
    )


_NONE2: tuple[None, None] = (None, None)


def _contact_id(value: str | None) -> ContactId | None:
    if not value:
        return None
    try:
        return ContactId.parse(value)
    except ValueError:
        return None


def _recorded(message: OutboundMessage, status: MessageStatus, now: datetime) -> OutboundMessage:
    """`message` as first recorded, at `now` (whole seconds, as stored) in `status`."""
    at = now.replace(microsecond=0)
    return replace(message, status=status, created_at=at, history=(StatusChange(status, at),))


def _as_written(
    message: OutboundMessage,
    status: MessageStatus,
    at: datetime,
    reason: str,
    channel_message_id: str | None,
) -> OutboundMessage:
    """The message after a status change was written to it (without reading it back)."""
    at = at.replace(microsecond=0)
    return _written(message, status, at, _change(status, at, ""), reason, channel_message_id)


def _written(
    message: OutboundMessage,
    status: MessageStatus,
    at: datetime,
    change: StatusChange,
    reason: str,
    channel_message_id: str | None,
) -> OutboundMessage:
    """`_as_written` with `at` in whole seconds and its `change` made already (a
    batch's records share them).

    Built field by field, in order, rather than with `dataclasses.replace`
    (which looks up every field's name and default on each call): a hot path,
    once per message sent, where this takes a third of the time."""
    return _message(
        message.id,
        message.contact_id,
        message.channel,
        message.mode,
        message.form,
        message.sender,
        message.content,
        status,
        message.created_at,
        (*message.history, change),
        channel_message_id or message.channel_message_id,
        message.idempotency_key,
        reason or message.reason,
        at if status is MessageStatus.SENT else message.sent_at,
        message.counted_window,
        message.counted_month,
    )
