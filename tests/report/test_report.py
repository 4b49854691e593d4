"""Tests of the streaming aggregation behind ``migratekit report`` (migratekit/report/)."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migratekit
from migratekit.providers import StaticStageProvider
from migratekit.report import Thresholds, format_text, render_html
from migratekit.report._aggregate import Aggregator, iter_lines
from migratekit.report._constants import CALL_WINDOW, TIMELINE_BINS
from migratekit.report._digest import LatencyDigest
from migratekit.report._timeline import Timeline
from migratekit.report._timestamps import parse_timestamp
from migratekit.report._verdict import wilson_interval

# -- writing real logs with the library ---------------------------------------------


@contextlib.contextmanager
def json_log(path: Path, timestamps: str | None = "iso") -> Iterator[None]:
    """Configure structlog to write JSON lines to *path*, as an application would."""
    processors: list[Any] = [structlog.processors.add_log_level]
    if timestamps == "iso":
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    elif timestamps == "epoch":
        processors.append(structlog.processors.TimeStamper())
    processors.append(structlog.processors.JSONRenderer())
    with open(path, "a", encoding="utf-8") as out:
        structlog.configure(
            processors=processors,
            logger_factory=structlog.WriteLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )
        try:
            yield
        finally:
            structlog.reset_defaults()


def _record(user_id: int, changed: bool = False) -> dict[str, Any]:
    tags = ["a", "b", "c"]
    if changed and user_id % 10 == 0:
        tags = ["a", "b", "x"]
    return {
        "id": user_id,
        "address": {"city": "Lyon", "zip": "69001" if not changed else "69002"},
        "tags": tags,
    }


def _old_get(user_id: int) -> dict[str, Any]:
    return _record(user_id)


def _new_get(user_id: int) -> dict[str, Any]:
    if user_id == 7:
        raise TimeoutError("new store timed out")
    return _record(user_id, changed=user_id % 5 == 0)


@migratekit.migration(old=_old_get, new=_new_get, name="users.get")
def get_user(user_id: int) -> dict[str, Any]:
    """The function under test: a read compared in SHADOW."""
    raise AssertionError("old is given, so this body never runs")


def _old_save(user_id: int) -> None:
    return None


def _new_save(user_id: int) -> None:
    if user_id in (3, 4):
        raise ValueError(f"cannot save {user_id}")


@migratekit.migration.write(old=_old_save, new=_new_save, name="users.save")
def save_user(user_id: int) -> None:
    """A write, dual-written in DUALWRITE."""
    raise AssertionError("never runs")


def write_library_log(path: Path, timestamps: str | None = "iso") -> None:
    """30 reads in SHADOW (6 inconsistent, 1 new-side error) and 10 writes in DUALWRITE."""
    with json_log(path, timestamps):
        migratekit.configure(provider=StaticStageProvider(
            {"users.get": "shadow", "users.save": "dualwrite"}))
        for user_id in range(30):
            get_user(user_id)
        for user_id in range(10):
            save_user(user_id)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every line of *path* as JSON."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def nearest_rank(values: list[float], p: float) -> float:
    """The nearest-rank percentile, computed independently of the report."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def aggregate(path: Path, thresholds: Thresholds | None = None) -> Any:
    """Read *path* through the Aggregator, as the command does."""
    aggregator = Aggregator()
    with open(path, "rb") as stream:
        for line in iter_lines(stream):
            assert line is not None
            aggregator.feed_line(line)
    return aggregator.report(thresholds)


def entry_of(report: Any, migration: str, stage: str) -> Any:
    """The entry of *migration* in *stage*."""
    (entry,) = [e for e in report.entries if e.migration == migration and e.stage == stage]
    return entry


# -- exact figures on logs the library wrote -------------------------------------------


def test_counts_from_a_library_log_are_exact(tmp_path: Path) -> None:
    """Calls, comparisons, inconsistencies and errors match what the library did."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    report = aggregate(log)
    get = entry_of(report, "users.get", "shadow")
    assert (get.operation, get.calls, get.consistency_checks) == ("read", 30, 29)
    # ids 0..29 divisible by 5 differ; 7 failed on the new side and was not compared
    assert get.inconsistent == 6
    assert get.errors == {"old": 0, "new": 1}
    assert get.results == {"old": 30, "new": 30}
    save = entry_of(report, "users.save", "dualwrite")
    assert (save.operation, save.calls, save.consistency_checks) == ("write", 10, 0)
    assert save.errors == {"old": 0, "new": 2}
    assert report.skipped_lines == 0
    assert report.events == len(read_events(log))


def test_percentiles_are_exact_for_small_inputs(tmp_path: Path) -> None:
    """p50/p95/p99 per origin equal the nearest-rank percentiles of the logged latencies."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    report = aggregate(log)
    events = read_events(log)
    for migration, stage in (("users.get", "shadow"), ("users.save", "dualwrite")):
        entry = entry_of(report, migration, stage)
        for origin in ("old", "new"):
            latencies = [
                e["latency_ms"] for e in events
                if e["event"] == "migration.result" and e["migration"] == migration
                and e["origin"] == origin
            ]
            expected = {p: nearest_rank(latencies, q)
                        for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
            assert entry.latency_ms[origin] == expected
    assert entry_of(report, "users.get", "shadow").latency_exact


def test_failed_results_count_in_latency(tmp_path: Path) -> None:
    """Latency counts every result, failed ones too (DESIGN.md)."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    aggregator = Aggregator()
    aggregator.feed(log.read_bytes().splitlines())
    entry = aggregator.entries[("users.save", "dualwrite", "write")]
    assert entry.latency["new"].count == 10


def test_rates_and_interval(tmp_path: Path) -> None:
    """The inconsistency rate is inconsistent / comparisons, with a Wilson interval around it."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    entry = entry_of(aggregate(log), "users.get", "shadow")
    assert entry.inconsistency_rate == pytest.approx(6 / 29)
    assert entry.error_rate("new") == pytest.approx(1 / 30)
    low, high = entry.to_json()["inconsistency_ci95"]
    assert low < 6 / 29 < high


def test_diff_paths_are_aggregated(tmp_path: Path) -> None:
    """Mismatches are counted per path, with their share of all mismatches."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    entry = entry_of(aggregate(log), "users.get", "shadow")
    assert entry.diff_paths == [
        {"path": "address.zip", "count": 6, "share": 1.0},
        {"path": "tags[2]", "count": 3, "share": 0.5},
    ]
    assert entry.mismatch_summary() == "100% of mismatches differ at address.zip, 50% at tags[2]"


def test_stage_errors_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad stage variable gives one migration.stage_error, reported with source and value."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "shdow")
    log = tmp_path / "events.jsonl"
    with json_log(log):
        for user_id in range(3):
            get_user(user_id)
    report = aggregate(log)
    (error,) = report.stage_errors
    assert error["migration"] == "users.get"
    assert (error["source"], error["value"], error["stage"]) == (
        "MIGRATEKIT_STAGE_USERS_GET", "shdow", "off")
    assert error["count"] == 1
    assert entry_of(report, "users.get", "off").calls == 3
    assert "Stage errors" in format_text(report)


@pytest.mark.parametrize("timestamps", ["iso", "epoch", None])
def test_timestamps_in_every_form(tmp_path: Path, timestamps: str | None) -> None:
    """ISO and epoch timestamps give a time axis; without them the axis is the line number."""
    log = tmp_path / "events.jsonl"
    write_library_log(log, timestamps)
    report = aggregate(log)
    entry = entry_of(report, "users.get", "shadow")
    kind, points = report.timelines[("users.get", "shadow", "read")]
    assert sum(point["checks"] for point in points) == 29
    if timestamps is None:
        assert kind == "line"
        assert entry.first_timestamp is None
    else:
        assert kind == "time"
        assert entry.first_timestamp is not None
        assert entry.first_timestamp <= entry.last_timestamp
        assert abs(entry.first_timestamp - time.time()) < 3600


_PROCESS = textwrap.dedent(
    """
    import sys, structlog, migratekit
    from migratekit.providers import StaticStageProvider
    out = open(sys.argv[1], "w")
    structlog.configure(processors=[structlog.processors.JSONRenderer()],
                        logger_factory=structlog.WriteLoggerFactory(file=out))
    migratekit.configure(provider=StaticStageProvider("shadow"))
    @migratekit.migration(new=lambda i: i if i % 4 else -1, name="numbers.get")
    def get(i):
        return i
    for i in range(int(sys.argv[2])):
        get(i)
    out.close()
    """
)


def test_interleaved_processes(tmp_path: Path) -> None:
    """Lines of two processes interleaved are counted as each process's own calls."""
    logs = []
    for index, count in enumerate((40, 24)):
        path = tmp_path / f"p{index}.jsonl"
        subprocess.run([sys.executable, "-c", _PROCESS, str(path), str(count)], check=True,
                       timeout=60)
        logs.append(path.read_bytes().splitlines())
    merged: list[bytes] = []
    a, b = logs
    while a or b:  # several lines of one, then of the other, as a shared file would hold
        merged.extend(a[:5])
        merged.extend(b[:2])
        a, b = a[5:], b[2:]
    aggregator = Aggregator()
    aggregator.feed(merged)
    entry = aggregator.report().entries[0]
    assert entry.calls == 64
    assert entry.consistency_checks == 64
    assert entry.inconsistent == 10 + 6
    prefixes = {json.loads(line)["call_id"].split("-")[0] for line in merged}
    assert len(prefixes) == 2


# -- malformed input -------------------------------------------------------------------

_GOOD_OP = {
    "event": "migration.op", "migration": "m", "operation": "read", "stage": "shadow",
    "invoked": ["old", "new"], "consistent": True, "call_id": "c-1",
}
_GOOD_RESULT = {
    "event": "migration.result", "migration": "m", "operation": "read", "stage": "shadow",
    "origin": "old", "authoritative": True, "ok": True, "latency_ms": 1.5, "error": None,
    "exc_type": None, "call_id": "c-1",
}


def _line(**changes: Any) -> bytes:
    base = dict(_GOOD_RESULT if changes.pop("result", False) else _GOOD_OP)
    for key, value in changes.items():
        if value is ...:
            base.pop(key)
        else:
            base[key] = value
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "blank"),
        (b"   \t", "blank"),
        (b"INFO: server started", "other"),
        (b'{"event": "http.request", "path": "/"}', "other"),
        (b'["migration.op"]', "other"),
        (b'"migration.op"', "other"),
        (b'{"event": "migration.other", "migration": "m"}', "other"),
        (b"{migration.op is not json", "unparsable"),
        (_line()[:40], "unparsable"),
        (b"\x00\xff\xfe migration.op \x80\x81", "unparsable"),
        # Not UTF-8: read as U+FFFD, so the line is an event, missing its fields.
        (b'{"event": "migration.op", "migration": "\xff\xfe"}', "malformed"),
        (b"[" * 5000 + b'"migration.op"' + b"]" * 5000, "unparsable"),
        (_line(migration=...), "malformed"),
        (_line(migration=""), "malformed"),
        (_line(migration=42), "malformed"),
        (_line(operation="delete"), "malformed"),
        (_line(stage="beta"), "malformed"),
        (_line(stage=...), "malformed"),
        (_line(consistent="yes"), "malformed"),
        (_line(result=True, origin="middle"), "malformed"),
        (_line(result=True, ok="true"), "malformed"),
        (_line(result=True, latency_ms="fast"), "malformed"),
        (_line(result=True, latency_ms=True), "malformed"),
        (_line(result=True, latency_ms=-1), "malformed"),
        (_line(result=True, latency_ms=...), "malformed"),
        (b'{"event": "migration.result", "migration": "m", "operation": "read", '
         b'"stage": "shadow", "origin": "old", "ok": true, "latency_ms": NaN}', "malformed"),
        (b'{"event": "migration.stage_error", "provider": "P"}', "malformed"),
        (b'{"event": "migration.shadow_dropped", "migration": "m", "dropped": "x"}',
         "malformed"),
    ],
)
def test_malformed_lines_are_skipped_and_counted(line: bytes, reason: str) -> None:
    """Each kind of bad line is skipped under its reason, and nothing is counted as a call."""
    aggregator = Aggregator()
    aggregator.feed([line, _line()])
    assert aggregator.skipped == {reason: 1}
    assert aggregator.events == 1
    report = aggregator.report()
    assert report.skipped_lines == 1
    assert [entry.calls for entry in report.entries] == [1]


def test_well_formed_variants_are_read() -> None:
    """A syslog prefix, a renamed event key, upper-case stages and extra fields are all fine."""
    aggregator = Aggregator()
    aggregator.feed([
        b"Nov 28 04:00:00 host app[12]: " + _line(call_id="a-1"),
        json.dumps({**_GOOD_OP, "event": None, "message": "migration.op",
                    "call_id": "a-2"}).encode(),
        _line(stage="SHADOW", call_id="a-3", extra={"nested": [1, 2]}),
        _line(result=True, latency_ms=3, call_id="a-4"),
        "text lines work too " + _line(call_id="a-5").decode(),
    ])
    assert aggregator.skipped_lines == 0
    entry = aggregator.entries[("m", "shadow", "read")]
    assert entry.calls == 5
    assert entry.checks == 4


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    """A log cut in the middle of its last line (a crash, a rotation) loses only that line."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 25])
    report = aggregate(log)
    assert report.skipped == {"unparsable": 1}
    assert report.events == len(data.splitlines()) - 1


def test_overlong_lines_are_skipped_without_holding_them() -> None:
    """iter_lines gives None for a line longer than its limit, and carries on after it."""
    import io

    stream = io.BytesIO(b"short\n" + b"x" * 1000 + b"\nafter\n" + b"y" * 50)
    assert list(iter_lines(stream, limit=64)) == [b"short\n", None, b"after\n", b"y" * 50]


def test_call_ids_count_calls_once() -> None:
    """Events sharing a call_id are one call; an op without call_id is one call by itself."""
    aggregator = Aggregator()
    aggregator.feed([
        _line(result=True, call_id="x-1"),
        _line(result=True, origin="new", call_id="x-1"),
        _line(call_id="x-1"),
        _line(call_id=...),
        _line(result=True, call_id=...),
    ])
    entry = aggregator.entries[("m", "shadow", "read")]
    assert entry.calls == 2
    assert entry.results == {"old": 2, "new": 1}


def test_call_window_is_bounded() -> None:
    """The memory of call ids never holds more than CALL_WINDOW ids."""
    aggregator = Aggregator()
    for index in range(CALL_WINDOW + 100):
        aggregator.feed_line(_line(call_id=f"w-{index}"))
    assert len(aggregator._recent_set) == CALL_WINDOW
    assert aggregator.entries[("m", "shadow", "read")].calls == CALL_WINDOW + 100


# -- bounded summaries ------------------------------------------------------------------


def test_digest_is_exact_up_to_its_limit() -> None:
    """Up to EXACT_LIMIT values, percentiles are the nearest-rank values themselves."""
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 1) for _ in range(LatencyDigest.EXACT_LIMIT)]
    digest = LatencyDigest()
    for value in values:
        digest.add(value)
    assert digest.exact
    for p in (1, 50, 95, 99, 100):
        assert digest.percentile(p) == nearest_rank(values, p)


def test_digest_is_within_one_percent_beyond_its_limit() -> None:
    """Past EXACT_LIMIT the histogram keeps every percentile within 1%, in few buckets."""
    rng = random.Random(2)
    values = [rng.lognormvariate(-2, 2) for _ in range(50_000)] + [0.0] * 10
    digest = LatencyDigest()
    for value in values:
        digest.add(value)
    assert not digest.exact
    for p in (50, 90, 95, 99, 99.9):
        exact = nearest_rank(values, p)
        estimate = digest.percentile(p)
        assert estimate is not None
        assert abs(estimate - exact) <= 0.0101 * exact
    assert digest.buckets() < 2000
    assert digest.percentile(0.001) == 0.0
    assert digest.count == 50_010


def test_empty_digest_has_no_percentile() -> None:
    """A side that never ran has no percentile."""
    assert LatencyDigest().percentile(50) is None


def test_timeline_stays_within_its_bins() -> None:
    """However far apart and out of order the points, a timeline keeps at most its bins."""
    timeline = Timeline(1.0 / 1024)
    rng = random.Random(3)
    for _ in range(20_000):
        timeline.add_check(rng.uniform(1.7e9, 1.7e9 + 86400 * 30), rng.random() < 0.1)
    points = timeline.points()
    assert len(points) <= TIMELINE_BINS
    assert sum(point["checks"] for point in points) == 20_000
    edges = [(point["start"], point["end"]) for point in points]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(edges))


# -- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", 1704164645.0),
        ("2024-01-02T03:04:05.250000Z", 1704164645.25),
        ("2024-01-02T05:04:05+02:00", 1704164645.0),
        ("2024-01-02T03:04:05", 1704164645.0),
        ("2024-01-02 03:04:05,250", 1704164645.25),
        ("2024-01-02T03:04:05.123456789Z", 1704164645.123456),
        (1704164645.5, 1704164645.5),
        (1704164645, 1704164645.0),
        ("1704164645.5", 1704164645.5),
        (1704164645500, 1704164645.5),
        (1704164645500000, 1704164645.5),
        ("yesterday", None),
        ("2024-13-45T99:99:99Z", None),
        (True, None),
        (float("nan"), None),
        (-5, None),
        ([2024], None),
        ("9" * 100, None),
    ],
)
def test_parse_timestamp(value: Any, expected: float | None) -> None:
    """structlog's usual timestamp forms are read; anything else gives None."""
    result = parse_timestamp(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-6)


# -- verdicts -----------------------------------------------------------------------------


def _calls(n: int, *, stage: str = "shadow", operation: str = "read", bad: int = 0,
           old_ms: float = 1.0, new_ms: float = 1.0, new_errors: int = 0,
           compare_errors: int = 0) -> list[bytes]:
    lines = []
    compared = operation == "read" and stage in ("shadow", "live")
    sides = {"off": ["old"], "complete": ["new"]}.get(stage, ["old", "new"])
    if operation == "read" and stage == "dualwrite":
        sides = ["old"]
    if operation == "read" and stage == "rampdown":
        sides = ["new"]
    for index in range(n):
        call_id = f"v-{stage}-{operation}-{index}"
        for origin in sides:
            ok = not (origin == "new" and index < new_errors)
            lines.append(_line(result=True, stage=stage, operation=operation, origin=origin,
                               ok=ok, call_id=call_id,
                               latency_ms=old_ms if origin == "old" else new_ms))
        consistent = (index >= bad) if compared else None
        extra: dict[str, Any] = {}
        if compared and index >= n - compare_errors:
            consistent, extra = None, {"compare_error": "KeyError"}
        lines.append(_line(stage=stage, operation=operation, consistent=consistent,
                           call_id=call_id, **extra))
    return lines


def _verdict(lines: list[bytes], **thresholds: Any) -> Any:
    aggregator = Aggregator()
    aggregator.feed(lines)
    (entry,) = aggregator.report(Thresholds(**thresholds)).entries
    return entry


def test_verdict_ready_for_live() -> None:
    """Enough consistent comparisons, no errors, same latency: ready for LIVE."""
    entry = _verdict(_calls(1000))
    assert entry.ready
    assert entry.verdict.startswith("ready for LIVE")


def test_verdict_hold_on_inconsistency() -> None:
    """Over the inconsistency limit, the verdict says how much and what the limit is."""
    entry = _verdict(_calls(1000, bad=8))
    assert not entry.ready
    assert entry.verdict == "hold: 0.8% inconsistent (limit 0.1%)"


def test_verdict_hold_on_few_samples() -> None:
    """Too few comparisons: hold, naming how many and how many are needed."""
    entry = _verdict(_calls(40))
    assert entry.verdict == "hold: only 40 comparisons (need 1,000)"


def test_verdict_hold_on_latency() -> None:
    """A new side p99 above the ratio holds."""
    entry = _verdict(_calls(1000, old_ms=10.0, new_ms=23.0))
    assert entry.verdict.startswith("hold: new side p99 2.3x old")


def test_verdict_latency_floor_ignores_timer_noise() -> None:
    """Sub-millisecond latencies are compared as the floor, so noise does not hold."""
    entry = _verdict(_calls(1000, old_ms=0.01, new_ms=0.05))
    assert entry.ready


def test_verdict_hold_on_new_side_errors() -> None:
    """New-side errors above the old side's by more than the limit hold."""
    entry = _verdict(_calls(1000, new_errors=30, stage="dualwrite", operation="write"))
    assert entry.verdict == "hold: new side 3.0% errors vs old 0% (limit +1.0%)"
    assert _verdict(_calls(1000, new_errors=30, stage="dualwrite", operation="write"),
                    max_error_rate=0.05).ready


def test_verdict_hold_on_raising_comparator() -> None:
    """Comparisons that raise hide the answer: too many of them hold."""
    entry = _verdict(_calls(1100, compare_errors=100))
    assert "100 comparisons raised" in entry.verdict


def test_verdict_off_and_complete() -> None:
    """OFF is always ready for DUALWRITE; COMPLETE, when healthy, is the end."""
    assert _verdict(_calls(3, stage="off")).verdict.startswith("ready for DUALWRITE")
    complete = _verdict(_calls(1000, stage="complete"))
    assert complete.verdict.startswith("ready: COMPLETE is the last stage")


def test_verdict_thresholds_are_used() -> None:
    """Looser thresholds turn a hold into ready."""
    lines = _calls(200, bad=2)
    assert not _verdict(lines).ready
    assert _verdict(lines, min_samples=100, max_inconsistency=0.02).ready


def test_current_entry_is_the_latest_stage() -> None:
    """The current entry of a migration is its last stage in the log; on_hold lists holds."""
    aggregator = Aggregator()
    aggregator.feed(_calls(1000) + _calls(10, stage="live"))
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


# -- the fuzz ------------------------------------------------------------------------------

_names = st.sampled_from(["migration.op", "migration.result", "migration.stage_error",
                          "migration.shadow_dropped", "other", ""])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
_fields = st.sampled_from(["migration", "operation", "stage", "origin", "ok", "latency_ms",
                           "consistent", "call_id", "diff_paths", "timestamp", "dropped",
                           "compare_error", "source", "value"])
_events = st.builds(
    lambda name, fields: json.dumps({"event": name, **fields}).encode(),
    _names,
    st.dictionaries(_fields, st.one_of(_values, st.sampled_from(
        ["m", "read", "write", "shadow", "LIVE", "old", "new", 1.5, "2024-01-01T00:00:00Z"])),
        max_size=10),
)
_lines = st.lists(st.one_of(st.binary(max_size=60), _events,
                            _events.map(lambda line: line[: len(line) // 2])), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_lines)
def test_fuzz_never_raises(lines: list[bytes]) -> None:
    """Whatever the lines, reading and rendering never raise, and every line is accounted."""
    aggregator = Aggregator()
    aggregator.feed(lines)
    assert aggregator.events + aggregator.skipped_lines == len(lines)
    report = aggregator.report()
    json.dumps(report.to_json())
    format_text(report)
    render_html(report)


# -- edges of reading and judging ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" 2024-01-02T05:04:05+0200", 1704164645.0),
        ("2024-01-02 00:34:05-0230", 1704164645.0),
        ("2024-01-02 03:04:05 UTC", 1704164645.0),
    ],
)
def test_parse_timestamp_forms_the_fast_parser_refuses(value: str, expected: float) -> None:
    """Stamps the C ISO parser refuses (a leading blank, ' UTC') are read by the pattern."""
    assert parse_timestamp(value) == pytest.approx(expected, abs=1e-6)


def test_out_of_order_timestamps_keep_the_span() -> None:
    """Lines whose stamps go back in time still give the earliest first and latest last."""
    aggregator = Aggregator()
    aggregator.feed([_line(call_id="a", timestamp="2024-01-02T03:04:10Z"),
                     _line(call_id="b", timestamp="2024-01-02T03:04:05Z"),
                     _line(call_id="c", timestamp="2024-01-02T03:04:07Z")])
    (entry,) = aggregator.report().to_json()["migrations"]
    assert entry["first_timestamp"] == pytest.approx(1704164645.0)
    assert entry["last_timestamp"] == pytest.approx(1704164650.0)


def test_rolled_back_stage_is_current() -> None:
    """After a rollback from LIVE to SHADOW, SHADOW is the current stage, not LIVE."""
    aggregator = Aggregator()
    aggregator.feed([_line(stage="live", call_id="l", timestamp="2024-01-02T03:00:00Z"),
                     _line(stage="shadow", call_id="s", timestamp="2024-01-02T04:00:00Z")])
    current = {e.stage: e.current for e in aggregator.report().entries}
    assert current == {"shadow": True, "live": False}


def test_too_many_diff_paths_are_grouped_as_other() -> None:
    """Beyond 256 distinct mismatch paths, the rest are counted under '(other paths)'."""
    lines = [_line(call_id=f"d-{i}", consistent=False, diff_paths=[f"field{i}"])
             for i in range(300)]
    lines.append(_line(call_id="again", consistent=False, diff_paths=["field0"]))
    aggregator = Aggregator()
    aggregator.feed(lines)
    (entry,) = aggregator.report().to_json()["migrations"]
    paths = {item["path"]: item["count"] for item in entry["diff_paths"]}
    assert len(paths) == 257
    assert paths["field0"] == 2
    assert paths["(other paths)"] == 300 - 256
    assert sum(paths.values()) == 301


def _stage_error(migration: str, value: str) -> bytes:
    return json.dumps({"event": "migration.stage_error", "migration": migration,
                       "provider": "EnvStageProvider", "source": "MIGRATEKIT_STAGE",
                       "value": value, "exc_type": "StageError", "stage": "off",
                       "error": "not a stage"}).encode()


def test_stage_errors_are_grouped_and_bounded() -> None:
    """Repeated stage errors add up in one row; distinct ones are kept up to 256 rows."""
    aggregator = Aggregator()
    aggregator.feed([_stage_error("m", "bogus")] * 3)
    aggregator.feed([_stage_error("m", f"v{i}") for i in range(300)])
    report = aggregator.report()
    rows = report.stage_errors
    assert len(rows) == 256
    assert rows[0]["value"] == "bogus"
    assert rows[0]["count"] == 3
    assert aggregator.events == 303
    # The ones past the bound are not lost: counted, and said in every format.
    assert report.stage_errors_other == 300 - 255
    assert report.to_json()["stage_errors_other"] == 45
    assert "and 45 more, of kinds not listed" in format_text(report)
    assert "and 45 more, of kinds not listed" in render_html(report)


def test_shadow_drops_are_bounded_per_migration() -> None:
    """Dropped-shadow counts are kept for at most 256 migrations; known ones keep counting."""
    aggregator = Aggregator()
    aggregator.feed([json.dumps({"event": "migration.shadow_dropped", "migration": f"m{i}",
                                 "dropped": 2}).encode() for i in range(300)])
    aggregator.feed([json.dumps({"event": "migration.shadow_dropped", "migration": "m0",
                                 "dropped": 5}).encode()])
    dropped = aggregator.report().shadow_dropped
    assert len(dropped) == 256
    assert dropped["m0"] == 7
    assert "m299" not in dropped


def test_feed_line_skips_an_overlong_line() -> None:
    """A line longer than MAX_LINE_BYTES given to feed_line is counted as too long, not read."""
    from migratekit.report._constants import MAX_LINE_BYTES

    aggregator = Aggregator()
    huge = _line()[:-1] + b" " * MAX_LINE_BYTES + b"}"
    aggregator.feed_line(huge)
    aggregator.too_long()
    report = aggregator.report()
    assert report.skipped == {"too_long": 2}
    assert report.lines == 2
    assert report.entries == []


def test_slow_latencies_print_without_decimals() -> None:
    """Latencies of 100 ms and more show as whole milliseconds in the text report."""
    aggregator = Aggregator()
    aggregator.feed(_calls(5, old_ms=150.4, new_ms=250.6))
    text = format_text(aggregator.report())
    assert "150 / 251" in text
    assert "251 ms vs 150 ms" in text


def test_few_compare_errors_do_not_hold() -> None:
    """Comparisons that raised, but under the inconsistency limit, do not hold the migration."""
    entry = _verdict(_calls(2000, compare_errors=1))
    assert entry.compare_errors == 1
    assert entry.ready, entry.verdict
    assert "comparisons raised" not in entry.verdict


def test_new_side_errors_alone_hold_complete() -> None:
    """In COMPLETE, where only the new side runs, its error rate alone holds the migration."""
    entry = _verdict(_calls(2000, stage="complete", new_errors=100))
    assert not entry.ready
    assert "new side 5.0% errors (limit 1.0%)" in entry.verdict
    fine = _verdict(_calls(2000, stage="complete", new_errors=1))
    assert fine.ready, fine.verdict


def test_ready_without_new_results_names_only_comparisons() -> None:
    """A log holding only comparisons (results filtered out) is judged on them alone."""
    lines = [line for line in _calls(1500) if b'"migration.op"' in line]
    entry = _verdict(lines)
    assert entry.ready, entry.verdict
    assert entry.verdict == "ready for LIVE (1,500 comparisons, 0% inconsistent)"


# -- hostile fields (each was a crash once) ---------------------------------------------------


@pytest.mark.parametrize("latency", [10**400, -(10**400), 1e308, 1.7e308, 3.2e10, -0.5])
def test_latency_out_of_range_is_malformed(latency: Any) -> None:
    """A latency that is a 400-digit integer, near float's limit or above a year skips the line."""
    aggregator = Aggregator()
    aggregator.feed([_line(result=True, latency_ms=latency), _line()])
    assert aggregator.skipped == {"malformed": 1}
    report = aggregator.report()
    assert [entry.results for entry in report.entries] == [{"old": 0, "new": 0}]


@pytest.mark.parametrize("stamp", [10**400, -(10**400), 1e308, "1e400", 2.6e17, "10000-01-01"])
def test_timestamp_out_of_range_is_no_timestamp(stamp: Any) -> None:
    """A timestamp beyond float or datetime reads as no timestamp; the event still counts."""
    aggregator = Aggregator()
    aggregator.feed([_line(timestamp=stamp)])
    assert aggregator.events == 1
    (entry,) = aggregator.entries.values()
    assert (entry.untimed, entry.first_time) == (1, None)


@pytest.mark.parametrize(
    "event",
    [
        {"event": ["migration.op"]},
        {"event": {"migration.op": 1}},
        {"event": None, "message": ["migration.op"]},
        {"event": 3, "msg": {"a": "migration.op"}},
    ],
)
def test_event_name_of_any_json_type_is_other(event: dict[str, Any]) -> None:
    """An event name that is a list or an object (unhashable) is just not an event."""
    aggregator = Aggregator()
    aggregator.feed([json.dumps({**_GOOD_OP, **event}).encode()])
    assert aggregator.skipped == {"other": 1}


def test_lone_surrogates_become_replacement_characters() -> None:
    """A JSON "\\ud800" escape in a name, a path or a stage error is read as U+FFFD."""
    aggregator = Aggregator()
    aggregator.feed([
        _line(migration="m\ud800", consistent=False, diff_paths=["a\udc00.b"]),
        _stage_error("s\udbff", "v\ud800"),
        json.dumps({"event": "migration.shadow_dropped", "migration": "d\ud800"}).encode(),
    ])
    report = aggregator.report()
    (entry,) = report.entries
    assert entry.migration == "m\ufffd"
    assert entry.diff_paths[0]["path"] == "a\ufffd.b"
    assert (report.stage_errors[0]["migration"], report.stage_errors[0]["value"]) == (
        "s\ufffd", "v\ufffd")
    assert list(report.shadow_dropped) == ["d\ufffd"]
    # Every output can be encoded now.
    format_text(report).encode("utf-8")
    render_html(report).encode("utf-8")
    json.dumps(report.to_json(), ensure_ascii=False).encode("utf-8")


def test_bytes_that_are_not_utf8_cost_only_their_characters() -> None:
    """A stray Latin-1 byte in a field does not lose the event: it reads as U+FFFD."""
    aggregator = Aggregator()
    aggregator.feed([_line(error="x").replace(b'"x"', b'"caf\xe9"'),
                     _line().replace(b'"m"', b'"m\xff"') + b"\r\n"])
    assert aggregator.skipped_lines == 0
    assert {entry.migration for entry in aggregator.report().entries} == {"m", "m\ufffd"}


def test_text_report_escapes_what_would_drive_a_terminal() -> None:
    """Escape sequences, bidi overrides and newlines from the log are shown escaped."""
    aggregator = Aggregator()
    aggregator.feed([
        _line(migration="red\x1b[31m", consistent=False, diff_paths=["p\nq", "\u202eevil"]),
        _stage_error("m\x07", "v\x00\u2028"),
    ])
    text = format_text(aggregator.report())
    assert "red\\x1b[31m" in text
    assert "p\\x0aq" in text
    assert "\\u202eevil" in text
    assert "m\\x07" in text
    assert not [c for c in text if c != "\n" and not c.isprintable()]


def test_printable_keeps_ordinary_text() -> None:
    """printable changes only what it must: accents, CJK and emoji stay as they are."""
    from migratekit.report._strings import printable

    assert printable("café 東京 😀 a\\b") == "café 東京 😀 a\\b"
    assert printable("\t\x7f\x85\u200f\udfff") == "\\x09\\x7f\\x85\\u200f\\udfff"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"migration": "m" * 513}, "malformed"),
        ({"stage": "shadow" * 1000}, "malformed"),
        ({"operation": ["read"]}, "malformed"),
        ({"stage": {"shadow": 1}}, "malformed"),
        ({"consistent": 1}, "malformed"),
        ({"consistent": [True]}, "malformed"),
    ],
)
def test_fields_of_other_types_or_sizes_are_malformed(fields: dict[str, Any],
                                                      reason: str) -> None:
    """Required fields of the wrong JSON type or of absurd size skip the line."""
    aggregator = Aggregator()
    aggregator.feed([_line(**fields)])
    assert aggregator.skipped == {reason: 1}


def test_optional_fields_of_other_types_count_as_missing() -> None:
    """call_id, diff_paths and timestamps of the wrong type are treated as absent."""
    aggregator = Aggregator()
    aggregator.feed([
        _line(call_id=["x"], consistent=False, diff_paths={"a": 1}, timestamp=[1]),
        _line(call_id=None, consistent=False, diff_paths=["ok", 3, None, ["x"], ""],
              timestamp=True),
    ])
    assert aggregator.skipped_lines == 0
    (entry,) = aggregator.report().entries
    assert entry.calls == 2
    assert [item["path"] for item in entry.diff_paths] == ["ok"]
    assert entry.first_timestamp is None


def test_huge_counts_and_odd_stage_error_fields_are_bounded() -> None:
    """dropped past 2**53 is malformed; stage-error fields of any JSON type are shown short."""
    aggregator = Aggregator()
    aggregator.feed([
        json.dumps({"event": "migration.shadow_dropped", "migration": "m",
                    "dropped": 10**400}).encode(),
        json.dumps({"event": "migration.stage_error", "migration": "m",
                    "value": [[1] * 500], "error": 10**300, "provider": {"a": None},
                    "stage": float("nan")}).encode(),
    ])
    assert aggregator.skipped == {"malformed": 1}
    (row,) = aggregator.report().stage_errors
    assert len(row["value"]) == 100
    assert row["value"].endswith("…")
    assert row["provider"] == '{"a": null}'
    assert row["stage"] == "NaN"


def test_long_call_ids_are_remembered_by_digest() -> None:
    """Megabyte call ids do not fill the call window's memory, and still count once."""
    aggregator = Aggregator()
    long_id = "c" * 100_000
    aggregator.feed([_line(call_id=long_id), _line(result=True, call_id=long_id),
                     _line(call_id=long_id + "2")])
    assert aggregator.entries[("m", "shadow", "read")].calls == 2
    assert max(len(call_id) for call_id in aggregator._recent) <= 64


def test_entries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ENTRIES distinct migrations, events of new ones are skipped and counted."""
    from migratekit.report import _aggregate

    monkeypatch.setattr(_aggregate, "MAX_ENTRIES", 3)
    aggregator = Aggregator()
    aggregator.feed([_line(migration=f"m{i}", call_id=f"c{i}") for i in range(5)])
    aggregator.feed([_line(result=True, migration="m9"), _line(migration="m0", call_id="x")])
    assert len(aggregator.entries) == 3
    assert aggregator.skipped == {"too_many_migrations": 3}
    assert "3 too many migrations" in format_text(aggregator.report())


def test_zero_latency_floor_and_zero_latencies_do_not_divide_by_zero() -> None:
    """With --latency-floor-ms 0 and an old side that took 0 ms, there is just no ratio."""
    entry = _verdict(_calls(1000, old_ms=0.0, new_ms=0.0), latency_floor_ms=0.0)
    assert entry.ready, entry.verdict
    assert "x old" not in entry.verdict
    slower = _verdict(_calls(1000, old_ms=0.0, new_ms=2.0), latency_floor_ms=0.0)
    assert not slower.ready
    assert "new side p99 slower than old (2 ms vs 0 ms, limit 1.5x)" in slower.verdict


def test_stage_error_fields_that_json_cannot_write_back_are_named_by_type() -> None:
    """A field too deep or too long to write back as JSON is shown as its type."""
    from migratekit.report._aggregate import _short

    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert _short(deep) == "<list>"
    assert _short(10**5000) == "<int>"
    assert _short("x" * 150) == "x" * 99 + "…"
