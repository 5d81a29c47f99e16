"""The inbound benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

import re

from tests.bench_runs import run_bench


def test_inbound_benchmark_quick_mode_answers_and_processes_every_webhook() -> None:
    run, result = run_bench("inbound.py", "--quick", timeout=150)
    assert list(result) == ["bench", "p99_ms", "p50_ms", "sent", "processed", "cpu_ms"]
    assert result["bench"] == "inbound"
    assert result["sent"] == 400  # 200/s for 2 s
    assert result["processed"] == result["sent"]  # each within 5 s of its webhook
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["cpu_ms"] > 0
    assert re.search(r"400 sent, 0 not answered 200", run.stdout), run.stdout
