"""The aiohttp web application of `serve`.

Shared resources hang on typed `web.AppKey`s and close in `cleanup_ctx`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from bot.config import Settings
from bot.metrics import REGISTRY, metrics_middleware
from bot.runtime import REDIS_KEY, SETTINGS_KEY, channels_ctx
from bot.slack import serving as slack_serving
from bot.store.connection import RedisClient
from handlers import webhooks
from handlers.webhooks import MAX_BODY_BYTES

__all__ = ["REDIS_KEY", "SETTINGS_KEY", "build_web_app"]

logger = logging.getLogger(__name__)


#: /healthz answers within about this long even when Redis hangs.
HEALTH_TIMEOUT = 1.0


async def healthz(request: web.Request) -> web.Response:
    """Liveness plus Redis reachability: 200 when PING answers, else 503."""
    redis = request.app[REDIS_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await redis.ping()
    except (RedisError, OSError, TimeoutError) as error:
        logger.warning("healthz: redis unreachable", extra={"error": type(error).__name__})
        return web.json_response({"status": "degraded", "redis": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "redis": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of `bot.metrics.REGISTRY`."""
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[REDIS_KEY].aclose()


def build_web_app(settings: Settings, redis: RedisClient) -> web.Application:
    """The web app; it owns `redis` from now on and closes it on cleanup."""
    app = web.Application(middlewares=[metrics_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS_KEY] = settings
    app[REDIS_KEY] = redis
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(channels_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    webhooks.register(app)
    slack_serving.register(app)
    return app
