"""The real `followup serve` as a subprocess, and Slack's signed slash commands into it.

Shared by the kill chaos test and `bench/recovery.py`: the process runs
against a given Redis (a private key prefix), a fake Slack Web API and a fake
channel, and can be SIGKILLed and started again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings
from bot.store.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "chaos-signing-secret"
#: Generous: a loaded 2-core CI host starts Python slowly (it takes ~1 s alone).
STARTUP_SECONDS = 60.0
#: Ports tried when the picked one is taken before serve binds it.
PORT_ATTEMPTS = 3


class PortTaken(Exception):
    """serve could not bind its port: another process took it after it was picked."""


def serve_env(**values: str) -> dict[str, str]:
    """The environment minus every followup variable, plus `values`."""
    names = {n.upper() for n in Settings.env_names()}
    base = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return base | {"PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"} | values


@dataclass
class ServeProcess:
    """`followup serve` on a free port; `start()` returns once /healthz says 200."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> float:
        """Start it; returns the monotonic time it first answered /healthz with 200.

        A port taken between its pick and serve's bind (another process on a
        busy host) is replaced by another, and serve started again.
        """
        for attempt in range(PORT_ATTEMPTS):
            try:
                return await self._start(http)
            except PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    async def _start(self, http: aiohttp.ClientSession) -> float:
        logged = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve",
                cwd=ROOT, env=self.env | {"PORT": str(self.port)},
                stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.returncode is not None:
                said = self.log.read_bytes()[logged:]
                if b"address already in use" in said.lower():
                    raise PortTaken(self.port)
                raise RuntimeError(f"serve exited with {self.process.returncode}: see {self.log}")
            try:
                async with http.get(f"{self.base}/healthz") as response:
                    # Another server on the port answers anything but ours: serve
                    # will fail to bind it and exit (seen above).
                    if response.status == 200 and self.process.returncode is None:
                        return time.monotonic()
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer in {STARTUP_SECONDS} s: see {self.log}")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


def signed_headers(body: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's signature: https://api.slack.com/authentication/verifying-requests-from-slack"""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def slash_command(
    http: aiohttp.ClientSession,
    base: str,
    *,
    command: str,
    text: str,
    user: str,
    trigger_id: str,
    response_url: str,
) -> int:
    """A signed slash command; the HTTP status of its ack (0: no answer, the process died)."""
    body = urlencode(
        {
            "token": "deprecated",
            "team_id": "T0CHAOS",
            "team_domain": "chaos",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )
    try:
        async with http.post(
            f"{base}/slack/events", data=body.encode(), headers=signed_headers(body)
        ) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, ConnectionError):
        return 0
