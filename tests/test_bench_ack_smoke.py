"""The ack benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

import ast
import math
import re

from tests.bench_runs import ROOT, run_bench


def test_ack_benchmark_quick_mode_completes_every_request_and_prints_its_figures() -> None:
    # `--compare`: this same checkout's serve again, in the open loop's rounds.
    run, result = run_bench("ack.py", "--quick", "--compare", str(ROOT), timeout=150)
    assert list(result) == [
        "bench",
        "rps",
        "baseline_rps",
        "ratio",
        "p99_ms",
        "baseline_p99_ms",
        "cpu_ms",
        "baseline_cpu_ms",
        "cpu_ratio",
        "floor_cpu_ms",
        "floor_cpu_ratio",
        "over_floor",
        "open_cpu_ms",
        "open_floor_cpu_ms",
        "open_baseline_cpu_ms",
        "open_over_floor",
        "open_cpu_ratio",
        "open_floor_cpu_ratio",
        "open_round_ratios",
        "open_p99_ms",
        "open_work_p99_ms",
        "open_compare_cpu_ms",
        "open_over_compare",
        "open_compare_rounds",
    ]
    assert result["bench"] == "ack"
    assert result["rps"] > 0 and result["baseline_rps"] > 0
    assert abs(result["ratio"] - result["rps"] / result["baseline_rps"]) < 0.002
    assert result["p99_ms"] > 0 and result["baseline_p99_ms"] > 0
    # CPU per completed request, each app's own; and the open loop's p99s.
    for key in ("cpu_ms", "baseline_cpu_ms", "cpu_ratio", "open_p99_ms", "open_work_p99_ms"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["cpu_ms"] < 1000 and result["baseline_cpu_ms"] < 1000  # ms, not seconds
    expected = result["cpu_ms"] / result["baseline_cpu_ms"]  # both rounded to 4 places
    assert math.isclose(result["cpu_ratio"], expected, rel_tol=0.01), (result, expected)
    # The floor (serve's I/O only) did its work, and its ratios are its own figures'.
    assert 0 < result["floor_cpu_ms"] < 1000
    floor_ratio = result["floor_cpu_ms"] / result["baseline_cpu_ms"]
    assert math.isclose(result["floor_cpu_ratio"], floor_ratio, rel_tol=0.01), result
    over = result["cpu_ms"] / result["floor_cpu_ms"]
    assert math.isclose(result["over_floor"], over, rel_tol=0.01), result
    assert re.search(r"^floor +[1-9][\d,]* +0 ", run.stdout, re.MULTILINE), run.stdout
    # The three apps at the same offered load, open loop: 300 requests each, completed
    # (over both rounds).
    for key in ("open_cpu_ms", "open_floor_cpu_ms", "open_baseline_cpu_ms"):
        assert 0 < result[key] < 1000, key
    over = result["open_cpu_ms"] / result["open_floor_cpu_ms"]
    assert math.isclose(result["open_over_floor"], over, rel_tol=0.01), result
    for key, app in (
        ("open_cpu_ratio", "open_cpu_ms"),
        ("open_floor_cpu_ratio", "open_floor_cpu_ms"),
    ):
        ratio = result[app] / result["open_baseline_cpu_ms"]
        assert math.isclose(result[key], ratio, rel_tol=0.01), (key, result)
    # The open loop ran in 2 rounds (quick mode), the apps in turn: each round's ratios.
    rounds = re.search(r"each round, serve ÷ baseline: ([\d.]+), ([\d.]+); floor", run.stdout)
    assert rounds is not None, run.stdout
    each = result["open_round_ratios"]
    # The printed figures are the JSON's, digit for digit (a last-place mismatch once failed CI).
    assert [f"{r:.3f}" for r in each] == [rounds[1], rounds[2]], result
    for number in (1, 2):
        for app in ("serve", "floor", "baseline"):
            assert f"{app}, open loop {number}: 200 a second" in run.stderr, (app, number)
    for phase in ("floor", "baseline"):
        assert re.search(rf"^{phase}, open loop +300 +0 ", run.stdout, re.MULTILINE), run.stdout
    assert result["open_p99_ms"] < 30_000 and result["open_work_p99_ms"] < 30_000
    # The open loop started 200 a second for 1.5 s, on schedule: 300, all completed.
    assert re.search(r"^serve, open loop +300 +0 ", run.stdout, re.MULTILINE), run.stdout
    # The other checkout's serve ran the same rounds, its work done (here the same code).
    for number in (1, 2):
        assert f"compare, open loop {number}: 200 a second" in run.stderr, number
    assert 0 < result["open_compare_cpu_ms"] < 1000
    over = result["open_cpu_ms"] / result["open_compare_cpu_ms"]
    assert math.isclose(result["open_over_compare"], over, rel_tol=0.01), result
    assert len(result["open_compare_rounds"]) == 2 and all(result["open_compare_rounds"])
    # Both commands were sent and each one's work reached the fake Slack.
    completed = re.search(
        r"serve completed: \{'/find-contact': (\d+), '/followup': (\d+)\}", run.stdout
    )
    assert completed is not None, run.stdout
    assert int(completed[1]) > 0 and int(completed[2]) > 0
    # No auth.test; a user's locale is asked of Slack once, on their first request.
    others = re.search(r"other Web API calls: (none|\{.*\})", run.stdout)
    assert others is not None, run.stdout
    calls = {} if others[1] == "none" else ast.literal_eval(others[1])
    assert set(calls) <= {"users.info"} and calls.get("users.info", 0) <= 25
    for phase in ("baseline, before", "serve", "baseline, after", "serve, open loop"):
        assert re.search(rf"^{phase} +[\d,]+ +0 ", run.stdout, re.MULTILINE), phase  # 0 failed
