"""SIGKILL `followup serve` at chosen moments: nothing acknowledged is lost (issue 10, item 6).

The real `serve` process (in-process relay) runs against the test Redis, a
fake Slack Web API and a Telegram fake answering in 200–500 ms. Agents send
one-line `/followup`s as signed Slack requests; the process is killed just
after an ack, mid-send and mid-status (right after the channel answered),
and started again each time. At the end every acknowledged follow-up was
sent, a customer got a message twice only if it was at the channel when the
process died (SPEC: at-least-once, Telegram takes no idempotency key), and
every agent was answered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.models import MessageStatus
from bot.slack import ids
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.layout import ensure_layout
from bot.store.outbox import message_id_for
from tests.conftest import StoreEnv
from tests.e2e.serve_process import SIGNING_SECRET, ServeProcess, serve_env, slash_command
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

PER_ROUND = 8
#: Everything, recovery included, is done within this long after the last start.
SETTLE_SECONDS = 60.0


class Agents:
    """The follow-ups agents typed, and what became of them."""

    def __init__(self, env: StoreEnv, slack: FakeSlack, contacts: list[str]) -> None:
        self.env = env
        self.slack = slack
        self.contacts = contacts
        self.acked: dict[str, tuple[str, str, str]] = {}  # text -> (trigger, url, contact)
        self.sent = 0

    async def burst(
        self, http: aiohttp.ClientSession, serve: ServeProcess
    ) -> list[asyncio.Task[None]]:
        """Start PER_ROUND one-line follow-ups at once, each to its own customer."""

        async def one(number: int) -> None:
            contact = self.contacts[number]
            text = f"chaos follow-up {number}"
            trigger, url = f"{uuid.uuid4().int % 10**12}.chaos", self.slack.response_url()
            status = await slash_command(
                http, serve.base, command=ids.FOLLOWUP,
                text=f"c{number}@chaos.example {text}", user=f"U0AGENT{number % 3}",
                trigger_id=trigger, response_url=url,
            )  # fmt: skip
            if status == 200:
                self.acked[text] = (trigger, url, contact)

        first = self.sent
        self.sent += PER_ROUND
        return [asyncio.create_task(one(n)) for n in range(first, first + PER_ROUND)]

    async def status_of(self, text: str) -> MessageStatus | None:
        trigger, _, contact = self.acked[text]
        partition = ContactId.parse(contact).partition
        message = await self.env.outbox.get_message(partition, message_id_for(trigger))
        return None if message is None else message.status

    async def unsent_at_channel(self, telegram: FakeTelegram) -> set[str]:
        """Texts the channel has seen whose send is not recorded: a kill now may resend them."""
        seen = {r.json["text"] for r in telegram.requests if r.json}
        return {
            text
            for text in seen
            if text in self.acked and await self.status_of(text) is not MessageStatus.SENT
        }

    async def all_done(self) -> bool:
        for text, (_, url, _) in self.acked.items():
            if await self.status_of(text) is not MessageStatus.SENT or not self.answered(url):
                return False
        return True

    def answered(self, url: str) -> bool:
        told = [str(answer) for answer in self.slack.answers_to(url)]
        return any("On its way" in text or "already sent" in text for text in told)


async def until(condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def test_sigkill_after_ack_mid_send_and_mid_status_loses_nothing(
    env: StoreEnv, redis_url: str, tmp_path: Path
) -> None:
    await ensure_layout(env.redis, env.keys)
    contacts = []
    for i in range(3 * PER_ROUND):
        draft = ContactDraft(
            first_name=f"Customer{i}",
            email=f"c{i}@chaos.example",
            identities={Channel.TELEGRAM: str(9100 + i)},
        )
        contacts.append((await env.contacts.create(draft, utc_now())).contact_id)

    slack = await FakeSlack().start()
    telegram = await FakeTelegram(latency=(0.2, 0.5)).start()
    try:
        environment = serve_env(
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=env.keys.prefix,
            PARTITIONS=str(env.keys.partitions),
            DATA_DIR=str(tmp_path),
            SLACK_BOT_TOKEN=slack.token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.url,
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_API_URL=telegram.url,
        )
        agents = Agents(env, slack, contacts)
        may_repeat: set[str] = set()
        serve = ServeProcess(environment, tmp_path / "serve.log")
        async with aiohttp.ClientSession() as http:
            try:
                # 1. Just after an ack: the first answer back, and the process dies.
                await serve.start(http)
                burst = await agents.burst(http, serve)
                await until(lambda: agents.acked, 60)
                await serve.kill()
                await asyncio.gather(*burst)
                may_repeat |= await agents.unsent_at_channel(telegram)

                # 2. Mid-send: requests at the channel, their answers not back.
                await serve.start(http)
                asked = len(telegram.requests)
                burst = await agents.burst(http, serve)
                await until(lambda: len(telegram.requests) >= asked + 3, 60)
                await serve.kill()
                await asyncio.gather(*burst)
                may_repeat |= await agents.unsent_at_channel(telegram)

                # 3. Mid-status: the channel has just answered, the outcome not recorded.
                await serve.start(http)
                answered = telegram.answered
                burst = await agents.burst(http, serve)
                await until(lambda: telegram.answered > answered + 1, 60)
                await serve.kill()
                await asyncio.gather(*burst)
                may_repeat |= await agents.unsent_at_channel(telegram)

                # Started once more: it finishes what the dead ones left.
                await serve.start(http)
                deadline = time.monotonic() + SETTLE_SECONDS
                while not await agents.all_done():
                    log = (tmp_path / "serve.log").read_text()[-3000:]
                    assert time.monotonic() < deadline, log
                    await asyncio.sleep(0.1)
            finally:
                await serve.stop()

    finally:
        await telegram.close()
        await slack.close()

    assert len(agents.acked) >= PER_ROUND  # most were acknowledged before their kill
    got = Counter(r.json["text"] for r in telegram.requests if r.json)
    # Nothing acknowledged is lost: every one reached its customer.
    assert set(agents.acked) <= set(got)
    # Twice only where the process died with the message at the channel.
    repeated = {text for text, n in got.items() if n > 1}
    assert repeated <= may_repeat, (repeated, may_repeat)
    assert all(n <= 2 for n in got.values())
