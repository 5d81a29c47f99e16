"""The relay benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

import pytest

from tests.bench_runs import run_bench


def test_relay_benchmark_quick_mode_delivers_every_message_and_prints_its_figures() -> None:
    run, result = run_bench(
        "relay.py", "--messages", "500", "--latency-messages", "100", timeout=100
    )
    assert {"bench", "messages", "rps", "ceiling_rps", "ratio", "p99_ms"} <= result.keys()
    assert result["bench"] == "relay" and result["messages"] == 500
    assert result["rps"] > 0 and result["ceiling_rps"] > 0
    # Its parts are rounded (to 0.1/s): the ratio of the rounded parts may differ in the last digit.
    assert result["ratio"] == pytest.approx(result["rps"] / result["ceiling_rps"], abs=0.002)
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    # This process's CPU per message, drained and at the ceiling (one line of the report too).
    assert result["cpu_us"] > 0 and result["ceiling_cpu_us"] > 0
    assert "CPU µs per message, this process: ceiling" in run.stdout
    # Every accepted message reached the fake channel, and (no crash, no retry) once.
    assert result["accepted"] == 600
    assert result["delivered"] == result["accepted"]
    assert result["requests"] == result["accepted"]
    # The ceiling and the drain took turns (3 rounds, 166 + 167 + 167 messages):
    # every round's rows and ratio are printed, progress on stderr.
    for number, share in ((1, 166), (2, 167), (3, 167)):
        assert f"relay {number} of 3: draining {share} messages" in run.stderr
        assert f"ceiling {number} of 3 " in run.stdout
        assert f"relay, drain {number} of 3 " in run.stdout
    assert "each round, drain ÷ ceiling: " in run.stdout
