"""Relay benchmark: follow-ups through the outbox to a local fake Telegram, against its ceiling.

Three processes share the machine: a private redis-server (append-only file on,
`appendfsync everysec`, as `serve` runs it); a fake Telegram Bot API, a minimal
aiohttp app in its own process (`POST /bot{token}/sendMessage`) that records
when each request arrived and which message it carried; and this one, which
accepts follow-ups with `FollowupService.send` and runs the real `Relay` with
the real `TelegramConnector` and a `ThreadQueue`, while a `ThreadPoster` posts
to a local fake Slack at Slack's own rate limits (it runs, it is not waited for).

Phases, in one run, against the same fake server process:

1. ceiling: a bare aiohttp client loop posts requests straight to the fake
   server, `--concurrency` at once, on a session like the worker's
   (`bot.runtime.http_session`).
2. drain (gives `rps`): follow-ups are accepted first, with the relay stopped;
   then the relay starts and is timed until every message was sent, recorded
   and acknowledged (the outbox streams are empty). Accepting while relaying
   would split the core between the two and mix the accept rate into the
   figure: a drained backlog measures what the relay can do.

   The two take turns, `--rounds` (3) times, each on its share of the
   `--messages`: a change in the host's load then falls on both alike instead
   of on whichever ran at the time (on this shared 2-core host the ceiling's
   own CPU per request moved from 76 to 129 µs between runs minutes apart).
   The rows of every round are printed, with each round's ratio.
3. latency (gives `p50_ms`, `p99_ms`): with the relay running, more follow-ups
   (`--latency-messages`) are accepted at a steady rate, `--load` × the drain
   rate, and each one's time from being submitted (the `send()` call that
   accepts it, commit included) to its request reaching the fake server is
   taken. On a backlog that time would only
   say where in the queue a message was, so it is measured below capacity. The
   accepting runs in a process of its own, as a web process would: in the
   relay's event loop it would take a core's share that grows as the relay
   gets faster, and the latency would measure that.

This process runs asyncio's own event loop, as the worker does (`--uvloop` to
compare), and tunes the collector as the worker does once started
(`bot.runtime.tune_gc`), before the first ceiling run.

`ratio` = drain rps / ceiling rps. The relay runs `--partitions` partitions of
`--concurrency / --partitions` sends in flight (`RelayTuning.in_flight`); the
ceiling client runs the same total at once. The default, 64, is the worker's
(4 partitions × 16). The relay works in batches (see bot/relay/relay.py): per
partition one script call claims up to 64 entries, and one records each group
of outcomes, so a send in flight holds no Redis connection; the line "Redis
per message drained" shows the round trips that are left.

Telegram's real limits (30 messages/s per bot, 1/s per chat) are lifted: they
would cap the relay at 30/s and measure Telegram, not the relay. Both processes
read `time.perf_counter` (CLOCK_MONOTONIC on Linux: one clock for all
processes); a round trip checks that, and corrects by the offset if not.
Ends with one JSON line.

    python bench/relay.py                    # 20,000 messages
    python bench/relay.py --messages 500     # quick
    python bench/relay.py --messages 5000 --profile relay.prof   # cProfile the drain
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import logging
import math
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bench.measure import clock_offset, now, percentile, wait_for_parent
from bot.channels.telegram import TelegramConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.windows import Form, PolicySettings
from bot.relay.relay import Relay, RelayTuning
from bot.runtime import http_session, tune_gc
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.slack.threads import ThreadQueue
from bot.store.connection import RedisClient, create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.scripts import load_all
from bot.store.server import RedisServer
from bot.store.thread_queue import ThreadQueueStore
from tests.fakes.slack import FakeSlack
from tests.slack.thread_poster import thread_poster

TOKEN = "123456:bench-token"
SENDER = "U0BENCH01"
FIRST_CHAT_ID = 700_000_000
#: A follow-up of a usual length; the fake server reads the `tag:number` before it.
FILLER = "Your order has shipped and will arrive on Thursday. Thanks for your patience!"
#: Which phase a request belongs to: the tag its text starts with.
CEILING, DRAIN, LATENCY = "c", "r", "l"
#: Telegram's real limits would cap the relay at 30 sends/s: lifted.
UNLIMITED = 1e9


def text_for(tag: str, number: int) -> str:
    return f"{tag}:{number} {FILLER}"


# --- the fake channel server (its own process) ---------------------------------------


def serve_channel(conn: Connection, token: str) -> None:
    """Run the fake Telegram until the parent closes `conn`; sends its port first."""
    try:
        import uvloop  # the instrument should not be the bottleneck

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_channel(conn, token))


async def _serve_channel(conn: Connection, token: str) -> None:
    arrivals: dict[str, tuple[list[int], list[float]]] = {}  # tag -> (numbers, times)
    message_ids = itertools.count(1)

    async def send_message(request: web.Request) -> web.Response:
        at = now()
        if request.match_info["token"] != token:
            return _telegram_error(401, "Unauthorized")
        try:
            payload = await request.json()
        except ValueError:
            return _telegram_error(400, "Bad Request: invalid JSON")
        chat_id, text = payload.get("chat_id"), payload.get("text")
        if chat_id in (None, ""):
            return _telegram_error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return _telegram_error(400, "Bad Request: message text is empty")
        tag, _, rest = text.partition(":")
        numbers, times = arrivals.setdefault(tag, ([], []))
        numbers.append(int(rest.partition(" ")[0]))
        times.append(at)
        message = {
            "message_id": next(message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "text": text,
        }
        return web.json_response({"ok": True, "result": message})

    async def clock(_: web.Request) -> web.Response:
        return web.json_response({"t": now(), "cpu": time.process_time()})

    async def count(request: web.Request) -> web.Response:
        numbers, _ = arrivals.get(request.match_info["tag"], ([], []))
        return web.json_response({"n": len(numbers)})

    async def recorded(request: web.Request) -> web.Response:
        numbers, times = arrivals.get(request.match_info["tag"], ([], []))
        return web.json_response({"numbers": numbers, "at": times})

    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", send_message)
    app.router.add_get("/bench/clock", clock)
    app.router.add_get("/bench/count/{tag}", count)
    app.router.add_get("/bench/arrivals/{tag}", recorded)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conn.send(runner.addresses[0][1])
    try:
        # Returns when the parent closes its end, or dies.
        await asyncio.get_running_loop().run_in_executor(None, wait_for_parent, conn)
    finally:
        await runner.cleanup()


def _telegram_error(code: int, description: str) -> web.Response:
    body = {"ok": False, "error_code": code, "description": description}
    return web.json_response(body, status=code)


class ChannelServer:
    """The fake Telegram process, seen from here (over its own small HTTP session)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve_channel, args=(child, TOKEN), name="fake-telegram", daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            self.stop()
            raise RuntimeError("the fake Telegram server did not start")
        self.url = f"http://127.0.0.1:{self._conn.recv()}"
        self.offset = 0.0  # its clock − ours, when they differ
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def stop(self) -> None:
        self._conn.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)

    async def _get(self, path: str) -> Any:
        async with self.http.get(f"{self.url}/bench/{path}") as response:
            return await response.json()

    async def check_clock(self) -> tuple[float, float]:
        """Its clock's offset from ours and the round trip that bounds it, in seconds."""

        async def theirs() -> float:
            return float((await self._get("clock"))["t"])

        offset, rtt = await clock_offset(theirs)
        self.offset = offset if abs(offset) > rtt else 0.0  # the same clock (Linux)
        return offset, rtt

    async def cpu_seconds(self) -> float:
        return float((await self._get("clock"))["cpu"])

    async def count(self, tag: str) -> int:
        return int((await self._get(f"count/{tag}"))["n"])

    async def arrivals(self, tag: str) -> tuple[list[int], list[float]]:
        """Message numbers in the order they arrived, and when, on our clock."""
        data = await self._get(f"arrivals/{tag}")
        return data["numbers"], [t - self.offset for t in data["at"]]


# --- measuring -----------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    messages: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def row(self) -> str:
        latency = "".join(
            f"{value:>9.1f}" if value is not None else f"{'':>9}"
            for value in (self.p50_ms, self.p99_ms)
        )
        return f"{self.name:<24}{self.messages:>10,}{self.seconds:>9.2f}{self.rps:>9,.0f}{latency}"


async def in_pool(count: int, concurrency: int, work: Callable[[int], Awaitable[None]]) -> None:
    """Run `work(0)` … `work(count - 1)`, `concurrency` at once."""
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            await work(number)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


async def wait_until(
    done: Callable[[], Awaitable[tuple[bool, int]]],
    total: int,
    relay: asyncio.Task[None],
    stall_seconds: float = 60.0,
) -> float:
    """Poll `done` (→ finished, progress) until it says finished; returns when.

    The polls run in the relay's process (a request to the fake server, then
    the outbox's lengths), so they are spaced 100 ms apart until 95 % of
    `total` arrived and 5 ms apart from then on: the end is still seen within
    5 ms, and the instrument takes about a tenth of the CPU it took polling
    every 10 ms throughout (that was 1-1.5 % of the drain's CPU).

    Fails when the relay task ended or nothing moved for `stall_seconds`.
    """
    last_print = moved_at = now()
    last_progress = -1
    while True:
        finished, progress = await done()
        at = now()
        if finished:
            return at
        if relay.done():
            error = None if relay.cancelled() else relay.exception()
            raise RuntimeError(f"the relay stopped at {progress:,} / {total:,}: {error!r}")
        if progress != last_progress:
            last_progress, moved_at = progress, at
        elif at - moved_at > stall_seconds:
            raise RuntimeError(f"the relay made no progress for {stall_seconds:.0f} s")
        if at - last_print >= 2:
            last_print = at
            print(f"  sent {progress:>7,} / {total:,}", file=sys.stderr)
        await asyncio.sleep(0.005 if progress >= 0.95 * total else 0.1)


class CpuMeter:
    """CPU seconds used by this process, the fake server and redis-server."""

    def __init__(self, channel: ChannelServer, redis: RedisClient) -> None:
        self.channel = channel
        self.redis = redis

    async def read(self) -> tuple[float, float, float]:
        info = await self.redis.info("cpu")
        redis_cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return time.process_time(), await self.channel.cpu_seconds(), redis_cpu

    @staticmethod
    def describe(used: Sequence[float], seconds: float) -> str:
        bench, fake, redis = (u / seconds for u in used)
        return f"bench {bench:.2f}, fake server {fake:.2f}, redis-server {redis:.2f}"


class RoundTrips:
    """Counts a client's round trips: a command alone by its name, a pipeline once as
    `[its command names]`; and (key `commands`) the commands they carried."""

    def __init__(self, redis: RedisClient) -> None:
        self.counts: Counter[str] = Counter()
        execute_command = redis.execute_command
        pipeline = redis.pipeline

        async def counted(*args: Any, **options: Any) -> Any:
            self.counts[str(args[0]).upper()] += 1
            self.counts["commands"] += 1
            return await execute_command(*args, **options)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*a: Any, **k: Any) -> Any:
                names = [str(command[0][0]).upper() for command in pipe.command_stack]
                self.counts[f"[{'+'.join(dict.fromkeys(names))}]"] += 1
                self.counts["commands"] += len(names)
                return await execute(*a, **k)

            pipe.execute = counted_execute
            return pipe

        redis.execute_command = counted  # type: ignore[method-assign]
        redis.pipeline = counted_pipeline  # type: ignore[method-assign]

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)

    @staticmethod
    def describe(counts: Counter[str], messages: int) -> str:
        """Round trips and commands per message; the kinds that make 1% or more."""
        commands = counts.pop("commands", 0)
        kinds = ", ".join(
            f"{name} {calls / messages:.2f}"
            for name, calls in counts.most_common()
            if calls >= messages / 100  # leaves out the thread poster's, the reclaim loop's
        )
        return (
            f"{sum(counts.values()) / messages:.2f} round trips, "
            f"{commands / messages:.1f} commands ({kinds})"
        )


def bench_relay(
    redis: Any, keys: Keys, telegram: Any, in_flight: int, *, threads: bool = True
) -> Relay:
    """The relay as the worker builds it, with one Telegram connector (this bench's,
    `bench/relay_work.py`'s and, without the thread queue, `bench/schedule.py`'s)."""
    return Relay(
        redis,
        keys,
        {Channel.TELEGRAM: telegram},
        PolicySettings(),
        utc_now,
        consumer="bench",
        threads=ThreadQueue(ThreadQueueStore(redis, keys)) if threads else None,
        tuning=RelayTuning(in_flight=in_flight),
    )


async def outbox_empty(redis: RedisClient, keys: Keys) -> bool:
    pipe = redis.pipeline(transaction=False)
    for p in range(keys.partitions):
        pipe.xlen(keys.outbox(p))
    return not any(await pipe.execute())


def check_pool(redis: RedisClient, concurrency: int, partitions: int) -> None:
    """Refuse a concurrency the worker's Redis client cannot serve.

    A send in flight may hold a connection (the Viber quota, a channel's id for
    its receipts), and so do each partition's blocking XREADGROUP, its claim,
    its record and its heartbeat; redis-py's asyncio pool raises
    MaxConnectionsError past its size instead of waiting, and the relay stops.
    """
    size = getattr(redis.connection_pool, "max_connections", None)
    need = concurrency + 4 * partitions + 4  # + reclaim, retries, thread poster
    if size is not None and need > size:
        raise SystemExit(
            f"--concurrency {concurrency} needs about {need} Redis connections; the "
            f"client's pool holds {size} and fails past that (MaxConnectionsError). "
            f"Use --concurrency {size - 4 * partitions - 4} or less."
        )


# --- the workload --------------------------------------------------------------------


async def ceiling(
    http: aiohttp.ClientSession,
    url: str,
    chats: Sequence[str],
    concurrency: int,
    name: str,
    cpu: CpuMeter,
) -> tuple[Phase, list[float]]:
    """The fake server driven directly: post, read the answer, nothing else.

    Returns the phase and the CPU seconds each process used meanwhile.
    """
    send_url = f"{url}/bot{TOKEN}/sendMessage"
    failures = 0

    async def post(number: int) -> None:
        nonlocal failures
        payload = {"chat_id": chats[number], "text": text_for(CEILING, number)}
        async with http.post(send_url, json=payload) as response:
            await response.read()
            failures += response.status != 200

    await in_pool(concurrency, concurrency, post)  # opens the connections
    cpu_before = await cpu.read()
    started = now()
    await in_pool(len(chats), concurrency, post)
    seconds = now() - started
    used = [b - a for a, b in zip(cpu_before, await cpu.read(), strict=True)]
    if failures:
        raise RuntimeError(f"{failures} requests to the fake server failed")
    return Phase(name, len(chats), seconds), used


async def create_contacts(store: ContactStore, count: int) -> list[str]:
    """`count` contacts, each with its own Telegram chat; returns their ids."""
    ids: list[str] = []
    at = utc_now()
    for start in range(0, count, 2000):
        drafts = [
            ContactDraft(
                first_name=f"Customer{i}", identities={Channel.TELEGRAM: str(FIRST_CHAT_ID + i)}
            )
            for i in range(start, min(count, start + 2000))
        ]
        results = await store.create_many(drafts, at)
        if not all(r.created for r in results):
            raise RuntimeError("a benchmark contact existed already")
        ids.extend(r.contact_id for r in results)
    return ids


class Acceptor:
    """Accepts follow-ups through the service and notes when each was accepted."""

    def __init__(self, service: FollowupService, contact_ids: Sequence[str]) -> None:
        self.service = service
        self.contact_ids = contact_ids
        self.accepted_at: dict[tuple[str, int], float] = {}

    async def accept(self, tag: str, number: int, contact: int) -> None:
        request = FollowupRequest(
            contact_id=self.contact_ids[contact],
            channel=Channel.TELEGRAM,
            sender=SENDER,
            idempotency_key=f"bench-{tag}-{number}",
            form=Form.TEXT,
            content=Content(text_for(tag, number)),
        )
        # Taken as the follow-up is submitted, not once send() returns: the
        # relay runs in another process and, on a loaded host, may have sent
        # the message before this process is scheduled again (a negative wait).
        submitted = now()
        result = await self.service.send(request)
        self.accepted_at[tag, number] = submitted
        if result.outcome is not FollowupOutcome.ACCEPTED:
            raise RuntimeError(f"follow-up {tag}:{number} was {result.outcome.value}")


async def paced(count: int, rate: float, concurrency: int, work: Callable[[int], Any]) -> float:
    """Start `work(i)` at `rate` per second (at most `concurrency` running); returns
    the rate achieved."""
    limit = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()
    started = now()
    for number in range(count):
        delay = started + number / rate - now()
        if delay > 0:
            await asyncio.sleep(delay)
        await limit.acquire()
        task = asyncio.create_task(work(number))
        pending.add(task)
        task.add_done_callback(pending.discard)
        task.add_done_callback(lambda _: limit.release())
    await asyncio.gather(*pending)
    return count / (now() - started)


def accept_paced(
    conn: Connection,
    redis_url: str,
    keys: Keys,
    contact_ids: list[str],
    rate: float,
    concurrency: int,
) -> None:
    """The web process's part, in its own process: accept follow-ups to
    `contact_ids` at `rate` when told to go; answer the rate achieved and
    when each one was accepted."""
    asyncio.run(_accept_paced(conn, redis_url, keys, contact_ids, rate, concurrency))


async def _accept_paced(
    conn: Connection,
    redis_url: str,
    keys: Keys,
    contact_ids: list[str],
    rate: float,
    concurrency: int,
) -> None:
    redis = create_redis(redis_url)
    try:
        contacts = ContactStore(redis, keys)
        service = FollowupService(contacts, OutboxStore(contacts), PolicySettings(), utc_now)
        acceptor = Acceptor(service, contact_ids)
        await redis.ping()
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # go
        count = len(contact_ids)
        offered = await paced(count, rate, concurrency, lambda i: acceptor.accept(LATENCY, i, i))
        conn.send((offered, [acceptor.accepted_at[LATENCY, i] for i in range(count)]))
    finally:
        await redis.aclose()


class AcceptingProcess:
    """`accept_paced` in a process of its own, started ahead, run on `go()`."""

    def __init__(self, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=accept_paced, args=(child, *args), name="accepting", daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            self.stop()
            raise RuntimeError("the accepting process did not start")

    async def go(self) -> tuple[float, list[float]]:
        """Accept now; the rate achieved and when each follow-up was accepted."""
        self._conn.send("go")
        # Readable on an answer, and on the end of the pipe.
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self._conn.fileno()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        try:
            offered, accepted_at = self._conn.recv()
        except EOFError:
            raise RuntimeError("the accepting process failed (its error is above)") from None
        return float(offered), list(accepted_at)

    def stop(self) -> None:
        self._conn.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --- the run -------------------------------------------------------------------------


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it to end.

    Again and again: redis-py 8 swallows a cancellation that lands in some
    moments of a command (about one in five here), and the task goes on.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: a relay failure was reported where it happened


async def watchdog(main: asyncio.Task[Any], seconds: float) -> None:
    """Show where everything waits, and stop, if the run takes longer than `seconds`."""
    await asyncio.sleep(seconds)
    print(f"\nno result after {seconds:.0f} s; the tasks were:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(limit=5, file=sys.stderr)
    main.cancel()


async def run(args: argparse.Namespace) -> dict[str, object]:
    n, m = args.messages, args.latency_messages
    in_flight = max(1, math.ceil(args.concurrency / args.partitions))
    concurrency = in_flight * args.partitions
    channel = ChannelServer()
    tmp = tempfile.TemporaryDirectory(prefix="bench-relay-")
    server = RedisServer(data_dir=Path(tmp.name), appendonly=True).start()
    worker_redis = create_redis(server.url)  # the worker's: relay and thread poster
    web_redis = create_redis(server.url)  # the web process's: accepting; and our polling
    worker_http, client_http = http_session(), http_session()
    slack = await FakeSlack().start()
    relay_stop, poster_stop = asyncio.Event(), asyncio.Event()
    tasks: list[asyncio.Task[None]] = []  # the relay's and the thread poster's
    main_task = asyncio.current_task()
    assert main_task is not None
    guard = asyncio.create_task(watchdog(main_task, args.deadline))
    try:
        offset, rtt = await channel.check_clock()
        print(
            f"fake Telegram at {channel.url}: its clock reads {offset * 1e6:+.0f} µs from ours "
            f"(round trip {rtt * 1e6:.0f} µs)",
            file=sys.stderr,
        )
        check_pool(worker_redis, concurrency, args.partitions)
        round_trips = RoundTrips(worker_redis)
        cpu = CpuMeter(channel, web_redis)
        keys = Keys(partitions=args.partitions, prefix=f"bench{os.getpid()}")
        await load_all(web_redis)
        contacts = ContactStore(web_redis, keys)
        print(f"creating {n + m:,} contacts in {args.partitions} partitions", file=sys.stderr)
        contact_ids = await create_contacts(contacts, n + m)
        tune_gc()  # as the worker does once it started (both the ceiling and the relay run so)
        chats = [str(FIRST_CHAT_ID + i) for i in range(n)]

        service = FollowupService(contacts, OutboxStore(contacts), PolicySettings(), utc_now)
        acceptor = Acceptor(service, contact_ids)

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=SecretStr(TOKEN),
            telegram_api_url=channel.url,
        )
        telegram = TelegramConnector(
            settings, worker_http, rate_per_second=UNLIMITED, rate_per_chat=UNLIMITED
        )
        relay = bench_relay(worker_redis, keys, telegram, in_flight)
        poster = thread_poster(
            worker_redis,
            keys,
            AsyncWebClient(token=slack.token, base_url=slack.url, session=worker_http),
            "C0BENCH",
            utc_now,
            name="bench",
        )
        poster_task = asyncio.create_task(poster.run(poster_stop))
        tasks.append(poster_task)

        # Rounds: the ceiling and the drain take turns, `--rounds` times, each on
        # its share of the messages, so a change in the host's load falls on both
        # alike instead of on whichever ran then.
        bounds = [n * r // args.rounds for r in range(args.rounds + 1)]
        profile = cProfile.Profile() if args.profile else None
        ceilings: list[Phase] = []
        drains: list[Phase] = []
        ceiling_cpu = [0.0, 0.0, 0.0]
        drain_cpu = [0.0, 0.0, 0.0]
        accept_seconds = 0.0
        trips_before = round_trips.snapshot()
        for number in range(args.rounds):
            low, high = bounds[number], bounds[number + 1]
            label = f"{number + 1} of {args.rounds}"
            print(
                f"ceiling {label}: {high - low:,} requests, {concurrency} at once", file=sys.stderr
            )
            top, used = await ceiling(
                client_http, channel.url, chats[low:high], concurrency, f"ceiling {label}", cpu
            )
            ceilings.append(top)
            ceiling_cpu = [a + b for a, b in zip(ceiling_cpu, used, strict=True)]
            print(f"  {top.rps:,.0f} requests/s", file=sys.stderr)

            print(f"accepting {high - low:,} follow-ups (the relay stopped)", file=sys.stderr)
            started = now()
            await in_pool(
                high - low,
                args.accept_concurrency,
                lambda i, low=low: acceptor.accept(DRAIN, low + i, low + i),
            )
            accept_seconds += now() - started

            async def drained(high: int = high) -> tuple[bool, int]:
                arrived = await channel.count(DRAIN)
                return arrived >= high and await outbox_empty(web_redis, keys), arrived

            print(f"relay {label}: draining {high - low:,} messages", file=sys.stderr)
            relay_stop.clear()
            cpu_before = await cpu.read()
            started = now()
            if profile is not None:
                profile.enable()
            relay_task = asyncio.create_task(relay.run(relay_stop))
            tasks.append(relay_task)
            finished = await wait_until(drained, high, relay_task)
            if profile is not None:
                profile.disable()
            drain_round = Phase(f"relay, drain {label}", high - low, finished - started)
            drains.append(drain_round)
            used = [b - a for a, b in zip(cpu_before, await cpu.read(), strict=True)]
            drain_cpu = [a + b for a, b in zip(drain_cpu, used, strict=True)]
            print(f"  {drain_round.rps:,.0f} messages/s", file=sys.stderr)
            relay_stop.set()  # it finishes what it is sending (untimed)
            await asyncio.wait_for(relay_task, 30)
        drain = Phase("relay, drain", n, sum(p.seconds for p in drains))
        drain_trips = RoundTrips.describe(round_trips.snapshot() - trips_before, n)
        accept_rps = n / accept_seconds

        relay_stop.clear()
        relay_task = asyncio.create_task(relay.run(relay_stop))
        tasks.append(relay_task)
        rate = max(1.0, args.load * drain.rps)
        print(
            f"relay: {m:,} follow-ups accepted at {rate:,.0f}/s by another process",
            file=sys.stderr,
        )
        accepting = AcceptingProcess(
            server.url, keys, contact_ids[n:], rate, args.accept_concurrency
        )

        async def relayed() -> tuple[bool, int]:
            arrived = await channel.count(LATENCY)
            return arrived >= m and await outbox_empty(web_redis, keys), arrived

        try:
            started = now()
            async with asyncio.timeout(3 * m / rate + 60):
                offered, accepted_at = await accepting.go()
        finally:
            accepting.stop()
        finished = await wait_until(relayed, m, relay_task)
        numbers, times = await channel.arrivals(LATENCY)
        first_arrival: dict[int, float] = {}
        for number, at in zip(numbers, times, strict=True):
            first_arrival.setdefault(number, at)
        waits = [(at - accepted_at[i]) * 1000 for i, at in first_arrival.items()]
        latency = Phase(
            f"relay, {args.load:.0%} load",
            m,
            finished - started,
            p50_ms=statistics.median(waits),
            p99_ms=percentile(waits, 99),
        )
        drain_numbers, _ = await channel.arrivals(DRAIN)
        # Each accepted message at least once (a retried send may repeat one).
        drain_seen = set(drain_numbers)
        delivered = sum(i in drain_seen for i in range(n))
        delivered += sum(i in first_arrival for i in range(m))
        requests = len(drain_numbers) + len(numbers)

        relay_stop.set()
        # It finishes what it is sending, within one XREADGROUP block.
        await asyncio.wait_for(relay_task, 30)
        # Not waited for: a poster stops only after its current flush, which
        # takes 20 s at Slack's one post a second, so it is cancelled.
        poster_stop.set()
        await cancel(poster_task)
        slack_calls = len(slack.calls)
        ceiling_seconds = sum(p.seconds for p in ceilings)
        ceiling_rps = n / ceiling_seconds

        if profile is not None:
            profile.dump_stats(args.profile)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue(), file=sys.stderr)

        ratio = drain.rps / ceiling_rps
        print(
            f"\n{'phase':<24}{'messages':>10}{'seconds':>9}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        )
        for top, drain_round in zip(ceilings, drains, strict=True):
            print(top.row())
            print(drain_round.row())
        print(latency.row())
        print(
            f"\nratio: {ratio:.3f} (relay drain {drain.rps:,.0f}/s, "
            f"ceiling {ceiling_rps:,.0f}/s, {concurrency} at once)"
        )
        print(
            "each round, drain ÷ ceiling: "
            + ", ".join(
                f"{d.rps / c.rps:.3f}" if c.rps else "-"
                for c, d in zip(ceilings, drains, strict=True)
            )
        )
        print(f"Redis per message drained: {drain_trips}")
        print(f"CPU in cores, ceiling: {CpuMeter.describe(ceiling_cpu, ceiling_seconds)}")
        print(f"CPU in cores, drain:   {CpuMeter.describe(drain_cpu, drain.seconds)}")
        # This process's CPU per message: what the relay costs, whatever the host's load.
        ceiling_cpu_us = ceiling_cpu[0] / n * 1e6
        cpu_us = drain_cpu[0] / n * 1e6
        print(
            f"CPU µs per message, this process: ceiling {ceiling_cpu_us:.0f}, "
            f"drain {cpu_us:.0f} ({cpu_us / ceiling_cpu_us:.2f} × the ceiling's)"
        )
        print(
            f"accepting: {accept_rps:,.0f}/s ({args.accept_concurrency} at once); "
            f"latency phase offered {offered:,.0f}/s"
        )
        print(
            f"delivered: {delivered:,} of {n + m:,} messages in {requests:,} requests; "
            f"the fake Slack took {slack_calls} calls (not waited for)"
        )
        return {
            "bench": "relay",
            "messages": n,
            "rps": round(drain.rps, 1),
            "ceiling_rps": round(ceiling_rps, 1),
            "ratio": round(ratio, 3),
            "cpu_us": round(cpu_us, 1),
            "ceiling_cpu_us": round(ceiling_cpu_us, 1),
            "p99_ms": round(percentile(waits, 99), 2),
            "p50_ms": round(statistics.median(waits), 2),
            "latency_messages": m,
            "accepted": n + m,
            "delivered": delivered,
            "requests": requests,
        }
    finally:
        guard.cancel()
        relay_stop.set()
        poster_stop.set()
        for task in tasks:
            await cancel(task)
        await slack.close()
        await worker_http.close()
        await client_http.close()
        await channel.close()
        await worker_redis.aclose()
        await web_redis.aclose()
        server.stop()
        channel.stop()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=20_000, help="drained by the relay; the ceiling's count"
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of the ceiling and the drain, each on a share"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="sends at once: partitions × RelayTuning.in_flight, and the ceiling client's",
    )
    parser.add_argument(
        "--latency-messages", type=int, default=None, help="latency phase (default: messages/4)"
    )
    parser.add_argument(
        "--load", type=float, default=0.5, help="latency phase rate, a share of the drain rate"
    )
    parser.add_argument("--accept-concurrency", type=int, default=50)
    parser.add_argument("--uvloop", action="store_true", help="run this process on uvloop")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the drain into FILE")
    parser.add_argument("--verbose", action="store_true", help="log INFO lines to stderr")
    parser.add_argument(
        "--deadline", type=float, default=None, help="give up after this many seconds"
    )
    args = parser.parse_args(argv)
    if args.deadline is None:
        args.deadline = 120 + args.messages / 40
    if args.latency_messages is None:
        args.latency_messages = max(50, args.messages // 4)
    if args.messages < 1 or args.latency_messages < 1:
        parser.error("--messages and --latency-messages must be at least 1")
    if not 1 <= args.rounds <= args.messages:
        parser.error("--rounds must be between 1 and --messages")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    if args.uvloop:
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["delivered"] == result["accepted"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
