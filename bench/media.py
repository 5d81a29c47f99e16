"""Media benchmark: files per second through the media path, beside a bare loop.

The media path is what sending an agent's Slack file to a Telegram customer
does: the file is fetched from its `url_private` with the bot token
(`bot.slack.files.download_slack_file`: Slack's hosts only, capped, streamed),
checked against Telegram's limits (`bot.domain.media.check`), and uploaded as
a streamed multipart `sendPhoto` (`TelegramConnector.send_photo`; past 10 MB
Telegram takes it as `sendDocument`). The ceiling is a bare aiohttp loop that
does the same GET and multipart POST, in the same run, against the same fakes.

The fake Slack and fake Telegram (`tests/fakes/`, in Slack's and Telegram's
documented shapes) run in a process of their own, so the peak memory reported
(`ru_maxrss`) is this process's: the path's, which must not grow with the
file's size (a file is streamed, never held whole). Run it at two sizes:

    python bench/media.py                    # 1 MB image, 200 files a side
    python bench/media.py --size-mb 20       # the same at 20 MB
    python bench/media.py --quick            # a few seconds (the smoke test)

Ends with one JSON line: `files_per_s`, `ceiling_files_per_s`, `ratio`,
`peak_rss_mb` (and the run's parameters). Target (issue 12): ratio ≥ 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import multiprocessing
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from pydantic import SecretStr

from bench.measure import wait_for_parent
from bot.channels.base import SendOutcome
from bot.channels.media import OutboundFile
from bot.channels.telegram import TelegramConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.media import MB, MediaAccepted, check
from bot.runtime import http_session
from bot.slack.files import download_slack_file

CHAT = "4242"
CAPTION = "📷 Photo from your agent"
UNLIMITED = 1e9
CHUNK = 64 * 1024


def _file_bytes(size: int) -> bytes:
    block = hashlib.sha256(b"bench-media").digest() * (CHUNK // 32)
    return (block * (size // len(block) + 1))[:size]


async def _serve(conn: Connection, size: int) -> None:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.telegram import FakeTelegram

    slack = await FakeSlack(keep_uploads=False).start()
    telegram = await FakeTelegram().start()
    shared = slack.add_file("photo.jpg", _file_bytes(size), "image/jpeg")
    conn.send(
        {
            "slack_api": slack.url,
            "slack_token": slack.token,
            "url_private": shared["url_private"],
            "size": shared["size"],
            "telegram": telegram.url,
            "telegram_token": telegram.token,
        }
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_for_parent, conn)
    finally:
        await slack.close()
        await telegram.close()


def serve_fakes(conn: Connection, size: int) -> None:
    """The fake Slack and Telegram, until the parent closes `conn`."""
    asyncio.run(_serve(conn, size))


class Fakes:
    """The fakes' process, seen from here."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve_fakes, args=(child, size), name="fake-slack-telegram", daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(60):
            self.stop()
            raise RuntimeError("the fake servers did not start")
        self.info: dict[str, Any] = self._conn.recv()

    def stop(self) -> None:
        self._conn.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


@dataclass
class MediaPath:
    """The media path under test, set up as serve sets it up."""

    http: aiohttp.ClientSession
    settings: Settings
    telegram: TelegramConnector
    url_private: str
    cap: int

    async def send_one(self) -> None:
        async with download_slack_file(
            self.http, self.settings, self.url_private, max_bytes=self.cap
        ) as got:
            size = got.declared_size
            if size is None:
                raise RuntimeError("Slack gave no length")
            decision = check(Channel.TELEGRAM, got.content_type, size)
            if not isinstance(decision, MediaAccepted):
                raise RuntimeError(f"refused: {decision}")
            upload = OutboundFile("photo.jpg", got.content_type, size, got.chunks)
            result = await self.telegram.send_photo(CHAT, upload, CAPTION)
        if result.outcome is not SendOutcome.SENT:
            raise RuntimeError(f"not sent: {result}")


@dataclass
class Bare:
    """The ceiling: the same GET and multipart POST with nothing but aiohttp."""

    http: aiohttp.ClientSession
    url_private: str
    slack_token: str
    telegram_base: str
    size: int

    async def send_one(self) -> None:
        bearer = {"Authorization": f"Bearer {self.slack_token}"}
        method, field = (
            ("sendPhoto", "photo") if self.size <= 10 * MB else ("sendDocument", "document")
        )
        async with self.http.get(self.url_private, headers=bearer) as got:
            form = aiohttp.FormData()
            form.add_field("chat_id", CHAT)
            form.add_field("caption", CAPTION)
            form.add_field(
                field,
                got.content.iter_chunked(CHUNK),
                filename="photo.jpg",
                content_type="image/jpeg",
            )
            async with self.http.post(self.telegram_base + method, data=form) as answer:
                body = await answer.json()
        if not body.get("ok"):
            raise RuntimeError(f"not sent: {body}")


async def timed(send_one: Callable[[], Awaitable[None]], files: int, concurrency: int) -> float:
    """Seconds to send `files` files, `concurrency` at a time."""
    left = iter(range(files))

    async def worker() -> None:
        for _ in left:
            await send_one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def run(args: argparse.Namespace) -> dict[str, object]:
    size = int(args.size_mb * MB)
    fakes = Fakes(size)
    info = fakes.info
    http = http_session()
    try:
        settings = Settings(
            _env_file=None,
            slack_api_url=info["slack_api"],
            slack_bot_token=SecretStr(info["slack_token"]),
            telegram_api_url=info["telegram"],
            telegram_bot_token=SecretStr(info["telegram_token"]),
        )
        telegram = TelegramConnector(
            settings, http, rate_per_second=UNLIMITED, rate_per_chat=UNLIMITED
        )
        ours = MediaPath(http, settings, telegram, info["url_private"], cap=64 * MB)
        bare = Bare(
            http,
            info["url_private"],
            info["slack_token"],
            f"{info['telegram']}/bot{info['telegram_token']}/",
            size,
        )
        warm = max(2, args.concurrency)
        await timed(ours.send_one, warm, args.concurrency)
        await timed(bare.send_one, warm, args.concurrency)
        rss_warm = peak_rss_mb()
        ours_s = bare_s = 0.0
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds}: {args.files} files a side", file=sys.stderr)
            ours_s += await timed(ours.send_one, args.files, args.concurrency)
            bare_s += await timed(bare.send_one, args.files, args.concurrency)
    finally:
        await http.close()
        fakes.stop()
    sent = args.files * args.rounds
    files_per_s = sent / ours_s
    ceiling = sent / bare_s
    return {
        "bench": "media",
        "size_mb": args.size_mb,
        "files": sent,
        "concurrency": args.concurrency,
        "files_per_s": round(files_per_s, 1),
        "ceiling_files_per_s": round(ceiling, 1),
        "ratio": round(files_per_s / ceiling, 3),
        "mb_per_s": round(files_per_s * args.size_mb, 1),
        "rss_after_warmup_mb": rss_warm,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=1.0, help="the image's size (1)")
    parser.add_argument("--files", type=int, default=200, help="files a side per round (200)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--concurrency", type=int, default=4, help="files in flight (4)")
    parser.add_argument("--quick", action="store_true", help="a few seconds (the smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.rounds, args.concurrency = 10, 1, 2
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
