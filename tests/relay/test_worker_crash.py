"""A worker process killed with SIGKILL mid-batch loses nothing; another takes over.

The real `followup worker` runs as a subprocess against the test Redis and a
local Telegram Bot API. Duplicates are allowed only for messages the killed
worker had already handed to the channel (SPEC "Delivery is at least once").
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from tests.conftest import StoreEnv
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 120


def worker_env(env: StoreEnv, redis_url: str, telegram: FakeTelegram) -> dict[str, str]:
    names = {n.upper() for n in Settings.env_names()}
    base = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return base | {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": env.keys.prefix,
        "PARTITIONS": str(env.keys.partitions),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "RELAY_CLAIM_IDLE_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


async def start_worker(environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_sigkilled_worker_loses_nothing_and_duplicates_only_in_flight_sends(
    env: StoreEnv, redis_url: str
) -> None:
    telegram = await FakeTelegram().start()
    try:
        followup = FollowupService(env.contacts, env.outbox, PolicySettings(), utc_now)
        messages: dict[str, tuple[int, str]] = {}
        for i in range(MESSAGES):
            draft = ContactDraft(first_name=f"C{i}", identities={Channel.TELEGRAM: str(7000 + i)})
            cid = (await env.contacts.create(draft, utc_now())).contact_id
            text = f"follow-up {i}"
            result = await followup.send(
                FollowupRequest(
                    cid, Channel.TELEGRAM, "U_A", f"crash-{i}", Form.TEXT, content=Content(text)
                )
            )
            assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
            messages[text] = (ContactId.parse(cid).partition, result.message_id)

        environment = worker_env(env, redis_url, telegram)
        first = await start_worker(environment)
        for _ in range(600):
            if len(telegram.requests) >= MESSAGES // 3:
                break
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        sent_before_kill = len(telegram.requests)
        assert 0 < sent_before_kill < MESSAGES, "the worker must die mid-batch"

        second = await start_worker(environment)
        try:
            for _ in range(300):
                statuses = [
                    (await env.outbox.get_message(p, m)).status  # type: ignore[union-attr]
                    for p, m in messages.values()
                ]
                if all(s is MessageStatus.SENT for s in statuses):
                    break
                await asyncio.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 20)
        assert second.returncode == 0

        texts = [r.json["text"] for r in telegram.requests]
        counts = Counter(texts)
        assert set(counts) == set(messages), "every accepted message reached the channel"
        assert all(s is MessageStatus.SENT for s in statuses)
        duplicated = {text for text, n in counts.items() if n > 1}
        first_seen = {text: texts.index(text) for text in duplicated}
        # A message is sent twice only if the killed worker had sent it already.
        assert all(index < sent_before_kill for index in first_seen.values())
        assert all(counts[text] == 2 for text in duplicated)
        for p in range(env.keys.partitions):
            pending = await env.redis.xpending(env.keys.outbox(p), "relay")
            assert pending["pending"] == 0
    finally:
        await telegram.close()
