"""The relay's own-work benchmark runs end to end in a small run and prints its JSON line."""

from __future__ import annotations

from tests.bench_runs import run_bench


def test_relay_work_benchmark_drains_every_round_and_prints_its_figures() -> None:
    run, result = run_bench("relay_work.py", "--messages", "300", "--rounds", "2", timeout=100)
    assert result["bench"] == "relay_work" and result["messages"] == 300
    assert len(result["cpu_us"]) == 2 and all(0 < us < 10_000 for us in result["cpu_us"])
    assert result["min_cpu_us"] == min(result["cpu_us"])
    for drain in (1, 2):
        assert f"drain {drain}: " in run.stderr
