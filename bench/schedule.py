"""Schedule benchmark: due follow-ups sent on time, each exactly once.

`--items` follow-ups (default 60,000), each to its own Telegram customer, are
scheduled with `Scheduling.send_at`, due evenly over `--seconds` (default 60:
1,000 a second). Then this process runs what the worker runs: the due runner
(`bot.relay.due.DueRunner`, its handler the real `Scheduling.fire`, which sends
through `FollowupService.send`) and the real `Relay` with the real
`TelegramConnector`, against a fake Telegram Bot API in its own process that
records when each request arrived and which item it carried (as in
`bench/relay.py`, whose fake it uses, Telegram's rate limits lifted).

Figures: the lateness of each item, from its due time to its request reaching
the fake channel (p50, p99); items per second at the fake channel over the
run; how many were sent and how many sent twice. Scheduling happens before the
first item is due (`--lead` seconds ahead); a run whose scheduling did not
finish in time says so and fails, since its lateness would measure the loader.
Ends with one JSON line. Targets (issue 13): p99 under 1 s, every item once.

    python bench/schedule.py                            # 60,000 over 60 s
    python bench/schedule.py --items 2000 --seconds 2   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from bench.measure import now, percentile
from bench.relay import (
    TOKEN,
    UNLIMITED,
    ChannelServer,
    bench_relay,
    create_contacts,
    in_pool,
    text_for,
)
from bot.channels.telegram import TelegramConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.windows import Form, PolicySettings
from bot.relay.due import DueRunner
from bot.runtime import http_session, tune_gc
from bot.services.followup import FollowupRequest, FollowupService
from bot.services.scheduling import Scheduling
from bot.store.connection import create_redis
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.schedule import ScheduleStore
from bot.store.scripts import load_all
from bot.store.server import RedisServer

TAG = "s"
SENDER = "U0BENCH01"


async def schedule_all(
    scheduling: Scheduling, contact_ids: list[str], first_due: datetime, spacing: float
) -> None:
    """One item per contact, due `spacing` seconds apart from `first_due`."""

    async def schedule(i: int) -> None:
        request = FollowupRequest(
            contact_ids[i],
            Channel.TELEGRAM,
            SENDER,
            f"bench-{i}",
            Form.TEXT,
            content=Content(text_for(TAG, i)),
        )
        done = await scheduling.send_at(request, first_due + timedelta(seconds=i * spacing))
        if done.item is None:
            raise RuntimeError(f"item {i} was refused: {done.reason}")

    await in_pool(len(contact_ids), 50, schedule)


async def run(args: argparse.Namespace) -> dict[str, object]:
    n = args.items
    spacing = args.seconds / n
    channel = ChannelServer()
    tmp = tempfile.TemporaryDirectory(prefix="bench-schedule-")
    server = RedisServer(data_dir=Path(tmp.name), appendonly=True).start()
    redis = create_redis(server.url)
    http = http_session()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await channel.check_clock()
        keys = Keys(partitions=args.partitions, prefix=f"bsched{os.getpid()}")
        await load_all(redis)
        contacts = ContactStore(redis, keys)
        print(f"creating {n:,} contacts", file=sys.stderr)
        contact_ids = await create_contacts(contacts, n)
        followups = FollowupService(contacts, OutboxStore(contacts), PolicySettings(), utc_now)
        scheduling = Scheduling(ScheduleStore(redis, keys), contacts, followups, utc_now)
        lead = args.lead if args.lead is not None else 3 + n / 4000
        # Wall clock (the schedule's) and perf_counter (the fake's) read together.
        wall0, perf0 = utc_now(), now()
        first_due = wall0 + timedelta(seconds=lead)
        print(f"scheduling {n:,} items, the first due in {lead:.0f} s", file=sys.stderr)
        await schedule_all(scheduling, contact_ids, first_due, spacing)
        loaded = now() - perf0
        if loaded > lead:
            raise RuntimeError(
                f"scheduling took {loaded:.1f} s, past the first due time: use --lead"
            )
        print(f"  scheduled in {loaded:.1f} s", file=sys.stderr)

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=SecretStr(TOKEN),
            telegram_api_url=channel.url,
        )
        telegram = TelegramConnector(
            settings, http, rate_per_second=UNLIMITED, rate_per_chat=UNLIMITED
        )
        relay = bench_relay(redis, keys, telegram, 16, threads=False)
        runner = DueRunner(scheduling.store, utc_now, scheduling.fire)
        tune_gc()  # as the worker does once started
        cpu0 = time.process_time()
        tasks.append(asyncio.create_task(relay.run(stop)))
        tasks.append(asyncio.create_task(runner.run(stop)))
        last_due = lead + (n - 1) * spacing
        deadline = perf0 + last_due + args.grace
        while now() < deadline:
            arrived = await channel.count(TAG)
            if arrived >= n:
                break
            for task in tasks:
                if task.done():
                    raise RuntimeError(f"a loop stopped: {task.exception()!r}")
            await asyncio.sleep(0.5)
            print(f"  sent {arrived:>7,} / {n:,}", file=sys.stderr)
        await asyncio.sleep(0.5)  # a late duplicate would arrive now
        cpu = time.process_time() - cpu0
        numbers, times = await channel.arrivals(TAG)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.close()
        await channel.close()
        await redis.aclose()
        server.stop()
        channel.stop()
        tmp.cleanup()

    first: dict[int, float] = {}
    for number, at in zip(numbers, times, strict=True):
        first.setdefault(number, at)
    copies = Counter(numbers)
    late = [(at - (perf0 + lead + i * spacing)) * 1000 for i, at in first.items()]
    sent = len(first)
    span = (max(first.values()) - (perf0 + lead)) if first else math.inf
    result: dict[str, object] = {
        "bench": "schedule",
        "items": n,
        "seconds": args.seconds,
        "p50_ms": round(statistics.median(late), 1) if late else None,
        "p99_ms": round(percentile(late, 99), 1) if late else None,
        "max_ms": round(max(late), 1) if late else None,
        "items_per_s": round(sent / span, 1) if sent else 0.0,
        "sent": sent,
        "duplicated": sum(1 for c in copies.values() if c > 1),
        "cpu_ms_per_item": round(cpu * 1000 / max(sent, 1), 3),
    }
    print(
        f"\n{sent:,} of {n:,} sent, {result['duplicated']} twice; lateness p50 "
        f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
        f"{result['items_per_s']} items/s; {result['cpu_ms_per_item']} ms CPU per item "
        f"(due runner + follow-up + relay, this process)"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="due evenly over this long")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--lead", type=float, default=None, help="seconds to the first due item")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds after the last is due")
    parser.add_argument("--verbose", action="store_true", help="log INFO lines to stderr")
    args = parser.parse_args(argv)
    if args.items < 1 or args.seconds <= 0:
        parser.error("--items must be at least 1 and --seconds positive")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["sent"] == args.items and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
