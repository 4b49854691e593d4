"""
What the report keeps about one migration, stage and operation: the
per-call events of each process apart, and the summaries of all processes
together, so that a process whose summaries were read is counted from them
alone (docs/design.md, "Summaries").
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

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
    """

    __slots__ = (
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
        "time_timeline",
        "untimed",
    )

    def __init__(self, key: tuple[str, str, str]) -> None:
        self.key = key
        self.parts: dict[str, Tally] = {}
        self.part_events: dict[str, int] = {}
        self.summary = Tally()
        self.summaries = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.last_line = 0
        self.untimed = 0
        self.time_timeline = Timeline(1.0 / 1024)
        self.line_timeline = Timeline(1.0)
        self.summary_timeline = Timeline(1.0)

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
        if when is None:
            self.untimed += 1
            return
        if self.first_time is None or when < self.first_time:
            self.first_time = when
        if self.last_time is None or when > self.last_time:
            self.last_time = when

    def add_result(self, line: int, when: float | None, part: Tally, origin: str, ok: bool,
                   latency_ms: float, exc_type: str | None) -> None:
        """Count one ``migration.result`` into *part*."""
        self._when(line, when)
        part.add_result(origin, ok, latency_ms, exc_type)
        self.line_timeline.add_result(line, origin, latency_ms, ok)
        if when is not None:
            self.time_timeline.add_result(when, origin, latency_ms, ok)

    def add_op(self, line: int, when: float | None, part: Tally, consistent: bool | None,
               compare_error: bool, paths: list[str]) -> None:
        """Count one ``migration.op`` into *part*."""
        self._when(line, when)
        if compare_error:
            part.compare_errors += 1
        if consistent is None:
            return
        part.add_check(consistent, paths)
        self.line_timeline.add_check(line, consistent)
        if when is not None:
            self.time_timeline.add_check(when, consistent)

    def add_summary(self, line: int, since: float, until: float, tally: Tally) -> None:
        """Count one ``migration.summary`` of the window [*since*, *until*)."""
        self.summaries += 1
        self.last_line = line
        if self.first_time is None or since < self.first_time:
            self.first_time = since
        if self.last_time is None or until > self.last_time:
            self.last_time = until
        self.summary.merge(tally)
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

    def timeline(self) -> tuple[str, list[dict[str, Any]]]:
        """The plot data: by time when every event was stamped, else by line."""
        if self.summaries:
            # Summaries count every call of their processes, per-call events
            # only some: the plot of an entry with summaries is theirs.
            return "time", self.summary_timeline.points()
        if self.untimed == 0 and self.last_time is not None:
            return "time", self.time_timeline.points()
        return "line", self.line_timeline.points()
