"""End to end: a WhatsApp customer writes, an agent follows up, the receipt lands.

Inbound webhook (signed as Meta signs) → contact and thread → follow-up →
outbox → relay → the WhatsApp Cloud API (a local fake Graph) → `statuses`
webhook → the thread entry shows *read*. Also: Slack answering 429 for a
minute delays thread updates but not sends; a Redis restart loses no
accepted message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import WEBHOOK_CONSUMER_KEY, build_web_app
from bot.channels.whatsapp import WhatsAppConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, PolicySettings
from bot.relay.relay import Relay, RelayTuning
from bot.runtime import http_session
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.slack.threads import PosterTuning, ThreadQueue
from bot.store.codec import OutboxStream
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import ContactId, Keys
from bot.store.outbox import OutboxStore
from bot.store.scripts import load_all
from bot.store.server import RedisServer
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.slack.thread_poster import thread_poster

APP_SECRET = "meta-app-secret"
WA_ID = "971501234567"
FAST = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)


def settings_for(env: StoreEnv, graph: FakeGraph, slack: FakeSlack) -> Settings:
    return Settings(
        _env_file=None,
        whatsapp_api_url=graph.url,
        whatsapp_token=graph.whatsapp_token,
        whatsapp_phone_number_id=graph.phone_number_id,
        meta_app_secret=APP_SECRET,
        meta_verify_token="verify-me",
        slack_bot_token=slack.token,
        slack_api_url=slack.url,
        support_channel="C0SUPPORT",
        redis_key_prefix=env.keys.prefix,
        partitions=env.keys.partitions,
    )


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


def whatsapp_value(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"}, **value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def customer_message(at: datetime, text: str, mid: str) -> dict[str, Any]:
    return whatsapp_value(
        {
            "contacts": [{"profile": {"name": "Sara Ahmed"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": mid,
                    "timestamp": str(int(at.timestamp())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
    )


def status(wamid: str, value: str, at: datetime) -> dict[str, Any]:
    return whatsapp_value(
        {
            "statuses": [
                {
                    "id": wamid,
                    "status": value,
                    "timestamp": str(int(at.timestamp())),
                    "recipient_id": WA_ID,
                }
            ]
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def fakes() -> AsyncIterator[tuple[FakeGraph, FakeSlack]]:
    async with FakeGraph() as graph:
        slack = await FakeSlack().start()
        try:
            yield graph, slack
        finally:
            await slack.close()


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        # Context elements are texts; buttons (the thread's actions) carry a text object.
        out += [
            e["text"] if isinstance(e["text"], str) else e["text"]["text"]
            for e in block.get("elements", [])
        ]
    return "\n".join(out)


async def test_customer_writes_agent_follows_up_thread_shows_read(
    env: StoreEnv, redis_url: str, fakes: tuple[FakeGraph, FakeSlack]
) -> None:
    graph, slack = fakes
    settings = settings_for(env, graph, slack)
    app = build_web_app(settings, create_redis(redis_url))
    async with TestClient(TestServer(app)) as client, http_session() as http:
        now = datetime.now(UTC).replace(microsecond=0)
        slack_client = AsyncWebClient(token=slack.token, base_url=slack.url)
        poster = thread_poster(env.redis, env.keys, slack_client, "C0SUPPORT", utc_now, tuning=FAST)

        # 1. The customer writes on WhatsApp.
        raw, headers = signed(customer_message(now, "Any update on my refund?", "wamid.IN1"))
        response = await client.post("/webhooks/whatsapp", data=raw, headers=headers)
        assert response.status == 200
        await app[WEBHOOK_CONSUMER_KEY].settle()  # stored and answered, processed just after
        contact = await env.contacts.find_by_identity(Channel.WHATSAPP, WA_ID)
        assert contact is not None and contact.name == "Sara Ahmed"

        # 2. The thread appears, with the customer's words in it.
        await poster.flush()
        root = slack.calls_to("chat.postMessage")[-2]
        assert "thread_ts" not in root.args and "Sara Ahmed" in blocks_text(root.args["blocks"])
        assert "Any update on my refund?" in blocks_text(slack.calls[-1].args["blocks"])

        # 3. The agent follows up; the relay sends it to the WhatsApp Cloud API.
        followup = FollowupService(env.contacts, env.outbox, PolicySettings(), utc_now)
        result = await followup.send(
            FollowupRequest(
                contact.id,
                Channel.WHATSAPP,
                "U_AGENT",
                "view-1",
                Form.TEXT,
                content=Content("Refunded today."),
            )
        )
        assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
        threads = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
        relay = Relay(
            env.redis, env.keys, {Channel.WHATSAPP: WhatsAppConnector(settings, http)},
            PolicySettings(), utc_now, consumer="e2e", threads=threads,
            tuning=RelayTuning(block_ms=50),
        )  # fmt: skip
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        partition = ContactId.parse(contact.id).partition
        for _ in range(200):
            message = await env.outbox.get_message(partition, result.message_id)
            if message is not None and message.status is MessageStatus.SENT:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running
        request = graph.sent[-1]
        assert request.json["to"] == WA_ID and request.json["text"]["body"] == "Refunded today."
        assert message is not None and message.channel_message_id
        await poster.flush()

        # 4. WhatsApp reports delivered, then read: the thread entry shows read.
        for value in ("delivered", "read"):
            raw, headers = signed(status(message.channel_message_id, value, now))
            assert (
                await client.post("/webhooks/whatsapp", data=raw, headers=headers)
            ).status == 200
            await app[WEBHOOK_CONSUMER_KEY].settle()
        await poster.flush()
        update = slack.calls[-1]
        assert update.method == "chat.update"
        assert "👀 read" in blocks_text(update.args["blocks"])
        final = await env.outbox.get_message(partition, result.message_id)
        assert final is not None and final.status is MessageStatus.READ


async def test_slack_rate_limited_for_a_minute_delays_threads_not_sends(
    env: StoreEnv, fakes: tuple[FakeGraph, FakeSlack]
) -> None:
    graph, slack = fakes
    settings = settings_for(env, graph, slack)
    slack.rate_limit_for(60, retry_after=60)
    try:
        async with http_session() as http:
            store = ContactStore(env.redis, env.keys)
            followup = FollowupService(store, OutboxStore(store), PolicySettings(), utc_now)
            now = datetime.now(UTC)
            ids = []
            for i in range(10):
                created = await store.create(
                    ContactDraft(
                        first_name=f"R{i}",
                        identities={Channel.WHATSAPP: f"97150{i:07d}"},
                        last_inbound_at={Channel.WHATSAPP: now},
                    ),
                    now,
                )
                result = await followup.send(
                    FollowupRequest(
                        created.contact_id,
                        Channel.WHATSAPP,
                        "U_A",
                        f"rl-{i}",
                        content=Content("Hello"),
                    )
                )
                ids.append((ContactId.parse(created.contact_id).partition, result.message_id))
            threads = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
            relay = Relay(
                env.redis, env.keys, {Channel.WHATSAPP: WhatsAppConnector(settings, http)},
                PolicySettings(), utc_now, consumer="rl", threads=threads,
                tuning=RelayTuning(block_ms=50),
            )  # fmt: skip
            poster = thread_poster(
                env.redis, env.keys, AsyncWebClient(token=slack.token, base_url=slack.url),
                "C0SUPPORT", utc_now, tuning=FAST,
            )  # fmt: skip
            stop = asyncio.Event()
            tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(poster.run(stop))]
            started = asyncio.get_running_loop().time()
            for _ in range(300):
                statuses = [(await env.outbox.get_message(p, m)).status for p, m in ids]  # type: ignore[union-attr]
                if all(s is MessageStatus.SENT for s in statuses):
                    break
                await asyncio.sleep(0.02)
            elapsed = asyncio.get_running_loop().time() - started
            stop.set()
            await asyncio.gather(*tasks)
        assert all(s is MessageStatus.SENT for s in statuses)
        assert elapsed < 5  # sends did not wait for Slack's minute
        # Every thread entry is still queued, none lost.
        assert await env.redis.zcard(env.keys.thread_due()) >= 10
    finally:
        slack.rate_limit_for(0)


async def test_redis_restart_loses_no_accepted_message(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", appendonly=True).start()
    keys = Keys(partitions=4, prefix="restart")
    try:
        redis = create_redis(server.url)
        await load_all(redis)
        store = ContactStore(redis, keys)
        followup = FollowupService(store, OutboxStore(store), PolicySettings(), utc_now)
        contact = (await store.create(
            ContactDraft(
                first_name="Kept", identities={Channel.TELEGRAM: "42"}
            ),
            utc_now(),
        )).contact_id  # fmt: skip
        accepted = [
            (
                await followup.send(
                    FollowupRequest(
                        contact, Channel.TELEGRAM, "U", f"r{i}", content=Content(f"m{i}")
                    )
                )
            ).message_id
            for i in range(20)
        ]
        await redis.aclose()
        await asyncio.sleep(1.2)  # appendfsync everysec
        server.stop()
        server.start()
        redis = create_redis(server.url)
        p = ContactId.parse(contact).partition
        stream = await redis.xrange(keys.outbox(p))
        assert [fields[OutboxStream.MESSAGE_ID] for _, fields in stream] == accepted
        outbox = OutboxStore(ContactStore(redis, keys))
        for message_id in accepted:
            message = await outbox.get_message(p, message_id)
            assert message is not None and message.status is MessageStatus.QUEUED
        await redis.aclose()
    finally:
        server.stop()
