"""The outbox relay on a real Redis: decide again, send, record, retry, reclaim.

The connector here is a scripted stand-in for a channel (the real connectors
are tested against their fake APIs in tests/channels); the store is real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from bot.channels.base import (
    OutboundRequest,
    SendOutcome,
    SendResult,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
)
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage, TemplateUse
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, PolicySettings, SendMode, stored_reason
from bot.relay.relay import GROUP, MAX_ATTEMPTS, Relay, RelayTuning
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.slack.render import stored_reason_text
from bot.slack.threads import ThreadQueue
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.outbox import month_of
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ScriptedChannel:
    """Answers sends from a script of results (default: sent), recording requests."""

    def __init__(self, channel: Channel, *results: SendResult) -> None:
        self.channel = channel
        self.results = list(results)
        self.requests: list[OutboundRequest] = []

    async def send(self, message: OutboundRequest) -> SendResult:
        self.requests.append(message)
        if self.results:
            return self.results.pop(0)
        return SendResult.sent(f"{self.channel.value}-{len(self.requests)}")

    def verify(self, request: WebhookRequest) -> bool:
        return True

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return None

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        return []

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply()


async def accepted(
    env: StoreEnv, clock: Clock, channel: Channel, wrote_ago: timedelta | None, key: str = "k1"
) -> tuple[int, str]:
    inbound = {channel: clock.now - wrote_ago} if wrote_ago is not None else {}
    draft = ContactDraft(
        first_name="Sara",
        identities={channel: f"id-{channel.value}-{key}"},
        last_inbound_at=inbound,
    )
    cid = (await env.contacts.create(draft, clock.now)).contact_id
    service = FollowupService(env.contacts, env.outbox, PolicySettings(), clock)
    result = await service.send(
        FollowupRequest(cid, channel, "U_A", key, Form.TEXT, content=Content("Fixed!"))
    )
    assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
    return ContactId.parse(cid).partition, result.message_id


def relay_for(
    env: StoreEnv,
    clock: Clock,
    *connectors: ScriptedChannel,
    name: str = "w1",
    idle_ms: int = 60_000,
) -> Relay:
    return Relay(
        env.redis,
        env.keys,
        {c.channel: c for c in connectors},
        PolicySettings(),
        clock,
        consumer=name,
        tuning=RelayTuning(block_ms=50, claim_idle_ms=idle_ms),
    )


async def drain(relay: Relay, env: StoreEnv) -> None:
    """Run the relay until every partition's outbox is empty and acknowledged."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for _ in range(200):
        await asyncio.sleep(0.02)
        lengths = [await env.redis.xlen(env.keys.outbox(p)) for p in range(env.keys.partitions)]
        if not any(lengths):
            break
    stop.set()
    await task


async def status_of(env: StoreEnv, partition: int, message_id: str) -> MessageStatus:
    message = await env.outbox.get_message(partition, message_id)
    assert message is not None
    return message.status


async def test_accepted_message_is_sent_recorded_and_acknowledged(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.WHATSAPP, timedelta(hours=1))
    whatsapp = ScriptedChannel(Channel.WHATSAPP)
    await drain(relay_for(any_env, clock, whatsapp), any_env)
    assert [(r.recipient, r.content.text, r.mode) for r in whatsapp.requests] == [
        ("id-whatsapp-k1", "Fixed!", SendMode.FREE)
    ]
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.SENT
    assert message.channel_message_id == "whatsapp-1"
    assert await any_env.outbox.find_by_channel_message(Channel.WHATSAPP, "whatsapp-1") == (p, mid)
    pending = await any_env.redis.xpending(any_env.keys.outbox(p), GROUP)
    assert pending["pending"] == 0


async def test_whatsapp_window_closed_before_sending_gets_the_marker(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.WHATSAPP, timedelta(hours=23, minutes=59))
    clock.now = now + timedelta(minutes=2)  # a backlog: the window closed meanwhile
    whatsapp = ScriptedChannel(Channel.WHATSAPP)
    await drain(relay_for(any_env, clock, whatsapp), any_env)
    assert whatsapp.requests == []  # never sent in breach of the rule
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.OUTSIDE_WINDOW
    assert "window closed" in stored_reason_text(message.reason, "en")


async def test_messenger_free_text_past_24h_goes_with_human_agent(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    await accepted(any_env, clock, Channel.MESSENGER, timedelta(hours=23, minutes=59))
    clock.now = now + timedelta(hours=1)
    messenger = ScriptedChannel(Channel.MESSENGER)
    await drain(relay_for(any_env, clock, messenger), any_env)
    assert [r.mode for r in messenger.requests] == [SendMode.HUMAN_AGENT]


@pytest.mark.parametrize("quota_left", [True, False], ids=["within_quota", "quota_gone"])
async def test_viber_free_text_that_became_chatbot_initiated(
    any_env: StoreEnv, now: datetime, quota_left: bool
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.VIBER, timedelta(hours=23, minutes=59))
    clock.now = now + timedelta(hours=1)
    quota = any_env.keys.viber_quota(month_of(clock.now))
    await any_env.redis.set(quota, 100 if quota_left else 10_000)
    viber = ScriptedChannel(Channel.VIBER)
    await drain(relay_for(any_env, clock, viber), any_env)
    if quota_left:
        assert [r.mode for r in viber.requests] == [SendMode.CHATBOT]
        assert int(await any_env.redis.get(quota)) == 101
    else:
        assert viber.requests == []
        assert await status_of(any_env, p, mid) is MessageStatus.OUTSIDE_WINDOW


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (
            SendResult.outside_window("send.whatsapp.outside_window"),
            MessageStatus.OUTSIDE_WINDOW,
        ),
        (SendResult.failed("send.telegram.blocked"), MessageStatus.FAILED),
    ],
    ids=["channel_says_outside_window", "channel_says_failed"],
)
async def test_final_channel_answers_are_recorded_and_never_retried(
    any_env: StoreEnv, now: datetime, answer: SendResult, status: MessageStatus
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    telegram = ScriptedChannel(Channel.TELEGRAM, answer)
    relay = relay_for(any_env, clock, telegram)
    await drain(relay, any_env)
    clock.now = now + timedelta(hours=1)
    assert await relay.requeue_due(p) == 0
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is status
    assert answer.reason is not None and message.reason == stored_reason(answer.reason)
    assert len(telegram.requests) == 1


async def test_retry_later_honours_retry_after_then_sends(any_env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.LINE, None)
    line = ScriptedChannel(
        Channel.LINE, SendResult.retry("send.rate_limited", retry_after=30, channel="line")
    )
    relay = relay_for(any_env, clock, line)
    await drain(relay, any_env)
    assert await status_of(any_env, p, mid) is MessageStatus.QUEUED
    clock.now = now + timedelta(seconds=29)
    assert await relay.requeue_due(p) == 0  # not yet
    clock.now = now + timedelta(seconds=30)
    assert await relay.requeue_due(p) == 1
    await drain(relay, any_env)
    assert await status_of(any_env, p, mid) is MessageStatus.SENT
    # The retry reuses our message id (LINE's X-Line-Retry-Key derives from it).
    assert [r.message_id for r in line.requests] == [mid, mid]


async def test_gives_up_after_max_attempts(any_env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.SMS, None)
    sms = ScriptedChannel(
        Channel.SMS,
        *[SendResult.retry("send.server_error", channel="sms", status=503)] * MAX_ATTEMPTS,
    )
    relay = relay_for(any_env, clock, sms)
    for _ in range(MAX_ATTEMPTS):
        await drain(relay, any_env)
        clock.now += timedelta(hours=1)
        await relay.requeue_due(p)
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.FAILED
    assert stored_reason_text(message.reason, "en") == (
        f"Gave up after {MAX_ATTEMPTS} tries: SMS had a server error (HTTP 503)"
    )


async def test_entries_of_a_dead_consumer_are_taken_over(any_env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.WEBCHAT, None)
    stream = any_env.keys.outbox(p)
    dead = relay_for(any_env, clock, ScriptedChannel(Channel.WEBCHAT), name="dead")
    await dead.ensure_groups()
    # The dead consumer read the entry and never acknowledged it.
    await any_env.redis.xreadgroup(GROUP, "dead", {stream: ">"}, count=10)
    webchat = ScriptedChannel(Channel.WEBCHAT)
    survivor = relay_for(any_env, clock, webchat, name="alive", idle_ms=0)
    assert await survivor.reclaim(p) == 1
    assert await status_of(any_env, p, mid) is MessageStatus.SENT
    assert len(webchat.requests) == 1


async def test_a_reclaimed_entry_already_sent_is_not_sent_again(
    any_env: StoreEnv, now: datetime
) -> None:
    """The worker died after recording the send but before acknowledging."""
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.EMAIL, None)
    stream = any_env.keys.outbox(p)
    relay = relay_for(any_env, clock, ScriptedChannel(Channel.EMAIL), name="dead")
    await relay.ensure_groups()
    await any_env.redis.xreadgroup(GROUP, "dead", {stream: ">"}, count=10)
    await any_env.outbox.record_status(p, mid, MessageStatus.SENT, now, channel_message_id="<x@y>")
    email = ScriptedChannel(Channel.EMAIL)
    survivor = relay_for(any_env, clock, email, name="alive", idle_ms=0)
    assert await survivor.reclaim(p) == 1
    assert email.requests == []
    assert (await any_env.redis.xpending(stream, GROUP))["pending"] == 0


async def test_unconfigured_channel_fails_with_a_reason(any_env: StoreEnv, now: datetime) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.WECHAT, timedelta(hours=1))
    await drain(relay_for(any_env, clock), any_env)
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.FAILED
    assert stored_reason_text(message.reason, "en") == "This channel is not set up."


def test_outcomes_cover_the_contract() -> None:
    assert {o.value for o in SendOutcome} == {
        "sent",
        "retry",
        "failed",
        "outside_window",
        "unreachable",
        "limit_learned",
    }


async def test_a_slow_send_taken_over_meanwhile_is_not_sent_twice(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    stream = any_env.keys.outbox(p)

    class Slow(ScriptedChannel):
        async def send(self, message: OutboundRequest) -> SendResult:
            await asyncio.sleep(0.2)
            return await super().send(message)

    telegram = Slow(Channel.TELEGRAM)
    first = relay_for(any_env, clock, telegram, name="slow")
    second = relay_for(any_env, clock, telegram, name="eager", idle_ms=0)
    await first.ensure_groups()
    [(_, [(entry_id, _)])] = await any_env.redis.xreadgroup(GROUP, "slow", {stream: ">"}, count=1)
    await asyncio.gather(first.deliver(p, entry_id, mid), second.reclaim(p))
    assert len(telegram.requests) == 1
    assert await status_of(any_env, p, mid) is MessageStatus.SENT


async def test_email_follow_up_replies_under_the_customers_last_email(
    any_env: StoreEnv, now: datetime
) -> None:
    from bot.channels.base import InboundMessage
    from bot.services.inbound import InboundService

    clock = Clock(now)
    inbound = InboundService(any_env.contacts, any_env.outbox, clock)
    received = await inbound.receive(
        InboundMessage(
            Channel.EMAIL,
            "sara@example.com",
            "<abc@mail.example.com>",
            now,
            "My order?",
            email="sara@example.com",
            email_message_id="<abc@mail.example.com>",
            subject="Order 123",
        )
    )
    service = FollowupService(any_env.contacts, any_env.outbox, PolicySettings(), clock)
    result = await service.send(
        FollowupRequest(
            received.contact_id, Channel.EMAIL, "U_A", "e1", Form.TEXT, content=Content("Shipped.")
        )
    )
    assert result.outcome is FollowupOutcome.ACCEPTED
    email = ScriptedChannel(Channel.EMAIL)
    await drain(relay_for(any_env, clock, email), any_env)
    [request] = email.requests
    # The facts the e-mail connector threads the reply with (see test_email).
    assert request.reply_subject == "Order 123"
    assert request.reply_to == "<abc@mail.example.com>"


async def test_a_failing_relay_stops_and_raises_instead_of_hanging(
    any_env: StoreEnv, now: datetime
) -> None:
    """Regression: a consumer that died left the other loops running forever."""
    clock = Clock(now)
    await accepted(any_env, clock, Channel.TELEGRAM, None)

    class Broken(ScriptedChannel):
        async def send(self, message: OutboundRequest) -> SendResult:
            raise RuntimeError("connector bug")

    relay = relay_for(any_env, clock, Broken(Channel.TELEGRAM))
    with pytest.raises(RuntimeError, match="connector bug"):
        await asyncio.wait_for(relay.run(asyncio.Event()), 15)


async def test_one_contacts_messages_go_in_order_across_batches_others_at_once(
    any_env: StoreEnv, now: datetime
) -> None:
    """Batches of two, read ahead while earlier ones are out: a contact's lane keeps order."""
    clock = Clock(now)
    draft = ContactDraft(first_name="Sara", identities={Channel.TELEGRAM: "chat-sara"})
    sara = (await any_env.contacts.create(draft, now)).contact_id
    service = FollowupService(any_env.contacts, any_env.outbox, PolicySettings(), clock)
    texts = [f"part {i}" for i in range(7)]
    for i, text in enumerate(texts):
        request = FollowupRequest(
            sara, Channel.TELEGRAM, "U_A", f"s{i}", Form.TEXT, content=Content(text)
        )
        assert (await service.send(request)).outcome is FollowupOutcome.ACCEPTED
    for i in range(5):
        await accepted(any_env, clock, Channel.TELEGRAM, None, key=f"other{i}")
    in_flight: list[int] = [0, 0]  # now, most

    class Jittery(ScriptedChannel):
        async def send(self, message: OutboundRequest) -> SendResult:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            await asyncio.sleep(0.03 if message.content.text == "part 0" else 0.002)
            in_flight[0] -= 1
            return await super().send(message)

    telegram = Jittery(Channel.TELEGRAM)
    relay = Relay(
        any_env.redis,
        any_env.keys,
        {Channel.TELEGRAM: telegram},
        PolicySettings(),
        clock,
        consumer="w1",
        tuning=RelayTuning(batch=2, block_ms=50, in_flight=4),
    )
    await drain(relay, any_env)
    to_sara = [r.content.text for r in telegram.requests if r.recipient == "chat-sara"]
    assert to_sara == texts
    assert len(telegram.requests) == 12
    assert in_flight[1] > 1  # the others did not wait behind Sara's slow first message


@pytest.mark.parametrize(
    ("channel", "linked"),
    [(Channel.WHATSAPP, True), (Channel.TELEGRAM, False), (Channel.LINE, False)],
    ids=["whatsapp_receipts_name_it", "telegram_no_receipts", "line_no_receipts"],
)
async def test_the_channels_id_is_remembered_only_where_receipts_name_it(
    env: StoreEnv, now: datetime, channel: Channel, linked: bool
) -> None:
    clock = Clock(now)
    p, mid = await accepted(env, clock, channel, timedelta(hours=1))
    connector = ScriptedChannel(channel)
    await drain(relay_for(env, clock, connector), env)
    message = await env.outbox.get_message(p, mid)
    assert message is not None and message.channel_message_id == f"{channel.value}-1"
    found = await env.outbox.find_by_channel_message(channel, f"{channel.value}-1")
    assert found == ((p, mid) if linked else None)


class RecordingSink:
    """A thread sink with no batch method: told one message at a time."""

    def __init__(self) -> None:
        self.changed: list[tuple[str, OutboundMessage]] = []

    async def customer_wrote(self, contact: object, message: object) -> None: ...

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        self.changed.append((contact_id, message))

    async def event(self, contact_id: str, key: str, **params: str) -> None: ...

    async def root_changed(self, contact_id: str) -> None: ...


async def test_threads_are_told_each_recorded_message_as_written(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    sent = [await accepted(env, clock, Channel.TELEGRAM, None, key=f"k{i}") for i in range(3)]
    failed = await accepted(env, clock, Channel.WECHAT, timedelta(hours=1), key="k-wechat")
    sink = RecordingSink()
    relay = Relay(
        env.redis,
        env.keys,
        {Channel.TELEGRAM: ScriptedChannel(Channel.TELEGRAM)},
        PolicySettings(),
        clock,
        consumer="w1",
        threads=sink,  # type: ignore[arg-type]
        tuning=RelayTuning(block_ms=50),
    )
    await drain(relay, env)
    told = {message.id: message for _, message in sink.changed}
    assert set(told) == {mid for _, mid in [*sent, failed]}
    for p, mid in [*sent, failed]:
        assert told[mid] == await env.outbox.get_message(p, mid)
    assert told[failed[1]].status is MessageStatus.FAILED


async def test_the_slack_thread_queue_gets_a_batch_in_one_call(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    sent = [await accepted(env, clock, Channel.TELEGRAM, None, key=f"k{i}") for i in range(3)]
    queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
    relay = Relay(
        env.redis,
        env.keys,
        {Channel.TELEGRAM: ScriptedChannel(Channel.TELEGRAM)},
        PolicySettings(),
        clock,
        consumer="w1",
        threads=queue,
        tuning=RelayTuning(block_ms=50),
    )
    await drain(relay, env)
    pending = await env.redis.hgetall(env.keys.thread_pending())
    assert set(pending) == {f"m:{p}:{mid}" for p, mid in sent}
    assert set(await env.redis.zrange(env.keys.thread_due(), 0, -1)) == set(pending)
    for p, mid in sent:
        payload = json.loads(pending[f"m:{p}:{mid}"])
        message = await env.outbox.get_message(p, mid)
        assert message is not None
        assert payload | {"version": "-"} == {
            "kind": "message",
            "contact_id": message.contact_id,
            "partition": p,
            "message_id": mid,
            "version": "-",
        }


async def test_a_named_templates_parameter_names_reach_the_connector(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    draft = ContactDraft(
        first_name="Sara",
        identities={Channel.WHATSAPP: "971501234567"},
        last_inbound_at={Channel.WHATSAPP: now - timedelta(days=3)},
    )
    cid = (await any_env.contacts.create(draft, now)).contact_id
    service = FollowupService(any_env.contacts, any_env.outbox, PolicySettings(), clock)
    result = await service.send(
        FollowupRequest(
            cid,
            Channel.WHATSAPP,
            "U_A",
            "named-1",
            Form.TEMPLATE,
            content=Content(
                template=TemplateUse(
                    "shipping_update",
                    language="en",
                    parameters=("Sara", "order"),
                    parameter_names=("first_name", "item"),
                )
            ),
        )
    )
    assert result.outcome is FollowupOutcome.ACCEPTED
    whatsapp = ScriptedChannel(Channel.WHATSAPP)

    await drain(relay_for(any_env, clock, whatsapp), any_env)

    [sent] = whatsapp.requests
    assert sent.mode is SendMode.TEMPLATE
    template = sent.content.template
    assert template is not None and template.parameters == ("Sara", "order")
    assert template.parameter_names == ("first_name", "item")
