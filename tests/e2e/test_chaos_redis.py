"""Redis stopped and restarted under load, against the real `serve` (issue 10, item 6).

The real `serve` process (in-process relay) runs against a Redis of the
test's own (append-only, as deployed), a fake Slack Web API and a Telegram
fake. Agents send one-line `/followup`s and customers write on Telegram; Redis
is stopped with follow-ups and webhooks in flight. Meanwhile `serve` keeps
running, `/healthz` says 503, webhooks get 503 (Telegram retries them) and an
agent's `/followup` is told to try again in a moment. Once Redis is back,
everything resumes on its own: every follow-up acknowledged before the outage
and every webhook answered 200 is processed, the channels' retries go through,
new follow-ups are sent; nothing is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.slack import ids
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import ContactId, Keys
from bot.store.layout import ensure_layout
from bot.store.server import RedisServer, free_port
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "chaos-signing-secret"
TELEGRAM_SECRET = "chaos-telegram-secret"
CUSTOMERS = 6


def signed_command(text: str, trigger: str, response_url: str) -> tuple[bytes, dict[str, str]]:
    """A `/followup` as Slack signs it:
    https://api.slack.com/authentication/verifying-requests-from-slack"""
    body = urlencode(
        {
            "team_id": "T0CHAOS", "channel_id": "C0GENERAL", "user_id": "U0AGENT",
            "user_name": "agent", "command": ids.FOLLOWUP, "text": text,
            "api_app_id": "A0APP", "response_url": response_url, "trigger_id": trigger,
        }
    )  # fmt: skip
    stamp = str(int(time.time()))
    digest = hmac.new(
        SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return body.encode(), {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def telegram_update(chat: int, n: int) -> bytes:
    """https://core.telegram.org/bots/api#update"""
    return json.dumps(
        {
            "update_id": 5000 + n,
            "message": {
                "message_id": n,
                "from": {"id": chat, "is_bot": False, "first_name": "Customer"},
                "chat": {"id": chat, "first_name": "Customer", "type": "private"},
                "date": int(time.time()),
                "text": f"customer message {n}",
            },
        }
    ).encode()


class Serve:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self._spawn()

    def _spawn(self) -> None:
        self.port = free_port()
        self.logged = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"], cwd=ROOT,
                env=self.env | {"PORT": str(self.port)}, stdout=subprocess.DEVNULL, stderr=out,
            )  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def started(self, healthz: Callable[[], Awaitable[int]]) -> None:
        """Until /healthz says 200 from this serve; a port taken between its pick
        and serve's bind (a busy host) is replaced, and serve started again."""
        for _ in range(3):
            deadline = time.monotonic() + 60
            while True:
                if not self.alive():
                    said = self.log.read_bytes()[self.logged :].lower()
                    assert b"address already in use" in said, self.log.read_text()[-3000:]
                    self._spawn()
                    break
                if await healthz() == 200 and self.alive():
                    return
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                await asyncio.sleep(0.05)
        raise AssertionError("serve found no free port")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


async def until(
    check: Callable[[], Awaitable[bool]], seconds: float, what: str | Callable[[], str]
) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, (
            f"timed out: {what if isinstance(what, str) else what()}"
        )
        await asyncio.sleep(0.05)


async def test_redis_stopped_and_restarted_under_load_loses_nothing(tmp_path: Path) -> None:
    redis_server = RedisServer(data_dir=tmp_path / "redis", port=free_port(), appendonly=True)
    redis_server.start()
    keys = Keys(partitions=4, prefix="chaos")
    redis = create_redis(redis_server.url)
    await ensure_layout(redis, keys)
    store = ContactStore(redis, keys)
    chats = [9300 + i for i in range(CUSTOMERS)]
    contacts = [
        (await store.create(
            ContactDraft(first_name=f"Customer{i}", email=f"c{i}@chaos.example",
                         identities={Channel.TELEGRAM: str(chat)}),
            utc_now(),
        )).contact_id
        for i, chat in enumerate(chats)
    ]  # fmt: skip
    slack = await FakeSlack().start()
    telegram = await FakeTelegram().start()
    names = {n.upper() for n in Settings.env_names()}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names} | {
        "REDIS_URL": redis_server.url, "REDIS_KEY_PREFIX": keys.prefix,
        "PARTITIONS": str(keys.partitions), "DATA_DIR": str(tmp_path / "data"),
        "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url, "SUPPORT_CHANNEL": "C0SUPPORT",
        "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    serve = Serve(env, tmp_path / "serve.log")
    acked: dict[str, str] = {}  # follow-up text -> its response_url
    refused_now: dict[str, str] = {}  # told "nothing was sent" in the ack
    in_doubt: dict[str, str] = {}  # told "not sure yet, we'll tell you" in the ack
    answered_200: list[tuple[int, int]] = []  # webhooks answered 200: (chat, n)
    refused: list[tuple[int, int]] = []  # webhooks answered 503 (the channel retries them)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def healthz() -> int:
            try:
                async with http.get(f"{serve.base}/healthz") as answer:
                    return answer.status
            except aiohttp.ClientError:
                return 0

        async def follow_up(i: int, text: str) -> tuple[int, dict[str, str]]:
            """A signed `/followup`: the HTTP status of its ack and the ack's body."""
            url = slack.response_url()
            body, headers = signed_command(
                f"c{i}@chaos.example {text}", f"{uuid.uuid4().int % 10**12}.t", url
            )
            async with http.post(f"{serve.base}/slack/events", data=body, headers=headers) as a:
                raw = await a.read()
                answer = json.loads(raw) if raw else {}
                said = str(answer.get("text", ""))
                if "nothing was sent" in said:
                    refused_now[text] = url
                elif "we'll tell you here" in said:
                    in_doubt[text] = url
                elif a.status == 200 and "try again" not in said:
                    acked[text] = url
                return a.status, answer

        async def customer_writes(chat: int, n: int) -> int:
            headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                       "Content-Type": "application/json"}  # fmt: skip
            async with http.post(
                f"{serve.base}/webhooks/telegram", data=telegram_update(chat, n), headers=headers
            ) as answer:
                await answer.read()
                (answered_200 if answer.status == 200 else refused).append((chat, n))
                return answer.status

        def sent_texts() -> set[str]:
            return {r.json["text"] for r in telegram.requests if r.json}

        try:
            await serve.started(healthz)

            # 1. Load: follow-ups and customers' messages, Redis stopped mid-way.
            before = {f"before the outage {i}" for i in range(CUSTOMERS // 2)}
            for i in range(CUSTOMERS // 2):  # accepted and sent before the outage
                assert (await follow_up(i, f"before the outage {i}"))[0] == 200
            await until(lambda: _true(before <= sent_texts()), 60, "sent before the outage")
            load = [follow_up(i, f"in flight {i}") for i in range(CUSTOMERS // 2, CUSTOMERS)]
            load += [customer_writes(chat, n) for n, chat in enumerate(chats)]
            in_flight = [asyncio.ensure_future(c) for c in load]
            await asyncio.sleep(0.02)
            redis_server.stop()
            await asyncio.gather(*in_flight, return_exceptions=True)

            # 2. Meanwhile: serve lives, says 503, refuses webhooks, asks agents to retry.
            assert await healthz() == 503
            for n, chat in enumerate(chats, start=100):
                assert await customer_writes(chat, n) == 503
            status, answer = await follow_up(0, "during the outage")
            assert status == 200  # not a failure Slack would show as "dispatch_failed"
            assert answer["response_type"] == "ephemeral"
            # Not done, and said so; or (its take may have reached Redis) "not sure
            # yet, we'll tell you" — never "nothing was sent" for what goes out.
            assert "try again in a moment" in answer["text"] or (
                "we'll tell you here" in answer["text"]
            )
            assert serve.alive()
            metrics = await (await http.get(f"{serve.base}/metrics")).text()
            assert "redis_up 0.0" in metrics

            # 3. Redis returns: everything resumes by itself.
            redis_server.start()
            await until(lambda: _is(healthz(), 200), 60, "healthz back to 200")
            for chat, n in list(refused):  # the channel retries what got 503
                if await customer_writes(chat, n) == 200:
                    refused.remove((chat, n))
            for i in range(CUSTOMERS):
                assert (await follow_up(i, f"after the outage {i}"))[0] == 200

            missing: list[str] = []

            urls = acked | in_doubt | refused_now

            def told(text: str, words: str) -> bool:
                answers = json.dumps(slack.answers_to(urls[text]), ensure_ascii=False)
                return words in answers

            async def all_done() -> bool:
                """Nothing lost: each acknowledged follow-up is sent and its agent told
                so (work cut by the outage is done when Redis is back), and never told
                "not done"; each webhook answered 200 is processed."""
                sent = sent_texts()
                missing[:] = [
                    text
                    for text in acked
                    if text not in sent
                    or not told(text, "On its way")
                    or told(text, "try again in a moment")
                ]
                for text in in_doubt:  # told the outcome, whichever it was
                    if (text in sent) == told(text, "nothing was sent") or not (
                        told(text, "On its way") or told(text, "nothing was sent")
                    ):
                        missing.append(text)
                missing.extend(text for text in refused_now if text in sent)
                for chat, n in answered_200:
                    cid = contacts[chats.index(chat)]
                    seen = keys.inbound_seen(
                        ContactId.parse(cid).partition, "telegram", f"{chat}:{n}"
                    )
                    if not await redis.exists(seen):
                        missing.append(f"webhook {n}")
                return not missing

            await until(
                all_done,
                90,
                lambda: (
                    f"sent and processed, all but {missing}; told "
                    + str([slack.answers_to(urls[m]) for m in missing if m in urls])
                    + (tmp_path / "serve.log").read_text()[-4000:]
                ),
            )
        finally:
            code = serve.stop()
            await telegram.close()
            await slack.close()
            await redis.aclose()
            redis_server.stop()

    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    # Whatever an agent was told "nothing was sent" was not sent.
    assert not {t for t in refused_now if t in sent_texts()}
    assert not refused  # every refused webhook went through on its retry
    assert {f"after the outage {i}" for i in range(CUSTOMERS)} <= set(acked)
    assert len(answered_200) >= 2 * CUSTOMERS  # the retries and ones before the outage
    assert "NoScriptError" not in (tmp_path / "serve.log").read_text()


async def _is(status: Awaitable[int], wanted: int) -> bool:
    return await status == wanted


async def _true(value: bool) -> bool:
    return value
