"""Webhooks while Redis fails: 503 with Retry-After (channels retry), and
/healthz says 503 too, never "ok" while requests fail."""

from __future__ import annotations

import pytest

from bot.domain.channels import Channel
from tests.conftest import StoreEnv
from tests.fakes.graph import FakeGraph
from tests.fakes.line import FakeLine
from tests.test_webhook_routes import (
    CASES,
    STAMP,
    WA_ID,
    graph,
    line,
    serving,
    settings_for,
)

__all__ = ["graph", "line"]

WHATSAPP = next(case for case in CASES if case.channel is Channel.WHATSAPP)


async def test_a_webhook_failing_on_redis_is_503_and_healthz_says_why(
    env: StoreEnv,
    redis_url: str,
    graph: FakeGraph,
    line: FakeLine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(settings_for(env, graph, line), redis_url) as client:
        assert (await client.get("/healthz")).status == 200
        # The customer's intake stream is broken (PING still answers).
        stream = env.keys.webhook_intake(env.keys.webhook_shard("whatsapp", WA_ID))
        await env.redis.delete(stream)
        await env.redis.set(stream, "not a stream")
        hook = WHATSAPP.signed(WHATSAPP.message(1, STAMP))

        response = await client.post("/webhooks/whatsapp", data=hook.body, headers=hook.headers)

        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        # Not an outage (WRONGTYPE): maybe a bug of ours, logged with its traceback.
        [failed] = [r for r in caplog.records if r.getMessage() == "request failed on Redis"]
        assert failed.levelname == "ERROR" and failed.exc_info is not None
        health = await client.get("/healthz")
        assert health.status == 503
        body = await health.json()
        assert body["redis"] == "ok" and "ResponseError" in body["reason"]
        assert await env.contacts.find_by_identity(Channel.WHATSAPP, WA_ID) is None

        await env.redis.delete(stream)  # repaired: the channel's retry goes through
        response = await client.post("/webhooks/whatsapp", data=hook.body, headers=hook.headers)
        assert response.status == 200
        assert (await client.get("/healthz")).status == 200
