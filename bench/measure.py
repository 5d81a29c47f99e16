"""What the benchmarks share: one clock, percentiles, and their fake servers' plumbing.

Each fake server runs in a process of its own and reports when requests
arrived by this same clock, so the parent can compare times across processes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection


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
