"""Personal alerts: who is told what, queued once per event; the window sweep's timing.

SPEC "Slack surface": the assignee gets a direct message when their customer
writes, when one of their messages fails or gets ❗, and shortly before a
window they depend on closes. (Sending them: tests/slack/test_alerts.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage
from bot.domain.models import Contact, MessageStatus
from bot.domain.reachability import Unreachable, UnreachableReason
from bot.domain.windows import Form, PolicySettings
from bot.relay.relay import Relay, RelayTuning
from bot.services.alerts import (
    Alert,
    AlertingThreads,
    AlertKind,
    AlertService,
    customer_wrote_alert,
    with_alerts,
)
from bot.services.followup import FollowupRequest, FollowupService
from bot.services.inbound import InboundService
from bot.slack.threads import ThreadQueue
from bot.store.alerts import AlertStore, Claim
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv
from tests.relay.test_relay import Clock, ScriptedChannel, accepted, drain

AGENT = "U0AGENT1"
HOUR = timedelta(hours=1)


class Thread:
    """The thread side of the composite sink: what it was told, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        self.seen.append(f"in:{message.text}")

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        self.seen.append(f"m:{message.status.value}")

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        self.seen.append(key)

    async def root_changed(self, contact_id: str) -> None:
        self.seen.append("root")


def service_for(env: StoreEnv, clock: Callable[[], datetime], minutes: int = 60) -> AlertService:
    return AlertService(AlertStore(env.redis, env.keys), env.contacts, clock, alert_minutes=minutes)


async def queued(env: StoreEnv) -> list[Alert]:
    alerts = []
    for pending in await AlertStore(env.redis, env.keys).due(100):
        alert = Alert.from_payload(pending.payload)
        assert alert is not None
        alerts.append(alert)
    return alerts


async def assigned_contact(
    env: StoreEnv, now: datetime, *, assignee: str | None = AGENT, n: int = 1
) -> str:
    draft = ContactDraft(
        first_name="Sara",
        last_name=f"Ahmed{n}",
        phone=f"+97150123456{n}",
        identities={Channel.WHATSAPP: f"97150123456{n}", Channel.TELEGRAM: f"tg{n}"},
    )
    cid = (await env.contacts.create(draft, now)).contact_id
    if assignee:
        await env.contacts.reopen(cid, assignee, now)
    return cid


def message(
    cid: str, at: datetime, mid: str, channel: Channel = Channel.WHATSAPP
) -> InboundMessage:
    identity = f"97150123456{cid[-1]}" if channel is Channel.WHATSAPP else "tg"
    return InboundMessage(channel, identity, mid, at, "Any news about my refund?")


async def test_customer_message_queues_an_alert_for_the_assignee(
    env: StoreEnv, now: datetime
) -> None:
    thread = Thread()
    sink = AlertingThreads(thread, service_for(env, lambda: now))
    inbound = InboundService(env.contacts, env.outbox, lambda: now, threads=sink)
    cid = await assigned_contact(env, now)
    contact = await env.contacts.require(cid)
    await inbound.receive(
        InboundMessage(Channel.WHATSAPP, contact.identities[Channel.WHATSAPP], "wamid.1", now, "Hi")
    )
    assert thread.seen == ["in:Hi"]  # the thread still gets it
    [alert] = await queued(env)
    assert alert.kind is AlertKind.CUSTOMER_WROTE
    assert (alert.recipient, alert.contact_id, alert.channel) == (AGENT, cid, Channel.WHATSAPP)
    assert alert.preview == "Hi"


async def test_nobody_assigned_nobody_alerted(env: StoreEnv, now: datetime) -> None:
    cid = await assigned_contact(env, now, assignee=None)
    contact = await env.contacts.require(cid)
    assert customer_wrote_alert(contact, message(cid, now, "wamid.x")) is None


async def test_a_burst_of_customer_messages_is_one_alert(env: StoreEnv, now: datetime) -> None:
    cid = await assigned_contact(env, now)
    contact = await env.contacts.require(cid)
    first = customer_wrote_alert(contact, message(cid, now, "m1"))
    second = customer_wrote_alert(contact, message(cid, now + timedelta(seconds=40), "m2"))
    assert first is not None and second is not None
    # One queue entry per contact (the newest wins) ...
    assert first.entry == second.entry
    # ... and, within the quiet period, one event: sent once.
    buckets = {first.event, second.event}
    later = customer_wrote_alert(contact, message(cid, now + 2 * HOUR, "m3"))
    assert later is not None and later.event not in buckets


@pytest.mark.parametrize(
    ("status", "alerted"),
    [
        (MessageStatus.SENT, False),
        (MessageStatus.DELIVERED, False),
        (MessageStatus.FAILED, True),
        (MessageStatus.OUTSIDE_WINDOW, True),
    ],
    ids=["sent", "delivered", "failed", "outside_window"],
)
async def test_failed_and_outside_window_messages_alert_their_sender(
    env: StoreEnv, now: datetime, status: MessageStatus, alerted: bool
) -> None:
    cid = await assigned_contact(env, now)
    await env.contacts.record_inbound(cid, Channel.WHATSAPP, now - HOUR, now)
    followups = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    sent = await followups.send(
        FollowupRequest(
            cid, Channel.WHATSAPP, AGENT, f"k-{status}", Form.TEXT, content=Content("Fixed")
        )
    )
    assert sent.message_id is not None
    partition = ContactId.parse(cid).partition
    changed = await env.outbox.record_status(
        partition, sent.message_id, status, now, reason="131026"
    )
    assert changed is not None
    thread = Thread()
    sink = AlertingThreads(thread, service_for(env, lambda: now))
    await sink.messages_changed([(cid, changed)])  # the relay's batch path
    assert thread.seen == [f"m:{status.value}"]
    alerts = await queued(env)
    if not alerted:
        assert alerts == []
        return
    [alert] = alerts
    assert alert.kind is AlertKind.MESSAGE_FAILED
    assert (alert.recipient, alert.message_id) == (AGENT, sent.message_id)
    assert alert.event.endswith(status.value)


async def test_window_alert_comes_at_close_minus_the_alert_minutes_not_before(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    service = service_for(env, clock, minutes=60)
    cid = await assigned_contact(env, now)
    wrote = now
    await env.contacts.record_inbound(cid, Channel.WHATSAPP, wrote, now)
    await env.contacts.record_inbound(cid, Channel.TELEGRAM, wrote, now)  # no window

    clock.now = wrote + timedelta(hours=23) - timedelta(seconds=1)
    assert await service.sweep_windows() == 0
    clock.now = wrote + timedelta(hours=23)
    assert await service.sweep_windows() == 1
    [alert] = await queued(env)
    assert alert.kind is AlertKind.WINDOW_CLOSING and alert.channel is Channel.WHATSAPP
    assert alert.closes_at == int((wrote + timedelta(hours=24)).timestamp())
    assert alert.recipient == AGENT
    # Swept: the next sweep finds nothing more to say.
    assert await service.sweep_windows() == 0


@pytest.mark.parametrize(
    ("channel", "closes"),
    [
        (Channel.MESSENGER, timedelta(days=7)),
        (Channel.INSTAGRAM, timedelta(days=7)),
        (Channel.WECHAT, timedelta(hours=48)),
    ],
    ids=["messenger_7d", "instagram_7d", "wechat_48h"],
)
async def test_window_alert_timing_on_each_windowed_channel(
    env: StoreEnv, now: datetime, channel: Channel, closes: timedelta
) -> None:
    clock = Clock(now)
    service = service_for(env, clock, minutes=30)
    draft = ContactDraft(first_name="Li", identities={channel: "someone"})
    cid = (await env.contacts.create(draft, now)).contact_id
    await env.contacts.reopen(cid, AGENT, now)
    await env.contacts.record_inbound(cid, channel, now, now)
    clock.now = now + closes - timedelta(minutes=31)
    assert await service.sweep_windows() == 0
    clock.now = now + closes - timedelta(minutes=30)
    assert await service.sweep_windows() == 1


async def test_no_window_alert_when_the_customer_wrote_again(env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    service = service_for(env, clock)
    cid = await assigned_contact(env, now)
    await env.contacts.record_inbound(cid, Channel.WHATSAPP, now, now)
    again = now + timedelta(hours=5)
    await env.contacts.record_inbound(cid, Channel.WHATSAPP, again, again)
    clock.now = now + timedelta(hours=23)  # the first window would have been due
    assert await service.sweep_windows() == 0
    clock.now = again + timedelta(hours=23)  # the new one is
    assert await service.sweep_windows() == 1
    [alert] = await queued(env)
    assert alert.at == int(again.timestamp())


async def test_no_window_alert_when_closed_or_unassigned(env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    service = service_for(env, clock)
    closed = await assigned_contact(env, now, n=1)
    nobody = await assigned_contact(env, now, assignee=None, n=2)
    for cid in (closed, nobody):
        await env.contacts.record_inbound(cid, Channel.WHATSAPP, now, now)
    await env.contacts.close(closed, now, unassign=False)
    clock.now = now + timedelta(hours=23, minutes=30)
    assert await service.sweep_windows() == 0
    assert await queued(env) == []


async def test_no_window_alert_where_the_customer_cannot_be_reached(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    service = service_for(env, clock)
    draft = ContactDraft(first_name="Sara", identities={Channel.MESSENGER: "psid-1"})
    cid = (await env.contacts.create(draft, now)).contact_id
    await env.contacts.reopen(cid, AGENT, now)
    await env.contacts.record_inbound(cid, Channel.MESSENGER, now, now)
    await env.contacts.set_reachability(
        cid, Channel.MESSENGER, Unreachable(UnreachableReason.UNAVAILABLE, now, "551")
    )
    clock.now = now + timedelta(days=6, hours=23, minutes=30)  # HUMAN_AGENT ends in 30 min
    assert await service.sweep_windows() == 0
    assert await queued(env) == []


async def test_a_window_already_closed_when_swept_is_not_alerted(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    service = service_for(env, clock)
    cid = await assigned_contact(env, now)
    await env.contacts.record_inbound(cid, Channel.WHATSAPP, now, now)
    clock.now = now + timedelta(hours=25)  # the worker was down through the warning
    assert await service.sweep_windows() == 0


async def test_an_event_is_claimed_once_and_retried_after_a_release(env: StoreEnv) -> None:
    store = AlertStore(env.redis, env.keys)
    assert await store.claim("win:1-a:whatsapp:1", "replica-a") is Claim.CLAIMED
    assert await store.claim("win:1-a:whatsapp:1", "replica-b") is Claim.BUSY
    await store.release("win:1-a:whatsapp:1", "replica-b")  # not b's to release
    assert await store.claim("win:1-a:whatsapp:1", "replica-b") is Claim.BUSY
    await store.release("win:1-a:whatsapp:1", "replica-a")  # Slack was down
    assert await store.claim("win:1-a:whatsapp:1", "replica-b") is Claim.CLAIMED
    await store.mark_sent("win:1-a:whatsapp:1")
    assert await store.claim("win:1-a:whatsapp:1", "replica-a") is Claim.ALREADY_SENT


async def test_a_newer_payload_survives_the_removal_of_the_handled_one(env: StoreEnv) -> None:
    store = AlertStore(env.redis, env.keys)
    await store.enqueue({"in:U:1-a": {"kind": "in", "preview": "first"}})
    [handled] = await store.due(10)
    await store.enqueue({"in:U:1-a": {"kind": "in", "preview": "second"}})
    assert not await store.done(handled)
    [pending] = await store.due(10)
    assert pending.payload["preview"] == "second"
    assert await store.done(pending)
    assert await store.due(10) == []


def test_payloads_that_are_not_alerts_are_recognised() -> None:
    assert Alert.from_payload({"kind": "in"}) is None
    known = {"event": "e", "recipient": "U", "contact_id": "1-a"}
    assert Alert.from_payload({**known, "kind": "nope"}) is None
    assert Alert.from_payload({**known, "kind": "in", "contact_id": "not an id"}) is None
    good = Alert(AlertKind.WINDOW_CLOSING, "win:1-a", "U", "1-a", Channel.WECHAT, 5, 9)
    assert Alert.from_payload(good.payload()) == good


async def test_the_relay_marking_a_message_outside_the_window_alerts_its_sender(
    env: StoreEnv, now: datetime
) -> None:
    """The worker's wiring: the relay's thread sink is the alerting one."""
    clock = Clock(now)
    p, mid = await accepted(env, clock, Channel.WHATSAPP, timedelta(hours=23, minutes=59))
    clock.now = now + timedelta(minutes=2)  # a backlog: the window closed meanwhile
    whatsapp = ScriptedChannel(Channel.WHATSAPP)
    relay = Relay(
        env.redis,
        env.keys,
        {Channel.WHATSAPP: whatsapp},
        PolicySettings(),
        clock,
        consumer="w1",
        threads=with_alerts(
            ThreadQueue(ThreadQueueStore(env.redis, env.keys)), env.contacts, clock
        ),
        tuning=RelayTuning(block_ms=50),
    )
    await drain(relay, env)
    assert whatsapp.requests == []
    [alert] = await queued(env)
    assert alert.kind is AlertKind.MESSAGE_FAILED
    assert (alert.recipient, alert.message_id) == ("U_A", mid)
    assert alert.event == f"msg:{p}:{mid}:outside_window"
    # The thread is told too.
    assert await env.redis.hexists(env.keys.thread_pending(), f"m:{p}:{mid}")
