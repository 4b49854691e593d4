"""
Reading log files into a report: plain or gzip files, or standard input,
each line read with at most :data:`~migratekit.report._constants.MAX_LINE_BYTES`
held in memory, and progress shown on standard error for large inputs.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from migratekit.exceptions import MigrateKitError
from migratekit.report._aggregate import Aggregator, iter_lines
from migratekit.report._select import patterns_from
from migratekit.report._timestamps import as_moment
from migratekit.report._verdict import Report, Thresholds

PROGRESS_MIN_BYTES = 32 * 1024 * 1024
"""Inputs smaller than this never show progress (standard input always may)."""

_PROGRESS_EVERY_LINES = 1 << 16
_PROGRESS_INTERVAL = 0.5

class InputError(MigrateKitError, OSError):
    """
    A log file :func:`build_report` cannot read (missing, unreadable, a
    broken gzip stream): the message is the one line to show, such as
    ``cannot read app.log: No such file or directory``.
    """


class _Progress:
    """``\\r``-updated progress on standard error, for large inputs on a terminal."""

    def __init__(self, total_bytes: int | None, enabled: bool) -> None:
        self.total = total_bytes
        self.enabled = enabled
        self.done_bytes = 0
        self.shown = False
        self._next = time.monotonic() + _PROGRESS_INTERVAL

    def tick(self, lines: int, position: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _PROGRESS_INTERVAL
        done = self.done_bytes + position
        if self.total:
            text = f"{_size(done)} of {_size(self.total)} ({100 * done / self.total:.0f}%)"
        else:
            text = f"{_size(done)}"
        sys.stderr.write(f"\rmigratekit report: {text}, {lines:,} lines ")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def _open(path: str) -> tuple[Any, Any]:
    """*path* opened for reading (decompressed when gzip), and the raw file under it."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    except OSError as exc:
        raw.close()
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def _stdin() -> Any:
    if sys.stdin is None:  # started with standard input closed (`<&-`)
        raise InputError("cannot read standard input: it is closed")
    buffer: IO[bytes] | None = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a replaced sys.stdin without a binary buffer
        return _TextAsBytes(sys.stdin)
    return buffer


class _TextAsBytes:
    """A binary ``readline`` over a text stream."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text

    def readline(self, limit: int = -1) -> bytes:
        return self._text.readline(limit).encode("utf-8", "replace")

    def tell(self) -> int:
        return 0


def _feed(aggregator: Aggregator, stream: Any, raw: Any, progress: _Progress) -> None:
    for lines, line in enumerate(iter_lines(stream), 1):
        if line is None:
            aggregator.too_long()
        else:
            aggregator.feed_line(line)
        if progress.enabled and lines % _PROGRESS_EVERY_LINES == 0:
            try:
                position = raw.tell()
            except (OSError, ValueError):
                position = 0
            progress.tick(aggregator.lines, position)


def build_report(paths: Sequence[str], thresholds: Thresholds | None = None, *,
                 progress: bool = False, since: datetime | float | str | None = None,
                 until: datetime | float | str | None = None,
                 migrations: Iterable[str] | None = None) -> Report:
    """
    Read migratekit's JSON log lines from every file of *paths* and return
    the :class:`Report` on them.

    A path is a plain or gzip-compressed file, or ``-`` for standard input
    (no paths at all read standard input too). *thresholds* decide the
    verdicts (the defaults of :class:`Thresholds` when ``None``). With
    *progress*, large inputs show how far the reading has come on standard
    error. Lines that are not migratekit events are skipped and counted in
    :attr:`Report.skipped`; a file that cannot be read raises
    :class:`InputError`.

    *since* and *until* keep what happened in [since, until): per-call
    events by their timestamp (those without one are kept, and counted in
    :attr:`Report.kept_without_timestamp`), summaries whose window overlaps
    it. Each is a ``datetime`` (naive is UTC), seconds since the epoch, or a
    string as ``--since`` takes it: ``2026-12-01T03:00:00Z`` or ``15m``
    back from now. A string that is neither raises ``ValueError``.

    *migrations*, a list of names or shell globs (``["users.*"]``), keeps
    the events of the migrations that match one of them; the others are
    skipped as ``not_selected``. ``None`` keeps all.

    Each migration's current stage is judged along its path
    (:mod:`~migratekit.report._gate`): a stage it advanced past while that
    stage was on hold holds it, until a later clean window.
    """
    now = time.time()
    low, high = as_moment(since, now), as_moment(until, now)
    thresholds = thresholds or Thresholds()
    selection = patterns_from(migrations)
    sources = list(paths) or ["-"]
    opened: list[tuple[str, Any, Any]] = []
    total = 0
    try:
        for path in sources:
            if path == "-":
                stream = _stdin()
                opened.append((path, stream, stream))
                total = -1
                continue
            stream, raw = _open(path)
            opened.append((path, stream, raw))
            if total >= 0:
                try:
                    total += os.fstat(raw.fileno()).st_size
                except (OSError, ValueError, AttributeError):
                    total = -1
        large = total < 0 or total >= PROGRESS_MIN_BYTES
        meter = _Progress(total if total > 0 else None, progress and large)
        aggregator = Aggregator(since=low, until=high, migrations=selection,
                                resolution=thresholds.min_samples)
        for path, stream, raw in opened:
            try:
                _feed(aggregator, stream, raw, meter)
            # ValueError: a closed stream, or a text stdin that cannot decode.
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                shown = "standard input" if path == "-" else path
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise InputError(f"cannot read {shown}: {reason}") from None
            if meter.total:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    meter.done_bytes += os.fstat(raw.fileno()).st_size
        meter.finish()
    finally:
        for path, stream, raw in opened:
            if path != "-":
                stream.close()
                raw.close()
    report = aggregator.report(thresholds)
    report.sources = ["standard input" if path == "-" else path for path in sources]
    return report
