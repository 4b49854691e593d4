"""
What the report keeps about one migration, stage and operation: the
per-call events of each process apart, and the summaries of all processes
together, so that a process whose summaries were read is counted from them
alone (docs/design.md, "Summaries"); the stage's tails, by time and by line,
for the gate (:mod:`~migratekit.report._gate`); and example calls.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from migratekit.report._constants import COMPARED, NEW_RUNS
from migratekit.report._examples import Budget, Examples
from migratekit.report._tail import CHECKS, NEW_RESULTS, Tail
from migratekit.report._tally import Tally
from migratekit.report._timeline import Timeline

NO_PROCESS = ""
"""The part of per-call events whose process is unknown: always counted."""


class Entry:
    """
    What was read about one migration in one stage for one operation.

    *parts* holds the per-call events (``migration.result``,
    ``migration.op``) by process, the prefix of their ``call_id``;
    *summary* every ``migration.summary`` read. :meth:`total` adds them up,
    leaving out the per-call events of the processes whose summaries were read.

    In a stage where the new side runs, the counts also go into tails
    (:class:`Tail`) that keep the last *resolution* samples fine: per-call
    events and summaries apart, each by time and by line. :meth:`tail`
    picks one, as :meth:`timeline` does.
    """

    __slots__ = (
        "examples",
        "first_line",
        "first_time",
        "key",
        "last_line",
        "last_time",
        "line_timeline",
        "part_events",
        "parts",
        "summaries",
        "summary",
        "summary_timeline",
        "tails",
        "time_timeline",
        "untimed",
    )

    def __init__(self, key: tuple[str, str, str], resolution: int = 1000,
                 budget: Budget | None = None) -> None:
        self.key = key
        self.parts: dict[str, Tally] = {}
        self.part_events: dict[str, int] = {}
        self.summary = Tally()
        self.summaries = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.first_line: int | None = None
        self.last_line = 0
        self.untimed = 0
        self.time_timeline = Timeline(1.0 / 1024)
        self.line_timeline = Timeline(1.0)
        self.summary_timeline = Timeline(1.0)
        self.examples = Examples(budget or Budget())
        # Per-call events by time and by line, summaries by time and by line;
        # none in a stage where the new side does not run (it is always ready).
        self.tails: tuple[Tail, Tail, Tail, Tail] | None = None
        _, stage, operation = key
        if stage in NEW_RUNS[operation]:
            weight = CHECKS if operation == "read" and stage in COMPARED else NEW_RESULTS
            self.tails = (Tail(weight, resolution), Tail(weight, resolution),
                          Tail(weight, resolution), Tail(weight, resolution))

    @property
    def migration(self) -> str:
        """The migration's name."""
        return self.key[0]

    @property
    def stage(self) -> str:
        """The stage, lower case."""
        return self.key[1]

    @property
    def operation(self) -> str:
        """``read`` or ``write``."""
        return self.key[2]

    def part(self, process: str) -> Tally:
        """The tally of *process*'s per-call events, new if need be."""
        found = self.parts.get(process)
        if found is None:
            found = self.parts[process] = Tally()
            self.part_events[process] = 0
        self.part_events[process] += 1
        return found

    def _when(self, line: int, when: float | None) -> None:
        self.last_line = line
        if self.first_line is None:
            self.first_line = line
        if when is None:
            self.untimed += 1
            return
        if self.first_time is None or when < self.first_time:
            self.first_time = when
        if self.last_time is None or when > self.last_time:
            self.last_time = when

    def _points(self, line: int, when: float | None, values: tuple[float, ...]) -> None:
        tails = self.tails
        if tails is not None:
            tails[1].add_point(line, values)
            if when is not None:
                tails[0].add_point(when, values)

    def add_result(self, line: int, when: float | None, part: Tally, origin: str, ok: bool,
                   latency_ms: float, exc_type: str | None, call_id: object = None) -> None:
        """Count one ``migration.result`` into *part*."""
        self._when(line, when)
        part.add_result(origin, ok, latency_ms, exc_type)
        self.line_timeline.add_result(line, origin, latency_ms, ok)
        if when is not None:
            self.time_timeline.add_result(when, origin, latency_ms, ok)
        failed = 0.0 if ok else 1.0
        if origin == "old":
            self._points(line, when, (0, 0, 0, 0, 0, 1, failed, 0, 0))
        else:
            self._points(line, when, (0, 0, 0, 0, 0, 0, 0, 1, failed))
        if not ok:
            self.examples.add_error(origin, exc_type or "(unknown)", call_id)

    def add_op(self, line: int, when: float | None, part: Tally, consistent: bool | None,
               compare_error: bool, paths: list[str], *, ignored: bool = False,
               types: tuple[str, str] | None = None, call_id: object = None) -> None:
        """
        Count one ``migration.op`` into *part*: *ignored* when an ``ignore=``
        predicate accepted the difference (neither consistent nor
        inconsistent, whatever *consistent* says), *types* the two values'
        types when they differ.
        """
        self._when(line, when)
        if compare_error:
            part.compare_errors += 1
        if types is not None:
            part.type_mismatches += 1
            part.add_type_pair(types[0], types[1], 1)
        if ignored:
            part.ignored += 1
            consistent = None
        self._points(line, when, (consistent is not None, consistent is False, compare_error,
                                  ignored, types is not None, 0, 0, 0, 0))
        if consistent is None:
            return
        part.add_check(consistent, paths)
        self.line_timeline.add_check(line, consistent)
        if when is not None:
            self.time_timeline.add_check(when, consistent)
        if not consistent:
            self.examples.add_mismatch(call_id, paths)

    def add_summary(self, line: int, since: float, until: float, tally: Tally) -> None:
        """Count one ``migration.summary`` of the window [*since*, *until*)."""
        self.summaries += 1
        self.last_line = line
        if self.first_line is None:
            self.first_line = line
        if self.first_time is None or since < self.first_time:
            self.first_time = since
        if self.last_time is None or until > self.last_time:
            self.last_time = until
        self.summary.merge(tally)
        if self.tails is not None:
            values = (tally.checks, tally.inconsistent, tally.compare_errors, tally.ignored,
                      tally.type_mismatches, tally.results["old"], tally.errors["old"],
                      tally.results["new"], tally.errors["new"])
            self.tails[2].add_block(since, until, values)
            self.tails[3].add_block(line, line, values)
        old, new = tally.latency["old"], tally.latency["new"]
        counts = (tally.checks, tally.inconsistent, (old.count, old.total),
                  (new.count, new.total, tally.errors["new"]))
        self.summary_timeline.add_counts((since + until) / 2, *counts)
        self.line_timeline.add_counts(line, *counts)

    def total(self, summarised: Container[str]) -> tuple[Tally, int]:
        """
        Everything counted: the summaries, and the per-call events of the
        processes not in *summarised*; and how many per-call events were
        left out, their process's summaries counting them already.
        """
        total = Tally()
        total.merge(self.summary)
        left_out = 0
        for process, part in self.parts.items():
            if process != NO_PROCESS and process in summarised:
                left_out += self.part_events[process]
            else:
                total.merge(part)
        return total, left_out

    @property
    def timed(self) -> bool:
        """Whether every event was stamped, so that the stage can be placed in time."""
        return self.untimed == 0 and self.last_time is not None

    def tail(self, axis: str, summarised: Container[str] = frozenset()) -> Tail | None:
        """
        The tail to judge the stage by on *axis* (``"time"`` or ``"line"``):
        its summaries' when it has any, as summaries count every call of
        their processes and per-call events only some; else its per-call
        events', empty when all of them are of processes in *summarised*
        (whose summaries count them, as :meth:`total` does); ``None`` in a
        stage where the new side does not run.
        """
        tails = self.tails
        if tails is None:
            return None
        line = 0 if axis == "time" else 1
        if self.summaries:
            return tails[2 + line]
        if self.parts and all(process != NO_PROCESS and process in summarised
                              for process in self.parts):
            return Tail(CHECKS, 1)  # nothing of this stage counts: no evidence
        return tails[line]

    def timeline(self) -> tuple[str, list[dict[str, Any]]]:
        """The plot data: by time when every event was stamped, else by line."""
        if self.summaries:
            # Summaries count every call of their processes, per-call events
            # only some: the plot of an entry with summaries is theirs.
            return "time", self.summary_timeline.points()
        if self.untimed == 0 and self.last_time is not None:
            return "time", self.time_timeline.points()
        return "line", self.line_timeline.points()
