"""Consistency and latency over time, in at most a fixed number of bins."""

from __future__ import annotations

import math
from typing import Any

from migratekit.report._constants import TIMELINE_BINS


class Timeline:
    """
    Per-bin sums over an axis (seconds since the epoch, or line numbers), in
    at most :data:`TIMELINE_BINS` bins.

    Bin ``i`` covers ``[i * width, (i + 1) * width)``. When a point falls so
    far from the others that more bins would be needed, the width doubles and
    neighbouring bins merge (``i // 2``), so memory stays fixed however long
    the log and however the points arrive (several processes' logs
    interleaved are not in order).
    """

    __slots__ = ("_bins", "width")

    # checks, inconsistent, old count, old latency sum, new count, new latency sum,
    # new errors
    _FIELDS = 7

    def __init__(self, width: float) -> None:
        self.width = width
        self._bins: dict[int, list[float]] = {}

    def _bin(self, x: float) -> list[float]:
        index = math.floor(x / self.width)
        found = self._bins.get(index)
        if found is not None:
            return found
        bins = self._bins
        if bins:
            low = min(index, *bins)
            high = max(index, *bins)
            while high - low >= TIMELINE_BINS:
                self._merge()
                index //= 2
                low //= 2
                high //= 2
                found = self._bins.get(index)
                if found is not None:
                    return found
        new = [0.0] * self._FIELDS
        self._bins[index] = new
        return new

    def _merge(self) -> None:
        merged: dict[int, list[float]] = {}
        for index, values in self._bins.items():
            into = merged.get(index // 2)
            if into is None:
                merged[index // 2] = values
            else:
                for field in range(self._FIELDS):
                    into[field] += values[field]
        self._bins = merged
        self.width *= 2

    def add_check(self, x: float, consistent: bool) -> None:
        """Record one comparison at *x*."""
        values = self._bin(x)
        values[0] += 1
        if not consistent:
            values[1] += 1

    def add_result(self, x: float, origin: str, latency_ms: float, ok: bool) -> None:
        """Record one side's result at *x*."""
        values = self._bin(x)
        if origin == "old":
            values[2] += 1
            values[3] += latency_ms
        else:
            values[4] += 1
            values[5] += latency_ms
            if not ok:
                values[6] += 1

    def add_counts(self, x: float, checks: int, inconsistent: int,
                   old: tuple[int, float], new: tuple[int, float, int]) -> None:
        """
        Record many at *x*: *checks* comparisons of which *inconsistent*
        disagreed, *old* ``(results, latency sum)`` and *new* ``(results,
        latency sum, failed)``.
        """
        values = self._bin(x)
        values[0] += checks
        values[1] += inconsistent
        values[2] += old[0]
        values[3] += old[1]
        values[4] += new[0]
        values[5] += new[1]
        values[6] += new[2]

    def points(self) -> list[dict[str, Any]]:
        """
        The bins in order: ``start``, ``end``, ``checks``, ``inconsistent``,
        ``consistency`` (or ``None`` without checks), ``old_mean_ms`` and
        ``new_mean_ms`` (or ``None``), ``old_count``, ``new_count``, ``new_errors``.
        """
        out: list[dict[str, Any]] = []
        for index in sorted(self._bins):
            checks, bad, n_old, sum_old, n_new, sum_new, errors = self._bins[index]
            out.append(
                {
                    "start": index * self.width,
                    "end": (index + 1) * self.width,
                    "checks": checks,
                    "inconsistent": bad,
                    "consistency": (checks - bad) / checks if checks else None,
                    "old_mean_ms": sum_old / n_old if n_old else None,
                    "new_mean_ms": sum_new / n_new if n_new else None,
                    "old_count": n_old,
                    "new_count": n_new,
                    "new_errors": errors,
                }
            )
        return out
