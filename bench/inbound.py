"""Inbound benchmark: signed WhatsApp webhooks at a fixed rate against `followup serve`.

Processes, all on this machine:

* a private redis-server (append-only, on a unix socket, as `serve` runs its
  embedded one) holding `--customers` (2,000) WhatsApp contacts, loaded through
  `ContactStore.create_many`;
* `serve`: the real `followup serve` command line, configured by environment
  variables (WhatsApp with its app secret; RELAY_IN_PROCESS=false, so the CPU
  measured is the webhooks' alone);
* this process, the load generator: customers' text messages as WhatsApp
  Cloud API webhooks, each signed as Meta signs them (`X-Hub-Signature-256`),
  sent at a fixed `--rate` (200/s) for `--seconds` (20), whether or not the
  earlier ones were answered (an open loop: a slow answer cannot slow the
  offered load).

A message counts as processed once `serve` has recorded it (the customer's
message id is marked seen, in the same script that restarts the window; the
thread post is queued just before the mark's commit returns): this process
looks for the marks every `--poll` (50 ms) and notes when each appeared, so a
message's processing time is from its webhook's send to the look that found it
(at most `--poll` late).

Prints p50/p99 of the time to the HTTP answer, how many messages were
processed within 5 s of their webhook, `serve`'s CPU per webhook (its own
counters in /proc, over the measured phase, processing included), then one
JSON line: `{"bench": "inbound", "p99_ms", "p50_ms", "sent", "processed",
"cpu_ms"}`. Targets: answer p99 under 50 ms; every message processed within 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import ServeProcess, now, percentile  # noqa: E402
from bot.__main__ import event_loop_factory  # noqa: E402
from bot.domain.channels import Channel  # noqa: E402
from bot.store.connection import create_redis  # noqa: E402
from bot.store.contacts import ContactDraft, ContactStore  # noqa: E402
from bot.store.keys import ContactId, Keys  # noqa: E402
from bot.store.server import RedisServer, free_port  # noqa: E402

PREFIX = "bi"
PARTITIONS = 8
APP_SECRET = "bench-meta-app-secret"
PHONE_NUMBER_ID = "100000000000001"
#: A message counts when processed within this long of its webhook.
PROCESSED_WITHIN = 5.0


# --- serve: the real command line ------------------------------------------------------


def serve_process(redis_url: str, data_dir: Path) -> ServeProcess:
    """`followup serve` as the benchmark deploys it (webhooks only, nothing sent)."""
    return ServeProcess(
        free_port(),
        {
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": PREFIX,
            "PARTITIONS": str(PARTITIONS),
            "DATA_DIR": str(data_dir),
            "RELAY_IN_PROCESS": "false",
            "LOG_LEVEL": "WARNING",
            "WHATSAPP_TOKEN": "bench",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_API_URL": "http://127.0.0.1:9",  # never called: nothing is sent
            "META_APP_SECRET": APP_SECRET,
        },
        drop=("SLACK_", "REDIS_", "WHATSAPP_", "META_"),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the customers and their webhooks ------------------------------------------------


@dataclass(frozen=True)
class Customer:
    wa_id: str
    partition: int


async def load_customers(redis_url: str, count: int) -> list[Customer]:
    redis = create_redis(redis_url)
    keys = Keys(partitions=PARTITIONS, prefix=PREFIX)
    store = ContactStore(redis, keys)
    customers: list[Customer] = []
    try:
        for start in range(0, count, 500):
            drafts = [
                ContactDraft(
                    first_name=f"Customer{i}",
                    phone=f"+97150{i:07d}",
                    identities={Channel.WHATSAPP: f"97150{i:07d}"},
                )
                for i in range(start, min(count, start + 500))
            ]
            results = await store.create_many(drafts, datetime.now(UTC))
            for draft, result in zip(drafts, results, strict=True):
                partition = ContactId.parse(result.contact_id).partition
                customers.append(Customer(draft.identities[Channel.WHATSAPP], partition))
    finally:
        await redis.aclose()
    return customers


def webhook(customer: Customer, message_id: str) -> tuple[bytes, dict[str, str]]:
    """A WhatsApp Cloud API message webhook, signed as Meta signs it.
    https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples"""
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [
                                    {"profile": {"name": "Sara Ahmed"}, "wa_id": customer.wa_id}
                                ],
                                "messages": [
                                    {
                                        "from": customer.wa_id,
                                        "id": message_id,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": "Hi, any news on my order?"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    signature = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }


# --- the load -------------------------------------------------------------------------


@dataclass
class Sent:
    customer: Customer
    message_id: str
    at: float
    answer_ms: float | None = None
    status: int = 0
    processed_at: float | None = None


@dataclass
class Phase:
    sent: list[Sent] = field(default_factory=list)


async def send_one(http: aiohttp.ClientSession, url: str, item: Sent, body: bytes,
                   headers: dict[str, str]) -> None:  # fmt: skip
    try:
        async with http.post(url, data=body, headers=headers) as answer:
            await answer.read()
            item.status = answer.status
    except (aiohttp.ClientError, TimeoutError, OSError):  # no answer (counted as failed)
        item.status = -1
    item.answer_ms = (now() - item.at) * 1000


async def watch_processed(redis_url: str, phase: Phase, done: asyncio.Event, poll: float) -> None:
    """Note when each sent message's seen-mark appears (one pipeline per look)."""
    redis = create_redis(redis_url)
    keys = Keys(partitions=PARTITIONS, prefix=PREFIX)
    waiting: list[Sent] = []
    looked = 0
    try:
        while True:
            finished = done.is_set()
            waiting.extend(phase.sent[looked:])
            looked = len(phase.sent)
            if waiting:
                pipe = redis.pipeline(transaction=False)
                for item in waiting:
                    pipe.exists(keys.inbound_seen(item.customer.partition, "whatsapp",
                                                  item.message_id))  # fmt: skip
                found = await pipe.execute()
                at = now()
                still: list[Sent] = []
                for item, present in zip(waiting, found, strict=True):
                    if present:
                        item.processed_at = at
                    elif at - item.at < PROCESSED_WITHIN * 3:
                        still.append(item)
                waiting = still
            if finished and not waiting:
                return
            await asyncio.sleep(poll)
    finally:
        await redis.aclose()


async def run_phase(
    http: aiohttp.ClientSession,
    serve: ServeProcess,
    customers: list[Customer],
    rate: float,
    seconds: float,
    tag: str,
    redis_url: str,
    poll: float,
) -> tuple[Phase, float]:
    """Send at `rate` for `seconds`; returns the phase and serve's CPU seconds in it."""
    phase = Phase()
    done = asyncio.Event()
    watcher = asyncio.create_task(watch_processed(redis_url, phase, done, poll))
    url = f"{serve.url}/webhooks/whatsapp"
    total = int(rate * seconds)
    cpu_before = cpu_seconds(serve.pid)
    tasks: list[asyncio.Task[None]] = []
    start = now()
    for n in range(total):
        due = start + n / rate
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        customer = customers[n % len(customers)]
        message_id = f"wamid.{tag}{n:08d}"
        body, headers = webhook(customer, message_id)
        item = Sent(customer, message_id, now())
        phase.sent.append(item)
        tasks.append(asyncio.create_task(send_one(http, url, item, body, headers)))
    await asyncio.gather(*tasks)
    done.set()
    await watcher
    return phase, cpu_seconds(serve.pid) - cpu_before


async def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = tempfile.TemporaryDirectory(prefix="bench-inbound-")
    server = RedisServer(
        data_dir=Path(tmp.name) / "redis",
        unixsocket=Path(tmp.name) / "redis.sock",
        appendonly=True,
    ).start()
    serve: ServeProcess | None = None
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512),
        timeout=aiohttp.ClientTimeout(total=30),
    )
    try:
        print(f"loading {args.customers:,} customers", file=sys.stderr)
        customers = await load_customers(server.url, args.customers)
        serve = serve_process(server.url, Path(tmp.name) / "data")
        await serve.wait_ready(http)
        # Warm up (connections, first imports, caches), unmeasured.
        await run_phase(http, serve, customers, args.rate, args.warmup, "w", server.url, args.poll)
        phase, cpu = await run_phase(
            http, serve, customers, args.rate, args.seconds, "m", server.url, args.poll
        )
    finally:
        await http.close()
        if serve is not None:
            serve.stop()
        server.stop()
        tmp.cleanup()
    sent = len(phase.sent)
    answers = [s.answer_ms for s in phase.sent if s.answer_ms is not None]
    failed = sum(1 for s in phase.sent if s.status != 200)
    delays = [s.processed_at - s.at for s in phase.sent if s.processed_at is not None]
    processed = sum(1 for d in delays if d <= PROCESSED_WITHIN)
    print(f"offered {args.rate:g} webhooks/s for {args.seconds:g} s: {sent:,} sent, "
          f"{failed} not answered 200")  # fmt: skip
    print(f"answer       p50 {percentile(answers, 50):7.2f} ms   p99 "
          f"{percentile(answers, 99):7.2f} ms   max {max(answers, default=0):7.2f} ms")  # fmt: skip
    p50_s, p99_s = percentile(delays, 50), percentile(delays, 99)
    print(
        f"processed    {processed:,} of {sent:,} within {PROCESSED_WITHIN:g} s "
        f"(p50 {p50_s * 1000:.0f} ms, p99 {p99_s * 1000:.0f} ms, "
        f"found by looking every {args.poll * 1000:.0f} ms)"
    )
    print(f"serve CPU    {cpu:.2f} s: {cpu / max(sent, 1) * 1000:.2f} ms per webhook")
    return {
        "bench": "inbound",
        "p99_ms": round(percentile(answers, 99), 2),
        "p50_ms": round(percentile(answers, 50), 2),
        "sent": sent,
        "processed": processed,
        "cpu_ms": round(cpu / max(sent, 1) * 1000, 3),
        "_failed": failed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, unmeasured")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between looks")
    parser.add_argument("--quick", action="store_true", help="a few seconds, a few customers")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.customers = 2.0, 0.5, 200
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        result = runner.run(run(args))
    failed = result.pop("_failed")
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
