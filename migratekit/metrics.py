"""
migratekit's counts as metrics: a Prometheus collector and OpenTelemetry
observable instruments (README, "Metrics: Prometheus and OpenTelemetry").

Both read :func:`migratekit._summary.totals` when they are collected (a
scrape, an export), never on a call: the calls pay only for the counting
they already do for the summaries. Creating either one starts that counting
whatever the logger emits (:func:`migratekit._summary.add_reader`); closing
it stops it when nothing else needs it.

The names are the ones docs/design.md ("Summaries") fixes; every series has
the labels ``migration``, ``operation`` and ``stage``, and ``origin``
(``old``, ``new``) and ``ok`` (``true``, ``false``) where they apply:

- ``migratekit_calls_total``
- ``migratekit_results_total{origin,ok}``
- ``migratekit_errors_total{origin,exc_type}``: failures by exception class
- ``migratekit_consistency_checks_total``, ``migratekit_inconsistent_total``,
  ``migratekit_compare_errors_total``, ``migratekit_type_mismatches_total``,
  ``migratekit_ignored_total`` (mismatches an ``ignore=`` predicate accepted)
- ``migratekit_shadow_dropped_total``, ``migratekit_shadow_skipped_total``,
  ``migratekit_warnings_suppressed_total``
- ``migratekit_latency_seconds{origin}``: a histogram (Prometheus only)
"""

from migratekit._metrics import (
    COUNTERS,
    LATENCY_BUCKETS,
    LATENCY_QUANTILES,
    OpenTelemetryMetrics,
    PrometheusCollector,
    fold_latency,
    instrument_opentelemetry,
)

__all__ = [
    "COUNTERS",
    "LATENCY_BUCKETS",
    "LATENCY_QUANTILES",
    "OpenTelemetryMetrics",
    "PrometheusCollector",
    "fold_latency",
    "instrument_opentelemetry",
]

for _name in ("OpenTelemetryMetrics", "PrometheusCollector", "fold_latency",
              "instrument_opentelemetry"):
    globals()[_name].__module__ = __name__
del _name
