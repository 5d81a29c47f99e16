"""What the benchmarks share: one clock, percentiles, their fake servers' plumbing,
and `followup serve` run as a deployment runs it.

Each fake server runs in a process of its own and reports when requests
arrived by this same clock, so the parent can compare times across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def now() -> float:
    """The clock every process reads (CLOCK_MONOTONIC on Linux: system-wide)."""
    return time.perf_counter()


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`th percentile of `values` (NaN when there are none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def wait_for_parent(conn: Connection) -> None:
    """Block until the parent closes its end of `conn` (or dies): a fake server's lifetime."""
    with contextlib.suppress(EOFError):
        conn.recv()


async def clock_offset(their_clock: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """Another process's clock minus ours, and the round trip that bounds it, in
    seconds (the best of 20 readings). Where the round trip bounds the offset
    they share one clock (Linux) and the offset is noise: use 0.0 then."""
    best: tuple[float, float] | None = None
    for _ in range(20):
        before = now()
        theirs = await their_clock()
        after = now()
        if best is None or after - before < best[1]:
            best = (theirs - (before + after) / 2, after - before)
    assert best is not None
    return best


class ServeProcess:
    """`followup serve` in a subprocess, configured by its environment as a
    deployment would configure it: `settings`, over ours without the variables
    that start with `drop`; under cProfile writing to `profile` when given."""

    def __init__(
        self,
        port: int,
        settings: dict[str, str],
        *,
        drop: tuple[str, ...] = ("SLACK_", "REDIS_"),
        profile: str | None = None,
        root: Path | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(drop)},
            "PORT": str(port),
            **settings,
        }
        command = [sys.executable]
        if profile:
            command += ["-m", "cProfile", "-o", profile]
        command += ["-m", "bot", "serve"]
        # `python -m bot` imports the package from its working directory first:
        # `root`, another checkout's, runs that checkout's code.
        self.process = subprocess.Popen(command, cwd=root or ROOT, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, http: aiohttp.ClientSession, seconds: float = 60) -> None:
        deadline = now() + seconds
        while now() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"followup serve exited with {self.process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/healthz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError("followup serve did not answer /healthz")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
