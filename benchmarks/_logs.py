"""
The two structlog set-ups the cases run under, switched within one process.

``dropped`` is what structlog's documentation recommends for production: a
filtering bound logger at WARNING, cached on first use, so every ``info``
event of a healthy migration is dropped. ``json`` renders every event as one
JSON line into a real file, the way a service ships its logs. ``noop`` lets
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

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import structlog

__all__ = ["Logs"]


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

    def lines(self) -> int:
        self.file.flush()
        with self.path.open("rb") as reader:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: reader.read(1 << 16), b""))

    def close(self) -> None:
        self.file.close()

    def checker(self, name: str) -> Callable[[int], str | None]:
        """
        An ``after`` hook for a JSON case: checks that every call rendered the
        same whole number of events, and records that number.
        """

        def after(number: int) -> str | None:
            lines = self.lines()
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
