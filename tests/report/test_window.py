"""``--since`` and ``--until``: per-call events by timestamp, summaries by window."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from migratekit.report import build_report, format_text
from migratekit.report._timestamps import as_moment, parse_moment
from tests.report.logs import (
    T0,
    known_calls,
    per_call_lines,
    report_of,
    summary_line,
)


def test_per_call_events_are_kept_by_their_timestamp() -> None:
    """Events stamped in [since, until) count; the others are skipped as outside_window."""
    calls = known_calls(100, seed=20)
    lines = per_call_lines(calls, start=T0, step=1.0)
    report = report_of(lines, since=T0 + 10, until=T0 + 20)
    (entry,) = report.entries
    assert entry.calls == 10
    assert report.events == len(per_call_lines(calls[10:20]))
    assert report.skipped == {"outside_window": len(lines) - report.events}
    assert report.kept_without_timestamp == 0


def test_events_without_a_timestamp_are_kept_and_counted() -> None:
    """An event that carries no time cannot be placed: it is kept, and the report says so."""
    untimed = [json.dumps({k: v for k, v in json.loads(line).items() if k != "timestamp"})
               .encode() for line in per_call_lines(known_calls(5, seed=21))]
    report = report_of(untimed, since=T0 + 1000)
    assert report.entries[0].calls == 5
    assert report.kept_without_timestamp == len(untimed)
    assert "events without a timestamp kept" in format_text(report)
    assert report_of(untimed).kept_without_timestamp == 0  # no window, nothing to say


def test_summaries_are_kept_when_their_window_overlaps() -> None:
    """A summary counts when its window [since, until) overlaps the report's."""
    calls = known_calls(30, seed=22)
    lines = [summary_line(calls[i * 10:(i + 1) * 10], since=T0 + 10 * i,
                          until=T0 + 10 * (i + 1)) for i in range(3)]
    exact = report_of(lines, since=T0 + 10, until=T0 + 20)
    assert exact.entries[0].calls == 10
    assert exact.skipped == {"outside_window": 2}
    overlapping = report_of(lines, since=T0 + 15)
    assert overlapping.entries[0].calls == 20
    assert report_of(lines, until=T0 + 0.5).entries[0].calls == 10
    assert report_of(lines, since=T0 + 30).entries == []


def test_since_and_until_apply_to_both_kinds_together() -> None:
    """Per-call events of one process and summaries of another, through one window."""
    calls = known_calls(40, seed=23)
    lines = [*per_call_lines(calls[:20], process="aa", start=T0, step=1.0),
             summary_line(calls[20:30], process="bb", since=T0, until=T0 + 10),
             summary_line(calls[30:], process="bb", since=T0 + 10, until=T0 + 20)]
    report = report_of(lines, since=T0 + 10, until=T0 + 20)
    (entry,) = report.entries
    assert entry.calls == 10 + 10


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T03:00:00Z", 1796094000.0),
    ("2026-12-01T03:00:00", 1796094000.0),
    ("2026-12-01 03:00:00+01:00", 1796090400.0),
    ("2026-12-01T03:00:00.5+00:00", 1796094000.5),
    ("2026-12-01", 1796083200.0),
    ("90s", 1796094000.0 - 90),
    ("15m", 1796094000.0 - 900),
    ("2h", 1796094000.0 - 7200),
    ("7d", 1796094000.0 - 7 * 86400),
    (" 1.5h ", 1796094000.0 - 5400),
])
def test_moments(text: str, expected: float) -> None:
    """ISO 8601 times (naive is UTC) and durations back from now."""
    assert parse_moment(text, now=1796094000.0) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "15", "15 minutes", "-5m", "2026-13-01",
                                  "2026-12-01T25:00", "1e3s", "nan", "x" * 100, "15m ago",
                                  "\u0661\u0665m", "0001-01-01T00:00:00+23:59"])
def test_bad_moments_say_what_is_expected(text: str) -> None:
    """Anything else is a ValueError whose message names both forms."""
    with pytest.raises(ValueError, match=r"ISO 8601 time .* duration back from now"):
        parse_moment(text, now=1796094000.0)


def test_build_report_takes_datetimes_numbers_and_strings(tmp_path: Path) -> None:
    """build_report(since=..., until=...) as a datetime, epoch seconds or a string."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(per_call_lines(known_calls(60, seed=24), start=T0, step=1.0)))
    start = dt.datetime.fromtimestamp(T0 + 10, dt.timezone.utc)
    windows: list[tuple[dt.datetime | float | str, dt.datetime | float | str]] = [
        (start, start + dt.timedelta(seconds=10)),
        (start.replace(tzinfo=None), T0 + 20),
        (start.isoformat(), (start + dt.timedelta(seconds=10)).isoformat()),
    ]
    for since, until in windows:
        report = build_report([str(log)], since=since, until=until)
        assert report.entries[0].calls == 10
        assert report.to_json()["since"] == "2026-09-21T14:13:30+00:00"
    assert build_report([str(log)], since="100000d").entries[0].calls == 60
    assert build_report([str(log)], until="1s").entries[0].calls == 60
    assert build_report([str(log)], since="1s").entries == []
    with pytest.raises(ValueError, match="duration back from now"):
        build_report([str(log)], since="last tuesday")
    with pytest.raises(TypeError):
        as_moment(["2026"])
