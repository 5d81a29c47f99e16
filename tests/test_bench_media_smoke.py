"""The media benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_media_benchmark_quick_mode_sends_every_file_and_prints_its_figures() -> None:
    run = subprocess.run(
        [sys.executable, "bench/media.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"files_per_s", "ceiling_files_per_s", "ratio", "peak_rss_mb"} <= result.keys()
    assert result["bench"] == "media" and result["files"] == 10
    assert result["files_per_s"] > 0 and result["ceiling_files_per_s"] > 0
    assert abs(result["ratio"] - result["files_per_s"] / result["ceiling_files_per_s"]) < 0.01
    assert 0 < result["rss_after_warmup_mb"] <= result["peak_rss_mb"]
