"""
What the calls add up to, in the process: per (migration, operation, stage),
the calls, each side's results and latencies, the comparisons; and the
``migration.summary`` events that carry it, one window at a time.

Each thread counts into rows of its own (a shard), so that counting takes no
lock and loses nothing, with the GIL or without it: one writer per row, and
the readers (the flusher, a metrics collector) add the shards up. Counts only
grow; a window's numbers are what they grew by since the window before. A
thread that ended leaves its counts to the process's retired totals.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from migratekit import _events, _pool
from migratekit._compat import PROPAGATES
from migratekit._schema import LATENCY_GAMMA, SUMMARY_EVENT, authoritative
from migratekit._settings import settings
from migratekit._types import Origin, Stage

__all__ = [
    "EXACT_LATENCIES",
    "INVERSE_LOG_GAMMA",
    "LATENCY_STRIDE",
    "TYPES_LIMIT",
    "Row",
    "Totals",
    "add_reader",
    "adrain",
    "drain",
    "flush",
    "key_for",
    "remove_reader",
    "restart",
    "row",
    "start",
    "stop",
    "totals",
]

INVERSE_LOG_GAMMA = 1.0 / math.log(LATENCY_GAMMA)
"""A latency of ``ms`` milliseconds is in bucket ``ceil(log(ms) * INVERSE_LOG_GAMMA)``."""
_BUCKETS_LIMIT = 4096
"""Distinct latency buckets one side keeps; past that a latency counts as the largest bucket."""
_PATHS_LIMIT = 256
TYPES_LIMIT = 8
"""Distinct (old, new) pairs of class names a row keeps; past that only ``type_mismatches``."""

EXACT_LATENCIES = 1024
LATENCY_STRIDE = 8
"""
Each side's latencies go into its histogram one by one up to the
:data:`EXACT_LATENCIES`-th success (and failure) a thread counts for a key;
from then on one in :data:`LATENCY_STRIDE`, counted that many times: a
systematic sample on each side's own count of successes (and of failures),
so a side's histogram stays within a stride of each, and the call's path does
the logarithm once in eight calls.
"""
_ERRORS_LIMIT = 64


# -- the keys: one small int per (migration, operation, stage) ----------------------------------

_keys: dict[tuple[str, str, str], int] = {}
_names: list[tuple[str, str, str]] = []
_authoritative: list[int] = []
"""By key: the side (0 old, 1 new) every call of the stage runs: its results count the calls."""
_keys_lock = threading.Lock()


def key_for(migration: str, operation: str, stage: str) -> int:
    """The number that stands for (*migration*, *operation*, *stage*) in every shard."""
    name = (migration, operation, stage)
    key = _keys.get(name)
    if key is None:
        with _keys_lock:
            key = _keys.get(name)
            if key is None:
                _authoritative.append(0 if authoritative(Stage(stage)) is Origin.OLD else 1)
                _names.append(name)
                key = _keys[name] = len(_names) - 1
    return key


# -- a row: what one thread counted for one key ----------------------------------------------


class Row:
    """
    What one thread counted for one (migration, operation, stage); sides are
    indexed 0 (old) and 1 (new). Written only by its thread; read by anyone.

    The hot path does as little as it can: ``calls``, ``latency_sum`` and
    ``latency_max`` are worked out when rows are added up (:func:`totals`):
    the calls from the authoritative side's results, the sum (within 1%) and
    the largest latency (within 2%) from the latency buckets.
    """

    __slots__ = (
        "buckets", "calls", "checks", "compare_errors", "dropped", "errors", "failed",
        "ignored", "inconsistent", "latency_max", "latency_sum", "ok", "paths", "skipped",
        "suppressed", "type_mismatches", "types", "zeros",
    )  # fmt: skip

    def __init__(self) -> None:
        self.calls = 0
        self.ok = [0, 0]
        self.failed = [0, 0]
        self.errors: list[dict[str, int]] = [{}, {}]
        self.latency_sum = [0.0, 0.0]
        self.latency_max = [0.0, 0.0]
        self.zeros = [0, 0]
        self.buckets: list[dict[int, int]] = [{}, {}]
        self.checks = 0
        self.inconsistent = 0
        self.compare_errors = 0
        self.type_mismatches = 0
        self.types: dict[tuple[str, str], int] = {}
        self.ignored = 0
        self.paths: dict[str, int] = {}
        self.dropped = 0
        self.skipped = 0
        self.suppressed = 0

    def timed(self, side: int, seconds: float, weight: int = 1) -> None:
        """Count one latency of *side*, *weight* times (see :data:`EXACT_LATENCIES`)."""
        # migratekit._quiet inlines this: change both together.
        ms = seconds * 1000.0
        if ms > 0.0:
            index = math.ceil(math.log(ms) * INVERSE_LOG_GAMMA)
            try:
                self.buckets[side][index] += weight
            except KeyError:
                self.new_bucket(side, index, weight)
        else:
            self.zeros[side] += weight

    def new_bucket(self, side: int, index: int, weight: int) -> None:
        """Count the first latency of bucket *index* of *side*; bounded, as values come in."""
        buckets = self.buckets[side]
        if len(buckets) >= _BUCKETS_LIMIT:
            index = max(buckets)  # the largest bucket kept takes it: the counts stay right
        buckets[index] = buckets.get(index, 0) + weight

    def result(self, side: int, ok: bool, seconds: float, exc_type: str | None = None) -> None:
        """Count one result of *side*: ok or failed (with the exception's class name)."""
        if ok:
            n = self.ok[side] = self.ok[side] + 1
        else:
            n = self.failed[side] = self.failed[side] + 1
            errors = self.errors[side]
            name = exc_type or "?"
            if name in errors or len(errors) < _ERRORS_LIMIT:
                errors[name] = errors.get(name, 0) + 1
            else:
                errors["(other)"] = errors.get("(other)", 0) + 1
        if n <= EXACT_LATENCIES:
            self.timed(side, seconds)
        elif not n % LATENCY_STRIDE:
            self.timed(side, seconds, LATENCY_STRIDE)

    def compared(self, consistent: bool | None, error: str | None, paths: list[str] | None,
                 types: tuple[str, str] | None = None, ignored: bool = False) -> None:
        """
        Count one comparison of two reads (the fields of a
        ``migratekit._judge.Comparison``, in its order). One that ``ignore``
        accepted is neither consistent nor inconsistent: it counts apart.
        """
        if error is not None:
            self.compare_errors += 1
            return
        if types is not None:
            self.mistyped(types)
        if ignored:
            self.ignored += 1
            return
        if consistent is None:
            return
        self.checks += 1
        if consistent is False:
            self.inconsistent += 1
            for path in paths or ():
                if path in self.paths or len(self.paths) < _PATHS_LIMIT:
                    self.paths[path] = self.paths.get(path, 0) + 1

    def mistyped(self, types: tuple[str, str]) -> None:
        """Count a comparison of values of two classes, named *types* (old, new)."""
        # migratekit._quiet calls it for a call that is otherwise counted inline.
        self.type_mismatches += 1
        counts = self.types
        if types in counts or len(counts) < TYPES_LIMIT:
            counts[types] = counts.get(types, 0) + 1


# -- shards ------------------------------------------------------------------------------------


class _Shard:
    """One thread's rows."""

    __slots__ = ("__weakref__", "rows", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.rows: dict[int, Row] = {}
        self.thread = weakref.ref(thread)


here = threading.local()
"""This thread's shard: ``here.rows``, by key (the quiet path reads its row from it)."""
_shards: list[_Shard] = []
_shards_lock = threading.Lock()
_retired: dict[int, Row] = {}
"""The counts of the threads that ended, added up (under _shards_lock)."""


def row(key: int) -> Row:
    """This thread's row for *key*: the one it counts into."""
    try:
        rows: dict[int, Row] = here.rows
    except AttributeError:
        rows = _new_shard()
    found = rows.get(key)
    if found is None:
        found = rows[key] = Row()
    return found




def _new_shard() -> dict[int, Row]:
    shard = _Shard(threading.current_thread())
    with _shards_lock:
        _shards.append(shard)
    here.rows = shard.rows
    return shard.rows


def _retire_ended() -> None:
    """Add the rows of threads that ended to the retired totals (under _shards_lock)."""
    alive = []
    for shard in _shards:
        thread = shard.thread()
        if thread is not None and thread.is_alive():
            alive.append(shard)
            continue
        for key, ended in list(shard.rows.items()):
            _add(_retired.setdefault(key, Row()), ended)
    _shards[:] = alive


# -- totals ------------------------------------------------------------------------------------


class Totals:
    """
    What one (migration, operation, stage) counted since the process started
    (or forked): the rows of every thread added up.
    """

    __slots__ = ("migration", "operation", "row", "stage")

    def __init__(self, migration: str, operation: str, stage: str, row: Row) -> None:
        self.migration = migration
        self.operation = operation
        self.stage = stage
        self.row = row


def totals() -> list[Totals]:
    """Every key's totals since the process started; what metrics collectors read."""
    summed: dict[int, Row] = {}
    with _shards_lock:
        _retire_ended()
        for key, retired in _retired.items():
            _add(summed.setdefault(key, Row()), retired)
        for shard in _shards:
            for key, counted in list(shard.rows.items()):
                _add(summed.setdefault(key, Row()), counted)
    for key, counted in summed.items():
        _derive(counted, _authoritative[key])
    return [Totals(*_names[key], counted) for key, counted in sorted(summed.items())]


def _derive(row: Row, auth: int) -> None:
    """
    Work out what the hot path leaves out: the calls; each side's latency sum
    (each bucket's count at the bucket's middle, in relative terms, which is
    within 1% of every value it holds) and largest latency (the upper bound of
    the highest bucket).
    """
    row.calls = row.ok[auth] + row.failed[auth]
    middle = 2.0 / (LATENCY_GAMMA + 1.0)
    for side in (0, 1):
        used = [(index, count) for index, count in row.buckets[side].items() if count > 0]
        row.latency_sum[side] = sum(count * LATENCY_GAMMA**index * middle
                                    for index, count in used)
        row.latency_max[side] = LATENCY_GAMMA ** max(used)[0] if used else 0.0


def _add(into: Row, other: Row) -> None:
    """Add *other*'s counts to *into* (copies of its dicts: *other* may be written meanwhile)."""
    for side in (0, 1):
        into.ok[side] += other.ok[side]
        into.failed[side] += other.failed[side]
        _add_counts(into.errors[side], other.errors[side].copy())
        into.zeros[side] += other.zeros[side]
        _add_counts(into.buckets[side], other.buckets[side].copy())
    into.checks += other.checks
    into.inconsistent += other.inconsistent
    into.compare_errors += other.compare_errors
    into.type_mismatches += other.type_mismatches
    _add_counts(into.types, other.types.copy())
    into.ignored += other.ignored
    _add_counts(into.paths, other.paths.copy())
    into.dropped += other.dropped
    into.skipped += other.skipped
    into.suppressed += other.suppressed


def _add_counts(into: dict[Any, int], other: dict[Any, int], sign: int = 1) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0) + sign * count


_readers_lock = threading.Lock()


def add_reader() -> None:
    """
    A metrics collector starts reading :func:`totals`: from now on calls are
    counted whatever the logger emits (until it calls :func:`remove_reader`).
    """
    with _readers_lock:
        settings.readers += 1


def remove_reader() -> None:
    """A collector that called :func:`add_reader` stops reading."""
    with _readers_lock:
        settings.readers = max(0, settings.readers - 1)


# -- windows and the migration.summary events ------------------------------------------------

_flush_lock = threading.Lock()
_emitted: dict[int, Row] = {}
"""The totals the last window ended with, by key (under _flush_lock)."""
_window_start = time.time()


def flush() -> int:
    """
    Emit a ``migration.summary`` for each (migration, operation, stage) that
    saw calls since the last window, and start a new window; how many were
    emitted. The background flusher does it every ``summary_interval``
    seconds, :func:`drain` and :func:`reset` and the interpreter's exit do it
    too. Never raises an ``Exception``.
    """
    global _window_start
    try:
        with _flush_lock:
            until = time.time()
            since, _window_start = _window_start, until
            events = []
            for current in totals():
                key = key_for(current.migration, current.operation, current.stage)
                before = _emitted.get(key)
                window = _difference(current.row, before)
                _derive(window, _authoritative[key])
                _emitted[key] = current.row
                if window.calls or window.dropped or window.suppressed:
                    events.append(_fields(current, window, since, until))
        for fields in events:
            _events.emit_summary(fields)
        return len(events)
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        _events.pipeline_failed(SUMMARY_EVENT, exc)
        return 0


def _difference(now: Row, before: Row | None) -> Row:
    """What grew from *before* to *now*."""
    window = Row()
    _add(window, now)
    if before is None:
        return window
    for side in (0, 1):
        window.ok[side] -= before.ok[side]
        window.failed[side] -= before.failed[side]
        _add_counts(window.errors[side], before.errors[side], -1)
        window.zeros[side] -= before.zeros[side]
        _add_counts(window.buckets[side], before.buckets[side], -1)
    window.checks -= before.checks
    window.inconsistent -= before.inconsistent
    window.compare_errors -= before.compare_errors
    window.type_mismatches -= before.type_mismatches
    _add_counts(window.types, before.types, -1)
    window.ignored -= before.ignored
    _add_counts(window.paths, before.paths, -1)
    window.dropped -= before.dropped
    window.skipped -= before.skipped
    window.suppressed -= before.suppressed
    return window


_HOST = socket.gethostname()


def _fields(totals: Totals, window: Row, since: float, until: float) -> dict[str, Any]:
    return {
        "migration": totals.migration,
        "operation": totals.operation,
        "stage": totals.stage,
        "since": _iso(since),
        "until": _iso(until),
        "host": _HOST,
        "pid": os.getpid(),
        "process": _events.process_id(),
        "calls": window.calls,
        "sides": {name: _side(window, side) for side, name in enumerate(("old", "new"))
                  if window.ok[side] or window.failed[side]},
        "consistency_checks": window.checks,
        "inconsistent": window.inconsistent,
        "ignored": window.ignored,
        "compare_errors": window.compare_errors,
        "type_mismatches": window.type_mismatches,
        "types": _types(window.types),
        "diff_paths": _positive(window.paths),
        "shadows_dropped": window.dropped,
        "shadows_skipped": window.skipped,
        "warnings_suppressed": window.suppressed,
    }


def _side(window: Row, side: int) -> dict[str, Any]:
    buckets = _positive(window.buckets[side])
    return {
        "ok": window.ok[side],
        "failed": window.failed[side],
        "errors": _positive(window.errors[side]),
        "latency_ms": {
            "count": window.ok[side] + window.failed[side],
            "sum": round(window.latency_sum[side], 6),
            "max": round(window.latency_max[side], 6),
            "zeros": window.zeros[side],
            "gamma": LATENCY_GAMMA,
            "buckets": {str(index): count for index, count in sorted(buckets.items())},
        },
    }


def _types(counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """The pairs of class names a window saw, most frequent first, at most TYPES_LIMIT."""
    pairs = sorted(_positive(counts).items(), key=lambda item: (-item[1], item[0]))
    return [{"old": old, "new": new, "count": count}
            for (old, new), count in pairs[:TYPES_LIMIT]]


def _positive(counts: dict[Any, int]) -> dict[Any, int]:
    return {key: count for key, count in counts.items() if count > 0}


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="microseconds")


def drain(timeout: float | None = None) -> bool:
    """
    Wait for the outstanding background shadow work of threads
    (:func:`migratekit._pool.drain`), then :func:`flush` the summaries, so
    that they hold what that work counted; ``False`` when *timeout* seconds
    passed first. Call it at shutdown, and in tests before looking at the
    events of background shadows. In async code use :func:`adrain`.
    """
    done = _pool.drain(timeout)
    flush()
    return done


async def adrain(timeout: float | None = None) -> bool:
    """
    :func:`drain` for async code: waits for the running event loop's
    background shadow tasks and those of threads, then flushes.
    """
    done = await _pool.adrain(timeout)
    flush()
    return done


# -- the flusher -------------------------------------------------------------------------------


class _Flusher:
    """A daemon thread that flushes every *interval* seconds, until stopped."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="migratekit-summaries",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            flush()


_flusher: _Flusher | None = None
_flusher_lock = threading.Lock()


def start(interval: float) -> None:
    """Flush every *interval* seconds from a background thread (started once per process)."""
    global _flusher  # noqa: PLW0603
    running = _flusher
    if running is not None and running.interval == interval:
        return
    with _flusher_lock:
        if _flusher is not None and _flusher.interval == interval and _flusher.thread.is_alive():
            return
        if _flusher is not None:
            _flusher.stopping.set()
        _flusher = _Flusher(interval)


def restart(interval: float | None) -> None:
    """A flusher that runs goes on at *interval* (``None``: it stops); none is started here."""
    with _flusher_lock:
        running = _flusher is not None
    if interval is None:
        stop()
    elif running:
        start(interval)


def stop() -> None:
    """Stop the background flusher, if one runs."""
    global _flusher  # noqa: PLW0603
    with _flusher_lock:
        if _flusher is not None:
            _flusher.stopping.set()
            _flusher = None


def forget() -> None:
    """Start from nothing: no counts, no windows (for reset(), and a forked child)."""
    global _window_start  # noqa: PLW0603
    with _shards_lock:
        for shard in _shards:
            shard.rows.clear()
        _retired.clear()
    _emitted.clear()
    _window_start = time.time()


def _after_fork() -> None:
    # The child counts its own calls from nothing, with its own locks; the
    # parent's flusher thread does not exist in it.
    global _flusher, _shards_lock, _flush_lock, _flusher_lock, _keys_lock  # noqa: PLW0603
    _shards_lock, _flush_lock = threading.Lock(), threading.Lock()
    _flusher_lock, _keys_lock = threading.Lock(), threading.Lock()
    interval = None if _flusher is None else _flusher.interval
    _flusher = None
    # `here` stays the same object (the quiet path holds it): the forking
    # thread, the child's only one, starts a new shard on its next count.
    with contextlib.suppress(AttributeError):
        del here.rows
    _shards.clear()
    _retired.clear()
    _emitted.clear()
    globals()["_window_start"] = time.time()
    if interval is not None:
        start(interval)


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork)

atexit.register(flush)


def iter_rows() -> Iterator[tuple[tuple[str, str, str], Row]]:
    """Every key and its totals: for tests and tools that want the names with the rows."""
    for found in totals():
        yield (found.migration, found.operation, found.stage), found.row
