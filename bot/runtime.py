"""What `serve` and `worker` share at run time: typed app keys, the key layout,
the policy's settings, the HTTP client and the garbage collector's tuning.

What hangs on the keys is built by the composition root (`bot.app`) in aiohttp's
`cleanup_ctx` (opened at start-up, closed at shutdown), never at import time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime

import aiohttp
import orjson
from aiohttp import web

from bot.availability import RedisHealth
from bot.config import Settings
from bot.domain.windows import PolicySettings
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.liveness import Liveness

SETTINGS_KEY = web.AppKey("settings", Settings)
REDIS_KEY: web.AppKey[RedisClient] = web.AppKey("redis")
KEYS_KEY = web.AppKey("keys", Keys)
HTTP_KEY = web.AppKey("http", aiohttp.ClientSession)
#: What this process last saw of Redis (`/healthz`, the loops riding out an outage).
HEALTH_KEY = web.AppKey("health", RedisHealth)
#: This process's one heartbeat (`bot.app.heartbeat_ctx`): the Slack intake, the
#: webhook consumer and an in-process relay all go by it.
LIVENESS_KEY = web.AppKey("liveness", Liveness)
#: The services' clock (tests pin it); `utc_now` unless set.
CLOCK_KEY: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")


def keys_for(settings: Settings) -> Keys:
    """The key layout this deployment uses."""
    return Keys(partitions=settings.partitions, prefix=settings.redis_key_prefix)


def policy_settings(settings: Settings) -> PolicySettings:
    """The window policy's settings from the deployment's."""
    return PolicySettings(
        messenger_tags=tuple(settings.messenger_tags),
        viber_commercial_terms=settings.viber_commercial_terms,
        viber_monthly_free=settings.viber_monthly_free,
        wechat_window_messages=settings.wechat_window_messages,
    )


#: Collect the youngest generation after this many allocations (CPython: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Set the garbage collector for a long-running process; call once start-up is done.

    Everything alive then (modules, settings, clients, connectors) lives as long
    as the process: `gc.freeze()` takes it out of every later collection. And
    the youngest generation is collected after 10,000 allocations, not 700: the
    relay makes a few hundred short-lived containers per message, nearly all
    freed by reference counting, and collecting every 700 walked the ones in
    flight again and again and aged them into the older generations. Cyclic
    garbage still goes, a little later. `bench/relay.py` (which runs it as the
    worker does) measured the relay 10-15 % faster with it.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def http_session() -> aiohttp.ClientSession:
    """One HTTP client for the channel APIs (connection pooling, sane limits)."""
    return aiohttp.ClientSession(
        # JSON bodies (slack-sdk's Web API calls among them) through orjson:
        # several times faster than the standard library's, on every request.
        json_serialize=_json_text,
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=200, limit_per_host=100),
    )
