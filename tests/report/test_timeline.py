"""Tests of the timelines behind the report's charts (migratekit/report/_timeline.py)."""

from __future__ import annotations

import itertools
import random

from migratekit.report._constants import TIMELINE_BINS
from migratekit.report._timeline import Timeline


def test_timeline_stays_within_its_bins() -> None:
    """However far apart and out of order the points, a timeline keeps at most its bins."""
    timeline = Timeline(1.0 / 1024)
    rng = random.Random(3)
    for _ in range(20_000):
        timeline.add_check(rng.uniform(1.7e9, 1.7e9 + 86400 * 30), rng.random() < 0.1)
    points = timeline.points()
    assert len(points) <= TIMELINE_BINS
    assert sum(point["checks"] for point in points) == 20_000
    edges = [(point["start"], point["end"]) for point in points]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(edges))
