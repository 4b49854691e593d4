"""Tests of the figures and verdict of each migration, stage and operation (report/_verdict.py)."""

from __future__ import annotations

import pytest

from migratekit.report._aggregate import Aggregator
from migratekit.report._verdict import wilson_interval
from tests.report.logs import (
    call_lines,
    event_line,
    verdict_of,
)


def test_verdict_ready_for_live() -> None:
    """Enough consistent comparisons, no errors, same latency: ready for LIVE."""
    entry = verdict_of(call_lines(1000))
    assert entry.ready
    assert entry.verdict.startswith("ready for LIVE")


def test_verdict_hold_on_inconsistency() -> None:
    """Over the inconsistency limit, the verdict says how much and what the limit is."""
    entry = verdict_of(call_lines(1000, bad=8))
    assert not entry.ready
    assert entry.verdict == "hold: 0.8% inconsistent (limit 0.1%)"


def test_verdict_hold_on_few_samples() -> None:
    """Too few comparisons: hold, naming how many and how many are needed."""
    entry = verdict_of(call_lines(40))
    assert entry.verdict == "hold: only 40 comparisons (need 1,000)"


def test_verdict_hold_on_latency() -> None:
    """A new side p99 above the ratio holds."""
    entry = verdict_of(call_lines(1000, old_ms=10.0, new_ms=23.0))
    assert entry.verdict.startswith("hold: new side p99 2.3x old")


def test_verdict_latency_floor_ignores_timer_noise() -> None:
    """Sub-millisecond latencies are compared as the floor, so noise does not hold."""
    entry = verdict_of(call_lines(1000, old_ms=0.01, new_ms=0.05))
    assert entry.ready


def test_verdict_hold_on_new_side_errors() -> None:
    """New-side errors above the old side's by more than the limit hold."""
    entry = verdict_of(call_lines(1000, new_errors=30, stage="dualwrite", operation="write"))
    assert entry.verdict == "hold: new side 3.0% errors vs old 0% (limit +1.0%)"
    assert verdict_of(call_lines(1000, new_errors=30, stage="dualwrite", operation="write"),
                    max_error_rate=0.05).ready


def test_verdict_hold_on_raising_comparator() -> None:
    """Comparisons that raise hide the answer: too many of them hold."""
    entry = verdict_of(call_lines(1100, compare_errors=100))
    assert "100 comparisons raised" in entry.verdict


def test_verdict_off_and_complete() -> None:
    """OFF is always ready for DUALWRITE; COMPLETE, when healthy, is the end."""
    assert verdict_of(call_lines(3, stage="off")).verdict.startswith("ready for DUALWRITE")
    complete = verdict_of(call_lines(1000, stage="complete"))
    assert complete.verdict.startswith("ready: COMPLETE is the last stage")


def test_verdict_thresholds_are_used() -> None:
    """Looser thresholds turn a hold into ready."""
    lines = call_lines(200, bad=2)
    assert not verdict_of(lines).ready
    assert verdict_of(lines, min_samples=100, max_inconsistency=0.02).ready


def test_current_entry_is_the_latest_stage() -> None:
    """The current entry of a migration is its last stage in the log; on_hold lists holds."""
    aggregator = Aggregator()
    aggregator.feed(call_lines(1000) + call_lines(10, stage="live"))
    report = aggregator.report()
    current = [entry for entry in report.entries if entry.current]
    assert [entry.stage for entry in current] == ["live"]
    assert report.on_hold == current


def test_wilson_interval() -> None:
    """The Wilson interval matches known values."""
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(5, 100)
    assert low == pytest.approx(0.0215, abs=1e-4)
    assert high == pytest.approx(0.1118, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0


def test_rolled_back_stage_is_current() -> None:
    """After a rollback from LIVE to SHADOW, SHADOW is the current stage, not LIVE."""
    aggregator = Aggregator()
    aggregator.feed([event_line(stage="live", call_id="l", timestamp="2024-01-02T03:00:00Z"),
                     event_line(stage="shadow", call_id="s", timestamp="2024-01-02T04:00:00Z")])
    current = {e.stage: e.current for e in aggregator.report().entries}
    assert current == {"shadow": True, "live": False}


def test_few_compare_errors_do_not_hold() -> None:
    """Comparisons that raised, but under the inconsistency limit, do not hold the migration."""
    entry = verdict_of(call_lines(2000, compare_errors=1))
    assert entry.compare_errors == 1
    assert entry.ready, entry.verdict
    assert "comparisons raised" not in entry.verdict


def test_new_side_errors_alone_hold_complete() -> None:
    """In COMPLETE, where only the new side runs, its error rate alone holds the migration."""
    entry = verdict_of(call_lines(2000, stage="complete", new_errors=100))
    assert not entry.ready
    assert "new side 5.0% errors (limit 1.0%)" in entry.verdict
    fine = verdict_of(call_lines(2000, stage="complete", new_errors=1))
    assert fine.ready, fine.verdict


def test_ready_without_new_results_names_only_comparisons() -> None:
    """A log holding only comparisons (results filtered out) is judged on them alone."""
    lines = [line for line in call_lines(1500) if b'"migration.op"' in line]
    entry = verdict_of(lines)
    assert entry.ready, entry.verdict
    assert entry.verdict == "ready for LIVE (1,500 comparisons, 0% inconsistent)"


def test_zero_latency_floor_and_zero_latencies_do_not_divide_by_zero() -> None:
    """With --latency-floor-ms 0 and an old side that took 0 ms, there is just no ratio."""
    entry = verdict_of(call_lines(1000, old_ms=0.0, new_ms=0.0), latency_floor_ms=0.0)
    assert entry.ready, entry.verdict
    assert "x old" not in entry.verdict
    slower = verdict_of(call_lines(1000, old_ms=0.0, new_ms=2.0), latency_floor_ms=0.0)
    assert not slower.ready
    assert "new side p99 slower than old (2 ms vs 0 ms, limit 1.5x)" in slower.verdict
