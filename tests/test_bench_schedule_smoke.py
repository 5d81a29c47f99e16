"""The schedule benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

from tests.bench_runs import run_bench


def test_schedule_benchmark_quick_mode_sends_every_item_once_and_prints_its_figures() -> None:
    _, result = run_bench(
        "schedule.py",
        "--items",
        "200",
        "--seconds",
        "0.5",
        "--lead",
        "1.5",
        "--grace",
        "20",
        timeout=120,
    )
    assert result["bench"] == "schedule" and result["items"] == 200
    assert result["sent"] == 200 and result["duplicated"] == 0
    assert 0 <= result["p50_ms"] <= result["p99_ms"]
    assert result["items_per_s"] > 0
