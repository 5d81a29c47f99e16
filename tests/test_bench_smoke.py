"""The search benchmark runs end to end in its quick mode and prints its JSON line."""

from __future__ import annotations

from tests.bench_runs import run_bench


def test_search_benchmark_quick_mode_prints_its_figures() -> None:
    run, result = run_bench(
        "search.py", "--contacts", "3000", "--queries", "20", "--settle", "0", timeout=120
    )
    assert result["bench"] == "search" and result["contacts"] == 3000
    fields = {
        "first_name_prefix",
        "full_name",
        "email",
        "phone_other_notation",
        "trailing_digits",
        "identity",
        "username",
    }
    assert set(result["p50_ms"]) == fields and set(result["p99_ms"]) == fields
    assert result["bytes_per_contact"] > 0
    assert "username" in run.stdout and "identity" in run.stdout  # the table's rows
    assert "loaded" in run.stderr  # progress while loading
