"""
The two structlog set-ups the cases run under, switched within one process.

``dropped`` is what structlog's documentation recommends for production: a
filtering bound logger at WARNING, cached on first use, so every ``info``
event of a healthy migration is dropped. ``json`` is the README's production
logging: a filtering bound logger at INFO, cached on first use, rendering
every event as one JSON line into a real file, the way a service ships its
logs; with migratekit's defaults a call that went well writes nothing there
(its events are ``debug``), and ``migration.summary`` lines carry the counts.
``noop`` lets
every event through to a pipeline without processors whose logger returns at
once: what is left is the cost of building and handing over the events,
without the noise of rendering and file I/O.

structlog caches a logger on its first use (``cache_logger_on_first_use``),
and a cached logger ignores later calls to ``structlog.configure()``. To
switch between the two set-ups in one run, :meth:`Logs.use` makes the lazy
loggers held at module level in ``migratekit`` (and here) forget what they
cached, so that their next use assembles a logger from the new configuration.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

import migratekit

__all__ = ["SUMMARY_MARK", "Logs", "call_events"]

SUMMARY_MARK = b'"event": "migration.summary"'
"""What a ``migration.summary`` line holds, as structlog's JSONRenderer writes it."""


def call_events(level: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """
    A case's ``before`` and ``finish`` hooks that run its timed blocks with
    ``configure(call_events=level)`` and restore migratekit's default
    (``"debug"``) after each.
    """

    def before() -> None:
        migratekit.configure(call_events=level)

    def finish() -> None:
        migratekit.configure(call_events="debug")

    return before, finish


def summaries(data: bytes, migration: str | None = None,
              after: float | None = None) -> list[dict[str, Any]]:
    """
    The ``migration.summary`` events in *data* (JSON lines), of *migration*
    when given, and whose window ended after *after* (seconds since the
    epoch) when given.
    """
    found = []
    for line in data.splitlines():
        if SUMMARY_MARK not in line:
            continue
        event = json.loads(line)
        if migration is not None and event.get("migration") != migration:
            continue
        if after is not None and _seconds(event["until"]) <= after:
            continue
        found.append(event)
    return found


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _forget_cached_loggers() -> None:
    for name, module in list(sys.modules.items()):
        if not (name == "migratekit" or name.startswith(("migratekit.", "benchmarks."))):
            continue
        for value in list(vars(module).values()):
            if type(value).__name__ == "BoundLoggerLazyProxy":
                # The cached logger is an instance attribute shadowing the
                # class's ``bind``; without it the proxy assembles anew.
                vars(value).pop("bind", None)


class Logs:
    """Owns the JSON log file and switches structlog between the two set-ups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: TextIO = path.open("w+", encoding="utf-8")
        self.mode: str | None = None
        self.events_per_call: dict[str, int] = {}
        self.bytes_per_call: dict[str, float] = {}
        """The most bytes a call of a production-logging case wrote, summaries included."""
        self._mark = 0.0

    def use(self, mode: str) -> None:
        structlog.reset_defaults()
        if mode == "dropped":
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                cache_logger_on_first_use=True,
            )
        elif mode == "json":
            structlog.configure(
                processors=[
                    structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(),
                ],
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                logger_factory=structlog.WriteLoggerFactory(file=self.file),
                cache_logger_on_first_use=True,
            )
        elif mode == "noop":
            structlog.configure(
                processors=[],
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                logger_factory=structlog.ReturnLoggerFactory(),
                cache_logger_on_first_use=True,
            )
        else:
            raise ValueError(
                f"unknown logging mode {mode!r}; expected 'dropped', 'json' or 'noop'")
        _forget_cached_loggers()
        self.mode = mode

    def truncate(self) -> None:
        self.file.flush()
        self.file.seek(0)
        self.file.truncate()

    def start_clean(self) -> None:
        """
        A ``before`` hook: emit the summaries of the calls made so far (into
        the file, which is then emptied), so that the file gets only what the
        timed calls write.
        """
        migratekit.flush()
        self._mark = time.time()
        self.truncate()

    def read(self) -> bytes:
        self.file.flush()
        return self.path.read_bytes()

    def per_call_lines(self) -> int:
        """The lines in the file that are not summaries (a flusher may write those at any time)."""
        data = self.read()
        return data.count(b"\n") - data.count(SUMMARY_MARK)

    def close(self) -> None:
        self.file.close()

    def checker(self, name: str) -> Callable[[int], str | None]:
        """
        An ``after`` hook for a JSON case whose calls each write their events:
        checks that every call rendered the same whole number of events (not
        counting the summaries the background flusher may write meanwhile),
        and records that number.
        """

        def after(number: int) -> str | None:
            lines = self.per_call_lines()
            if lines < number:
                return (
                    f"{lines} JSON lines for {number} calls: events were not rendered "
                    "(a logger cached across structlog.configure()?)"
                )
            per_call, rest = divmod(lines, number)
            if rest:
                return f"{lines} JSON lines for {number} calls is not a whole number per call"
            if self.events_per_call.setdefault(name, per_call) != per_call:
                return f"{per_call} events per call, {self.events_per_call[name]} before"
            return None

        return after

    def volume_checker(self, name: str, migration: str) -> Callable[[int], str | None]:
        """
        An ``after`` hook for a production-logging case (its ``before`` is
        :meth:`start_clean`): a call that went well writes no line, so it
        flushes the summaries, checks that the file holds nothing else and
        that their ``calls`` add up to the calls made, and records the bytes
        written per call, summaries included.
        """

        def after(number: int) -> str | None:
            migratekit.flush()
            data = self.read()
            lines = data.count(b"\n") - data.count(SUMMARY_MARK)
            if lines:
                return (f"{lines} per-call lines for {number} calls: a call that went well "
                        "should write none with migratekit's defaults (call_events='debug')")
            # A flush that was under way when start_clean() ran may have written
            # a window that ended before it: not one of these calls.
            counted = sum(event["calls"] for event in summaries(data, migration, self._mark))
            if counted != number:
                return (f"the summaries of {migration!r} count {counted} calls, {number} were "
                        "made (a logger cached across structlog.configure()?)")
            per_call = len(data) / number
            self.bytes_per_call[name] = max(self.bytes_per_call.get(name, 0.0), per_call)
            return None

        return after
