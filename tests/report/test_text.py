"""Tests of the text table and of what it escapes (migratekit/report/_text.py, _strings.py)."""

from __future__ import annotations

from migratekit.report import format_text
from migratekit.report._aggregate import Aggregator
from tests.report.logs import (
    call_lines,
    event_line,
    stage_error_line,
)


def test_slow_latencies_print_without_decimals() -> None:
    """Latencies of 100 ms and more show as whole milliseconds in the text report."""
    aggregator = Aggregator()
    aggregator.feed(call_lines(5, old_ms=150.4, new_ms=250.6))
    text = format_text(aggregator.report())
    assert "150 / 251" in text
    assert "251 ms vs 150 ms" in text


def test_text_report_escapes_what_would_drive_a_terminal() -> None:
    """Escape sequences, bidi overrides and newlines from the log are shown escaped."""
    aggregator = Aggregator()
    aggregator.feed([
        event_line(migration="red\x1b[31m", consistent=False, diff_paths=["p\nq", "\u202eevil"]),
        stage_error_line("m\x07", "v\x00\u2028"),
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
