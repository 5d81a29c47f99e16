"""Follow-ups in time, through the real stores and the follow-up use case."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.messages import Content, TemplateUse
from bot.domain.schedule import ItemKind, ItemState, ScheduledItem
from bot.domain.windows import Form, PolicySettings, SendMode
from bot.relay.due import DueRunner
from bot.services.followup import FollowupRequest, FollowupResult, FollowupService
from bot.services.inbound import InboundService
from bot.services.scheduling import MAY_SEND_NOW, TOO_SOON, ChangeResult, Scheduling
from bot.store.schedule import ScheduleStore
from tests.conftest import StoreEnv
from tests.services.test_followup_commit import contact_on, outbox_ids, text

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Notices:
    def __init__(self) -> None:
        self.reminded_ids: list[str] = []
        self.refused: list[tuple[str, str]] = []
        self.changed_ids: list[str] = []

    async def remind(self, item: ScheduledItem) -> None:
        self.reminded_ids.append(item.id)

    async def not_sent(self, item: ScheduledItem, result: FollowupResult) -> None:
        self.refused.append((item.id, result.outcome.value))

    async def changed(self, contact_id: str, item_id: str, gone: str = "") -> None:
        self.changed_ids.append(f"{item_id}:{gone}")


class World:
    def __init__(self, env: StoreEnv, now: datetime) -> None:
        self.env = env
        self.clock = Clock(now)
        self.notices = Notices()
        self.followups = FollowupService(env.contacts, env.outbox, PolicySettings(), self.clock)
        self.store = ScheduleStore(env.redis, env.keys)
        self.scheduling = Scheduling(
            self.store, env.contacts, self.followups, self.clock, self.notices
        )
        self.runner = DueRunner(self.store, self.clock, self.scheduling.fire)

    async def at(self, moment: datetime) -> int:
        self.clock.now = moment
        return await self.runner.tick()


def template(cid: str) -> FollowupRequest:
    return FollowupRequest(
        cid,
        Channel.WHATSAPP,
        "U_AGENT",
        "k",
        Form.TEMPLATE,
        content=Content(template=TemplateUse("order_update", language="en", parameters=("42",))),
    )


async def test_a_follow_up_for_later_is_sent_once_at_its_time(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    scheduled = await world.scheduling.send_at(
        text(cid, Channel.TELEGRAM, "k1"), now + timedelta(hours=15)
    )
    assert scheduled.item is not None and scheduled.mode is SendMode.FREE
    assert await world.at(now + timedelta(hours=14)) == 0
    assert await outbox_ids(env, cid) == []
    assert await world.at(now + timedelta(hours=15, seconds=1)) == 1
    assert len(await outbox_ids(env, cid)) == 1
    # A replica that died after the commit does the item again: still one message.
    assert await world.scheduling.fire(scheduled.item)
    assert len(await outbox_ids(env, cid)) == 1
    assert await world.scheduling.waiting_for_contact(cid) == []


async def test_whatsapp_window_closing_before_the_time_allows_only_a_template(
    env: StoreEnv, now: datetime
) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.WHATSAPP, timedelta(hours=21))  # closes in 3 h
    tomorrow = now + timedelta(hours=20)
    refused = await world.scheduling.send_at(text(cid, Channel.WHATSAPP, "k2"), tomorrow)
    assert refused.item is None and refused.reason is not None
    in_two_hours = await world.scheduling.send_at(
        text(cid, Channel.WHATSAPP, "k3"), now + timedelta(hours=2)
    )
    assert in_two_hours.item is not None
    by_template = await world.scheduling.send_at(template(cid), tomorrow)
    assert by_template.item is not None and by_template.mode is SendMode.TEMPLATE


async def test_an_instagram_customer_quiet_for_ten_days_gets_it_when_they_next_write(
    env: StoreEnv, now: datetime
) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.INSTAGRAM, timedelta(days=10))
    request = text(cid, Channel.INSTAGRAM, "k4")
    assert (await world.scheduling.send_at(request, now + timedelta(hours=1))).item is None
    waiting = await world.scheduling.when_they_write(request)
    assert waiting.item is not None and waiting.item.due_at is None
    assert await world.at(now + timedelta(days=30)) == 0  # no time makes it due
    listed = await world.scheduling.waiting_for_agent("U_AGENT")
    assert [(i.id, i.state) for i in listed] == [(waiting.item.id, ItemState.WAITING)]
    # The customer writes: the window opens and the message goes next round.
    later = now + timedelta(days=30, minutes=1)
    world.clock.now = later
    identity = (await env.contacts.require(cid)).identities[Channel.INSTAGRAM]
    inbound = InboundService(
        env.contacts, env.outbox, world.clock, customer_wrote=world.scheduling.customer_wrote
    )
    await inbound.receive(InboundMessage(Channel.INSTAGRAM, identity, "mid-1", later, "hi"))
    assert (await world.store.get(waiting.item.id)).state is ItemState.PENDING  # type: ignore[union-attr]
    assert await world.at(later) == 1
    assert len(await outbox_ids(env, cid)) == 1
    assert await world.scheduling.waiting_for_contact(cid) == []


async def test_waiting_for_the_customer_is_refused_when_the_message_may_go_now(
    env: StoreEnv, now: datetime
) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    refused = await world.scheduling.when_they_write(text(cid, Channel.TELEGRAM, "k5"))
    assert (
        refused.item is None and refused.reason is not None and refused.reason.key == MAY_SEND_NOW
    )


async def test_a_time_in_the_past_is_refused(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    refused = await world.scheduling.send_at(
        text(cid, Channel.TELEGRAM, "k6"), now - timedelta(minutes=1)
    )
    assert refused.item is None and refused.reason is not None and refused.reason.key == TOO_SOON


async def test_a_cancelled_follow_up_is_never_sent(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    scheduled = await world.scheduling.send_at(
        text(cid, Channel.TELEGRAM, "k7"), now + timedelta(hours=1)
    )
    assert scheduled.item is not None
    assert await world.scheduling.cancel(scheduled.item.id) is ChangeResult.DONE
    assert await world.at(now + timedelta(hours=2)) == 0
    assert await outbox_ids(env, cid) == []
    assert await world.scheduling.cancel(scheduled.item.id) is ChangeResult.MISSING
    assert world.notices.changed_ids == [f"{scheduled.item.id}:", f"{scheduled.item.id}:cancelled"]


async def test_send_now_sends_in_the_next_round(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    scheduled = await world.scheduling.send_at(
        text(cid, Channel.TELEGRAM, "k8"), now + timedelta(days=1)
    )
    assert scheduled.item is not None
    assert await world.scheduling.send_now(scheduled.item.id) is ChangeResult.DONE
    assert await world.at(now) == 1
    assert len(await outbox_ids(env, cid)) == 1


async def test_a_reminder_comes_unless_the_customer_replied(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    quiet = await contact_on(env, now, Channel.TELEGRAM, None)
    replied = await contact_on(env, now, Channel.LINE, timedelta(days=1))
    first = await world.scheduling.remind(quiet, "U_AGENT", timedelta(days=2))
    second = await world.scheduling.remind(replied, "U_AGENT", timedelta(days=2))
    assert first.item is not None and second.item is not None
    world.clock.now = now + timedelta(days=1)
    effect = await world.scheduling.customer_wrote(replied)
    assert effect.cancelled == (second.item.id,)
    assert await world.at(now + timedelta(days=2, seconds=1)) == 1
    assert world.notices.reminded_ids == [first.item.id]
    assert f"{second.item.id}:cancelled" in world.notices.changed_ids
    assert f"{first.item.id}:reminded" in world.notices.changed_ids
    assert await outbox_ids(env, quiet) == []


async def test_closing_may_drop_what_is_scheduled(env: StoreEnv, now: datetime) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.TELEGRAM, None)
    await world.scheduling.send_at(text(cid, Channel.TELEGRAM, "k9"), now + timedelta(hours=1))
    await world.scheduling.remind(cid, "U_AGENT", timedelta(hours=3))
    assert await world.scheduling.keep_or_drop_on_close(cid, keep=True) == 0
    assert len(await world.scheduling.waiting_for_contact(cid)) == 2
    assert await world.scheduling.keep_or_drop_on_close(cid, keep=False) == 2
    assert await world.scheduling.waiting_for_contact(cid) == []


async def test_a_follow_up_that_cannot_go_at_its_time_tells_the_agent(
    env: StoreEnv, now: datetime
) -> None:
    world = World(env, now)
    cid = await contact_on(env, now, Channel.WHATSAPP, timedelta(hours=20))
    scheduled = await world.scheduling.send_at(
        text(cid, Channel.WHATSAPP, "k10"), now + timedelta(hours=2)
    )
    assert scheduled.item is not None
    # The window closes before the relay gets to it (another agent's edit, a
    # clock change: here, the item is simply late).
    assert await world.at(now + timedelta(hours=5)) == 1
    assert world.notices.refused == [(scheduled.item.id, "refused")]
    assert await outbox_ids(env, cid) == []
    assert scheduled.item.kind is ItemKind.SEND_AT
