"""The media benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

from tests.bench_runs import run_bench


def test_media_benchmark_quick_mode_sends_every_file_and_prints_its_figures() -> None:
    _, result = run_bench("media.py", "--quick", timeout=120)
    assert {"files_per_s", "ceiling_files_per_s", "ratio", "peak_rss_mb"} <= result.keys()
    assert result["bench"] == "media" and result["files"] == 10
    assert result["files_per_s"] > 0 and result["ceiling_files_per_s"] > 0
    assert abs(result["ratio"] - result["files_per_s"] / result["ceiling_files_per_s"]) < 0.01
    assert 0 < result["rss_after_warmup_mb"] <= result["peak_rss_mb"]
