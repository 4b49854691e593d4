"""
The report from a Prometheus server (``migratekit report --prometheus URL``):
the counters :mod:`migratekit.metrics` exports, over a range of time, read
through the server's HTTP API and turned into the ``migration.summary``
events they stand for, one per scraped process (its ``job`` and ``instance``)
and (migration, operation, stage); the report reads those as it reads
summaries from logs, so the table and the verdicts are the same.

The counts are exact, not ``increase()``'s extrapolation: each series' raw
samples in the range, less its value at the range's start (zero when it did
not exist yet: migratekit's counters start from zero with the process), with
a drop taken as a restart. Latencies come from the ``le`` buckets of
``migratekit_latency_seconds``, each bucket's count placed at its geometric
middle: percentiles are known within a bucket, not within 1% as from logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from migratekit._schema import LATENCY_GAMMA, SUMMARY_EVENT
from migratekit.report._aggregate import Aggregator
from migratekit.report._constants import STAGE_RANK
from migratekit.report._files import InputError
from migratekit.report._select import patterns_from
from migratekit.report._verdict import Report, Thresholds

__all__ = ["build_prometheus_report", "query"]

_COUNTERS = {
    "migratekit_calls_total": "calls",
    "migratekit_consistency_checks_total": "consistency_checks",
    "migratekit_inconsistent_total": "inconsistent",
    "migratekit_compare_errors_total": "compare_errors",
    "migratekit_type_mismatches_total": "type_mismatches",
    "migratekit_ignored_total": "ignored",
    "migratekit_shadow_dropped_total": "shadows_dropped",
    "migratekit_shadow_skipped_total": "shadows_skipped",
    "migratekit_warnings_suppressed_total": "warnings_suppressed",
}
_SIDES = ("migratekit_results_total", "migratekit_errors_total",
          "migratekit_latency_seconds_bucket", "migratekit_latency_seconds_sum")
_SELECTOR = '{__name__=~"%s"}' % "|".join([*_COUNTERS, *_SIDES])  # noqa: UP031
_OWN_LABELS = {"__name__", "migration", "operation", "stage", "origin", "ok", "exc_type", "le"}
_LOG_GAMMA = math.log(LATENCY_GAMMA)

Labels = dict[str, str]


def query(url: str, promql: str, at: float, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The ``result`` of an instant query of *promql* at *at*; raises :class:`InputError`."""
    address = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql, "time": f"{at:.3f}"})
    try:
        with urllib.request.urlopen(address, timeout=timeout) as answer:
            document = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(ValueError, OSError, AttributeError):
            detail = json.loads(exc.read().decode("utf-8")).get("error", "")
        raise InputError(f"cannot query Prometheus at {url}: HTTP {exc.code} {detail}".rstrip()
                         ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InputError(f"cannot query Prometheus at {url}: {reason}") from None
    if not isinstance(document, dict) or document.get("status") != "success":
        raise InputError(f"cannot query Prometheus at {url}: the answer is not a success")
    result = document.get("data", {}).get("result", [])
    return result if isinstance(result, list) else []


def build_prometheus_report(url: str, thresholds: Thresholds | None = None, *,
                            range_seconds: float = 3600.0, end: float | None = None,
                            timeout: float = 30.0,
                            migrations: Iterable[str] | None = None) -> Report:
    """
    The report of the *range_seconds* up to *end* (now by default), from the
    Prometheus server at *url* (``http://host:9090``); *migrations* (names
    or shell globs) keeps those migrations only, as for :func:`build_report`.
    """
    thresholds = thresholds or Thresholds()
    selection = patterns_from(migrations)
    if end is None:
        end = datetime.now(timezone.utc).timestamp()
    start = end - range_seconds
    window = query(url, f"{_SELECTOR}[{max(1, math.ceil(range_seconds))}s]", end, timeout)
    before = query(url, _SELECTOR, start, timeout)
    at_start = {_identity(series.get("metric", {})): _number(series.get("value", [0, "0"])[1])
                for series in before}
    counts: dict[tuple[str, tuple[str, str, str]], dict[str, Any]] = {}
    for series in window:
        labels: Labels = series.get("metric", {})
        samples = [(float(when), _number(value)) for when, value in series.get("values", [])]
        key = (labels.get("migration"), labels.get("operation"), labels.get("stage"))
        if not samples or None in key:
            continue
        grown = _growth(samples, at_start.get(_identity(labels)))
        changed = _last_change(samples, at_start.get(_identity(labels)))
        summary = counts.setdefault((_process(labels), key), _empty(key, start))  # type: ignore[arg-type]
        summary["first"] = min(summary["first"], samples[0][0])
        if grown and changed is not None:
            summary["last"] = max(summary["last"], changed)
        _add(summary, labels, grown)
    aggregator = Aggregator(since=start, until=end, migrations=selection,
                            resolution=thresholds.min_samples)
    # The latest stage of a migration is the one whose counts grew last; within
    # one scrape, the later stage (a scrape cannot tell which came first).
    for (process, _), summary in sorted(
            counts.items(), key=lambda item: (item[1]["last"],
                                              STAGE_RANK.get(item[0][1][2], -1))):
        event = _event(process, summary, start, end)
        if event is not None:
            aggregator.feed_line(json.dumps(event))
    return aggregator.report(thresholds)


def _number(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def _identity(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _process(labels: Labels) -> str:
    """A process id for a scraped target: the hash of its other labels (job, instance...)."""
    target = sorted((name, value) for name, value in labels.items() if name not in _OWN_LABELS)
    return hashlib.sha256(repr(target).encode()).hexdigest()[:16]


def _growth(samples: list[tuple[float, float]], start: float | None) -> float:
    """How much a counter grew over *samples*, from *start* (``None``: it began at zero)."""
    previous = 0.0 if start is None else start
    grown = 0.0
    for _, value in samples:
        grown += value - previous if value >= previous else value  # a drop: a restart
        previous = value
    return grown


def _last_change(samples: list[tuple[float, float]], start: float | None) -> float | None:
    previous, changed = (0.0 if start is None else start), None
    for when, value in samples:
        if value != previous:
            changed = when
        previous = value
    return changed


def _empty(key: tuple[str, str, str], start: float) -> dict[str, Any]:
    return {"key": key, "first": math.inf, "last": start, "counts": {},
            "sides": {}}


def _add(summary: dict[str, Any], labels: Labels, grown: float) -> None:
    name = labels.get("__name__", "")
    field = _COUNTERS.get(name)
    if field is not None:
        summary["counts"][field] = summary["counts"].get(field, 0.0) + grown
        return
    origin = labels.get("origin")
    if origin not in ("old", "new"):
        return
    side = summary["sides"].setdefault(origin, {"ok": 0.0, "failed": 0.0, "errors": {},
                                                "le": {}, "sum": 0.0})
    if name == "migratekit_results_total":
        which = "ok" if labels.get("ok") == "true" else "failed"
        side[which] += grown
    elif name == "migratekit_errors_total":
        exc_type = labels.get("exc_type", "?")
        side["errors"][exc_type] = side["errors"].get(exc_type, 0.0) + grown
    elif name == "migratekit_latency_seconds_sum":
        side["sum"] += grown
    else:
        le = _number(labels.get("le")) if labels.get("le") != "+Inf" else math.inf
        side["le"][le] = side["le"].get(le, 0.0) + grown


def _event(process: str, summary: dict[str, Any], start: float,
           end: float) -> dict[str, Any] | None:
    counts = {field: round(value) for field, value in summary["counts"].items()}
    sides = {}
    for origin, side in summary["sides"].items():
        ok, failed = round(side["ok"]), round(side["failed"])
        if not ok and not failed:
            continue
        buckets, count, highest = _fine_buckets(side["le"])
        sides[origin] = {
            "ok": ok, "failed": failed,
            "errors": {exc_type: round(n) for exc_type, n in side["errors"].items() if round(n)},
            "latency_ms": {"count": count, "sum": round(side["sum"] * 1000.0, 6),
                           "max": highest, "zeros": 0, "gamma": LATENCY_GAMMA,
                           "buckets": {str(index): n for index, n in sorted(buckets.items())}},
        }
    if not counts.get("calls") and not sides and not counts.get("shadows_dropped") \
            and not counts.get("warnings_suppressed"):
        return None
    first = max(start, min(summary["first"], end))
    return {
        "event": SUMMARY_EVENT,
        "migration": summary["key"][0], "operation": summary["key"][1],
        "stage": summary["key"][2],
        "since": _iso(first), "until": _iso(max(first, summary["last"])),
        "process": process, **counts, "sides": sides,
    }


def _fine_buckets(cumulative: dict[float, float]) -> tuple[dict[int, int], int, float]:
    """
    The ``le`` buckets (cumulative counts by bound, seconds) as the report's
    fine histogram: each bucket's count at its geometric middle (the first
    at half its bound, the one above the last bound at twice that bound).
    The fine histogram, its count, and the largest latency it stands for (ms).
    """
    buckets: dict[int, int] = {}
    below, lower, highest = 0, 0.0, 0.0
    for bound in sorted(cumulative):
        total = round(cumulative[bound])
        n, below = total - below, max(below, total)
        if bound == math.inf:
            ms = lower * 2000.0
        elif lower == 0.0:
            ms = bound * 500.0
        else:
            ms = math.sqrt(lower * bound) * 1000.0
        if n > 0 and ms > 0.0:
            index = math.ceil(math.log(ms) / _LOG_GAMMA)
            buckets[index] = buckets.get(index, 0) + n
            highest = max(highest, ms)
        lower = bound if bound != math.inf else lower
    return buckets, sum(buckets.values()), round(highest, 6)


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="microseconds")
