"""
The counts of one migration, stage and operation from one source: the
per-call events of one process, or the summaries of all processes. Tallies
add up (:meth:`Tally.merge`), so the report can count each call from one
source only, whatever order the lines came in.
"""

from __future__ import annotations

from collections import Counter

from migratekit.report._constants import MAX_DIFF_PATHS, MAX_ERROR_TYPES, MAX_TYPE_PAIRS
from migratekit.report._digest import LatencyDigest


class Tally:
    """Counters and latency digests, per side where it applies."""

    __slots__ = (
        "calls",
        "checks",
        "compare_errors",
        "diff_other",
        "diff_paths",
        "error_types",
        "errors",
        "ignored",
        "inconsistent",
        "latency",
        "mismatches_with_paths",
        "results",
        "shadows_dropped",
        "shadows_skipped",
        "type_mismatches",
        "type_pairs",
        "warnings_suppressed",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.checks = 0
        self.inconsistent = 0
        self.compare_errors = 0
        self.results = {"old": 0, "new": 0}
        self.errors = {"old": 0, "new": 0}
        self.error_types: dict[str, Counter[str]] = {"old": Counter(), "new": Counter()}
        self.latency = {"old": LatencyDigest(), "new": LatencyDigest()}
        self.diff_paths: Counter[str] = Counter()
        self.diff_other = 0
        self.mismatches_with_paths = 0
        self.type_mismatches = 0
        self.type_pairs: Counter[tuple[str, str]] = Counter()
        self.ignored = 0
        self.shadows_dropped = 0
        self.shadows_skipped = 0
        self.warnings_suppressed = 0

    def add_result(self, origin: str, ok: bool, latency_ms: float,
                   exc_type: str | None) -> None:
        """Count one side's result."""
        self.results[origin] += 1
        if not ok:
            self.errors[origin] += 1
            self.add_error_type(origin, exc_type or "(unknown)", 1)
        self.latency[origin].add(latency_ms)

    def add_error_type(self, origin: str, exc_type: str, count: int) -> None:
        """Count *count* failures of *origin* as *exc_type* (the kinds beyond a cap as one)."""
        counter = self.error_types[origin]
        if exc_type not in counter and len(counter) >= MAX_ERROR_TYPES:
            exc_type = "(other types)"
        counter[exc_type] += count

    def add_paths(self, paths: dict[str, int]) -> None:
        """Count where compared values differed: *paths* is ``{path: mismatches}``."""
        counter = self.diff_paths
        for path, count in paths.items():
            if path in counter or len(counter) < MAX_DIFF_PATHS:
                counter[path] += count
            else:
                self.diff_other += count

    def add_type_pair(self, old: str, new: str, count: int) -> None:
        """
        Count *count* calls whose values were of types *old* and *new*; past
        :data:`MAX_TYPE_PAIRS` distinct pairs, only ``type_mismatches`` counts them.
        """
        pairs = self.type_pairs
        if count and ((old, new) in pairs or len(pairs) < MAX_TYPE_PAIRS):
            pairs[(old, new)] += count

    def add_check(self, consistent: bool, paths: list[str]) -> None:
        """Count one comparison, and where its values differed."""
        self.checks += 1
        if consistent:
            return
        self.inconsistent += 1
        if paths:
            self.mismatches_with_paths += 1
            counter = self.diff_paths
            for path in paths:
                if path in counter or len(counter) < MAX_DIFF_PATHS:
                    counter[path] += 1
                else:
                    self.diff_other += 1

    def merge(self, other: Tally) -> None:
        """Add *other*'s counts to these."""
        self.calls += other.calls
        self.checks += other.checks
        self.inconsistent += other.inconsistent
        self.compare_errors += other.compare_errors
        for origin in ("old", "new"):
            self.results[origin] += other.results[origin]
            self.errors[origin] += other.errors[origin]
            for exc_type, count in other.error_types[origin].items():
                self.add_error_type(origin, exc_type, count)
            self.latency[origin].merge(other.latency[origin])
        self.add_paths(dict(other.diff_paths))
        self.diff_other += other.diff_other
        self.mismatches_with_paths += other.mismatches_with_paths
        self.type_mismatches += other.type_mismatches
        for (old, new), count in other.type_pairs.items():
            self.add_type_pair(old, new, count)
        self.ignored += other.ignored
        self.shadows_dropped += other.shadows_dropped
        self.shadows_skipped += other.shadows_skipped
        self.warnings_suppressed += other.warnings_suppressed
