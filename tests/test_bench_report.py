"""The report benchmark's made-up summaries stay in the contract's layout (docs/design.md)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_report import generate_summaries
from migratekit.report import build_report


def test_generated_summaries_are_read_whole(tmp_path: Path) -> None:
    """Every line the generator writes is a summary the report counts: none skipped."""
    path = tmp_path / "summaries.jsonl"
    calls = generate_summaries(path, processes=3, windows=2)
    report = build_report([str(path)])
    document = report.to_json()
    assert document["skipped"] == {}
    assert document["summaries"] == 6
    assert sum(entry["calls"] for entry in document["migrations"]) == calls
