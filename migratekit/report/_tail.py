"""
The tail of one stage: its counts in order along one axis (seconds since
the epoch, or log lines), kept finest at the end, so that the report can
judge the stage on its last window of samples, the window in which the
migration left it (:mod:`~migratekit.report._gate`).

A tail is a list of bins sorted by their end. A bin spans [start, end] and
holds the counts of :data:`FIELDS`. A per-call event is a point: it joins the
bin whose span holds it, else the bin before it, while that bin holds fewer
samples than a *grain*; else it starts a bin of its own. A summary is a
block, a bin of its own spanning its window: it is never split.

The window of the last *n* samples is the latest bins by end holding at
least *n* samples: every sample at or after the end of its earliest bin is
in it, none before the start of its earliest bin. Points that come in time
order (one log, or several read oldest first) make disjoint bins, and the
window is then exactly the last samples, at most a grain more than *n*.
Points that come out of order (several processes' logs, one after the
other) can land in a bin that spans a gap; a bin still never holds more
than a grain of points, so the window stays within a grain of *n*.

Memory is bounded: past :data:`~migratekit.report._constants.TAIL_BINS` bins
the tail is compacted from its end back. Adjacent bins merge while together
they hold at most a grain of samples (*resolution* /
:data:`~migratekit.report._constants.TAIL_RESOLUTION`); once the bins kept
hold *resolution* samples, every older bin merges into one. Samples only
ever join a tail, so what lies before the last *resolution* samples never
comes back into them: merging it loses nothing the window needs.
"""

from __future__ import annotations

import dataclasses
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from migratekit.report._constants import TAIL_BINS, TAIL_RESOLUTION

FIELDS = ("checks", "inconsistent", "compare_errors", "ignored", "type_mismatches",
          "old_results", "old_errors", "new_results", "new_errors")
"""The counts of a bin, in this order, after its start and its end."""

CHECKS = FIELDS.index("checks")
NEW_RESULTS = FIELDS.index("new_results")

_STRIDE = 2 + len(FIELDS)


@dataclasses.dataclass(frozen=True)
class Window:
    """
    The last bins of a tail that hold at least the samples asked for (all
    of them when the tail holds fewer): their *counts* added up, *samples*
    among them, and where they lie: *start* (the earliest start),
    *first_end* (the end of the earliest bin) and *end* (the latest end).
    """

    counts: dict[str, int]
    samples: int
    start: float
    first_end: float
    end: float


class Tail:
    """
    One stage's counts along one axis; *weight* is the index in
    :data:`FIELDS` of the count that is a sample (``CHECKS`` for compared
    reads, ``NEW_RESULTS`` otherwise), *resolution* the window, in samples,
    that the tail keeps fine.
    """

    __slots__ = ("_data", "_ends", "_grain", "_resolution", "_weight")

    def __init__(self, weight: int, resolution: int) -> None:
        self._weight = 2 + weight
        self._resolution = max(1, resolution)
        self._grain = max(1, self._resolution // TAIL_RESOLUTION)
        self._data = array("d")
        self._ends = array("d")

    def __len__(self) -> int:
        return len(self._ends)

    def add_point(self, x: float, values: Sequence[float]) -> None:
        """Count *values* (one per :data:`FIELDS`) at *x*."""
        ends, data, weight, grain = self._ends, self._data, self._weight, self._grain
        at = bisect_left(ends, x)
        if at < len(ends) and data[at * _STRIDE] <= x:
            # Inside a bin's span: join it while it holds less than a grain,
            # else start a bin of one point inside it (sorted by end, before
            # it), so that no bin grows past a grain however late points come.
            if data[at * _STRIDE + weight] < grain:
                self._add(at, values)
            else:
                self._insert(at, x, x, values)
            return
        before = at - 1
        if before >= 0 and data[before * _STRIDE + weight] < grain:
            data[before * _STRIDE + 1] = x
            ends[before] = x
            self._add(before, values)
            return
        self._insert(at, x, x, values)

    def add_block(self, start: float, end: float, values: Sequence[float]) -> None:
        """Count *values* over [*start*, *end*], as a bin of their own."""
        self._insert(bisect_right(self._ends, end), start, end, values)

    def _add(self, at: int, values: Sequence[float]) -> None:
        data = self._data
        base = at * _STRIDE + 2
        for offset, value in enumerate(values):
            if value:
                data[base + offset] += value

    def _insert(self, at: int, start: float, end: float, values: Sequence[float]) -> None:
        self._data[at * _STRIDE:at * _STRIDE] = array("d", (start, end, *values))
        self._ends.insert(at, end)
        if len(self._ends) > TAIL_BINS:
            self._compact()

    def _compact(self) -> None:
        grain = self._grain
        while True:
            kept = self._merged(grain)
            if len(kept) <= TAIL_BINS // 2:
                break
            grain *= 2
        self._data = array("d", [value for bin_ in kept for value in bin_])
        self._ends = array("d", [bin_[1] for bin_ in kept])

    def _merged(self, grain: int) -> list[list[float]]:
        data, weight = self._data, self._weight
        kept: list[list[float]] = []  # from the end back
        rest: list[float] | None = None
        held = 0.0
        for at in range(len(self._ends) - 1, -1, -1):
            bin_ = data[at * _STRIDE:(at + 1) * _STRIDE].tolist()
            if rest is not None:
                _merge(rest, bin_)
            elif held >= self._resolution:
                rest = bin_
            elif kept and kept[-1][weight] + bin_[weight] <= grain:
                _merge(kept[-1], bin_)
                held += bin_[weight]
            else:
                kept.append(bin_)
                held += bin_[weight]
        if rest is not None:
            kept.append(rest)
        kept.reverse()
        return kept

    def window(self, samples: int) -> Window | None:
        """The last bins holding at least *samples* samples (one bin at least); ``None``: empty."""
        ends, data, weight = self._ends, self._data, self._weight
        if not ends:
            return None
        need = max(1, samples)
        totals = [0.0] * len(FIELDS)
        held = 0.0
        start = data[(len(ends) - 1) * _STRIDE]
        at = len(ends) - 1
        while at >= 0:
            base = at * _STRIDE
            start = min(start, data[base])
            for offset in range(len(FIELDS)):
                totals[offset] += data[base + 2 + offset]
            held += data[base + weight]
            if held >= need:
                break
            at -= 1
        at = max(at, 0)
        return Window(
            counts={name: round(value) for name, value in zip(FIELDS, totals, strict=True)},
            samples=round(held), start=start, first_end=ends[at], end=ends[-1],
        )


def _merge(into: list[float], other: list[float]) -> None:
    """Add *other*'s counts into *into*, which comes to span both."""
    into[0] = min(into[0], other[0])
    into[1] = max(into[1], other[1])
    for field in range(2, _STRIDE):
        into[field] += other[field]
