"""`serve`'s own routes and middleware: `/healthz`, `/metrics`, and a request
failing on Redis answered 503 with "try again" (the channels retry)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from bot.availability import is_outage
from bot.metrics import REGISTRY, route_label
from bot.runtime import HEALTH_KEY, REDIS_KEY

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


def register(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
