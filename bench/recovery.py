"""Recovery after a crash: how long a killed relay's in-flight follow-ups wait.

1,000 follow-ups are committed (in flight: queued in the outbox), a real
`followup worker` relays them to a channel fake answering every request in
100 ms, and is SIGKILLed once half of them were answered; a new worker is
started at once. Reported:

* `lost`: follow-ups never delivered (must be 0);
* `duplicated`: follow-ups the customer got twice (LINE takes our
  `X-Line-Retry-Key`, so 0 there; `--channel telegram` shows the
  at-least-once cost of a channel without one);
* `resent`: requests the channel got again for a message it had already
  been sent (what a channel without an idempotency key would have shown twice);
* `recovery_s`: from the restart to the last message delivered (target: under
  10 s; the dead worker's heartbeat lapses in 3 s, and the new one judges others
  once its own has beaten for 3 s).

The last line of output is one JSON object. `--quick` runs 200 follow-ups (the
smoke test runs it). Usage: `python bench/recovery.py [--messages N] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.store.codec import MessageHash
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import ContactId, Keys
from bot.store.layout import ensure_layout
from bot.store.outbox import OutboxStore
from bot.store.scripts import load_all
from bot.store.server import RedisServer
from tests.fakes.base import FakeServer
from tests.fakes.line import FakeLine
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
SENDER = "U0BENCH01"
#: The whole run gives up after this long (a hung worker must not hang CI).
DEADLINE_SECONDS = 120.0


def line_user(number: int) -> str:
    """A LINE user id: `U` and 32 hex digits."""
    return f"U{number:032x}"


def worker_env(redis_url: str, keys: Keys, channel: str, fake: FakeServer) -> dict[str, str]:
    names = {n.upper() for n in Settings.env_names()}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env |= {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": keys.prefix,
        "PARTITIONS": str(keys.partitions),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if channel == "line":
        assert isinstance(fake, FakeLine)
        env |= {"LINE_CHANNEL_ACCESS_TOKEN": fake.access_token, "LINE_API_URL": fake.url}
    else:
        assert isinstance(fake, FakeTelegram)
        env |= {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url}
    return env


async def start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "worker",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


def texts_sent(fake: FakeServer) -> Counter[str]:
    """How many times the channel accepted each text: for LINE, the distinct retry
    keys it accepted with that text (a 409 for a known key is no second send)."""
    if isinstance(fake, FakeLine):
        keys: dict[str, set[str]] = {}
        for request in fake.pushes:
            key = request.headers.get("X-Line-Retry-Key") or ""
            if request.json and key in fake.accepted:
                keys.setdefault(request.json["messages"][0]["text"], set()).add(key)
        return Counter({text: len(accepted) for text, accepted in keys.items()})
    return Counter(r.json["text"] for r in fake.requests if r.json)


def texts_asked(fake: FakeServer) -> Counter[str]:
    """How many requests the channel got per text (accepted or not)."""
    asked: Counter[str] = Counter()
    for request in fake.requests:
        body = request.json
        if isinstance(body, dict):
            text = body.get("text") or (body.get("messages") or [{}])[0].get("text")
            if isinstance(text, str):
                asked[text] += 1
    return asked


async def run(args: argparse.Namespace) -> dict[str, object]:
    n = args.messages
    tmp = tempfile.TemporaryDirectory(prefix="bench-recovery-")
    server = RedisServer(data_dir=Path(tmp.name), appendonly=True).start()
    redis = create_redis(server.url)
    latency = (args.latency, args.latency)
    fake: FakeServer = (
        FakeLine(latency=latency) if args.channel == "line" else FakeTelegram(latency=latency)
    )
    await fake.start()
    log = Path(tmp.name) / "worker.log"
    workers: list[asyncio.subprocess.Process] = []
    try:
        keys = Keys(partitions=args.partitions, prefix=f"rec{os.getpid()}")
        await load_all(redis)
        await ensure_layout(redis, keys)
        contacts = ContactStore(redis, keys)
        followups = FollowupService(contacts, OutboxStore(contacts), PolicySettings(), utc_now)
        channel = Channel.LINE if args.channel == "line" else Channel.TELEGRAM
        print(f"committing {n:,} follow-ups to {channel.value}", file=sys.stderr)
        messages: dict[str, tuple[int, str]] = {}
        for i in range(n):
            identity = line_user(i + 1) if channel is Channel.LINE else str(800_000 + i)
            draft = ContactDraft(first_name=f"C{i}", identities={channel: identity})
            cid = (await contacts.create(draft, utc_now())).contact_id
            text = f"recovery follow-up {i}"
            result = await followups.send(
                FollowupRequest(cid, channel, SENDER, f"rec-{i}", Form.TEXT, content=Content(text))
            )
            assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
            messages[text] = (ContactId.parse(cid).partition, result.message_id)

        env = worker_env(server.url, keys, args.channel, fake)
        first = await start_worker(env, log)
        workers.append(first)

        def kill_at_half(answered: int) -> None:
            if answered == n // 2 and first.returncode is None:
                first.send_signal(signal.SIGKILL)  # at once, from the channel's own answer

        fake.on_answered = kill_at_half
        await first.wait()
        fake.on_answered = None
        if fake.answered < n // 2:
            raise RuntimeError(f"the worker exited early: {log.read_text()[-2000:]}")
        answered_at_kill = n // 2
        print(f"killed the worker at {answered_at_kill} answers; restarting", file=sys.stderr)
        restarted = time.monotonic()
        workers.append(await start_worker(env, log))

        last_change, delivered = restarted, 0
        while True:
            now = time.monotonic()
            current = len(texts_sent(fake))
            if current != delivered:
                delivered, last_change = current, now
            if delivered >= n or now - restarted > args.wait:
                break
            await asyncio.sleep(0.01)
        recovery_s = (last_change - restarted) if delivered >= n else None

        # The record follows the channel's answer by a moment: wait for it too.
        while True:
            statuses: Counter[str] = Counter()
            pipe = redis.pipeline(transaction=False)
            for partition, message_id in messages.values():
                pipe.hget(keys.message(partition, message_id), MessageHash.STATUS)
            for stored in await pipe.execute():
                statuses[str(stored)] += 1
            recorded = statuses.get(MessageStatus.SENT.value, 0)
            if recorded >= n or time.monotonic() - restarted > args.wait:
                break
            await asyncio.sleep(0.05)
        sent = texts_sent(fake)
        asked = texts_asked(fake)
        lost = sum(1 for text in messages if text not in sent)
        return {
            "bench": "recovery",
            "channel": args.channel,
            "messages": n,
            "latency_ms": round(args.latency * 1000),
            "answered_at_kill": answered_at_kill,
            "lost": lost,
            "duplicated": sum(1 for count in sent.values() if count > 1),
            "resent": sum(1 for count in asked.values() if count > 1),
            "recorded_sent": recorded,
            "recovery_s": None if recovery_s is None else round(recovery_s, 2),
        }
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(worker.wait(), 10)
                except TimeoutError:
                    worker.kill()
        await fake.close()
        await redis.aclose()
        server.stop()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 follow-ups (smoke test)")
    parser.add_argument("--channel", choices=("line", "telegram"), default="line")
    parser.add_argument("--latency", type=float, default=0.1, help="channel answer time (s)")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument(
        "--wait", type=float, default=60.0, help="give up this long after the restart (s)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, 200)
    result = asyncio.run(asyncio.wait_for(run(args), DEADLINE_SECONDS))
    print(json.dumps(result))
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
