"""The relay's two batch scripts on a real Redis (and the 3-master cluster):
`claim_batch.lua` takes send leases, `finish_batch.lua` records outcomes.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from bot.domain.channels import Channel
from bot.domain.messages import Attachment, Content, MediaKind, OutboundMessage, TemplateUse
from bot.domain.models import MessageStatus, StatusChange, status_may_advance
from bot.domain.windows import Form, PolicySettings, SendMode
from bot.relay.relay import GROUP, Relay
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.slack.threads import ThreadQueue
from bot.store.contact_codec import (
    F_EMAIL_SUBJECT,
    F_EMAIL_THREAD_ID,
    F_WECHAT_COUNT,
    F_WECHAT_WINDOW,
)
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.outbox import (
    ADVANCES_FROM,
    ClaimedSend,
    OutboxEntry,
    SendRecord,
    _as_written,
    read_outbox_entry,
)
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv

LEASE_MS = 60_000


async def queued(
    env: StoreEnv, now: datetime, count: int, *, channel: Channel = Channel.TELEGRAM
) -> tuple[int, list[OutboxEntry]]:
    """`count` follow-ups to contacts of one partition, read by consumer "w1"."""
    service = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    partition = None
    made = 0
    for attempt in range(100 * count):
        if made == count:
            break
        draft = ContactDraft(
            first_name=f"Sara{made}",
            last_name="Ahmed",
            identities={channel: f"chat-{attempt}"},
            last_inbound_at={channel: now - timedelta(minutes=5)},
        )
        cid = (await env.contacts.create(draft, now)).contact_id
        p = ContactId.parse(cid).partition
        if partition is None:
            partition = p
        elif p != partition:
            await env.contacts.delete(cid)
            continue
        request = FollowupRequest(
            cid, channel, "U_A", f"k{made}", Form.TEXT, content=Content(f"Hello {made}")
        )
        assert (await service.send(request)).outcome is FollowupOutcome.ACCEPTED
        made += 1
    assert partition is not None and made == count
    stream = env.keys.outbox(partition)
    await env.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    [(_, read)] = await env.redis.xreadgroup(GROUP, "w1", {stream: ">"}, count=count)
    return partition, [read_outbox_entry(entry_id, f) for entry_id, f in read]


async def pending(env: StoreEnv, partition: int) -> int:
    return int((await env.redis.xpending(env.keys.outbox(partition), GROUP))["pending"])


async def claim(env: StoreEnv, partition: int, entries: list[OutboxEntry]) -> list[ClaimedSend]:
    return await env.outbox.claim_batch(partition, GROUP, "w1", LEASE_MS, entries)


async def test_claim_takes_the_leases_and_returns_what_the_sends_need(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 3)
    # The fields a send reads besides identity, name and window: e-mail
    # threading and the WeChat counter.
    first_contact = any_env.keys.contact(ContactId.parse(entries[0].contact_id or ""))
    await any_env.redis.hset(
        first_contact,
        mapping={
            F_EMAIL_THREAD_ID: "<abc@mail.example.com>",
            F_EMAIL_SUBJECT: "Order 123",
            F_WECHAT_COUNT: "3",
            F_WECHAT_WINDOW: str(int(now.timestamp())),
        },
    )
    claimed = await claim(any_env, p, entries)
    assert [c.entry_id for c in claimed] == [e.entry_id for e in entries]
    for item, entry in zip(claimed, entries, strict=True):
        assert item.message == await any_env.outbox.get_message(p, entry.message_id)
        stored = await any_env.contacts.get(item.message.contact_id)
        assert stored is not None and item.contact is not None
        seen, conv = item.contact, item.contact.conversation
        assert (seen.id, seen.identities, seen.name) == (stored.id, stored.identities, stored.name)
        assert (seen.email_thread_id, seen.email_subject) == (
            stored.email_thread_id,
            stored.email_subject,
        )
        assert conv.last_inbound_at == stored.conversation.last_inbound_at
        assert conv.wechat_outbound == stored.conversation.wechat_outbound
        assert conv.wechat_window_start == stored.conversation.wechat_window_start
        lease = any_env.keys.send_lease(p, entry.message_id)
        assert await any_env.redis.get(lease) == "w1"
        assert 0 < await any_env.redis.pttl(lease) <= LEASE_MS
    assert claimed[0].contact is not None and claimed[0].contact.email_subject == "Order 123"
    assert await pending(any_env, p) == 3  # acknowledged only once recorded


async def test_claim_of_a_message_sent_already_acknowledges_and_deletes_its_entry(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 2)
    await any_env.outbox.record_status(p, entries[0].message_id, MessageStatus.SENT, now)
    claimed = await claim(any_env, p, entries)
    assert [c.entry_id for c in claimed] == [entries[1].entry_id]
    assert await pending(any_env, p) == 1
    assert await any_env.redis.xlen(any_env.keys.outbox(p)) == 1
    assert await any_env.redis.get(any_env.keys.send_lease(p, entries[0].message_id)) is None


async def test_claim_skips_an_entry_whose_lease_another_consumer_holds(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 2)
    lease = any_env.keys.send_lease(p, entries[0].message_id)
    await any_env.redis.set(lease, "w2", px=LEASE_MS)
    claimed = await claim(any_env, p, entries)
    assert [c.entry_id for c in claimed] == [entries[1].entry_id]
    assert await any_env.redis.get(lease) == "w2"
    assert await pending(any_env, p) == 2  # left pending: w2 finishes it, or a reclaim


async def test_claim_of_a_deleted_message_acknowledges_it_and_a_deleted_contact_is_none(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 2)
    await any_env.redis.delete(any_env.keys.message(p, entries[0].message_id))
    gone = await any_env.outbox.get_message(p, entries[1].message_id)
    assert gone is not None
    await any_env.redis.delete(any_env.keys.contact(ContactId.parse(gone.contact_id)))
    [claimed] = await claim(any_env, p, entries)
    assert claimed.entry_id == entries[1].entry_id and claimed.contact is None
    assert await pending(any_env, p) == 1


async def test_claim_reads_the_contact_from_the_message_when_the_entry_lacks_it(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 2)
    bare = [OutboxEntry(e.entry_id, e.message_id, None) for e in entries]
    bare[1] = OutboxEntry(entries[1].entry_id, entries[1].message_id, "None")
    claimed = await claim(any_env, p, bare)
    assert [c.contact is not None for c in claimed] == [True, True]
    assert [c.message.contact_id for c in claimed] == [e.contact_id for e in entries]


async def test_finish_records_a_batch_of_mixed_outcomes_and_acknowledges_it(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 3)
    sent, failed, outside = await claim(any_env, p, entries)
    at = now + timedelta(seconds=7)
    records = [
        SendRecord(sent, MessageStatus.SENT, channel_message_id="700:1"),
        SendRecord(failed, MessageStatus.FAILED, "The customer blocked the bot"),
        SendRecord(outside, MessageStatus.OUTSIDE_WINDOW, "The window closed."),
    ]
    written = await any_env.outbox.finish_batch(p, GROUP, "w1", records, at)
    stored = [await any_env.outbox.get_message(p, e.message_id) for e in entries]
    assert written == stored  # what it returns is what was written
    first, second, third = stored
    assert first is not None and second is not None and third is not None
    assert first.status is MessageStatus.SENT and first.channel_message_id == "700:1"
    assert first.sent_at == at and first.history[-1] == StatusChange(MessageStatus.SENT, at)
    assert [h.status for h in first.history] == [MessageStatus.QUEUED, MessageStatus.SENT]
    assert second.status is MessageStatus.FAILED
    assert second.reason == "The customer blocked the bot" and second.sent_at is None
    assert third.status is MessageStatus.OUTSIDE_WINDOW and third.reason == "The window closed."
    assert await pending(any_env, p) == 0
    assert await any_env.redis.xlen(any_env.keys.outbox(p)) == 0
    for entry in entries:
        assert await any_env.redis.get(any_env.keys.send_lease(p, entry.message_id)) is None


async def test_finish_never_moves_a_status_backwards_and_still_acknowledges(
    any_env: StoreEnv, now: datetime
) -> None:
    """A receipt raced the relay's record: read stays read."""
    p, entries = await queued(any_env, now, 1)
    [claimed] = await claim(any_env, p, entries)
    mid = entries[0].message_id
    await any_env.outbox.record_status(p, mid, MessageStatus.READ, now)
    before = await any_env.outbox.get_message(p, mid)
    written = await any_env.outbox.finish_batch(
        p, GROUP, "w1", [SendRecord(claimed, MessageStatus.SENT, channel_message_id="x")], now
    )
    assert written == [None]
    assert await any_env.outbox.get_message(p, mid) == before
    assert await pending(any_env, p) == 0


async def test_finish_after_a_receipt_moved_the_message_returns_it_as_stored(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 1)
    [claimed] = await claim(any_env, p, entries)
    mid = entries[0].message_id
    await any_env.outbox.record_status(p, mid, MessageStatus.DELIVERED, now)
    record = SendRecord(claimed, MessageStatus.FAILED, "Rejected late")  # may follow delivered
    [written] = await any_env.outbox.finish_batch(p, GROUP, "w1", [record], now)
    stored = await any_env.outbox.get_message(p, mid)
    assert written == stored and stored is not None
    assert [h.status for h in stored.history] == [
        MessageStatus.QUEUED,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
    ]


async def test_finish_leaves_a_lease_that_is_no_longer_ours(
    any_env: StoreEnv, now: datetime
) -> None:
    p, entries = await queued(any_env, now, 1)
    [claimed] = await claim(any_env, p, entries)
    lease = any_env.keys.send_lease(p, entries[0].message_id)
    await any_env.redis.set(lease, "w2", px=LEASE_MS)  # ours expired; w2 took it
    await any_env.outbox.finish_batch(
        p, GROUP, "w1", [SendRecord(claimed, MessageStatus.SENT)], now
    )
    assert await any_env.redis.get(lease) == "w2"


def test_the_statuses_each_status_may_follow_come_from_the_one_rule() -> None:
    for new in MessageStatus:
        assert ADVANCES_FROM[new.value] == [
            old.value for old in MessageStatus if status_may_advance(old, new)
        ]


def test_a_written_message_keeps_every_field_it_had(now: datetime) -> None:
    """`_as_written` builds the message field by field: a new field must not be dropped."""
    values: dict[str, object] = {
        "id": "m1",
        "contact_id": "1-a",
        "channel": Channel.WHATSAPP,
        "mode": SendMode.TEMPLATE,
        "form": Form.TEMPLATE,
        "sender": "U_A",
        "content": Content(
            "t",
            TemplateUse("order_update", "en", ("1",), ("first_name",)),
            "HUMAN_AGENT",
            (Attachment(MediaKind.IMAGE, "a.png", "image/png", 10, "media/a"),),
        ),
        "status": MessageStatus.QUEUED,
        "created_at": now,
        "history": (StatusChange(MessageStatus.QUEUED, now),),
        "channel_message_id": "wamid.1",
        "idempotency_key": "k",
        "reason": "why",
        "sent_at": now,
        "counted_window": 1795003200,
        "counted_month": "2026-11",
    }
    assert set(values) == {f.name for f in dataclasses.fields(OutboundMessage)}
    message = OutboundMessage(**values)  # type: ignore[arg-type]
    at = now + timedelta(seconds=3)
    expected = dataclasses.replace(
        message,
        status=MessageStatus.DELIVERED,
        history=(*message.history, StatusChange(MessageStatus.DELIVERED, at)),
    )
    assert _as_written(message, MessageStatus.DELIVERED, at, "", None) == expected


async def test_a_batch_of_thread_entries_replaces_payloads_and_keeps_each_place(
    env: StoreEnv, now: datetime
) -> None:
    """`enqueue_many.lua` (ThreadQueue.messages_changed) does what `message_changed` does."""
    p, entries = await queued(env, now, 2)
    first, second = [await env.outbox.get_message(p, e.message_id) for e in entries]
    assert first is not None and second is not None
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    await queue.message_changed(first.contact_id, first)
    [(_, placed)] = await env.redis.zrange(env.keys.thread_due(), 0, -1, withscores=True)
    before = await env.redis.hget(env.keys.thread_pending(), f"m:{p}:{first.id}")
    await queue.messages_changed([(first.contact_id, first), (second.contact_id, second)])
    due = dict(await env.redis.zrange(env.keys.thread_due(), 0, -1, withscores=True))
    assert set(due) == {f"m:{p}:{first.id}", f"m:{p}:{second.id}"}
    assert due[f"m:{p}:{first.id}"] == placed  # it keeps its place in the queue
    pending = await env.redis.hgetall(env.keys.thread_pending())
    assert pending[f"m:{p}:{first.id}"] != before  # a newer version: posted again
    for message in (first, second):
        payload = json.loads(pending[f"m:{p}:{message.id}"])
        assert {k: payload[k] for k in ("kind", "contact_id", "partition", "message_id")} == {
            "kind": "message",
            "contact_id": message.contact_id,
            "partition": p,
            "message_id": message.id,
        }


async def test_an_entry_naming_no_message_is_acknowledged_not_left_pending(
    env: StoreEnv, now: datetime
) -> None:
    p, _ = await queued(env, now, 1)
    stream = env.keys.outbox(p)
    await env.redis.xadd(stream, {"x": "1"})
    [(_, read)] = await env.redis.xreadgroup(GROUP, "w1", {stream: ">"}, count=10)
    relay = Relay(env.redis, env.keys, {}, PolicySettings(), lambda: now, consumer="w1")
    assert await relay.claim(p, read) == []
    assert await pending(env, p) == 1  # the real one, read before
