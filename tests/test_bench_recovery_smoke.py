"""The recovery benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

from tests.bench_runs import run_bench


def test_recovery_benchmark_quick_mode_loses_nothing_and_prints_its_figures() -> None:
    _, result = run_bench("recovery.py", "--quick", timeout=100)
    assert {"lost", "duplicated", "recovery_s"} <= result.keys()
    assert result["bench"] == "recovery" and result["messages"] == 200
    assert result["answered_at_kill"] == 100  # killed at half
    assert result["lost"] == 0 and result["recorded_sent"] == 200
    assert result["duplicated"] == 0  # LINE takes our retry key
    # Back within seconds, not a claim timeout (a loaded CI host gets some slack).
    assert result["recovery_s"] is not None and result["recovery_s"] < 20
