"""Tests of the HTML page of ``migratekit report`` (migratekit/_html.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from migratekit._html import render
from migratekit._report import Aggregator, Report
from tests.test_report import _calls, write_library_log


def _report(lines: list[bytes]) -> Report:
    aggregator = Aggregator()
    aggregator.feed(lines)
    return aggregator.report()


def _hostile_lines() -> list[bytes]:
    name = '<script>alert("x")</script>'
    lines = [line.replace(b'"migration": "m"', json.dumps({"migration": name})[1:-1].encode())
             for line in _calls(20, bad=5)]
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
    page = render(_report(_hostile_lines()))
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
    page = render(aggregator.report())
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="):
        assert needle not in page
    assert "default-src 'none'" in page
    assert page.count("<svg") == 3  # users.get: consistency and latency; users.save: latency


def test_charts_fall_back_to_line_numbers() -> None:
    """Without timestamps, the charts run over log lines."""
    page = render(_report(_calls(30, bad=3)))
    assert "log line" in page
    assert "<polyline" in page


def test_empty_report_says_what_to_check() -> None:
    """A page without events says so, and hints at the logging set-up."""
    page = render(_report([b"hello"]))
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
    page.write_text(render(aggregator.report()), encoding="utf-8")
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
