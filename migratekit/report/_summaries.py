"""
Reading ``migration.summary`` lines (docs/design.md, "The fields of
``migration.summary``"): one window's aggregates of one process for one
migration, operation and stage.

As everywhere in the report, nothing read is trusted. A summary is counted
whole or not at all: it is ``malformed`` when ``process`` is not a string
of 1 to 64 characters without ``-``, ``since`` or ``until`` is not a
timestamp or ``until`` comes before ``since``, a count (``calls``, ``ok``,
``failed``, ``consistency_checks``...) is not a whole number from 0 to
:data:`MAX_COUNT`, ``inconsistent`` exceeds ``consistency_checks``, a side
is not ``old`` or ``new``, or a latency histogram is not one the report can
merge exactly: another ``gamma``, a bucket index that is not a decimal
integer within the range of latencies from 5e-324 ms to a year, a ``sum`` or
``max`` that is not a finite number in range, or buckets holding latencies
when ``count`` is 0. Otherwise the buckets need not add up to ``count``:
the library samples a side's latencies past its 1,024th in a thread (one in
eight, counted eight times), so they hold about its results, and the
percentiles are the buckets'. A histogram of more than :data:`MAX_BUCKETS`
buckets is ``too_many_buckets``.
A missing count is 0; ``diff_paths`` and ``errors``
beyond their caps are counted as other paths and other types.

``ignored`` counts the mismatches an ``ignore=`` predicate accepted (the
report expects ``consistency_checks`` to leave them out, as the op event's
``consistent`` is null for them). ``types``, when present, is a list of at
most :data:`MAX_SUMMARY_TYPES` objects ``{"old": name, "new": name, "count":
n}``; anything else there makes the summary ``malformed``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from migratekit._schema import LATENCY_GAMMA
from migratekit.report._constants import (
    MAX_BUCKETS,
    MAX_COUNT,
    MAX_DIFF_PATHS,
    MAX_ERROR_TYPES,
    MAX_LATENCY_MS,
    MAX_SUMMARY_TYPES,
    MAX_TYPE_NAME_CHARS,
    MAX_WINDOWS,
    ORIGINS,
)
from migratekit.report._digest import LatencyDigest
from migratekit.report._strings import clean
from migratekit.report._tally import Tally
from migratekit.report._timestamps import finite, parse_timestamp

MAX_PROCESS_CHARS = 64

# Bucket i holds (gamma**(i-1), gamma**i]: the smallest positive float and
# the largest latency the report reads bound the indexes.
MIN_BUCKET = LatencyDigest.index(5e-324)
MAX_BUCKET = LatencyDigest.index(MAX_LATENCY_MS)

_COUNTS = ("consistency_checks", "inconsistent", "compare_errors", "type_mismatches",
           "shadows_dropped", "shadows_skipped", "warnings_suppressed", "ignored")


class Rejected(Exception):
    """A summary the report does not count; *reason* is the skipped-lines reason."""

    def __init__(self, reason: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason


class Summary:
    """One ``migration.summary``, checked and read into a :class:`Tally`."""

    __slots__ = ("process", "since", "tally", "until")

    def __init__(self, process: str, since: float, until: float, tally: Tally) -> None:
        self.process = process
        self.since = since
        self.until = until
        self.tally = tally


def read_summary(event: dict[str, Any]) -> Summary:
    """*event*'s figures; raises :class:`Rejected` when they cannot be counted."""
    process = event.get("process")
    if type(process) is not str or not 0 < len(process) <= MAX_PROCESS_CHARS \
            or "-" in process:
        raise Rejected
    since = parse_timestamp(event.get("since"))
    until = parse_timestamp(event.get("until"))
    if since is None or until is None or until < since:
        raise Rejected
    tally = Tally()
    tally.calls = _count(event.get("calls"))
    (tally.checks, tally.inconsistent, tally.compare_errors, tally.type_mismatches,
     tally.shadows_dropped, tally.shadows_skipped, tally.warnings_suppressed,
     tally.ignored) = (_count(event.get(name, 0)) for name in _COUNTS)
    if tally.inconsistent > tally.checks:
        raise Rejected
    sides = event.get("sides", {})
    if type(sides) is not dict:
        raise Rejected
    for origin, side in sides.items():
        if origin not in ORIGINS or type(side) is not dict:
            raise Rejected
        _read_side(tally, origin, side)
    paths = event.get("diff_paths", {})
    if type(paths) is not dict:
        raise Rejected
    read_paths: dict[str, int] = {}
    for path, count in paths.items():
        number = _count(count)
        if len(read_paths) >= MAX_DIFF_PATHS or not path:
            tally.diff_other += number
        else:
            key = clean(path[:200])
            read_paths[key] = read_paths.get(key, 0) + number
    tally.add_paths(read_paths)
    _read_types(tally, event.get("types", []))
    return Summary(clean(process), since, until, tally)


def _read_side(tally: Tally, origin: str, side: dict[str, Any]) -> None:
    ok = _count(side.get("ok", 0))
    failed = _count(side.get("failed", 0))
    tally.results[origin] = ok + failed
    tally.errors[origin] = failed
    errors = side.get("errors", {})
    if type(errors) is not dict:
        raise Rejected
    if len(errors) > MAX_ERROR_TYPES * 4:
        raise Rejected("too_many_error_types")
    for exc_type, count in errors.items():
        tally.add_error_type(origin, clean(exc_type[:200]) or "(unknown)", _count(count))
    latency = side.get("latency_ms")
    if latency is None:
        return
    if type(latency) is not dict:
        raise Rejected
    _read_latency(tally.latency[origin], latency)


def _read_types(tally: Tally, types: Any) -> None:
    if type(types) is not list or len(types) > MAX_SUMMARY_TYPES:
        raise Rejected
    for item in types:
        if type(item) is not dict:
            raise Rejected
        old, new = item.get("old"), item.get("new")
        if type(old) is not str or type(new) is not str:
            raise Rejected
        tally.add_type_pair(clean(old[:MAX_TYPE_NAME_CHARS]), clean(new[:MAX_TYPE_NAME_CHARS]),
                            _count(item.get("count")))


def _read_latency(digest: LatencyDigest, latency: dict[str, Any]) -> None:
    gamma = latency.get("gamma", LATENCY_GAMMA)
    if type(gamma) is not float or not abs(gamma - LATENCY_GAMMA) <= 1e-12:
        raise Rejected
    count = _count(latency.get("count"))
    zeros = _count(latency.get("zeros", 0))
    total = _number(latency.get("sum", 0.0), count * MAX_LATENCY_MS)
    maximum = _number(latency.get("max", 0.0), MAX_LATENCY_MS)
    raw = latency.get("buckets", {})
    if type(raw) is not dict:
        raise Rejected
    if len(raw) > MAX_BUCKETS:
        raise Rejected("too_many_buckets")
    buckets: dict[int, int] = {}
    seen = zeros
    for key, value in raw.items():
        index = _index(key)
        n = _count(value)
        if n:
            buckets[index] = buckets.get(index, 0) + n
            seen += n
    # The library samples latencies past the 1,024th of a side in a thread
    # (one in eight, counted eight times), so the buckets hold about `count`,
    # not exactly (the quiet path samples a call's two sides on one side's
    # count): the histogram is what its buckets hold.
    if maximum < 0.0 or (count == 0 and seen):
        raise Rejected
    digest.merge_histogram(buckets, count=seen, total=total, maximum=maximum, zeros=zeros)


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise Rejected
    return value


def _number(value: Any, limit: float) -> float:
    if type(value) is not int and type(value) is not float:
        raise Rejected
    number = finite(value)
    if number is None or not -limit <= number <= limit:
        raise Rejected
    return number


def _index(key: str) -> int:
    digits = key[1:] if key[:1] == "-" else key
    if not 0 < len(digits) <= 6 or not digits.isascii() or not digits.isdigit():
        raise Rejected
    index = int(key)
    if not MIN_BUCKET <= index <= MAX_BUCKET:
        raise Rejected
    return index


class Windows:
    """
    The windows of one process's summaries of one entry, as sorted disjoint
    intervals: a summary whose window lies inside those already read is the
    same summary read twice (from the same file given twice, or overlapping
    rotated files), as a process's windows never overlap.
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, since: float, until: float) -> bool:
        """Remember [*since*, *until*]; ``False`` when it was read already."""
        starts, ends = self._starts, self._ends
        at = bisect_right(starts, since) - 1
        if at >= 0 and until <= ends[at]:
            return False
        low = bisect_left(ends, since)
        high = bisect_right(starts, until)
        if low < high:
            since = min(since, starts[low])
            until = max(until, ends[high - 1])
        starts[low:high] = [since]
        ends[low:high] = [until]
        if len(starts) > MAX_WINDOWS:
            # Past the cap, the window and its nearest neighbour become one
            # (the gap between them counts as read): memory stays bounded.
            if low == len(starts) - 1 or (
                low > 0 and starts[low] - ends[low - 1] <= starts[low + 1] - ends[low]
            ):
                low -= 1
            ends[low] = ends[low + 1]
            del starts[low + 1], ends[low + 1]
        return True


def window_overlaps(since: float, until: float, low: float | None,
                    high: float | None) -> bool:
    """Whether the window [*since*, *until*) overlaps [*low*, *high*) (``None``: open)."""
    if since == until:  # an empty window is a moment
        return (low is None or since >= low) and (high is None or since < high)
    return (low is None or until > low) and (high is None or since < high)
