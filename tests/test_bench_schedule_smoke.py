"""The schedule benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_schedule_benchmark_quick_mode_sends_every_item_once_and_prints_its_figures() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "bench/schedule.py",
            "--items",
            "200",
            "--seconds",
            "0.5",
            "--lead",
            "1.5",
            "--grace",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["bench"] == "schedule" and result["items"] == 200
    assert result["sent"] == 200 and result["duplicated"] == 0
    assert 0 <= result["p50_ms"] <= result["p99_ms"]
    assert result["items_per_s"] > 0
