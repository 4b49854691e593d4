"""The figures of each migration, stage and operation, and the verdict on them."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from migratekit.report._constants import COMPARED, NEW_RUNS, NEXT_STAGE, ORIGINS

if TYPE_CHECKING:
    from migratekit.report._entry import Entry

# -- the thresholds of the verdict ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """
    When a migration is ready for its next stage.

    *max_inconsistency*: the largest share of comparisons that may disagree
    (0.001 is 0.1%). *min_samples*: how many comparisons (for reads in SHADOW
    and LIVE) or calls of the new side (otherwise) are needed before any
    verdict but ``hold``. *max_latency_ratio*: how much slower the new side's
    p99 may be than the old side's. *max_error_rate*: how much more often the
    new side may fail than the old side in the same stage (its whole error
    rate when the old side did not run). *latency_floor_ms*: latencies below
    this count as this much when comparing them, because timer noise and
    scheduling dominate sub-millisecond timings.
    """

    max_inconsistency: float = 0.001
    min_samples: int = 1000
    max_latency_ratio: float = 1.5
    max_error_rate: float = 0.01
    latency_floor_ms: float = 1.0


def wilson_interval(bad: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of the proportion *bad* / *total* (95% by default)."""
    if total <= 0:
        return 0.0, 1.0
    p = bad / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percent(fraction: float) -> str:
    """*fraction* as a short percentage: ``0.8%``, ``0.012%``, ``12%``."""
    value = fraction * 100.0
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.0f}%"
    if value >= 1:
        return f"{value:.1f}%"
    return f"{value:.2g}%"


def format_ms(value: float | None, missing: str = "-") -> str:
    """A latency in milliseconds, to about three digits; *missing* when there is none."""
    if value is None:
        return missing
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1g}"


@dataclasses.dataclass
class EntryReport:
    """
    The figures and the verdict of one migration, stage and operation.

    *calls* counts distinct calls (by ``call_id``); *consistency_checks* the
    comparisons made, *inconsistent* those that disagreed and
    *compare_errors* those whose comparator raised. *results*, *errors* and
    *latency_ms* are keyed by side, ``"old"`` and ``"new"``: results read,
    failed ones, and ``{"p50", "p95", "p99"}`` in milliseconds (``None`` for
    a side that never ran; exact when *latency_exact*). *diff_paths* lists
    where compared values differed, most frequent first. *current* marks the
    latest stage seen for the migration and operation, the one ``--check``
    judges; *ready* and *verdict* (a sentence starting with ``ready`` or
    ``hold``) are the judgement against the report's :class:`Thresholds`.

    *error_types* counts the failures of each side by ``exc_type``;
    *type_mismatches* the compared reads whose values were of different
    types, *shadows_dropped* the background shadows dropped, and, from
    summaries only, *shadows_skipped* the reads ``shadow_ratio`` did not
    shadow and *warnings_suppressed* the per-call warnings left out by
    ``max_warnings_per_second``. *summaries* counts the ``migration.summary``
    events read, and *not_counted_again* the per-call events left out
    because their process's summaries count them.
    """

    migration: str
    stage: str
    operation: str
    calls: int
    consistency_checks: int
    inconsistent: int
    compare_errors: int
    results: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, dict[str, float] | None]
    latency_exact: bool
    diff_paths: list[dict[str, Any]]
    mismatches_with_paths: int
    first_timestamp: float | None
    last_timestamp: float | None
    current: bool
    ready: bool
    next_stage: str | None
    verdict: str
    error_types: dict[str, dict[str, int]] = dataclasses.field(
        default_factory=lambda: {"old": {}, "new": {}})
    type_mismatches: int = 0
    shadows_dropped: int = 0
    shadows_skipped: int = 0
    warnings_suppressed: int = 0
    summaries: int = 0
    not_counted_again: int = 0

    @property
    def inconsistency_rate(self) -> float | None:
        """Inconsistent comparisons over comparisons, or ``None`` without comparisons."""
        if not self.consistency_checks:
            return None
        return self.inconsistent / self.consistency_checks

    @property
    def latency_ratio(self) -> float | None:
        """New p99 over old p99, when both sides ran."""
        old, new = self.latency_ms["old"], self.latency_ms["new"]
        if old is None or new is None or old["p99"] <= 0:
            return None
        return new["p99"] / old["p99"]

    def error_rate(self, origin: str) -> float | None:
        """Failed results of *origin* over its results, or ``None`` when it never ran."""
        results = self.results[origin]
        return self.errors[origin] / results if results else None

    def mismatch_summary(self, top: int = 3) -> str | None:
        """``87% of mismatches differ at last_name, 13% at email``, or ``None``."""
        if not self.diff_paths or not self.inconsistent:
            return None
        parts = [
            f"{percent(item['share'])} {'of mismatches differ at ' if i == 0 else 'at '}"
            f"{item['path']}"
            for i, item in enumerate(self.diff_paths[:top])
        ]
        return ", ".join(parts)

    @classmethod
    def from_entry(cls, entry: Entry, thresholds: Thresholds, current: bool, *,
                   summarised: Container[str] = frozenset()) -> EntryReport:
        """
        Summarise *entry* and judge it by *thresholds*: its summaries, and
        the per-call events of the processes not in *summarised*.
        """
        tally, left_out = entry.total(summarised)
        latency: dict[str, dict[str, float] | None] = {}
        for origin in ORIGINS:
            digest = tally.latency[origin]
            if digest.count:
                latency[origin] = {
                    "p50": _round(digest.percentile(50)),
                    "p95": _round(digest.percentile(95)),
                    "p99": _round(digest.percentile(99)),
                }
            else:
                latency[origin] = None
        paths = [
            {
                "path": path,
                "count": count,
                "share": count / tally.inconsistent if tally.inconsistent else 0.0,
            }
            for path, count in sorted(tally.diff_paths.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if tally.diff_other:
            paths.append(
                {"path": "(other paths)", "count": tally.diff_other,
                 "share": tally.diff_other / max(1, tally.inconsistent)}
            )
        report = cls(
            migration=entry.migration,
            stage=entry.stage,
            operation=entry.operation,
            calls=tally.calls,
            consistency_checks=tally.checks,
            inconsistent=tally.inconsistent,
            compare_errors=tally.compare_errors,
            results=dict(tally.results),
            errors=dict(tally.errors),
            latency_ms=latency,
            latency_exact=tally.latency["old"].exact and tally.latency["new"].exact,
            diff_paths=paths,
            mismatches_with_paths=tally.mismatches_with_paths,
            first_timestamp=entry.first_time,
            last_timestamp=entry.last_time,
            current=current,
            ready=False,
            next_stage=NEXT_STAGE.get(entry.stage),
            verdict="",
            error_types={origin: dict(sorted(tally.error_types[origin].items()))
                         for origin in ORIGINS},
            type_mismatches=tally.type_mismatches,
            shadows_dropped=tally.shadows_dropped,
            shadows_skipped=tally.shadows_skipped,
            warnings_suppressed=tally.warnings_suppressed,
            summaries=entry.summaries,
            not_counted_again=left_out,
        )
        report.ready, report.verdict = _verdict(report, thresholds)
        return report

    def to_json(self) -> dict[str, Any]:
        """This entry as docs/design.md's ``--format json`` shape, with extra keys."""
        rate = self.inconsistency_rate
        low, high = wilson_interval(self.inconsistent, self.consistency_checks)
        return {
            "migration": self.migration,
            "stage": self.stage,
            "operation": self.operation,
            "calls": self.calls,
            "consistency_checks": self.consistency_checks,
            "inconsistent": self.inconsistent,
            "errors": dict(self.errors),
            "latency_ms": {k: (dict(v) if v else None) for k, v in self.latency_ms.items()},
            "verdict": self.verdict,
            "ready": self.ready,
            "current": self.current,
            "next_stage": self.next_stage,
            "results": dict(self.results),
            "compare_errors": self.compare_errors,
            "inconsistency_rate": rate,
            "inconsistency_ci95": [low, high] if self.consistency_checks else None,
            "latency_ratio_p99": self.latency_ratio,
            "latency_exact": self.latency_exact,
            "diff_paths": [dict(item) for item in self.diff_paths],
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "error_types": {k: dict(v) for k, v in self.error_types.items()},
            "type_mismatches": self.type_mismatches,
            "shadows_dropped": self.shadows_dropped,
            "shadows_skipped": self.shadows_skipped,
            "warnings_suppressed": self.warnings_suppressed,
            "summaries": self.summaries,
            "not_counted_again": self.not_counted_again,
        }

    def notes(self) -> list[str]:
        """The counts that are not in the table, when they are not zero: ``3 type mismatches``."""
        counts = (
            (self.type_mismatches, "type mismatch", "type mismatches"),
            (self.shadows_dropped, "shadow dropped", "shadows dropped"),
            (self.shadows_skipped, "read not shadowed (shadow_ratio)",
             "reads not shadowed (shadow_ratio)"),
            (self.warnings_suppressed, "warning suppressed", "warnings suppressed"),
        )
        return [f"{count:,} {one if count == 1 else many}" for count, one, many in counts
                if count]


def _round(value: float | None) -> float:
    assert value is not None
    return round(value, 4)


def _verdict(entry: EntryReport, th: Thresholds) -> tuple[bool, str]:
    stage, operation = entry.stage, entry.operation
    nxt = entry.next_stage
    if stage == "off":
        return True, "ready for DUALWRITE: only the old side runs in OFF"
    if stage not in NEW_RUNS[operation]:
        return True, f"ready for {nxt.upper() if nxt else '-'}: the new side is not read in " \
                     f"{stage.upper()}; judge the writes"
    compared = operation == "read" and stage in COMPARED
    reasons: list[str] = []
    if compared:
        samples, noun = entry.consistency_checks, "comparisons"
    else:
        samples = entry.results["new"]
        noun = f"new-side {operation}s"
    if samples < th.min_samples:
        reasons.append(f"only {samples:,} {noun} (need {th.min_samples:,})")
    rate = entry.inconsistency_rate
    if compared and rate is not None and rate > th.max_inconsistency:
        reasons.append(f"{percent(rate)} inconsistent (limit {percent(th.max_inconsistency)})")
    if compared and entry.compare_errors:
        tried = entry.consistency_checks + entry.compare_errors
        if entry.compare_errors / tried > th.max_inconsistency:
            reasons.append(f"{entry.compare_errors:,} comparisons raised (fix the comparator)")
    new_rate = entry.error_rate("new")
    old_rate = entry.error_rate("old")
    if new_rate is not None:
        if old_rate is None:
            if new_rate > th.max_error_rate:
                reasons.append(
                    f"new side {percent(new_rate)} errors (limit {percent(th.max_error_rate)})"
                )
        elif new_rate - old_rate > th.max_error_rate:
            reasons.append(
                f"new side {percent(new_rate)} errors vs old {percent(old_rate)} "
                f"(limit +{percent(th.max_error_rate)})"
            )
    old_latency, new_latency = entry.latency_ms["old"], entry.latency_ms["new"]
    ratio: float | None = None
    if old_latency is not None and new_latency is not None:
        floor = th.latency_floor_ms
        old_p99 = max(old_latency["p99"], floor)
        new_p99 = max(new_latency["p99"], floor)
        # With a floor of 0, an old side that always took 0 ms leaves no
        # ratio: a new side that did too is as fast, any other is slower.
        if old_p99 > 0:
            ratio = new_p99 / old_p99
        elif new_p99 > 0:
            ratio = math.inf
        if ratio is not None and ratio > th.max_latency_ratio:
            times = f"{ratio:.1f}x old" if math.isfinite(ratio) else "slower than old"
            reasons.append(
                f"new side p99 {times} ({format_ms(new_latency['p99'])} ms vs "
                f"{format_ms(old_latency['p99'])} ms, limit {th.max_latency_ratio:g}x)"
            )
    if reasons:
        return False, "hold: " + "; ".join(reasons)
    evidence = [f"{samples:,} {noun}"]
    if compared and rate is not None:
        evidence.append(f"{percent(rate)} inconsistent")
    if new_rate is not None:
        evidence.append(f"new side {percent(new_rate)} errors")
    if ratio is not None:
        evidence.append(f"p99 {ratio:.1f}x old")
    if nxt is None:
        return True, "ready: COMPLETE is the last stage; the old side can go (" + \
            ", ".join(evidence) + ")"
    return True, f"ready for {nxt.upper()} (" + ", ".join(evidence) + ")"


@dataclasses.dataclass
class Report:
    """
    Everything ``migratekit report`` says about the lines it read.

    *entries* holds one :class:`EntryReport` per migration, stage and
    operation; :attr:`on_hold` the current ones that are not ready. *lines*
    and *events* count what was read, *skipped* the lines left out by reason
    (``other``, ``unparsable``, ``malformed``, ``too_long``...), *stage_errors* the
    distinct ``migration.stage_error`` events and *shadow_dropped* the
    background shadows dropped per migration. :meth:`to_json` is the document
    ``migratekit report --format json`` writes.
    """

    entries: list[EntryReport]
    lines: int
    events: int
    skipped: dict[str, int]
    stage_errors: list[dict[str, Any]]
    shadow_dropped: dict[str, int]
    thresholds: Thresholds
    timelines: dict[tuple[str, str, str], tuple[str, list[dict[str, Any]]]]
    sources: list[str] = dataclasses.field(default_factory=list)
    stage_errors_other: int = 0
    """Stage errors beyond the distinct kinds kept in :attr:`stage_errors`."""
    line_timelines: dict[tuple[str, str, str], list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    """Every entry's timeline by log line, for charts that mix timed and untimed stages."""
    since: float | None = None
    """Events before this moment (seconds since the epoch) were left out (``--since``)."""
    until: float | None = None
    """Events from this moment on were left out (``--until``)."""
    kept_without_timestamp: int = 0
    """Events kept, with *since* or *until* given, because they carry no timestamp."""
    summaries: int = 0
    """``migration.summary`` events counted."""
    summary_processes: int = 0
    """Distinct processes whose summaries were counted."""
    not_counted_again: int = 0
    """Per-call events left out because their process's summaries count them."""
    untracked_events: int = 0
    """
    Per-call events counted whether or not their process's summaries were
    read, the report keeping too many processes apart already.
    """

    @property
    def skipped_lines(self) -> int:
        """Lines that were not migratekit events this report reads."""
        return sum(self.skipped.values())

    @property
    def on_hold(self) -> list[EntryReport]:
        """The current entry of each migration and operation that is on hold."""
        return [entry for entry in self.entries if entry.current and not entry.ready]

    def to_json(self) -> dict[str, Any]:
        """docs/design.md's ``--format json`` document (with extra keys)."""
        return {
            "migrations": [entry.to_json() for entry in self.entries],
            "skipped_lines": self.skipped_lines,
            "lines": self.lines,
            "events": self.events,
            "skipped": dict(sorted(self.skipped.items())),
            "stage_errors": [dict(item) for item in self.stage_errors],
            "stage_errors_other": self.stage_errors_other,
            "shadow_dropped": dict(self.shadow_dropped),
            "thresholds": dataclasses.asdict(self.thresholds),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "kept_without_timestamp": self.kept_without_timestamp,
            "summaries": self.summaries,
            "summary_processes": self.summary_processes,
            "not_counted_again": self.not_counted_again,
            "untracked_events": self.untracked_events,
        }


def _iso(moment: float | None) -> str | None:
    """*moment* (seconds since the epoch) as an ISO 8601 UTC time, or ``None``."""
    if moment is None:
        return None
    return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc).isoformat()
