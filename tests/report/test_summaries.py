"""
The report read from ``migration.summary`` events (migratekit/report/_summaries.py,
_entry.py, _tally.py): the same figures as the per-call events of the same
calls, each call counted once (docs/design.md, "Summaries").
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import migratekit
from migratekit import _summary
from migratekit.providers import StaticStageProvider
from migratekit.report import format_text
from migratekit.report._digest import LatencyDigest
from migratekit.report._summaries import Windows
from tests.report.logs import (
    GAMMA,
    T0,
    Call,
    histogram,
    iso,
    json_log,
    known_calls,
    per_call_lines,
    report_of,
    summary_event,
    summary_line,
)

# What only one of the two sources can know.
_SOURCE_KEYS = {"summaries", "not_counted_again", "first_timestamp", "last_timestamp",
                "latency_exact", "examples"}


def _figures(report: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.to_json().items() if k not in _SOURCE_KEYS}
            for entry in report.entries]


def _table(report: Any) -> list[str]:
    """
    The text report's table and verdict lines, without the header about the
    input and the example call_ids, which only per-call events name.
    """
    lines = [re.sub(r" \(call_ids [^)]*\)", "", line) for line in format_text(report).splitlines()
             if "example call_ids:" not in line]
    return lines[lines.index(next(line for line in lines if line.startswith("MIGRATION"))):]


def test_summaries_give_the_table_and_verdict_of_the_per_call_events() -> None:
    """Past the exact limit both are histograms: every figure, the table and verdict agree."""
    calls = known_calls(6000)
    per_call = report_of(per_call_lines(calls))
    summaries = report_of([summary_line(calls[:2500], since=T0, until=T0 + 3),
                           summary_line(calls[2500:], since=T0 + 3, until=T0 + 6)])
    assert _figures(summaries) == _figures(per_call)
    assert _table(summaries) == _table(per_call)
    (entry,) = summaries.entries
    assert entry.summaries == 2
    assert entry.calls == 6000
    assert entry.verdict.startswith("hold: ")
    assert entry.error_types["new"] == {"TimeoutError": entry.errors["new"]}


def test_few_calls_agree_within_the_histograms_accuracy() -> None:
    """Under the exact limit, per-call percentiles are exact and the summary's within 1%."""
    calls = known_calls(300, seed=3, bad=0.0, errors=0.0)
    (exact,) = report_of(per_call_lines(calls)).entries
    (merged,) = report_of([summary_line(calls)]).entries
    assert (merged.calls, merged.consistency_checks, merged.inconsistent, merged.results) == (
        exact.calls, exact.consistency_checks, exact.inconsistent, exact.results)
    assert merged.ready == exact.ready
    for origin in ("old", "new"):
        got, want = merged.latency_ms[origin], exact.latency_ms[origin]
        assert got is not None
        assert want is not None
        for p in ("p50", "p95", "p99"):
            assert got[p] == pytest.approx(want[p], rel=0.0101)
    assert exact.latency_exact
    assert not merged.latency_exact


@pytest.mark.parametrize("summary_first", [False, True])
def test_per_call_events_of_a_summarised_process_are_not_counted_again(
        summary_first: bool) -> None:
    """The same calls as per-call events and as a summary of their process count once."""
    calls = known_calls(5000, seed=4)
    per_call = per_call_lines(calls, process="a1b2c3d4")
    summary = summary_line(calls, process="a1b2c3d4")
    both = report_of([summary, *per_call] if summary_first else [*per_call, summary])
    alone = report_of([summary])
    assert _figures(both) == _figures(alone)
    (entry,) = both.entries
    assert entry.not_counted_again == len(per_call)
    assert both.not_counted_again == len(per_call)
    assert (both.summaries, both.summary_processes) == (1, 1)
    assert entry.calls == 5000


def test_a_process_without_summaries_is_counted_from_its_events() -> None:
    """Processes with summaries and processes without add up, each call once."""
    calls = known_calls(5000, seed=5)
    first, second = calls[:2000], calls[2000:]
    mixed = report_of([*per_call_lines(first, process="aaaa"), summary_line(first,
                       process="aaaa"), *per_call_lines(second, process="bbbb", first=1)])
    everything = report_of(per_call_lines(calls, process="cccc"))
    assert _figures(mixed) == _figures(everything)
    (entry,) = mixed.entries
    assert entry.not_counted_again == len(per_call_lines(first))


def test_summaries_of_processes_and_windows_merge() -> None:
    """Summaries of two processes, two windows each, add up to all their calls."""
    calls = known_calls(8000, seed=6)
    quarters = [calls[i:i + 2000] for i in range(0, 8000, 2000)]
    lines = [
        summary_line(quarters[0], process="p1", since=T0, until=T0 + 10),
        summary_line(quarters[1], process="p2", since=T0 + 2, until=T0 + 12),
        summary_line(quarters[2], process="p1", since=T0 + 10, until=T0 + 20),
        summary_line(quarters[3], process="p2", since=T0 + 12, until=T0 + 22),
    ]
    merged = report_of(lines)
    assert _figures(merged) == _figures(report_of(per_call_lines(calls)))
    assert (merged.summaries, merged.summary_processes, merged.skipped) == (4, 2, {})


def test_the_same_summary_read_twice_counts_once() -> None:
    """A duplicated line (same process, entry and window) is skipped as a duplicate."""
    calls = known_calls(5000, seed=7)
    one, two = summary_line(calls[:3000]), summary_line(calls[3000:], since=T0 + 10,
                                                        until=T0 + 20)
    report = report_of([one, two, one, two, one])
    assert report.skipped == {"duplicate": 3}
    assert report.events == 2
    assert _figures(report) == _figures(report_of([one, two]))
    # Another process's summary of the same window is no duplicate.
    other = report_of([one, summary_line(calls[:3000], process="p9")])
    assert other.skipped == {}
    assert other.entries[0].calls == 6000


def test_windows_tell_a_window_read_twice() -> None:
    """Windows inside those read are duplicates; others are not; memory stays bounded."""
    windows = Windows()
    assert windows.add(10, 20)
    assert windows.add(20, 30)
    assert not windows.add(10, 20)
    assert not windows.add(12, 25)  # inside what was read: [10, 30]
    assert windows.add(40, 50)
    assert windows.add(0, 10)
    assert len(windows) == 2
    assert not windows.add(45, 50)
    many = Windows()
    for index in range(10_000):
        assert many.add(index * 10, index * 10 + 5)
    assert len(many) <= 256
    assert not many.add(99_990, 99_995)


def _values(rng: random.Random, n: int) -> list[float]:
    return [round(rng.lognormvariate(0, 1.5), 4) for _ in range(n)] + [0.0] * 7


def test_histograms_merge_exactly() -> None:
    """Two summaries' histograms merged: the percentiles of one digest fed every value."""
    rng = random.Random(8)
    first, second = _values(rng, 3000), _values(rng, 5000)
    fed = LatencyDigest()
    for value in first + second:
        fed.add(value)
    assert not fed.exact
    merged = LatencyDigest()
    for values in (first, second):
        h = histogram(values)
        merged.merge_histogram({int(k): n for k, n in h["buckets"].items()}, count=h["count"],
                               total=h["sum"], maximum=h["max"], zeros=h["zeros"])
    assert merged.count == fed.count
    assert merged.maximum == fed.maximum
    assert merged.total == pytest.approx(fed.total)
    for p in (0.01, 1, 10, 50, 90, 95, 99, 99.9, 100):
        assert merged.percentile(p) == fed.percentile(p)


def test_digests_merge_as_one() -> None:
    """merge() of digests, exact or not, gives the percentiles of one digest fed everything."""
    rng = random.Random(9)
    for sizes in ((10, 20), (3000, 1000), (3000, 2000), (6000, 10), (10, 6000)):
        parts = [_values(rng, n) for n in sizes]
        fed, merged = LatencyDigest(), LatencyDigest()
        for values in parts:
            part = LatencyDigest()
            for value in values:
                fed.add(value)
                part.add(value)
            merged.merge(part)
        assert merged.exact == fed.exact
        for p in (1, 50, 99, 100):
            assert merged.percentile(p) == fed.percentile(p)


def test_the_digest_reads_the_contracts_gamma() -> None:
    """One copy of the bucket layout: _schema.LATENCY_GAMMA."""
    from migratekit import _schema

    assert LatencyDigest._GAMMA == _schema.LATENCY_GAMMA == GAMMA


def test_counts_only_summaries_show_in_json_and_text() -> None:
    """type_mismatches, shadows_skipped, warnings_suppressed, shadows_dropped are kept."""
    calls = known_calls(50, seed=10)
    event = summary_event(calls, type_mismatches=3, shadows_skipped=200,
                          warnings_suppressed=5, shadows_dropped=2)
    report = report_of([json.dumps(event).encode()])
    (entry,) = report.to_json()["migrations"]
    assert (entry["type_mismatches"], entry["shadows_skipped"], entry["warnings_suppressed"],
            entry["shadows_dropped"]) == (3, 200, 5, 2)
    text = format_text(report)
    assert "types differ in 6.0% of calls, 2 shadows dropped, 200 reads not shadowed " \
           "(shadow_ratio), 5 warnings suppressed" in text
    assert "1 migration.summary" in text
    quiet = format_text(report_of([summary_line(calls)]))
    assert "types differ" not in quiet


def test_a_side_that_did_not_run_has_no_latency() -> None:
    """A summary of writes in DUALWRITE... of reads in DUALWRITE: the new side is null."""
    calls = [Call(old_ms=1.0, new_ms=None) for _ in range(10)]
    report = report_of([summary_line(calls, stage="dualwrite")])
    (entry,) = report.to_json()["migrations"]
    assert entry["latency_ms"]["new"] is None
    assert entry["calls"] == 10


# -- summaries that cannot be counted ------------------------------------------------------


def _one(event: dict[str, Any]) -> dict[str, int]:
    skipped: dict[str, int] = report_of([json.dumps(event).encode()]).skipped
    return skipped


def _with_side(origin: str, **changes: Any) -> dict[str, Any]:
    event = summary_event(known_calls(20, seed=11))
    event["sides"][origin]["latency_ms"].update(changes)
    return event


@pytest.mark.parametrize(("change", "reason"), [
    ({"process": ""}, "malformed"),
    ({"process": "a-b"}, "malformed"),
    ({"process": 7}, "malformed"),
    ({"since": "yesterday"}, "malformed"),
    ({"until": iso(T0 - 5)}, "malformed"),
    ({"calls": -1}, "malformed"),
    ({"calls": 2**60}, "malformed"),
    ({"calls": 1.5}, "malformed"),
    ({"calls": True}, "malformed"),
    ({"consistency_checks": 1, "inconsistent": 2}, "malformed"),
    ({"sides": {"middle": {}}}, "malformed"),
    ({"sides": []}, "malformed"),
    ({"diff_paths": ["a"]}, "malformed"),
    ({"diff_paths": {"a": -3}}, "malformed"),
    ({"migration": ["m"]}, "malformed"),
    ({"stage": "sideways"}, "malformed"),
])
def test_summaries_that_make_no_sense_are_skipped(change: dict[str, Any], reason: str) -> None:
    """A summary is counted whole or not at all."""
    assert _one({**summary_event(known_calls(20, seed=11)), **change}) == {reason: 1}


@pytest.mark.parametrize(("change", "reason"), [
    ({"gamma": 1.05}, "malformed"),
    ({"gamma": "1.0202"}, "malformed"),
    ({"buckets": {"99999999": 20}}, "malformed"),
    ({"buckets": {"1e3": 20}}, "malformed"),
    ({"buckets": {"\uff11": 20}}, "malformed"),
    ({"buckets": {" 1": 20}}, "malformed"),
    ({"buckets": {"1": -20, "2": 40}}, "malformed"),
    ({"buckets": {"1": 20}, "count": 0}, "malformed"),  # latencies in an empty histogram
    ({"buckets": {"1": 20.0}}, "malformed"),
    ({"sum": float("nan")}, "malformed"),
    ({"max": float("inf")}, "malformed"),
    ({"max": -1.0}, "malformed"),
    ({"sum": 1e300}, "malformed"),
    ({"count": None}, "malformed"),
    ({"buckets": {str(i): 0 for i in range(5000)}}, "too_many_buckets"),
])
def test_histograms_that_cannot_merge_are_skipped(change: dict[str, Any], reason: str) -> None:
    """Only a histogram of the report's own layout, whose counts add up, is merged."""
    if "buckets" in change and "count" not in change:
        change.setdefault("zeros", 0)
    assert _one(_with_side("old", **change)) == {reason: 1}


def test_a_huge_histogram_takes_bounded_time() -> None:
    """A line near the line limit full of buckets is refused without merging them."""
    event = _with_side("new", buckets={str(i): 1 for i in range(-60_000, 40_000)}, count=100_000)
    assert _one(event) in ({"too_many_buckets": 1}, {"too_long": 1})


def test_the_library_s_own_summaries_past_1024_latencies_are_read(tmp_path: Path) -> None:
    """
    Past a side's 1,024th latency in a thread the library samples one in
    eight, so its buckets hold about `count`, not exactly: such a summary is
    read, its calls and comparisons exact (the demo's 1,518 reads once
    vanished from the report as "malformed").
    """
    _summary.forget()
    log = tmp_path / "events.jsonl"
    with json_log(log):
        migratekit.configure(provider=StaticStageProvider("shadow"), summary_interval=3600.0)

        @migratekit.migration(new=lambda i: {"id": i, "v": i % 7}, name="big.get")
        def get(i: int) -> dict[str, int]:
            return {"id": i, "v": i % 5}

        for i in range(1_518):
            get(i)
        migratekit.flush()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    (summary,) = [e for e in events if e.get("event") == "migration.summary"]
    assert summary["sides"]["new"]["latency_ms"]["count"] == 1_518
    report = report_of([line.encode() for line in log.read_text().splitlines()])
    assert report.skipped.get("malformed", 0) == 0
    (entry,) = report.entries
    assert (entry.calls, entry.results["new"]) == (1_518, 1_518)
    assert entry.consistency_checks == 1_518
    assert entry.latency_ms["new"] is not None
    # A few more or fewer in the buckets than `count` is the sampling.
    assert _one(_with_side("old", buckets={"1": 19}, zeros=0)) == {}
    assert _one(_with_side("old", buckets={"1": 23}, zeros=0)) == {}
