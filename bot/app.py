"""The aiohttp web application of `serve`.

Shared resources hang on typed `web.AppKey`s and close in `cleanup_ctx`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from bot.availability import STOP_GRACE_SECONDS, RedisHealth, is_outage, ride_out
from bot.config import Settings
from bot.media import web as media_web
from bot.metrics import REGISTRY, metrics_middleware, route_label
from bot.request_limits import EMAIL_MAX_BODY_BYTES
from bot.runtime import (
    HEALTH_KEY,
    INBOUND_KEY,
    LIVENESS_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
    WEBHOOK_INTAKE_KEY,
    channels_ctx,
    keys_for,
)
from bot.services.webhook_intake import WebhookConsumer
from bot.slack import serving as slack_serving
from bot.store.connection import RedisClient
from bot.store.liveness import Liveness, process_name
from handlers import webhooks

__all__ = ["HEALTH_KEY", "LIVENESS_KEY", "REDIS_KEY", "SETTINGS_KEY", "build_web_app"]

logger = logging.getLogger(__name__)


#: /healthz answers within about this long even when Redis hangs.
HEALTH_TIMEOUT = 1.0
#: What a channel is told while Redis is away: it retries (WhatsApp, Messenger,
#: LINE, Telegram… all retry a webhook answered with a 5xx).
RETRY_AFTER_SECONDS = "5"


async def healthz(request: web.Request) -> web.Response:
    """200 "ok" only when Redis answers PING and requests are not failing on it;
    else 503 with the reason (unreachable, or which requests fail and why)."""
    redis, health = request.app[REDIS_KEY], request.app[HEALTH_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await redis.ping()
    except (RedisError, OSError, TimeoutError) as error:
        logger.warning("healthz: redis unreachable", extra={"error": type(error).__name__})
        health.failed(error, "healthz")
        return web.json_response(
            {"status": "degraded", "redis": "unreachable", "reason": type(error).__name__},
            status=503,
        )
    health.reachable()
    failing = health.failing()
    if failing is not None:
        return web.json_response(
            {"status": "degraded", "redis": "ok", "reason": f"requests failing ({failing})"},
            status=503,
        )
    return web.json_response({"status": "ok", "redis": "ok"})


@web.middleware
async def redis_outage_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that fails on Redis gets 503 and "try again", and /healthz hears of it."""
    health = request.app[HEALTH_KEY]
    try:
        response = await handler(request)
    except RedisError as error:
        health.failed(error, route_label(request), request=True)
        # Unreachable or loading: expected, said briefly. Any other Redis error (an
        # answer such as WRONGTYPE or OOM) may be a bug of ours: with its traceback.
        outage = is_outage(error)
        logger.log(
            logging.WARNING if outage else logging.ERROR,
            "request failed on Redis",
            extra={"route": route_label(request), "error": type(error).__name__},
            exc_info=None if outage else error,
        )
        return web.json_response(
            {"error": "temporarily unavailable, try again in a moment"},
            status=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if response.status < 300 and request.path.startswith("/webhooks/"):
        health.succeeded()  # a stored webhook: Redis took a write (Slack answers 200 either way)
    return response


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of `bot.metrics.REGISTRY`."""
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


WEBHOOK_CONSUMER_KEY = web.AppKey("webhook_consumer", WebhookConsumer)


async def heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
    """Beats this process's heartbeat (`bot.store.liveness`) for the web app's
    lifetime: first, so the others see us alive before we hold anything, and
    last, once what we hold is finished or left pending, so that the others
    take what is left at once."""
    liveness = app[LIVENESS_KEY]
    stop = asyncio.Event()
    with contextlib.suppress(RedisError, OSError):  # Redis away: the loop beats when it is back
        await liveness.beat()
    task = asyncio.create_task(liveness.run(stop), name="heartbeat")
    yield
    stop.set()
    await task


async def webhook_consumer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Processes the stored webhook events for the web app's lifetime, riding out
    Redis outages; on shutdown it finishes its batch or leaves it pending."""
    liveness = app[LIVENESS_KEY]
    consumer = WebhookConsumer(
        app[WEBHOOK_INTAKE_KEY], app[INBOUND_KEY], liveness.name, liveness=liveness
    )
    app[WEBHOOK_CONSUMER_KEY] = consumer
    stop = asyncio.Event()
    # Any Redis error, not only an outage: the stored events wait meanwhile.
    loop = ride_out(
        "webhooks",
        consumer.run,
        stop,
        app[HEALTH_KEY],
        retry_on=lambda error: isinstance(error, RedisError),
    )
    task = asyncio.create_task(loop, name="webhooks")

    def on_done(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            logger.error("webhook consumer failed", exc_info=done.exception())

    task.add_done_callback(on_done)
    yield
    stop.set()
    _, pending = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
    for late in pending:
        late.cancel()
        with contextlib.suppress(BaseException):
            await late


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[REDIS_KEY].aclose()


def build_web_app(settings: Settings, redis: RedisClient) -> web.Application:
    """The web app; it owns `redis` from now on and closes it on cleanup."""
    app = web.Application(
        middlewares=[metrics_middleware, redis_outage_middleware],
        client_max_size=EMAIL_MAX_BODY_BYTES,
    )
    app[SETTINGS_KEY] = settings
    app[REDIS_KEY] = redis
    app[HEALTH_KEY] = RedisHealth()
    app[LIVENESS_KEY] = Liveness(redis, keys_for(settings), process_name())
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(heartbeat_ctx)
    app.cleanup_ctx.append(channels_ctx)
    app.cleanup_ctx.append(webhook_consumer_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    webhooks.register(app)
    slack_serving.register(app)
    media_web.register(app)
    return app
