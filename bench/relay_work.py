"""The relay's own CPU per message: `bench/relay.py`'s drain without the HTTP.

`bench/relay.py` measures the relay against a fake Telegram, where aiohttp's
client takes most of the CPU and the host's load moves one run's ratio by
±0.1. Here the real `Relay` drains the same follow-ups (accepted through
`FollowupService.send`, into the outbox of a private redis-server) to a
connector that answers each send at once, after one turn of the event loop
(as a request's answer takes): what is left is the relay's own work per
message — reading and claiming a batch, deciding, recording the outcomes,
telling the thread queue. It prints this process's CPU µs per message for
each drain, then the least of them (the one the host disturbed least).

    python bench/relay_work.py                      # 8,000 messages, 3 drains
    python bench/relay_work.py --messages 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.relay import DRAIN, Acceptor, bench_relay, create_contacts, in_pool, outbox_empty
from bot.channels.base import OutboundRequest, SendResult
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.windows import PolicySettings
from bot.runtime import tune_gc
from bot.services.followup import FollowupService
from bot.store.connection import create_redis
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.scripts import load_all
from bot.store.server import RedisServer


class Answering:
    """A Telegram connector that sends nothing: each send answers after one turn of the loop."""

    channel = Channel.TELEGRAM

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: OutboundRequest) -> SendResult:
        await asyncio.sleep(0)
        self.sent += 1
        return SendResult.sent(f"{message.recipient}:{self.sent}")


async def accept(acceptor: Acceptor, first: int, i: int) -> None:
    """Follow-up `first + i` to contact `i` (each drain's follow-ups are new ones)."""
    await acceptor.accept(DRAIN, first + i, i)


async def run(args: argparse.Namespace) -> dict[str, object]:
    n = args.messages
    tmp = tempfile.TemporaryDirectory(prefix="bench-relay-work-")
    server = RedisServer(data_dir=Path(tmp.name), appendonly=True).start()
    web_redis, worker_redis = create_redis(server.url), create_redis(server.url)
    try:
        keys = Keys(partitions=args.partitions, prefix="work")
        await load_all(web_redis)
        contacts = ContactStore(web_redis, keys)
        print(f"creating {n:,} contacts", file=sys.stderr)
        acceptor = Acceptor(
            FollowupService(contacts, OutboxStore(contacts), PolicySettings(), utc_now),
            await create_contacts(contacts, n),
        )
        tune_gc()  # as the worker does once started
        per_message: list[float] = []
        for drain in range(args.rounds):
            await in_pool(n, 50, functools.partial(accept, acceptor, drain * n))
            connector = Answering()
            relay = bench_relay(worker_redis, keys, connector, args.in_flight)
            stop = asyncio.Event()
            cpu = time.process_time()
            task = asyncio.create_task(relay.run(stop))
            while connector.sent < n or not await outbox_empty(web_redis, keys):
                if task.done():
                    raise RuntimeError(f"the relay stopped at {connector.sent:,} / {n:,}")
                await asyncio.sleep(0.005)
            per_message.append((time.process_time() - cpu) / n * 1e6)
            stop.set()
            await asyncio.wait_for(task, 30)
            print(f"  drain {drain + 1}: {per_message[-1]:.1f} µs a message", file=sys.stderr)
        return {
            "bench": "relay_work",
            "messages": n,
            "cpu_us": [round(us, 1) for us in per_message],
            "min_cpu_us": round(min(per_message), 1),
        }
    finally:
        await web_redis.aclose()
        await worker_redis.aclose()
        server.stop()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=8_000, help="drained in each round")
    parser.add_argument("--rounds", type=int, default=3, help="drains, each of new follow-ups")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=16, help="sends at once per partition")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds must be at least 1")
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
