"""Hostile bodies against a real `followup serve` process (embedded Redis).

Refused bodies are dropped while they stream: resident memory stays flat; a
large unsigned body is refused at once and `/healthz` answers meanwhile.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.request_limits import (
    EMAIL_MAX_BODY_BYTES,
    SLACK_MAX_BODY_BYTES,
    WEBHOOK_MAX_BODY_BYTES,
    body_seconds,
)
from bot.store.server import free_port
from tests.test_cli import cli_env, stop, wait_for_http

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Serve:
    process: subprocess.Popen[str]
    base: str
    log: Path

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    import shutil
    import sys
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="fu-", dir="/tmp"))  # a short unix socket path
    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    port = free_port()
    env = cli_env(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        SLACK_BOT_TOKEN="xoxb-0000-test",
        SLACK_SIGNING_SECRET="slack-signing-secret",
        SLACK_API_URL="http://127.0.0.1:9/api/",
        WHATSAPP_TOKEN="whatsapp-token",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_API_URL="http://127.0.0.1:9/v21.0",
        META_APP_SECRET="meta-app-secret",
        META_VERIFY_TOKEN="meta-verify-token",
    )
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/healthz", process)
        yield Serve(process, base, log)
    finally:
        stop(process, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)


async def _chunks(total: int) -> AsyncIterator[bytes]:
    piece = b"A" * CHUNK
    for _ in range(total // CHUNK):
        yield piece


async def _post_chunked(session: aiohttp.ClientSession, url: str, total: int) -> int | str:
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
    }
    try:
        async with session.post(url, data=_chunks(total), headers=headers) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError as error:
        return type(error).__name__


async def test_two_hundred_chunked_bodies_over_the_limit_are_413_and_memory_stays_flat(
    serve: Serve,
) -> None:
    targets = [
        (f"{serve.base}/slack/events", 4 * SLACK_MAX_BODY_BYTES),
        (f"{serve.base}/webhooks/whatsapp", 2 * WEBHOOK_MAX_BODY_BYTES),
    ]
    limit = asyncio.Semaphore(20)
    async with aiohttp.ClientSession() as session:

        async def one(n: int) -> int | str:
            url, size = targets[n % 2]
            async with limit:
                return await _post_chunked(session, url, size)

        await asyncio.gather(*(one(n) for n in range(10)))  # first-use allocations
        before = serve.rss_mb()
        statuses = await asyncio.gather(*(one(n) for n in range(200)))
        after = serve.rss_mb()

    assert Counter(statuses) == {413: 200}
    assert after - before < 50, f"resident memory grew from {before:.0f} to {after:.0f} MB"


async def test_a_large_unsigned_slack_body_is_401_at_once_and_healthz_answers_meanwhile(
    serve: Serve,
) -> None:
    # 100,000 bytes of "A" with a bad signature took 39.5 s to refuse, freezing the app.
    body = b"A" * 100_000
    assert len(body) < SLACK_MAX_BODY_BYTES  # refused for its signature, not its size
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def refused() -> tuple[int, float]:
            started = time.monotonic()
            async with session.post(
                f"{serve.base}/slack/events", data=body, headers=headers
            ) as response:
                await response.read()
                return response.status, time.monotonic() - started

        async def health() -> tuple[int, float]:
            await asyncio.sleep(0.01)
            started = time.monotonic()
            async with session.get(f"{serve.base}/healthz") as response:
                return response.status, time.monotonic() - started

        (status, took), (health_status, health_took) = await asyncio.gather(refused(), health())

    assert status == 401 and took < 1.0
    assert health_status == 200 and health_took < 1.0
    logged = serve.log.read_text()
    assert "AAAAAAAA" not in logged  # no line carries the body


async def test_a_gzip_bomb_is_refused_without_being_inflated(serve: Serve) -> None:
    # serve takes bodies as sent: 64 KB that would inflate to 64 MB stay 64 KB.
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=1)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            async with session.post(
                f"{serve.base}/webhooks/whatsapp", data=bomb, headers=headers
            ) as response:
                await response.read()
                return response.status

        await one()
        before, started = serve.rss_mb(), time.monotonic()
        statuses = await asyncio.gather(*(one() for _ in range(20)))
        took, after = time.monotonic() - started, serve.rss_mb()

    assert set(statuses) == {401}  # its signature, over the bytes sent, does not hold
    assert took < 2.0  # inflating 20 x 64 MB would take many seconds
    assert after - before < 50, f"resident memory grew from {before:.0f} to {after:.0f} MB"


async def _raw_post(
    serve: Serve, path: str, headers: dict[str, str], first: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST whose headers and the start of its body are sent, the rest not yet."""
    host, port = serve.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + first)
    await writer.drain()
    return reader, writer


def _slack_signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    base = f"v0:{stamp}:".encode() + body
    digest = hmac.new(b"slack-signing-secret", base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


async def test_a_trickled_body_is_408_after_its_deadline_and_the_connection_closed(
    serve: Serve,
) -> None:
    """A body that never finishes arriving held its request (and its connection) for as
    long as the sender liked: 90 s and counting when this was found. Now it is refused
    once `body_seconds` has passed (10 s for Slack's and the channels' limits) and the
    connection closed after it, and the app answers others meanwhile."""
    assert body_seconds(SLACK_MAX_BODY_BYTES) == body_seconds(WEBHOOK_MAX_BODY_BYTES) == 10
    assert body_seconds(EMAIL_MAX_BODY_BYTES) == 51.2  # 10 MB at 200 KB/s
    started = time.monotonic()
    slow = [
        await _raw_post(serve, path, _slack_signed(b"x" * 5000), b"{")
        for path in ("/slack/events", "/webhooks/whatsapp")
    ]
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"{serve.base}/healthz") as response,
    ):
        assert response.status == 200
    for reader, _ in slow:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=20)
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"Connection: close" in head
        answered = time.monotonic() - started
        assert 10 <= answered < 15, answered
    for reader, writer in slow:
        # Then closed, after aiohttp's lingering read of the unsent rest (10 s at most).
        await asyncio.wait_for(reader.read(), timeout=15)
        assert reader.at_eof()
        writer.close()


async def test_a_body_in_pieces_within_its_deadline_is_read_whole(serve: Serve) -> None:
    """The deadline is for the whole body, not for each piece: a signed Slack request
    whose body comes in two parts half a second apart is answered as usual."""
    body = json.dumps({"type": "url_verification", "challenge": "c-17", "token": "t"}).encode()
    reader, writer = await _raw_post(serve, "/slack/events", _slack_signed(body), body[:10])
    await asyncio.sleep(0.5)
    writer.write(body[10:])
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    assert head.startswith(b"HTTP/1.1 200 "), head
    length = re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)
    assert length is not None, head
    assert b"c-17" in await reader.readexactly(int(length[1]))
    writer.close()
