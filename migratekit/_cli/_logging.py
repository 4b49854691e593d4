"""
How the commands send migratekit's events while they run: as JSON lines into
a file (or standard error), the previous structlog configuration put back
after. A command is the application here, so it may configure logging; a
program that calls :func:`migratekit._cli.main` keeps its own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import structlog

__all__ = ["json_lines", "restore", "to_json_lines"]


def to_json_lines(file: TextIO) -> dict[str, Any] | None:
    """Send structlog's events at info and above to *file*; the configuration to restore."""
    previous = structlog.get_config() if structlog.is_configured() else None
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=file),
        # Not cached: migratekit's module-level logger must not keep a file
        # the command closes when it is done.
        cache_logger_on_first_use=False,
    )
    return previous


def restore(previous: dict[str, Any] | None) -> None:
    """Put back the configuration :func:`to_json_lines` returned."""
    if previous is None:
        structlog.reset_defaults()
    else:
        structlog.configure(**previous)


@contextlib.contextmanager
def json_lines(path: str | None) -> Iterator[None]:
    """While in use, events go to *path* (appended), or with no *path* to standard error."""
    with contextlib.ExitStack() as stack:
        log = sys.stderr if path is None else stack.enter_context(
            open(path, "a", encoding="utf-8"))
        previous = to_json_lines(log)
        try:
            yield
        finally:
            restore(previous)
