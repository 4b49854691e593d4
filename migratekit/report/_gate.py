"""
The gate with memory: a migration is judged along the path it took, not by
its current stage alone. A migration driven past SHADOW while SHADOW was on
hold is on hold in COMPLETE too, until a later clean window shows the
problem gone.

The rule, applied per migration and operation to the stages read (what
``--since``, ``--until`` and ``--migration`` leave in):

*Axis.* Stages are placed in time when every event of the migration and
operation carries a timestamp (a summary always does: ``since`` and
``until``), else by log line (the line of each event, counted across the
files in the order given).

*Path and current stage.* Each stage seen is one entry, however many times
the migration went through it. The *current* stage is the one whose last
event is the latest. A stage ranked below the current one in the stage
order (OFF, DUALWRITE, SHADOW, LIVE, RAMPDOWN, COMPLETE) was *left*: the
migration advanced past it. A stage ranked above the current one was rolled
back from, and does not hold it. A stage is *left at* its last event (a
summary's ``until``): one visited twice is judged as it was when last left.
:attr:`EntryReport.path` lists the stages in the order they were entered:
by their first event, or on the time axis by the first
``migration.stage_change`` into them when that came earlier.

*Window.* A stage's last window is the latest part of its tail
(:mod:`~migratekit.report._tail`) that holds at least ``min_samples``
samples, or all of it when it holds fewer. A sample is a comparison for
reads in SHADOW and LIVE and a new-side result otherwise, as for the
verdict. In the tail a per-call event is a point at its timestamp, and a
summary a block over [since, until] that is never split; per-call points
share a bin only up to 1/64 of ``min_samples`` samples. So a window holds
at least ``min_samples`` samples and more only by its earliest bin (a whole
summary). A stage with summaries is judged by its summaries alone, as they
count every call of their processes and per-call events only some.

*Ready when left.* A left stage was ready when it was left when its last
window, judged by the :class:`Thresholds` the current stage is judged by,
gives no reason to hold. Latency is the exception: a window keeps no
latency distribution, so the p99s are the whole stage's. A stage where the
new side does not run (OFF, reads in DUALWRITE) is always ready.

*Later clean window.* A left stage S that was on hold is *cleared* by a
stage T ranked above it whose last window begins at or after the moment S
was left (its earliest bin ends then or later), holds at least
``min_samples`` samples, gives evidence of every kind of problem S was held
for (:func:`~migratekit.report._verdict.measures`: comparisons in SHADOW
and LIVE reads; new-side results wherever the new side runs; latencies where
both sides run; types in SHADOW and LIVE), and gives no reason to hold of
those kinds. A problem no later stage can measure (inconsistencies past
LIVE) stays until ``--since`` leaves out the calls that showed it.

*Verdict.* Each left stage on hold and not cleared holds the current stage:
``hold: advanced past SHADOW while it was on hold (1.6% inconsistent)``,
before the current stage's own reasons; ``--check`` exits 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container, Mapping, Sequence
from typing import TYPE_CHECKING

from migratekit.report._constants import STAGE_RANK
from migratekit.report._tail import FIELDS, Window
from migratekit.report._verdict import EntryReport, Reason, Thresholds, measures, reasons

if TYPE_CHECKING:
    from migratekit.report._entry import Entry

Pair = tuple["Entry", EntryReport]


def axis_of(entries: Sequence[Entry]) -> str:
    """``"time"`` when every one of *entries* was stamped, else ``"line"``."""
    return "time" if all(entry.timed for entry in entries) else "line"


def last_at(entry: Entry, axis: str) -> float:
    """Where *entry*'s last event lies on *axis*."""
    if axis == "time" and entry.last_time is not None:
        return entry.last_time
    return float(entry.last_line)


def first_at(entry: Entry, axis: str) -> float:
    """Where *entry*'s first event lies on *axis*."""
    if axis == "time" and entry.first_time is not None:
        return entry.first_time
    return float(entry.first_line or 0)


def current_of(entries: Sequence[Entry]) -> Entry:
    """The entry whose last event came last (by line when tied)."""
    axis = axis_of(entries)
    return max(entries, key=lambda entry: (last_at(entry, axis), entry.last_line))


def apply_gate(pairs: Sequence[Pair], thresholds: Thresholds,
               summarised: Container[str] = frozenset(), *,
               entered_at: Mapping[str, float] | None = None) -> None:
    """
    Judge the path of one migration and operation (*pairs*: each stage's
    entry and report, one of them current) by the rule of this module:
    fill the reports' gate fields, and hold the current one when a stage
    it advanced past was left on hold and not cleared. *summarised* are the
    processes whose summaries were read (their per-call events do not count);
    *entered_at*, per stage, the time of the first recorded change into it.
    """
    entries = [entry for entry, _ in pairs]
    axis = axis_of(entries)
    current = next((report for _, report in pairs if report.current), None)
    if current is None:
        return
    changes = entered_at if entered_at and axis == "time" else {}

    def entered(pair: Pair) -> tuple[float, int]:
        first = first_at(pair[0], axis)
        return min(first, changes.get(pair[1].stage, first)), STAGE_RANK[pair[1].stage]

    current.path = [report.stage for _, report in sorted(pairs, key=entered)]
    rank = STAGE_RANK[current.stage]
    windows = {report.stage: _window(entry, report, axis, thresholds, summarised)
               for entry, report in pairs}
    held: list[str] = []
    for entry, report in sorted(pairs, key=lambda pair: STAGE_RANK[pair[1].stage]):
        if STAGE_RANK[report.stage] >= rank:
            continue
        found = windows[report.stage]
        if found is None:  # the new side does not run here: always ready
            continue
        window, judged = found
        found_reasons = reasons(judged, thresholds)
        report.left_window = {"axis": axis, "samples": window.samples,
                              "start": window.start, "end": window.end}
        report.left_verdict = (
            "hold: " + "; ".join(str(reason) for reason in found_reasons)
            if found_reasons else "ready when left")
        if not found_reasons:
            continue
        left_at = last_at(entry, axis)
        report.cleared_by = _cleared_by(report.stage, found_reasons, left_at, pairs, windows,
                                        thresholds)
        if report.cleared_by is None:
            held.append(f"advanced past {report.stage.upper()} while it was on hold ("
                        + ", ".join(reason.text for reason in found_reasons) + ")")
    current.held_by_path = held
    if held:
        own = current.verdict[len("hold: "):] if not current.ready else ""
        current.ready = False
        current.verdict = "hold: " + "; ".join([*held, *([own] if own else [])])


def _window(entry: Entry, report: EntryReport, axis: str, thresholds: Thresholds,
            summarised: Container[str]) -> tuple[Window, EntryReport] | None:
    """
    *entry*'s last window on *axis*, and *report* with the window's counts in
    its place; ``None`` where the new side does not run.
    """
    tail = entry.tail(axis, summarised)
    if tail is None:
        return None
    window = tail.window(thresholds.min_samples)
    if window is None:  # no sample of this stage counts: an empty window
        moment = last_at(entry, axis)
        window = Window(dict.fromkeys(FIELDS, 0), 0, moment, moment, moment)
    counts = window.counts
    judged = dataclasses.replace(
        report,
        calls=window.samples,
        consistency_checks=counts["checks"],
        inconsistent=counts["inconsistent"],
        compare_errors=counts["compare_errors"],
        ignored=counts["ignored"],
        type_mismatches=counts["type_mismatches"],
        results={"old": counts["old_results"], "new": counts["new_results"]},
        errors={"old": counts["old_errors"], "new": counts["new_errors"]},
    )
    return window, judged


def _cleared_by(stage: str, problems: list[Reason], left_at: float, pairs: Sequence[Pair],
                windows: dict[str, tuple[Window, EntryReport] | None],
                thresholds: Thresholds) -> str | None:
    """The first stage ranked above *stage* whose last window shows *problems* gone."""
    kinds = {reason.kind for reason in problems}
    for _, later in sorted(pairs, key=lambda pair: STAGE_RANK[pair[1].stage]):
        if STAGE_RANK[later.stage] <= STAGE_RANK[stage]:
            continue
        if not kinds <= measures(later.stage, later.operation):
            continue
        found = windows[later.stage]
        if found is None:
            continue
        window, judged = found
        if window.first_end < left_at or window.samples < thresholds.min_samples:
            continue
        if not any(reason.kind in kinds for reason in reasons(judged, thresholds)):
            return later.stage
    return None
