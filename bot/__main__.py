"""The `followup` command line: `serve`, `worker`, `import FILE`.

Settings are read here, once, and passed down. Exit status: 0 on success and on a
clean stop (SIGINT/SIGTERM), 1 on a runtime failure, 2 on bad configuration or
usage (including "no Redis to talk to").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib
import inspect
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import configure_logging
from bot.store.connection import RedisClient, create_redis
from bot.store.server import RedisServer, RedisServerError, is_listening

logger = logging.getLogger("bot.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

NO_REDIS_MESSAGE = (
    "No Redis: start `followup serve` (it starts the embedded Redis) or set REDIS_URL."
)

#: Loading a large append-only file takes a while; PING answers only after it.
EMBEDDED_START_TIMEOUT = 120.0
#: How long `serve` waits for in-flight HTTP requests when stopping (a
#: webhook or a Slack ack takes milliseconds).
SHUTDOWN_TIMEOUT = 1.0
#: Everything `serve` does once told to stop, at most (SIGTERM: out within 5 s).
STOP_BUDGET = 4.0
#: While Redis does not answer at start-up, ask again this often.
REDIS_WAIT_SECONDS = 1.0


class _RunImport(Protocol):
    def __call__(
        self, settings: Settings, redis: RedisClient, path: Path, *, dry_run: bool
    ) -> Awaitable[object] | object: ...


# --- where Redis is ------------------------------------------------------------


def embedded_socket(settings: Settings) -> Path:
    """The unix socket of the embedded Redis that `serve` starts."""
    return settings.data_dir.absolute() / "redis.sock"


def embedded_data_dir(settings: Settings) -> Path:
    return settings.data_dir.absolute() / "redis"


def existing_redis_url(settings: Settings) -> str | None:
    """REDIS_URL, else the embedded Redis if one is listening, else None."""
    if settings.redis_url is not None:
        return settings.redis_url
    sock = embedded_socket(settings)
    return f"unix://{sock}" if is_listening(sock) else None


def _connect(settings: Settings, url: str) -> RedisClient:
    # The embedded Redis is a single server, whatever REDIS_CLUSTER says.
    return create_redis(url, cluster=settings.redis_cluster and settings.redis_url is not None)


async def _check_layout(settings: Settings, redis: RedisClient) -> bool:
    """The stored data's partition count matches PARTITIONS (else say so)."""
    from bot.runtime import keys_for
    from bot.store.layout import LayoutMismatch, ensure_layout

    try:
        await ensure_layout(redis, keys_for(settings))
    except LayoutMismatch as error:
        print(f"followup: {error}", file=sys.stderr)
        return False
    return True


@contextlib.contextmanager
def _data_dir_lock(settings: Settings) -> Iterator[None]:
    """Serialises "is the embedded Redis up? else start it" between `serve` processes."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / "redis.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def _wait_for_redis(redis: RedisClient, stop: asyncio.Event) -> bool:
    """Until Redis answers PING (True) or we are told to stop (False)."""
    said = False
    while not stop.is_set():
        try:
            async with asyncio.timeout(REDIS_WAIT_SECONDS * 2):
                await redis.ping()
            if said:
                logger.info("Redis answers")
            return True
        except Exception as error:  # unreachable, loading, refused: wait for it
            if not said:
                logger.warning("waiting for Redis", extra={"error": type(error).__name__})
                said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REDIS_WAIT_SECONDS)
    return False


# --- signals -------------------------------------------------------------------


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _request_stop, stop, signum)


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    if not stop.is_set():
        logger.info("stopping", extra={"signal": signal.Signals(signum).name})
    stop.set()


# --- serve ---------------------------------------------------------------------


#: How often `serve` looks whether the embedded Redis it started is still running.
EMBEDDED_WATCH_SECONDS = 1.0


async def _keep_embedded_running(embedded: RedisServer, stop: asyncio.Event) -> None:
    """Start the embedded Redis again if it dies (killed, crashed, out of memory):
    `serve` is its only supervisor. Its append-only file keeps what was written."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EMBEDDED_WATCH_SECONDS)
        if stop.is_set() or embedded.running:
            continue
        logger.warning("the embedded Redis stopped; starting it again")
        embedded.stop()  # collect the dead process and close its log
        try:
            await asyncio.to_thread(embedded.start, EMBEDDED_START_TIMEOUT)
            logger.info("the embedded Redis is running again", extra={"pid": embedded.pid})
        except RedisServerError as error:
            logger.error("could not start the embedded Redis again", extra={"error": str(error)})


async def _serve_web(settings: Settings, url: str, embedded: RedisServer | None = None) -> int:
    stop = asyncio.Event()
    _install_stop_signals(stop)
    watch = None
    if embedded is not None:
        watch = asyncio.create_task(_keep_embedded_running(embedded, stop), name="embedded")
    try:
        return await _serve_app(settings, url, stop)
    finally:
        stop.set()
        if watch is not None:
            await asyncio.wait({watch}, timeout=EMBEDDED_WATCH_SECONDS)


async def _serve_app(settings: Settings, url: str, stop: asyncio.Event) -> int:
    from bot.app import build_web_app, relay_ctx
    from bot.runtime import tune_gc

    redis = _connect(settings, url)
    if not await _wait_for_redis(redis, stop):
        await redis.aclose()
        return EXIT_OK
    if not await _check_layout(settings, redis):
        await redis.aclose()
        return EXIT_USAGE
    app = build_web_app(settings, redis)
    relay_failed = asyncio.Event()
    if settings.relay_in_process:
        # Appended after build_web_app's contexts, so it is cleaned up first.
        app.cleanup_ctx.append(relay_ctx(settings, redis, relay_failed, stop))
    # Bodies are taken as sent: no channel compresses its webhooks, and inflating
    # them would let 64 KB of gzip cost 64 MB of work even once refused (aiohttp
    # inflates the rest of a refused body to discard it).
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, auto_decompress=False)
    await runner.setup()
    tune_gc()  # start-up is done
    try:
        site = web.TCPSite(runner, port=settings.port)
        await site.start()
        logger.info("serving", extra={"port": settings.port})
        stop_wait = asyncio.create_task(stop.wait())
        failed_wait = asyncio.create_task(relay_failed.wait())
        await asyncio.wait({stop_wait, failed_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        failed_wait.cancel()
    finally:
        stop.set()
        try:
            async with asyncio.timeout(STOP_BUDGET):
                await runner.cleanup()
        except TimeoutError:
            logger.warning("stopped before every clean-up finished")
    return EXIT_FAILURE if relay_failed.is_set() else EXIT_OK


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (its loop and sockets cost less
    per request than asyncio's; `bench/ack.py` runs its baseline on the same),
    else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """The Slack endpoint and webhooks; starts the embedded Redis when REDIS_URL is unset."""
    embedded: RedisServer | None = None
    try:
        url = settings.redis_url
        if url is None:
            sock = embedded_socket(settings)
            with _data_dir_lock(settings):
                if is_listening(sock):
                    logger.info("using the embedded Redis another serve started")
                else:
                    embedded = RedisServer(
                        data_dir=embedded_data_dir(settings),
                        unixsocket=sock,
                        port=0,
                        appendonly=True,
                    )
                    embedded.start(timeout=EMBEDDED_START_TIMEOUT)
            url = f"unix://{sock}"
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(_serve_web(settings, url, embedded))
    except RedisServerError as error:
        print(f"followup serve: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        # e.g. the port is taken.
        print(f"followup serve: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if embedded is not None:
            embedded.stop()


# --- worker and import -----------------------------------------------------------


async def _run_worker(settings: Settings, url: str) -> int:
    from bot.app import run_worker
    from bot.runtime import tune_gc

    stop = asyncio.Event()
    _install_stop_signals(stop)
    redis = _connect(settings, url)
    try:
        if not await _wait_for_redis(redis, stop):
            return EXIT_OK
        if not await _check_layout(settings, redis):
            return EXIT_USAGE
        logger.info("worker ready")
        tune_gc()  # start-up is done
        await run_worker(settings, redis, stop)
    finally:
        await redis.aclose()
    return EXIT_OK


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """A relay worker alone, on REDIS_URL or the embedded Redis of a running `serve`."""
    url = existing_redis_url(settings)
    if url is None:
        print(NO_REDIS_MESSAGE, file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run_worker(settings, url))
    except KeyboardInterrupt:
        return EXIT_OK


async def _run_import(settings: Settings, url: str, path: Path, dry_run: bool) -> int:
    run_import: _RunImport = importlib.import_module("bot.services.importing").run_import
    redis = _connect(settings, url)
    try:
        if not await _check_layout(settings, redis):
            return EXIT_USAGE
        result = run_import(settings, redis, path, dry_run=dry_run)
        if inspect.isawaitable(result):
            result = await result
    finally:
        await redis.aclose()
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    # Bad rows were reported and the rest imported; scripts still need to know.
    return EXIT_FAILURE if getattr(result, "errors", None) else EXIT_OK


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Load contacts from a CSV or JSON Lines file."""
    path = Path(args.file)
    if not path.is_file():
        print(f"followup import: no such file: {path}", file=sys.stderr)
        return EXIT_USAGE
    url = existing_redis_url(settings)
    if url is None:
        print(NO_REDIS_MESSAGE, file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run_import(settings, url, path, args.dry_run))
    except KeyboardInterrupt:
        return EXIT_FAILURE


# --- entry point -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="followup",
        description="Slack follow-ups to customers on their messaging channels.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="Slack endpoint, channel webhooks, relay")
    serve.set_defaults(handler=cmd_serve)
    worker = commands.add_parser("worker", help="a relay worker alone")
    worker.set_defaults(handler=cmd_worker)
    imp = commands.add_parser("import", help="load contacts from CSV or JSON Lines")
    imp.add_argument("file", metavar="FILE", help="a .csv (with header row) or .jsonl file")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    imp.set_defaults(handler=cmd_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return error.exit_code
    configure_logging(settings.log_level, settings.log_format)
    # Until an event loop installs its own handlers, SIGTERM unwinds like Ctrl-C,
    # so `finally` blocks stop the embedded Redis.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    return handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
