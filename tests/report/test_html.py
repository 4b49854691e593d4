"""Tests of the HTML page of ``migratekit report`` (migratekit/report/_html.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from migratekit.report import Report, _html, render_html
from migratekit.report._aggregate import Aggregator
from tests.report.logs import (
    call_lines,
    known_calls,
    report_of,
    summary_event,
    write_library_log,
)


def _report(lines: list[bytes]) -> Report:
    aggregator = Aggregator()
    aggregator.feed(lines)
    return aggregator.report()


def _hostile_lines() -> list[bytes]:
    name = '<script>alert("x")</script>'
    lines = [line.replace(b'"migration": "m"', json.dumps({"migration": name})[1:-1].encode())
             for line in call_lines(20, bad=5)]
    lines.append(json.dumps({
        "event": "migration.op", "migration": name, "operation": "read", "stage": "shadow",
        "consistent": False, "call_id": "h-1", "diff_paths": ['"><img src=x onerror=alert(1)>'],
    }).encode())
    lines.append(json.dumps({
        "event": "migration.stage_error", "migration": name, "provider": "<b>P</b>",
        "source": "VAR", "value": "</td><script>", "error": "<i>bad</i>", "stage": "off",
    }).encode())
    return lines


def test_everything_from_the_log_is_escaped() -> None:
    """Names, paths and stage-error values from log lines never appear as markup."""
    page = render_html(_report(_hostile_lines()))
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>P</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_page_is_self_contained(tmp_path: Path) -> None:
    """No script, stylesheet, image or font is fetched: nothing refers outside the page."""
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    aggregator = Aggregator()
    aggregator.feed(log.read_bytes().splitlines())
    page = render_html(aggregator.report())
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="):
        assert needle not in page
    assert "default-src 'none'" in page
    assert page.count("<svg") == 3  # users.get: consistency and latency; users.save: latency


def test_charts_fall_back_to_line_numbers() -> None:
    """Without timestamps, the charts run over log lines."""
    page = render_html(_report(call_lines(30, bad=3)))
    assert "log line" in page
    assert "<polyline" in page


def test_empty_report_says_what_to_check() -> None:
    """A page without events says so, and hints at the logging set-up."""
    page = render_html(_report([b"hello"]))
    assert "No <code>migration.result</code>" in page
    assert "1 lines skipped" in page


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    """Chromium renders the page: a full-size screenshot, and a DOM with the charts in it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run must apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    log = tmp_path / "events.jsonl"
    write_library_log(log)
    aggregator = Aggregator()
    aggregator.feed(log.read_bytes().splitlines())
    page = tmp_path / "report.html"
    page.write_text(render_html(aggregator.report()), encoding="utf-8")
    flags = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    assert _png_size(shot) == (1200, 900)
    assert shot.stat().st_size > 20_000  # a blank page compresses to far less
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         timeout=120, check=True, text=True).stdout
    assert "users.get" in dom
    assert len(re.findall(r"<svg\b", dom)) == 3
    assert "address.zip" in dom


# -- tables and charts at their edges ------------------------------------------------------------


def _stamped(lines: list[bytes], start: float, step: float) -> list[bytes]:
    """*lines* with epoch timestamps from *start*, *step* seconds apart."""
    out = []
    for index, line in enumerate(lines):
        event = json.loads(line)
        event["timestamp"] = start + index * step
        out.append(json.dumps(event).encode())
    return out


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, flags=re.S)


def test_off_stage_shows_dashes_for_the_new_side() -> None:
    """In OFF the new side never ran: its errors and latencies show a dash; no line is drawn."""
    page = render_html(_report(call_lines(20, stage="off", old_ms=3.0)))
    assert '<td class="n">0 / \u2013</td>' in page
    assert '<td class="n">3 / \u2013</td>' in page
    assert "Where the sides differ" not in page
    (latency,) = _svgs(page)
    assert latency.count("<polyline") == 1
    assert 'stroke="#5b7083"' in latency
    assert 'stroke="#e0662b"' not in latency


@pytest.mark.parametrize(("step", "unit"), [(0.5, "s"), (20.0, "m"), (400.0, "h")])
def test_time_axis_labels_fit_the_span(step: float, unit: str) -> None:
    """The time axis counts seconds, minutes or hours since the first event, by the span."""
    lines = _stamped(call_lines(30, stage="off") + call_lines(30, bad=3), 1_700_000_000.0, step)
    page = render_html(_report(lines))
    labels = re.findall(r">\+([0-9.]+)([smh])</text>", page)
    assert ("0", "s") in labels
    assert {found_unit for number, found_unit in labels if number != "0"} == {unit}
    assert "time since 2023-11-14 22:13:20 UTC" in page


def test_two_stages_share_one_chart_of_at_most_60_bins() -> None:
    """Two stages in sequence are drawn on one axis, each line with no more than 60 points."""
    lines = _stamped(call_lines(300, stage="off") + call_lines(300, bad=30), 1_700_000_000.0, 1.0)
    page = render_html(_report(lines))
    consistency, latency = _svgs(page)
    assert ">OFF</text>" in latency
    assert ">SHADOW</text>" in latency
    assert consistency.count("<polyline") == 1
    assert latency.count("<polyline") == 3  # old in OFF, old and new in SHADOW
    for points in re.findall(r'<polyline points="([^"]*)"', page):
        assert 2 <= len(points.split()) <= 60


def test_one_timed_event_is_a_dot() -> None:
    """A single stamped event draws a dot, not a line."""
    page = render_html(_report(_stamped(call_lines(1, stage="off"), 1_700_000_000.0, 0.0)))
    (latency,) = _svgs(page)
    assert latency.count("<circle") == 1
    assert "<polyline" not in latency


def test_zero_latencies_get_a_unit_scale() -> None:
    """Latencies that are all 0 ms still give a y axis, from 0 to 1."""
    page = render_html(_report(call_lines(10, stage="off", old_ms=0.0)))
    (latency,) = _svgs(page)
    assert ">1</text>" in latency
    assert ">0</text>" in latency


def test_slow_latencies_get_a_round_scale() -> None:
    """A y axis for latencies of 150 ms tops at a round 200."""
    page = render_html(_report(call_lines(10, stage="off", old_ms=150.0)))
    (latency,) = _svgs(page)
    assert ">200</text>" in latency
    assert '<td class="n">150 / \u2013</td>' in page


def test_timestamp_beyond_the_calendar_is_no_timestamp() -> None:
    """Timestamps past the year 9999 are ignored: the chart runs over log lines."""
    page = render_html(_report(_stamped(call_lines(5, stage="off"), 1e20, 1e6)))
    assert "log line" in page
    assert "time since" not in page


def test_unrepresentable_first_time_is_named_plainly() -> None:
    """An axis start beyond the calendar is named 'the first event', not raised about."""
    assert _html._when(1e20) == "the first event"
    assert _html._when(0.0) == "1970-01-01 00:00:00 UTC"


def test_narrow_stage_band_has_no_label() -> None:
    """A stage too narrow on the axis to hold its name is drawn without one."""
    lines = call_lines(400, stage="off") + call_lines(1, bad=0)
    page = render_html(_report(lines))
    latency = _svgs(page)[-1]
    assert ">OFF</text>" in latency
    assert ">SHADOW</text>" not in latency
    assert latency.count('fill="' + "#") >= 2


def test_stamped_and_unstamped_stages_chart_by_line() -> None:
    """When one stage's events carry no timestamps, the chart runs over log lines."""
    lines = _stamped(call_lines(20, stage="off"), 1_700_000_000.0, 1.0) + call_lines(20, bad=2)
    page = render_html(_report(lines))
    assert "log line" in page
    assert "time since" not in page
    # Both stages are drawn, the stamped one too, from its position in the log.
    _, latency = _svgs(page)
    assert ">OFF</text>" in latency
    assert ">SHADOW</text>" in latency


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, 1.7e308, 5e-324, 0.0, -3.0])
def test_nice_max_is_total(value: float) -> None:
    """The y-axis scale returns for any float: no endless loop on inf, no overflow near 1e308."""
    import threading

    found: list[float] = []
    worker = threading.Thread(target=lambda: found.append(_html._nice_max(value)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert found, f"_nice_max({value!r}) did not return"
    assert found[0] > 0


def test_control_and_bidi_characters_are_escaped_in_the_page() -> None:
    """Control characters, bidi overrides and surrogates from the log are shown escaped."""
    name = "a\x1b[2J\u202eb\x00"
    lines = [json.dumps({
        "event": "migration.op", "migration": name, "operation": "read", "stage": "shadow",
        "consistent": False, "call_id": "c-1", "diff_paths": ["p\ud800\x07"],
    }).encode()]
    page = render_html(_report(lines))
    assert not [c for c in page if c not in "\n" and not c.isprintable()]
    assert "a\\x1b[2J\\u202eb\\x00" in page
    assert "p\ufffd\\x07" in page
    page.encode("utf-8")


def test_summaries_and_notes_on_the_page() -> None:
    """The page says what summaries were read and shows the counts the table has no column for."""
    event = summary_event(known_calls(30, seed=40), type_mismatches=2, warnings_suppressed=4)
    page = render_html(report_of([json.dumps(event).encode()], since=0.0))
    assert "summaries: 1 migration.summary from 1 process" in page
    assert "window: from 1970-01-01T00:00:00Z until -" in page
    assert "<h2>Also counted</h2>" in page
    assert "types differ in 6.7% of calls, 4 warnings suppressed" in page
