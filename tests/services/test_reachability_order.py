"""Reachability events that arrive out of order (issue 9): an event older than
the one recorded changes nothing. SMS keywords parsed by the real connector
(Twilio's webhooks carry no time: the time they reached us stands in), handled
by the inbound service, recorded in a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
import pytest

from bot.channels.base import InboundMessage, ReachabilityEvent
from bot.channels.sms import SmsConnector
from bot.domain.channels import Channel
from bot.domain.reachability import UnreachableReason
from bot.services.inbound import InboundService
from bot.store.contacts import ContactDraft
from tests.channels.test_sms import CUSTOMER, signed
from tests.channels.test_sms import settings_for as sms_settings
from tests.conftest import StoreEnv
from tests.fakes.twilio import FakeTwilio

CHAT = "417053287"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def sms_keyword(
    twilio: FakeTwilio, http: aiohttp.ClientSession, word: str, received: datetime, n: int
) -> list[ReachabilityEvent]:
    """An inbound SMS that is exactly `word`, as Twilio posts it, received at `received`."""
    connector = SmsConnector(sms_settings(twilio), http, clock=lambda: received)
    sid = f"SM{n:032x}"
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": twilio.account_sid,
        "From": CUSTOMER,
        "To": "+15550001111",
        "Body": word,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    events = connector.parse(signed(params, token=twilio.auth_token))
    assert all(isinstance(e, ReachabilityEvent) for e in events)
    return [e for e in events if isinstance(e, ReachabilityEvent)]


@pytest.mark.parametrize(
    ("first", "then", "opted_out"),
    [
        # In order: the later one wins.
        (("STOP", -60), ("START", 0), False),
        (("START", -60), ("STOP", 0), True),
        # Out of order: the older one, handled last, changes nothing.
        (("START", 0), ("STOP", -60), False),
        (("STOP", 0), ("START", -60), True),
    ],
    ids=["stop-then-start", "start-then-stop", "late-stop", "late-start"],
)
async def test_sms_keywords_apply_in_the_order_they_were_received(
    env: StoreEnv,
    now: datetime,
    http: aiohttp.ClientSession,
    twilio: FakeTwilio,
    first: tuple[str, int],
    then: tuple[str, int],
    opted_out: bool,
) -> None:
    draft = ContactDraft(first_name="Sara", identities={Channel.SMS: CUSTOMER})
    cid = (await env.contacts.create(draft, now)).contact_id
    service = InboundService(env.contacts, env.outbox, lambda: now)
    for n, (word, seconds) in enumerate((first, then)):
        await service.handle(sms_keyword(twilio, http, word, now + timedelta(seconds=seconds), n))
    unreachable = (await env.contacts.require(cid)).unreachable(Channel.SMS)
    if opted_out:
        assert unreachable is not None and unreachable.reason is UnreachableReason.OPTED_OUT
    else:
        assert unreachable is None


async def test_a_late_stop_is_not_shown_in_the_thread(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession, twilio: FakeTwilio
) -> None:
    """A stale event changes nothing, so it tells nobody anything either."""
    draft = ContactDraft(first_name="Sara", identities={Channel.SMS: CUSTOMER})
    await env.contacts.create(draft, now)
    service = InboundService(env.contacts, env.outbox, lambda: now)
    assert await service.reachability(sms_keyword(twilio, http, "STOP", now, 1)[0])
    assert await service.reachability(sms_keyword(twilio, http, "START", now, 2)[0])
    late = sms_keyword(twilio, http, "STOP", now - timedelta(seconds=5), 3)[0]
    assert not await service.reachability(late)


async def test_a_customer_message_older_than_their_block_does_not_unblock(
    env: StoreEnv, now: datetime
) -> None:
    """Telegram: a message clears a block, but not one written before the block
    (its webhook handled after the "kicked" one)."""
    draft = ContactDraft(first_name="Sara", identities={Channel.TELEGRAM: CHAT})
    cid = (await env.contacts.create(draft, now)).contact_id
    service = InboundService(env.contacts, env.outbox, lambda: now)
    kicked = ReachabilityEvent(
        Channel.TELEGRAM, CHAT, now - timedelta(minutes=1), UnreachableReason.BLOCKED, "kicked"
    )
    await service.handle([kicked])
    older = InboundMessage(Channel.TELEGRAM, CHAT, "10", now - timedelta(minutes=2), "Hi")
    await service.handle([older])
    assert (await env.contacts.require(cid)).unreachable(Channel.TELEGRAM) is not None
    newer = InboundMessage(Channel.TELEGRAM, CHAT, "11", now, "Hi again")
    await service.handle([newer])
    assert (await env.contacts.require(cid)).unreachable(Channel.TELEGRAM) is None
