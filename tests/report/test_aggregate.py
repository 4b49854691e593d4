"""
Tests of reading events into entries, in bounded memory, whatever the lines
hold (migratekit/report/_aggregate.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migratekit.report import format_text, render_html
from migratekit.report._aggregate import Aggregator, iter_lines
from migratekit.report._constants import CALL_WINDOW
from tests.report.logs import (
    GOOD_OP,
    aggregate,
    entry_of,
    event_line,
    get_user,
    json_log,
    nearest_rank,
    read_events,
    stage_error_line,
    write_library_log,
)


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
    """Latency counts every result, failed ones too (docs/design.md)."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    aggregator = Aggregator()
    aggregator.feed(log.read_bytes().splitlines())
    tally, _ = aggregator.entries[("users.save", "dualwrite", "write")].total(set())
    assert tally.latency["new"].count == 10


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
        (event_line()[:40], "unparsable"),
        (b"\x00\xff\xfe migration.op \x80\x81", "unparsable"),
        # Not UTF-8: read as U+FFFD, so the line is an event, missing its fields.
        (b'{"event": "migration.op", "migration": "\xff\xfe"}', "malformed"),
        (b"[" * 5000 + b'"migration.op"' + b"]" * 5000, "unparsable"),
        (event_line(migration=...), "malformed"),
        (event_line(migration=""), "malformed"),
        (event_line(migration=42), "malformed"),
        (event_line(operation="delete"), "malformed"),
        (event_line(stage="beta"), "malformed"),
        (event_line(stage=...), "malformed"),
        (event_line(consistent="yes"), "malformed"),
        (event_line(result=True, origin="middle"), "malformed"),
        (event_line(result=True, ok="true"), "malformed"),
        (event_line(result=True, latency_ms="fast"), "malformed"),
        (event_line(result=True, latency_ms=True), "malformed"),
        (event_line(result=True, latency_ms=-1), "malformed"),
        (event_line(result=True, latency_ms=...), "malformed"),
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
    aggregator.feed([line, event_line()])
    assert aggregator.skipped == {reason: 1}
    assert aggregator.events == 1
    report = aggregator.report()
    assert report.skipped_lines == 1
    assert [entry.calls for entry in report.entries] == [1]


def test_well_formed_variants_are_read() -> None:
    """A syslog prefix, a renamed event key, upper-case stages and extra fields are all fine."""
    aggregator = Aggregator()
    aggregator.feed([
        b"Nov 28 04:00:00 host app[12]: " + event_line(call_id="a-1"),
        json.dumps({**GOOD_OP, "event": None, "message": "migration.op",
                    "call_id": "a-2"}).encode(),
        event_line(stage="SHADOW", call_id="a-3", extra={"nested": [1, 2]}),
        event_line(result=True, latency_ms=3, call_id="a-4"),
        "text lines work too " + event_line(call_id="a-5").decode(),
    ])
    assert aggregator.skipped_lines == 0
    tally, _ = aggregator.entries[("m", "shadow", "read")].total(set())
    assert tally.calls == 5
    assert tally.checks == 4


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
        event_line(result=True, call_id="x-1"),
        event_line(result=True, origin="new", call_id="x-1"),
        event_line(call_id="x-1"),
        event_line(call_id=...),
        event_line(result=True, call_id=...),
    ])
    tally, _ = aggregator.entries[("m", "shadow", "read")].total(set())
    assert tally.calls == 2
    assert tally.results == {"old": 2, "new": 1}


def test_call_window_is_bounded() -> None:
    """The memory of call ids never holds more than CALL_WINDOW ids."""
    aggregator = Aggregator()
    for index in range(CALL_WINDOW + 100):
        aggregator.feed_line(event_line(call_id=f"w-{index}"))
    assert len(aggregator.calls.recent_set) == CALL_WINDOW
    assert aggregator.entries[("m", "shadow", "read")].total(set())[0].calls == CALL_WINDOW + 100


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


def test_out_of_order_timestamps_keep_the_span() -> None:
    """Lines whose stamps go back in time still give the earliest first and latest last."""
    aggregator = Aggregator()
    aggregator.feed([event_line(call_id="a", timestamp="2024-01-02T03:04:10Z"),
                     event_line(call_id="b", timestamp="2024-01-02T03:04:05Z"),
                     event_line(call_id="c", timestamp="2024-01-02T03:04:07Z")])
    (entry,) = aggregator.report().to_json()["migrations"]
    assert entry["first_timestamp"] == pytest.approx(1704164645.0)
    assert entry["last_timestamp"] == pytest.approx(1704164650.0)


def test_too_many_diff_paths_are_grouped_as_other() -> None:
    """Beyond 256 distinct mismatch paths, the rest are counted under '(other paths)'."""
    lines = [event_line(call_id=f"d-{i}", consistent=False, diff_paths=[f"field{i}"])
             for i in range(300)]
    lines.append(event_line(call_id="again", consistent=False, diff_paths=["field0"]))
    aggregator = Aggregator()
    aggregator.feed(lines)
    (entry,) = aggregator.report().to_json()["migrations"]
    paths = {item["path"]: item["count"] for item in entry["diff_paths"]}
    assert len(paths) == 257
    assert paths["field0"] == 2
    assert paths["(other paths)"] == 300 - 256
    assert sum(paths.values()) == 301


def test_stage_errors_are_grouped_and_bounded() -> None:
    """Repeated stage errors add up in one row; distinct ones are kept up to 256 rows."""
    aggregator = Aggregator()
    aggregator.feed([stage_error_line("m", "bogus")] * 3)
    aggregator.feed([stage_error_line("m", f"v{i}") for i in range(300)])
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
    huge = event_line()[:-1] + b" " * MAX_LINE_BYTES + b"}"
    aggregator.feed_line(huge)
    aggregator.too_long()
    report = aggregator.report()
    assert report.skipped == {"too_long": 2}
    assert report.lines == 2
    assert report.entries == []


@pytest.mark.parametrize("latency", [10**400, -(10**400), 1e308, 1.7e308, 3.2e10, -0.5])
def test_latency_out_of_range_is_malformed(latency: Any) -> None:
    """A latency that is a 400-digit integer, near float's limit or above a year skips the line."""
    aggregator = Aggregator()
    aggregator.feed([event_line(result=True, latency_ms=latency), event_line()])
    assert aggregator.skipped == {"malformed": 1}
    report = aggregator.report()
    assert [entry.results for entry in report.entries] == [{"old": 0, "new": 0}]


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
    aggregator.feed([json.dumps({**GOOD_OP, **event}).encode()])
    assert aggregator.skipped == {"other": 1}


def test_lone_surrogates_become_replacement_characters() -> None:
    """A JSON "\\ud800" escape in a name, a path or a stage error is read as U+FFFD."""
    aggregator = Aggregator()
    aggregator.feed([
        event_line(migration="m\ud800", consistent=False, diff_paths=["a\udc00.b"]),
        stage_error_line("s\udbff", "v\ud800"),
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
    aggregator.feed([event_line(error="x").replace(b'"x"', b'"caf\xe9"'),
                     event_line().replace(b'"m"', b'"m\xff"') + b"\r\n"])
    assert aggregator.skipped_lines == 0
    assert {entry.migration for entry in aggregator.report().entries} == {"m", "m\ufffd"}


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
    aggregator.feed([event_line(**fields)])
    assert aggregator.skipped == {reason: 1}


def test_optional_fields_of_other_types_count_as_missing() -> None:
    """call_id, diff_paths and timestamps of the wrong type are treated as absent."""
    aggregator = Aggregator()
    aggregator.feed([
        event_line(call_id=["x"], consistent=False, diff_paths={"a": 1}, timestamp=[1]),
        event_line(call_id=None, consistent=False, diff_paths=["ok", 3, None, ["x"], ""],
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
    aggregator.feed([event_line(call_id=long_id), event_line(result=True, call_id=long_id),
                     event_line(call_id=long_id + "2")])
    assert aggregator.entries[("m", "shadow", "read")].total(set())[0].calls == 2
    assert max(len(call_id) for call_id in aggregator.calls.recent) <= 64


def test_entries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ENTRIES distinct migrations, events of new ones are skipped and counted."""
    from migratekit.report import _aggregate

    monkeypatch.setattr(_aggregate, "MAX_ENTRIES", 3)
    aggregator = Aggregator()
    aggregator.feed([event_line(migration=f"m{i}", call_id=f"c{i}") for i in range(5)])
    aggregator.feed([event_line(result=True, migration="m9"),
                     event_line(migration="m0", call_id="x")])
    assert len(aggregator.entries) == 3
    assert aggregator.skipped == {"too_many_migrations": 3}
    assert "3 too many migrations" in format_text(aggregator.report())


def test_stage_error_fields_that_json_cannot_write_back_are_named_by_type() -> None:
    """A field too deep or too long to write back as JSON is shown as its type."""
    from migratekit.report._aggregate import _short

    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert _short(deep) == "<list>"
    assert _short(10**5000) == "<int>"
    assert _short("x" * 150) == "x" * 99 + "…"
