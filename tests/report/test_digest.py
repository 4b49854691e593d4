"""Tests of the latency percentiles in bounded memory (migratekit/report/_digest.py)."""

from __future__ import annotations

import random

from migratekit.report._digest import LatencyDigest
from tests.report.logs import (
    nearest_rank,
)


def test_digest_is_exact_up_to_its_limit() -> None:
    """Up to EXACT_LIMIT values, percentiles are the nearest-rank values themselves."""
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 1) for _ in range(LatencyDigest.EXACT_LIMIT)]
    digest = LatencyDigest()
    for value in values:
        digest.add(value)
    assert digest.exact
    for p in (1, 50, 95, 99, 100):
        assert digest.percentile(p) == nearest_rank(values, p)


def test_digest_is_within_one_percent_beyond_its_limit() -> None:
    """Past EXACT_LIMIT the histogram keeps every percentile within 1%, in few buckets."""
    rng = random.Random(2)
    values = [rng.lognormvariate(-2, 2) for _ in range(50_000)] + [0.0] * 10
    digest = LatencyDigest()
    for value in values:
        digest.add(value)
    assert not digest.exact
    for p in (50, 90, 95, 99, 99.9):
        exact = nearest_rank(values, p)
        estimate = digest.percentile(p)
        assert estimate is not None
        assert abs(estimate - exact) <= 0.0101 * exact
    assert digest.buckets() < 2000
    assert digest.percentile(0.001) == 0.0
    assert digest.count == 50_010


def test_empty_digest_has_no_percentile() -> None:
    """A side that never ran has no percentile."""
    assert LatencyDigest().percentile(50) is None
