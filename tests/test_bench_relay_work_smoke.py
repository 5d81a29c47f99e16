"""The relay's own-work benchmark runs end to end in a small run and prints its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_relay_work_benchmark_drains_every_round_and_prints_its_figures() -> None:
    run = subprocess.run(
        [sys.executable, "bench/relay_work.py", "--messages", "300", "--rounds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["bench"] == "relay_work" and result["messages"] == 300
    assert len(result["cpu_us"]) == 2 and all(0 < us < 10_000 for us in result["cpu_us"])
    assert result["min_cpu_us"] == min(result["cpu_us"])
    for drain in (1, 2):
        assert f"drain {drain}: " in run.stderr
