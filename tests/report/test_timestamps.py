"""Tests of reading timestamps in the forms logs write them (migratekit/report/_timestamps.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from migratekit.report._aggregate import Aggregator
from migratekit.report._timestamps import parse_timestamp
from tests.report.logs import (
    aggregate,
    entry_of,
    event_line,
    write_library_log,
)


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


@pytest.mark.parametrize("stamp", [10**400, -(10**400), 1e308, "1e400", 2.6e17, "10000-01-01"])
def test_timestamp_out_of_range_is_no_timestamp(stamp: Any) -> None:
    """A timestamp beyond float or datetime reads as no timestamp; the event still counts."""
    aggregator = Aggregator()
    aggregator.feed([event_line(timestamp=stamp)])
    assert aggregator.events == 1
    (entry,) = aggregator.entries.values()
    assert (entry.untimed, entry.first_time) == (1, None)
