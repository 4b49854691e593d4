"""Latency percentiles in bounded memory, and the merging of summaries' histograms."""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping

from migratekit._schema import LATENCY_GAMMA


class LatencyDigest:
    """
    Percentiles of a stream of latencies in bounded memory.

    Up to :attr:`EXACT_LIMIT` values are kept as they are (8 bytes each), and
    percentiles are exact: the *nearest-rank* value, ``sorted(values)[ceil(p
    / 100 * n) - 1]``, always a value that was seen. Past that, the values
    move into a logarithmic histogram (the DDSketch layout): bucket ``i``
    holds the values in ``(gamma**(i-1), gamma**i]`` with ``gamma`` the
    contract's :data:`~migratekit._schema.LATENCY_GAMMA` (``1.01 / 0.99``),
    so a percentile is known within 1% of its value, whatever the
    distribution, with one bucket per 2% of range: about 1,400 buckets from
    a microsecond to a day. Zero and negative values (a clock that went back)
    are counted apart, as zero.

    ``migration.summary`` events carry histograms of the same layout:
    :meth:`merge_histogram` adds one exactly, and :meth:`merge` adds another
    digest. Once a histogram is merged, percentiles come from the buckets;
    a digest made by merging gives the same percentiles as one digest fed
    every value.
    """

    EXACT_LIMIT = 4096
    RELATIVE_ACCURACY = 0.01
    _GAMMA = LATENCY_GAMMA
    _LOG_GAMMA = math.log(_GAMMA)

    __slots__ = ("_buckets", "_values", "_zeros", "count", "maximum", "total")

    def __init__(self) -> None:
        self._values: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0

    @property
    def exact(self) -> bool:
        """Whether percentiles are exact (every value is still kept)."""
        return self._values is not None

    def add(self, value: float) -> None:
        """Add one latency, in milliseconds."""
        self.count += 1
        self.total += value
        self.maximum = max(self.maximum, value)
        values = self._values
        if values is not None:
            values.append(value)
            if len(values) > self.EXACT_LIMIT:
                self._to_buckets()
            return
        self._bucket(value)

    @classmethod
    def index(cls, value: float) -> int:
        """The bucket of a positive *value*: ``i`` with ``gamma**(i-1) < value <= gamma**i``."""
        return math.ceil(math.log(value) / cls._LOG_GAMMA)

    def _bucket(self, value: float) -> None:
        if value <= 0.0:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / self._LOG_GAMMA)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def _to_buckets(self) -> None:
        values = self._values
        if values is None:
            return
        self._values = None
        for kept in values:
            self._bucket(kept)

    def merge_histogram(self, buckets: Mapping[int, int], *, count: int, total: float,
                        maximum: float, zeros: int) -> None:
        """
        Add a histogram of this layout: *buckets* ``{index: count}``, *zeros*
        values at or below zero, *count* values in all (the caller checks
        that the counts add up), summing to *total*, the largest *maximum*.
        """
        if not count:
            return
        self._to_buckets()
        mine = self._buckets
        for index, n in buckets.items():
            mine[index] = mine.get(index, 0) + n
        self._zeros += zeros
        self.count += count
        self.total += total
        self.maximum = max(self.maximum, maximum)

    def merge(self, other: LatencyDigest) -> None:
        """Add every value of *other*: exact while both are and the sum fits the limit."""
        if not other.count:
            return
        theirs = other._values
        mine = self._values
        if theirs is not None and mine is not None and \
                len(mine) + len(theirs) <= self.EXACT_LIMIT:
            mine.extend(theirs)
            self.count += other.count
            self.total += other.total
            self.maximum = max(self.maximum, other.maximum)
            return
        if theirs is not None:
            self._to_buckets()
            for value in theirs:
                self.add(value)
            return
        self.merge_histogram(other._buckets, count=other.count, total=other.total,
                             maximum=other.maximum, zeros=other._zeros)

    def percentile(self, p: float) -> float | None:
        """The *p*-th percentile (0 < p <= 100), or ``None`` when nothing was added."""
        n = self.count
        if n == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * n))
        values = self._values
        if values is not None:
            return sorted(values)[rank - 1]
        seen = self._zeros
        if seen >= rank:
            return 0.0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                # The middle of the bucket, in relative terms: within
                # RELATIVE_ACCURACY of every value the bucket holds; never
                # above the largest value seen.
                estimate = 2.0 * self._GAMMA**index / (self._GAMMA + 1.0)
                return min(estimate, self.maximum)
        return self.maximum  # pragma: no cover - the counts always add up to n

    def buckets(self) -> int:
        """How many histogram buckets are in use (0 while exact)."""
        return len(self._buckets)
