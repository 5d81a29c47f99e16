"""`GET /media/{token}` on `serve`, the media store's lifetime, and its retention.

A valid token streams its file with its type and length; a tampered or
malformed one is answered 403, an expired one (or a file removed since) 404,
and neither reads the store. The store is removed of files older than
`MEDIA_RETENTION_HOURS` at start and every `CLEANUP_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.availability import STOP_GRACE_SECONDS
from bot.domain.clock import Clock, utc_now
from bot.media.links import LinkExpired, LinkInvalid, MediaLinks
from bot.media.store import MediaNotFound, MediaStore
from bot.media.stores import open_media_store
from bot.runtime import CLOCK_KEY, SETTINGS_KEY

__all__ = [
    "CLEANUP_SECONDS",
    "MEDIA_LINKS_KEY",
    "MEDIA_STORE_KEY",
    "register",
    "remove_expired",
    "run_retention",
]

logger = logging.getLogger(__name__)

MEDIA_STORE_KEY: web.AppKey[MediaStore] = web.AppKey("media_store")
MEDIA_LINKS_KEY: web.AppKey[MediaLinks | None] = web.AppKey("media_links")

#: How often stored files past the retention are removed.
CLEANUP_SECONDS = 15 * 60

# What a browser opening a link may do with the file: nothing but show it. The
# type is the one the file was stored with; it is never sniffed nor run.
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Referrer-Policy": "no-referrer",
}


async def serve_media(request: web.Request) -> web.StreamResponse:
    """The file a valid token names, streamed."""
    links = request.app[MEDIA_LINKS_KEY]
    if links is None:
        raise web.HTTPNotFound()
    now = request.app.get(CLOCK_KEY, utc_now)()
    try:
        name = links.verify(request.match_info["token"], now)
    except LinkInvalid:
        raise web.HTTPForbidden() from None
    except LinkExpired:
        raise web.HTTPNotFound(text="This link has expired") from None
    try:
        async with request.app[MEDIA_STORE_KEY].open(name) as media:
            response = web.StreamResponse(headers=_SAFE_HEADERS)
            response.content_type = media.content_type
            response.content_length = media.size
            response.headers["Cache-Control"] = "private, max-age=3600"
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in media.chunks():
                    await response.write(chunk)
            await response.write_eof()
            return response
    except MediaNotFound:
        raise web.HTTPNotFound() from None


async def remove_expired(store: MediaStore, now: Clock, retention: timedelta) -> int:
    """One retention pass: files stored more than `retention` before now go."""
    removed = await store.remove_older_than(now() - retention)
    if removed:
        logger.info("media past retention removed", extra={"files": removed})
    return removed


async def run_retention(
    store: MediaStore,
    now: Clock,
    retention: timedelta,
    stop: asyncio.Event,
    every: float = CLEANUP_SECONDS,
) -> None:
    """`remove_expired` now and every `every` seconds until `stop`; a failed pass
    is logged and tried again next time."""
    while True:
        try:
            await remove_expired(store, now, retention)
        except Exception as error:  # the store's own errors: S3, disk
            logger.warning("media retention pass failed", extra={"error": type(error).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return


async def media_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the retention for the web app's lifetime, then closes the store."""
    settings = app[SETTINGS_KEY]
    store = app[MEDIA_STORE_KEY]
    stop = asyncio.Event()
    retention = timedelta(hours=settings.media_retention_hours)
    clock = app.get(CLOCK_KEY, utc_now)
    task = asyncio.create_task(run_retention(store, clock, retention, stop), name="media")
    yield
    stop.set()
    # A pass stuck on an unreachable bucket must not hold the shutdown.
    _, pending = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
    for late in pending:
        late.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await late
    await store.close()


def register(app: web.Application, store: MediaStore | None = None) -> None:
    """The `/media/{token}` route on `app` (whose settings are set), with `store`
    or the one the settings name."""
    settings = app[SETTINGS_KEY]
    app[MEDIA_STORE_KEY] = store if store is not None else open_media_store(settings)
    app[MEDIA_LINKS_KEY] = MediaLinks.from_settings(settings)
    app.cleanup_ctx.append(media_ctx)
    app.router.add_get("/media/{token}", serve_media)
