"""
Example calls, type mismatches and ignored mismatches in the report
(migratekit/report/_examples.py, _aggregate.py, _verdict.py, _text.py,
_html.py); and the small defects a trial saw: float noise in an interval,
overlapping stage labels, error counts of a side that never ran.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from migratekit._cli import main
from migratekit.report import Thresholds, format_text, render_html
from migratekit.report._constants import EXAMPLES, MAX_EXAMPLE_PATHS
from migratekit.report._examples import NO_PATH, Budget, Examples
from migratekit.report._html import _LABEL_CHAR_PX, _stage_labels
from migratekit.report._verdict import wilson_interval
from tests.report.logs import (
    T0,
    Call,
    call_lines,
    event_line,
    per_call_lines,
    report_of,
    summary_line,
)


def mismatches(n: int, paths: list[str], *, stage: str = "shadow", first: int = 1,
               **fields: Any) -> list[bytes]:
    """*n* inconsistent op events differing at *paths*, call_ids p1-<first>..."""
    return [event_line(stage=stage, consistent=False, call_id=f"p1-{first + i}",
                       diff_paths=paths, **fields) for i in range(n)]


# -- examples ------------------------------------------------------------------------------


def test_five_examples_per_path_the_last_read() -> None:
    """Each mismatch path keeps the call_ids of its last five mismatches, in order."""
    lines = mismatches(8, ["email"]) + mismatches(2, ["address.zip", "email"], first=100)
    (entry,) = report_of(lines).entries
    assert entry.examples["diff_paths"] == {
        "email": ["p1-6", "p1-7", "p1-8", "p1-100", "p1-101"],
        "address.zip": ["p1-100", "p1-101"],
    }


def test_examples_per_error_type_and_side() -> None:
    """Failed results give examples per side and exc_type; successes none."""
    calls = [Call(old_ms=1.0, new_ms=1.0, new_error="TimeoutError" if i % 3 == 0 else None,
                  consistent=True) for i in range(30)]
    lines = per_call_lines(calls)
    lines.append(event_line(result=True, origin="old", ok=False, exc_type="KeyError",
                            call_id="p1-900"))
    (entry,) = report_of(lines).entries
    assert entry.examples["errors"] == {
        "old": {"KeyError": ["p1-900"]},
        "new": {"TimeoutError": ["p1-16", "p1-19", "p1-22", "p1-25", "p1-28"]},
    }


def test_examples_in_text_json_and_html(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Text shows two per path and type, JSON all five, HTML all five in a <details>."""
    lines = mismatches(6, ["email"])
    lines += [event_line(result=True, origin="new", ok=False, exc_type="TimeoutError",
                         call_id=f"p1-{50 + i}") for i in range(3)]
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["report", str(log)]) == 0
    text = capsys.readouterr().out
    assert "    example call_ids: email p1-5, p1-6" in text
    assert "  m read SHADOW new side: TimeoutError x3 (call_ids p1-51, p1-52)" in text
    assert main(["report", "--format", "json", str(log)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["migrations"]
    assert entry["examples"]["diff_paths"]["email"] == [f"p1-{i}" for i in range(2, 7)]
    assert entry["examples"]["errors"]["new"]["TimeoutError"] == ["p1-50", "p1-51", "p1-52"]
    page = render_html(report_of(lines))
    assert re.search(r'<details class="ids"><summary>5 example calls</summary>'
                     r"(<code>p1-\d</code>){5}</details>", page)
    assert "<h2>Failures by type</h2>" in page
    assert "<summary>3 example calls</summary><code>p1-50</code>" in page


def test_mismatches_without_paths_have_examples_too() -> None:
    """Values without structure: the examples are under '(no path)'."""
    lines = [event_line(consistent=False, call_id=f"p1-{i}") for i in range(3)]
    report = report_of(lines)
    assert report.entries[0].examples["diff_paths"] == {NO_PATH: ["p1-0", "p1-1", "p1-2"]}
    assert "example call_ids: (no path) p1-1, p1-2" in format_text(report)
    assert "<code>p1-2</code>" in render_html(report)


def test_examples_are_bounded() -> None:
    """Past the caps, more paths and call_ids keep no examples; ids too long are none."""
    lines = [event_line(consistent=False, call_id=f"p1-{i}", diff_paths=[f"f{i}"])
             for i in range(MAX_EXAMPLE_PATHS + 20)]
    lines.append(event_line(consistent=False, call_id="x" * 65, diff_paths=["f0"]))
    (entry,) = report_of(lines).entries
    assert len(entry.examples["diff_paths"]) == MAX_EXAMPLE_PATHS
    assert entry.examples["diff_paths"]["f0"] == ["p1-0"]
    budget = Budget(3)
    first, second = Examples(budget), Examples(budget)
    first.add_mismatch("a-1", ["x", "y"])
    second.add_mismatch("a-2", ["x", "y"])
    assert (list(first.paths), list(second.paths), budget.left) == (["x", "y"], ["x"], 0)
    for i in range(100):
        first.add_mismatch(f"a-{i}", ["x"])
    assert len(first.paths["x"]) == EXAMPLES


def test_examples_from_the_log_are_made_safe() -> None:
    """Control and bidirectional characters in a call_id are escaped in text and HTML."""
    lines = [*mismatches(1, ["email"]),
             event_line(consistent=False, call_id="p1-\x1b[2J\u202e", diff_paths=["email"])]
    report = report_of(lines)
    text = format_text(report)
    assert "\x1b" not in text
    assert "p1-\\x1b[2J\\u202e" in text
    page = render_html(report)
    assert "\x1b" not in page
    assert "\u202e" not in page
    lines = [event_line(consistent=False, call_id="<b>x</b>", diff_paths=["a"])]
    assert "<b>x</b>" not in render_html(report_of(lines))


def test_summaries_name_no_calls() -> None:
    """A summary counts calls without naming them: no examples."""
    calls = [Call(old_ms=1.0, new_ms=1.0, consistent=False, paths=("email",))]
    (entry,) = report_of([summary_line(calls)]).entries
    assert entry.examples["diff_paths"] == {}


# -- types -------------------------------------------------------------------------------------


def _typed(lines: list[bytes], types: dict[str, Any] | None, every: int = 1) -> list[bytes]:
    out, seen = [], 0
    for line in lines:
        event = json.loads(line)
        if event["event"] == "migration.op":
            if types is not None and seen % every == 0:
                event["types"] = types
            seen += 1
        out.append(json.dumps(event).encode())
    return out


def test_types_show_in_the_row_json_and_html(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """'types differ in 100% of calls: old User, new dict': text, JSON, HTML."""
    lines = _typed(call_lines(1000), {"old": "User", "new": "dict"})
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["report", str(log)]) == 0
    text = capsys.readouterr().out
    assert "m read SHADOW: types differ in 100% of calls: old User, new dict" in text
    assert main(["report", "--format", "json", str(log)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["migrations"]
    assert entry["types"] == [{"old": "User", "new": "dict", "count": 1000}]
    assert entry["type_mismatches"] == 1000
    assert entry["type_mismatch_rate"] == 1.0
    assert "types differ in 100% of calls: old User, new dict" in render_html(report_of(lines))


def test_types_hold_shadow_and_live_unless_allowed(tmp_path: Path) -> None:
    """The step to LIVE and LIVE itself hold on differing types; --allow-type-change passes."""
    for stage in ("shadow", "live"):
        lines = _typed(call_lines(1000, stage=stage), {"old": "User", "new": "dict"}, every=10)
        (entry,) = report_of(lines).entries
        assert entry.verdict == "hold: types differ in 10% of calls: old User, new dict " \
                                "(allow with --allow-type-change)"
        (allowed,) = report_of(lines, Thresholds(allow_type_change=True)).entries
        assert allowed.ready, allowed.verdict
        log = tmp_path / f"{stage}.jsonl"
        log.write_bytes(b"\n".join(lines) + b"\n")
        assert main(["report", "--check", str(log)]) == 1
        assert main(["report", "--check", "--allow-type-change", str(log)]) == 0
    # Consistent values of the same types: nothing to say, nothing held.
    (clean,) = report_of(call_lines(1000)).entries
    assert clean.ready
    assert clean.types_summary() is None


def test_types_do_not_hold_where_the_sides_are_not_compared() -> None:
    """RAMPDOWN and COMPLETE run one side: a types field there is noted, not held."""
    lines = _typed(call_lines(1000, stage="complete"), {"old": "User", "new": "dict"})
    (entry,) = report_of(lines).entries
    assert entry.ready, entry.verdict
    assert entry.notes()[0].startswith("types differ in 100% of calls")


def test_the_most_frequent_pair_is_shown_and_summaries_merge_pairs() -> None:
    """Summaries' types lists and op events' types add up; the row shows the top pair."""
    calls = [Call(old_ms=1.0, new_ms=1.0, consistent=True) for _ in range(100)]
    lines = [summary_line(calls, process="a", type_mismatches=30,
                          types=[{"old": "User", "new": "dict", "count": 20},
                                 {"old": "int", "new": "float", "count": 10}]),
             summary_line(calls, process="b", type_mismatches=15,
                          types=[{"old": "int", "new": "float", "count": 15}])]
    lines += _typed([event_line(call_id=f"c-{i}") for i in range(6)],
                    {"old": "User", "new": "dict"})
    (entry,) = report_of(lines).entries
    assert entry.type_pairs == [{"old": "User", "new": "dict", "count": 26},
                                {"old": "int", "new": "float", "count": 25}]
    assert entry.type_mismatches == 51
    assert entry.types_summary() == "types differ in 25% of calls: old User, new dict"


@pytest.mark.parametrize("types", [
    "User", [{"old": "User", "new": "dict"}], [{"old": 1, "new": "dict", "count": 1}],
    [{"old": "a", "new": "b", "count": -1}], [["User", "dict", 1]],
    [{"old": "a", "new": "b", "count": 1}] * 65,
])
def test_a_summary_with_bad_types_is_malformed(types: Any) -> None:
    """A types field that is no list of {old, new, count}: the summary is not counted."""
    calls = [Call(old_ms=1.0, new_ms=1.0, consistent=True)]
    report = report_of([summary_line(calls, type_mismatches=1, types=types)])
    assert report.entries == []
    assert report.skipped == {"malformed": 1}


def test_odd_types_in_op_events_are_counted_without_names() -> None:
    """An op event's types that is an object counts; names that are not strings show as ?."""
    lines = [event_line(call_id="c-1", types={"old": 3, "new": ["x"]}),
             event_line(call_id="c-2", types="User"),
             event_line(call_id="c-3", types={"old": "A" * 500, "new": "\ud800"})]
    (entry,) = report_of(lines).entries
    assert entry.type_mismatches == 2
    assert {"old": "?", "new": "?", "count": 1} in entry.type_pairs
    assert {"old": "A" * 200, "new": "\ufffd", "count": 1} in entry.type_pairs


# -- ignored -----------------------------------------------------------------------------------


def test_ignored_mismatches_are_counted_apart() -> None:
    """ignored: true is neither consistent nor inconsistent; text, JSON and HTML show it."""
    lines = call_lines(1000)
    lines += [event_line(consistent=None, ignored=True, call_id=f"i-{i}") for i in range(7)]
    lines += [event_line(consistent=False, ignored=True, call_id="i-x")]  # ignored wins
    report = report_of(lines)
    (entry,) = report.entries
    assert (entry.consistency_checks, entry.inconsistent, entry.ignored) == (1000, 0, 8)
    assert entry.ready, entry.verdict
    assert entry.to_json()["ignored"] == 8
    assert "m read SHADOW: 8 mismatches ignored (ignore=)" in format_text(report)
    assert "8 mismatches ignored (ignore=)" in render_html(report)


def test_ignored_from_summaries() -> None:
    """A summary's ignored count adds to the per-call ones of other processes."""
    calls = [Call(old_ms=1.0, new_ms=1.0, consistent=True) for _ in range(10)]
    lines = [summary_line(calls, ignored=4),
             event_line(consistent=None, ignored=True, call_id="q-1")]
    (entry,) = report_of(lines).entries
    assert entry.ignored == 5
    assert entry.consistency_checks == 10
    report = report_of([summary_line(calls, ignored=-1)])
    assert report.skipped == {"malformed": 1}


# -- the small defects -------------------------------------------------------------------------


def test_zero_shows_as_zero_percent() -> None:
    """No inconsistency: '0 = 0% (0%-0.38%)', not 4.3e-17%; all of them: the top is 100%."""
    assert all(wilson_interval(0, n)[0] == 0.0 for n in range(1, 5000))
    assert all(wilson_interval(n, n)[1] == 1.0 for n in range(1, 5000))
    text = format_text(report_of(call_lines(1000)))
    assert "0 = 0% (0%-0.38%)" in text
    assert "e-" not in text
    page = render_html(report_of(call_lines(1000)))
    assert "0 = 0% (0%\u20130.38%)" in page


def test_errors_of_a_side_that_never_ran_are_null(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """JSON: errors null for a side without results, as its latency is; 0 where it ran."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(5, stage="off") + call_lines(5, stage="complete")
                               + call_lines(5, stage="shadow")) + b"\n")
    assert main(["report", "--format", "json", str(log)]) == 0
    entries = {e["stage"]: e for e in json.loads(capsys.readouterr().out)["migrations"]}
    assert entries["off"]["errors"] == {"old": 0, "new": None}
    assert entries["complete"]["errors"] == {"old": None, "new": 0}
    assert entries["shadow"]["errors"] == {"old": 0, "new": 0}
    assert entries["off"]["latency_ms"]["new"] is None


def test_stage_labels_never_overlap() -> None:
    """Narrow bands get a short name, a letter, or nothing; labels never touch."""
    bands = [("live", 58.0, 300.0), ("rampdown", 300.0, 352.0), ("complete", 352.0, 400.0),
             ("shadow", 0.0, 58.0)]
    labels = _stage_labels(bands)
    assert [label for label, _ in labels] == ["SHADOW", "LIVE", "RAMP", "COMP"]
    extents = sorted((x - len(label) * _LABEL_CHAR_PX / 2, x + len(label) * _LABEL_CHAR_PX / 2)
                     for label, x in labels)
    for (_, right), (left, _) in itertools.pairwise(extents):
        assert left > right
    assert _stage_labels([("rampdown", 10.0, 13.0)]) == []
    assert _stage_labels([("rampdown", 10.0, 20.0)]) == [("R", 15.0)]
    # Overlapping bands (stages overlapping in time): the second label gives way.
    assert [label for label, _ in _stage_labels([("live", 0.0, 100.0),
                                                 ("rampdown", 10.0, 90.0)])] == ["LIVE"]


_MEASURE = """<!DOCTYPE html><html><body>%s<script>
const out = [];
for (const svg of document.querySelectorAll("svg")) {
  const rects = [...svg.querySelectorAll("rect")].map(r => r.getBBox());
  for (const t of svg.querySelectorAll("text[font-size='10']")) {
    const b = t.getBBox();
    out.push({label: t.textContent, left: b.x, right: b.x + b.width,
              band: rects.some(r => b.x >= r.x - 0.5 && b.x + b.width <= r.x + r.width + 0.5)});
  }
}
const pre = document.createElement("pre");
pre.id = "measured";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script></body></html>"""


def test_stage_labels_do_not_overlap_in_chromium(tmp_path: Path) -> None:
    """The labels as Chromium lays them out: each inside its band, none over another."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run must apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    # SHADOW and LIVE wide, RAMPDOWN and COMPLETE a few dozen pixels each: the trial's chart.
    lines: list[bytes] = []
    start = T0
    for index, (stage, seconds) in enumerate((("shadow", 400), ("live", 400),
                                              ("rampdown", 80), ("complete", 80))):
        calls = [Call(old_ms=1.0 if stage in ("shadow", "live") else None, new_ms=2.0,
                      consistent=True if stage in ("shadow", "live") else None)
                 for _ in range(seconds)]
        lines += per_call_lines(calls, stage=stage, start=start, step=1.0,
                                first=1 + 1000 * index)
        start += seconds
    page = render_html(report_of(lines))
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert svgs
    probe = tmp_path / "probe.html"
    probe.write_text(_MEASURE % "".join(svgs), encoding="utf-8")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=2000", "--dump-dom", probe.as_uri()],
        capture_output=True, timeout=120, check=True, text=True).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, flags=re.S)
    assert found is not None, dom[-500:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert {item["label"] for item in measured} >= {"SHADOW", "LIVE", "RAMP", "COMP"}
    per_chart = len(measured) // len(svgs)
    for chart in range(len(svgs)):
        labels = sorted(measured[chart * per_chart:(chart + 1) * per_chart],
                        key=lambda item: item["left"])
        for item in labels:
            assert item["band"], item
        for before, after in itertools.pairwise(labels):
            assert after["left"] >= before["right"], (before, after)
