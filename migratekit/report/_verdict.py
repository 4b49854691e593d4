"""The figures of each migration, stage and operation, and the verdict on them."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from migratekit.report._constants import COMPARED, NEW_RUNS, NEXT_STAGE, OLD_RUNS, ORIGINS
from migratekit.report._history import backfill_problem, backfill_verified

if TYPE_CHECKING:
    from migratekit.report._entry import Entry
    from migratekit.report._tally import Tally

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
    scheduling dominate sub-millisecond timings. *allow_type_change*: the
    two sides may return values of different types in SHADOW and LIVE (by
    default a call whose values' types differ holds the step to LIVE and
    LIVE itself, as callers would get another type once the new side answers).

    *min_samples* is also the window the gate judges a stage by when the
    migration left it (:mod:`~migratekit.report._gate`).
    """

    max_inconsistency: float = 0.001
    min_samples: int = 1000
    max_latency_ratio: float = 1.5
    max_error_rate: float = 0.01
    latency_floor_ms: float = 1.0
    allow_type_change: bool = False


def wilson_interval(bad: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """
    The Wilson score interval of the proportion *bad* / *total* (95% by
    default). Its bounds are exactly 0 when nothing was bad and exactly 1 when
    everything was: rounding would otherwise leave ``4.3e-17`` in their place.
    """
    if total <= 0:
        return 0.0, 1.0
    p = bad / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if bad <= 0 else max(0.0, centre - half)
    high = 1.0 if bad >= total else min(1.0, centre + half)
    return low, high


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

    *type_pairs* lists the pairs of types seen when they differed
    (``{"old", "new", "count"}``, most frequent first); *ignored* counts the
    mismatches an ``ignore=`` predicate accepted, which are neither
    consistent nor inconsistent. *examples* names a few calls per mismatch
    path and per error type (:class:`~migratekit.report._examples.Examples`).

    The gate (:mod:`~migratekit.report._gate`) fills the rest: on a stage
    the migration advanced past, *left_verdict* is the verdict on its last
    window, *left_window* that window's samples and span, and *cleared_by*
    the later stage whose clean window showed its problem gone; on the
    current entry, *path* lists the stages seen in the order they were
    entered, and *held_by_path* the reasons the path holds it.
    *reconcile* is the migration's newest ``migration.reconcile`` (a read in
    DUALWRITE is judged by it), *entered* its newest ``migration.stage_change``
    into this stage and, on the current entry, *last_change* its last one.
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
    ignored: int = 0
    type_pairs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    examples: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: list[str] = dataclasses.field(default_factory=list)
    left_verdict: str | None = None
    left_window: dict[str, Any] | None = None
    cleared_by: str | None = None
    held_by_path: list[str] = dataclasses.field(default_factory=list)
    reconcile: dict[str, Any] | None = None
    entered: dict[str, Any] | None = None
    last_change: dict[str, Any] | None = None

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

    @property
    def type_mismatch_rate(self) -> float | None:
        """
        The share of calls whose two values were of different types: of the
        calls whose values were compared (consistent, inconsistent, ignored
        or raising), or of all calls when none were; ``None`` without calls.
        """
        seen = self.consistency_checks + self.compare_errors + self.ignored
        seen = max(seen if seen else self.calls, self.type_mismatches)
        return self.type_mismatches / seen if seen else None

    def types_summary(self) -> str | None:
        """``types differ in 100% of calls: old User, new dict`` (the most frequent pair)."""
        rate = self.type_mismatch_rate
        if not self.type_mismatches or rate is None:
            return None
        text = f"types differ in {percent(rate)} of calls"
        if self.type_pairs:
            pair = self.type_pairs[0]
            text += f": old {pair['old']}, new {pair['new']}"
        return text

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
            diff_paths=_paths(tally),
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
            ignored=tally.ignored,
            type_pairs=[
                {"old": old, "new": new, "count": count}
                for (old, new), count in sorted(tally.type_pairs.items(),
                                                key=lambda kv: (-kv[1], kv[0]))
            ],
            examples=entry.examples.to_json(),
        )
        report.ready, report.verdict = verdict(report, thresholds)
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
            # A side that never ran has no error count, as it has no latency.
            "errors": {origin: (count if self.results[origin] else None)
                       for origin, count in self.errors.items()},
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
            "type_mismatch_rate": self.type_mismatch_rate,
            "types": [dict(pair) for pair in self.type_pairs],
            "ignored": self.ignored,
            "shadows_dropped": self.shadows_dropped,
            "shadows_skipped": self.shadows_skipped,
            "warnings_suppressed": self.warnings_suppressed,
            "summaries": self.summaries,
            "not_counted_again": self.not_counted_again,
            "examples": self.examples,
            "path": list(self.path),
            "held_by_path": list(self.held_by_path),
            "left_verdict": self.left_verdict,
            "left_window": dict(self.left_window) if self.left_window else None,
            "cleared_by": self.cleared_by,
            "reconcile": _copy(self.reconcile),
            "entered": _copy(self.entered),
            "last_change": _copy(self.last_change),
        }

    def notes(self) -> list[str]:
        """
        The counts that are not in the table, when they are not zero:
        ``types differ in 2.0% of calls: old User, new dict``, ``3 mismatches
        ignored (ignore=)``.
        """
        types = self.types_summary()
        notes = [types] if types else []
        counts = (
            (self.ignored, "mismatch ignored (ignore=)", "mismatches ignored (ignore=)"),
            (self.shadows_dropped, "shadow dropped", "shadows dropped"),
            (self.shadows_skipped, "read not shadowed (shadow_ratio)",
             "reads not shadowed (shadow_ratio)"),
            (self.warnings_suppressed, "warning suppressed", "warnings suppressed"),
        )
        return notes + [f"{count:,} {one if count == 1 else many}"
                        for count, one, many in counts if count]


def _copy(found: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if found is None else {key: (dict(value) if isinstance(value, dict) else value)
                                       for key, value in found.items()}


def _paths(tally: Tally) -> list[dict[str, Any]]:
    """Where compared values differed, most frequent first, with their share of mismatches."""
    paths = [
        {"path": path, "count": count,
         "share": count / tally.inconsistent if tally.inconsistent else 0.0}
        for path, count in sorted(tally.diff_paths.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if tally.diff_other:
        paths.append({"path": "(other paths)", "count": tally.diff_other,
                      "share": tally.diff_other / max(1, tally.inconsistent)})
    return paths


def _round(value: float | None) -> float:
    assert value is not None
    return round(value, 4)


@dataclasses.dataclass(frozen=True)
class Reason:
    """
    One reason a verdict holds: *text* (``1.6% inconsistent``) and *detail*
    (``limit 0.1%``). *kind* says what evidence can show it gone: ``compared``
    (comparisons: too few, too many inconsistent or raising), ``new`` (the
    new side's results: too few, too many failed), ``latency`` (both sides'
    latencies), ``types`` (both sides' values) or ``reconcile`` (a newer
    ``migration.reconcile``, for a read in DUALWRITE).
    """

    kind: str
    text: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.text} ({self.detail})" if self.detail else self.text


def measures(stage: str, operation: str) -> frozenset[str]:
    """The kinds of :class:`Reason` that *operation* in *stage* gives evidence on."""
    kinds = set()
    if stage in NEW_RUNS[operation]:
        kinds.add("new")
        if stage in OLD_RUNS[operation]:
            kinds.add("latency")
    if stage in COMPARED:
        kinds.add("types")
        if operation == "read":
            kinds.add("compared")
    return frozenset(kinds)


def _samples(entry: EntryReport) -> tuple[int, str, bool]:
    """How many samples *entry* has, what they are, and whether they are comparisons."""
    if entry.operation == "read" and entry.stage in COMPARED:
        return entry.consistency_checks, "comparisons", True
    return entry.results["new"], f"new-side {entry.operation}s", False


def reasons(entry: EntryReport, th: Thresholds) -> list[Reason]:
    """
    Why *entry* is on hold by *th*; empty when it is ready (or the new side
    does not run, but for a read in DUALWRITE whose newest reconcile found
    the stores apart).
    """
    if entry.stage not in NEW_RUNS[entry.operation]:
        problem = backfill_problem(entry.reconcile) if entry.stage == "dualwrite" and \
            entry.reconcile is not None else None
        return [] if problem is None else [Reason("reconcile", problem)]
    samples, noun, compared = _samples(entry)
    out: list[Reason] = []
    if samples < th.min_samples:
        out.append(Reason("compared" if compared else "new", f"only {samples:,} {noun}",
                          f"need {th.min_samples:,}"))
    rate = entry.inconsistency_rate
    if compared and rate is not None and rate > th.max_inconsistency:
        out.append(Reason("compared", f"{percent(rate)} inconsistent",
                          f"limit {percent(th.max_inconsistency)}"))
    if compared and entry.compare_errors:
        tried = entry.consistency_checks + entry.compare_errors
        if entry.compare_errors / tried > th.max_inconsistency:
            out.append(Reason("compared", f"{entry.compare_errors:,} comparisons raised",
                              "fix the comparator"))
    if entry.stage in COMPARED and entry.type_mismatches and not th.allow_type_change:
        out.append(Reason("types", entry.types_summary() or "types differ",
                          "allow with --allow-type-change"))
    new_rate, old_rate = entry.error_rate("new"), entry.error_rate("old")
    if new_rate is not None:
        if old_rate is None:
            if new_rate > th.max_error_rate:
                out.append(Reason("new", f"new side {percent(new_rate)} errors",
                                  f"limit {percent(th.max_error_rate)}"))
        elif new_rate - old_rate > th.max_error_rate:
            out.append(Reason("new", f"new side {percent(new_rate)} errors vs old "
                              f"{percent(old_rate)}", f"limit +{percent(th.max_error_rate)}"))
    ratio = _latency_ratio(entry, th)
    old, new = entry.latency_ms["old"], entry.latency_ms["new"]
    if ratio is not None and ratio > th.max_latency_ratio and old and new:
        times = f"{ratio:.1f}x old" if math.isfinite(ratio) else "slower than old"
        out.append(Reason("latency", f"new side p99 {times}",
                          f"{format_ms(new['p99'])} ms vs {format_ms(old['p99'])} ms, "
                          f"limit {th.max_latency_ratio:g}x"))
    return out


def _latency_ratio(entry: EntryReport, th: Thresholds) -> float | None:
    old, new = entry.latency_ms["old"], entry.latency_ms["new"]
    if old is None or new is None:
        return None
    old_p99 = max(old["p99"], th.latency_floor_ms)
    new_p99 = max(new["p99"], th.latency_floor_ms)
    # With a floor of 0, an old side that always took 0 ms leaves no ratio:
    # a new side that did too is as fast, any other is slower.
    if old_p99 > 0:
        return new_p99 / old_p99
    return math.inf if new_p99 > 0 else None


def verdict(entry: EntryReport, th: Thresholds) -> tuple[bool, str]:
    """Whether *entry* is ready by *th*, and the sentence that says so (``ready`` or ``hold``)."""
    stage, operation, nxt = entry.stage, entry.operation, entry.next_stage
    if stage == "off":
        return True, "ready for DUALWRITE: only the old side runs in OFF"
    found = reasons(entry, th)
    if stage not in NEW_RUNS[operation]:
        # Reads in DUALWRITE: the new store is being written, never read yet.
        # SHADOW only starts comparing reads (the old side still answers every
        # call), so a backfill not verified yet is advice, not a hold; a
        # reconcile that found the stores apart holds it: SHADOW would compare
        # reads with a store known to be wrong, and fail on what is known.
        if found:
            return False, "hold: " + "; ".join(str(reason) for reason in found)
        nxt = (nxt or "-").upper()
        if entry.reconcile is not None:
            return True, f"ready for {nxt}: {backfill_verified(entry.reconcile)}"
        return True, f"ready for {nxt} once the new store is backfilled and verified " \
                     "(migratekit reconcile); judge the writes"
    if found:
        return False, "hold: " + "; ".join(str(reason) for reason in found)
    samples, noun, compared = _samples(entry)
    evidence = [f"{samples:,} {noun}"]
    rate = entry.inconsistency_rate
    if compared and rate is not None:
        evidence.append(f"{percent(rate)} inconsistent")
    new_rate = entry.error_rate("new")
    if new_rate is not None:
        evidence.append(f"new side {percent(new_rate)} errors")
    ratio = _latency_ratio(entry, th)
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
    migrations: list[str] | None = None
    """The names or shell globs the report read the migrations of (``--migration``), or all."""
    unmatched_reconciles: list[str] = dataclasses.field(default_factory=list)
    """
    The names of the ``migration.reconcile`` events read that name no migration
    in the report: a reconcile verifies the migration of its exact name.
    """

    @property
    def skipped_lines(self) -> int:
        """Lines that were not migratekit events this report reads."""
        return sum(self.skipped.values())

    @property
    def on_hold(self) -> list[EntryReport]:
        """
        The current entry of each migration and operation that is on hold: by
        its own figures, or by a stage it advanced past while that stage was
        on hold (:attr:`EntryReport.held_by_path`).
        """
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
            "migrations_selected": list(self.migrations) if self.migrations else None,
            "unmatched_reconciles": list(self.unmatched_reconciles),
        }


def _iso(moment: float | None) -> str | None:
    """*moment* (seconds since the epoch) as an ISO 8601 UTC time, or ``None``."""
    if moment is None:
        return None
    return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc).isoformat()
