"""The implementation of :mod:`migratekit.metrics`."""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from migratekit import _summary
from migratekit._schema import LATENCY_GAMMA
from migratekit._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = [
    "COUNTERS",
    "LATENCY_BUCKETS",
    "LATENCY_QUANTILES",
    "OpenTelemetryMetrics",
    "PrometheusCollector",
    "fold_latency",
    "instrument_opentelemetry",
]

_LABELS = ("migration", "operation", "stage")
_ORIGINS = ("old", "new")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
"""The upper bounds (``le``), in seconds, of ``migratekit_latency_seconds``; then ``+Inf``."""

LATENCY_QUANTILES = (0.5, 0.95, 0.99)
"""The quantiles OpenTelemetry's ``migratekit.latency`` gauge observes per side."""

_LATENCY_QUANTILES_TEXT = tuple(map(repr, LATENCY_QUANTILES))

COUNTERS: dict[str, tuple[str, str]] = {
    # Prometheus name (without _total): (the Row attribute, the help text)
    "migratekit_calls": ("calls", "Calls of a migration."),
    "migratekit_consistency_checks": ("checks", "Reads whose two sides were compared."),
    "migratekit_inconsistent": ("inconsistent", "Compared reads whose sides differed."),
    "migratekit_compare_errors": ("compare_errors", "Comparisons that raised."),
    "migratekit_type_mismatches": ("type_mismatches",
                                   "Compared reads whose values were of different types."),
    "migratekit_ignored": ("ignored", "Reads whose difference ignore= accepted."),
    "migratekit_shadow_dropped": ("dropped", "Background shadows dropped (queue full)."),
    "migratekit_shadow_skipped": ("skipped", "Reads shadow_ratio did not shadow."),
    "migratekit_warnings_suppressed": ("suppressed",
                                       "Warnings held back by max_warnings_per_second."),
}
"""The plain counters, one series per (migration, operation, stage)."""

_LOG_GAMMA = math.log(LATENCY_GAMMA)

# Fine bucket k holds latencies in (G**(k-1), G**k] ms. It counts in the first
# `le` at or above its upper bound G**k, i.e. the first le whose
# floor(log(le_ms) / log G) is >= k. A latency just below an `le` whose fine
# bucket straddles it counts in the next `le` up: the error is at most one fine
# bucket, G - 1 ~ 2% of the value, and only for latencies within 2% below an le.
_LE_TEXT = (*(f"{le}" for le in LATENCY_BUCKETS), "+Inf")
_LE_LIMITS = tuple(math.floor(math.log(le * 1000.0) / _LOG_GAMMA) for le in LATENCY_BUCKETS)


def fold_latency(buckets: dict[int, int], zeros: int) -> list[int]:
    """
    The fine histogram *buckets* (``{k: n}``, ms) and *zeros* folded into
    counts per ``le`` of :data:`LATENCY_BUCKETS` then ``+Inf``, not cumulative.
    """
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    counts[0] = zeros
    for index, n in buckets.items():
        counts[bisect.bisect_left(_LE_LIMITS, index)] += n
    return counts


def _missing(extra: str, module: str, error: ImportError) -> ImportError:
    return ImportError(
        f"migratekit.metrics needs {module} for this: pip install 'migratekit[{extra}]' "
        f"({error})"
    )


class _Reader:
    """Counting on for as long as its owner lives, or until :meth:`close`."""

    def __init__(self, owner: object) -> None:
        _summary.add_reader()
        self._finalizer = weakref.finalize(owner, _summary.remove_reader)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()  # once: a finalizer runs at most once


# -- Prometheus ---------------------------------------------------------------------------------


class PrometheusCollector:
    """
    A ``prometheus_client`` custom collector of migratekit's counts::

        collector = PrometheusCollector()
        prometheus_client.REGISTRY.register(collector)

    or ``PrometheusCollector.register()`` (another *registry* may be given).
    Each scrape reads the counts once; calls cost nothing more. Creating a
    collector makes every call counted whatever the logger emits;
    :meth:`close` unregisters it (when :meth:`register` registered it) and
    stops that.
    """

    def __init__(self) -> None:
        try:
            import prometheus_client  # noqa: F401, PLC0415
        except ImportError as error:
            raise _missing("prometheus", "prometheus_client", error) from None
        self._reader = _Reader(self)
        self._registry: CollectorRegistry | None = None

    @classmethod
    def register(cls, registry: CollectorRegistry | None = None) -> PrometheusCollector:
        """A new collector, registered with *registry* (``prometheus_client.REGISTRY``)."""
        collector = cls()
        if registry is None:
            from prometheus_client import REGISTRY  # noqa: PLC0415

            registry = REGISTRY
        try:
            registry.register(collector)
        except BaseException:
            collector.close()
            raise
        collector._registry = registry
        return collector

    def close(self) -> None:
        """Unregister (if :meth:`register` registered this collector); stop reading."""
        registry, self._registry = self._registry, None
        if registry is not None:
            registry.unregister(self)
        self._reader.close()

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples: registries check names with them."""
        yield from self._families([])

    def collect(self) -> Iterator[Metric]:
        """The metric families, from the counts as they are now."""
        if self._reader.closed:
            return
        yield from self._families(_summary.totals())

    def _families(self, found: list[_summary.Totals]) -> Iterator[Metric]:
        from prometheus_client.core import (  # noqa: PLC0415
            CounterMetricFamily,
            HistogramMetricFamily,
        )

        labels = list(_LABELS)
        calls = CounterMetricFamily("migratekit_calls", COUNTERS["migratekit_calls"][1],
                                    labels=labels)
        results = CounterMetricFamily(
            "migratekit_results", "Results of each side: ok or failed.",
            labels=[*labels, "origin", "ok"])
        errors = CounterMetricFamily(
            "migratekit_errors", "Failures of each side, by exception class.",
            labels=[*labels, "origin", "exc_type"])
        latency = HistogramMetricFamily(
            "migratekit_latency_seconds", "Latency of each side, in seconds.",
            labels=[*labels, "origin"])
        plain = [(CounterMetricFamily(name, text, labels=labels), attribute)
                 for name, (attribute, text) in COUNTERS.items() if name != "migratekit_calls"]
        for totals in found:
            key = [totals.migration, totals.operation, totals.stage]
            row = totals.row
            calls.add_metric(key, row.calls)
            for family, attribute in plain:
                family.add_metric(key, getattr(row, attribute))
            for side, origin in enumerate(_ORIGINS):
                if not row.ok[side] and not row.failed[side] and not row.buckets[side] \
                        and not row.zeros[side]:
                    continue  # this side never ran here
                results.add_metric([*key, origin, "true"], row.ok[side])
                results.add_metric([*key, origin, "false"], row.failed[side])
                for exc_type, n in sorted(row.errors[side].items()):
                    errors.add_metric([*key, origin, exc_type], n)
                counts = fold_latency(row.buckets[side], row.zeros[side])
                cumulative, total = [], 0
                for le, n in zip(_LE_TEXT, counts, strict=True):
                    total += n
                    cumulative.append((le, total))
                latency.add_metric([*key, origin], cumulative,
                                   sum_value=row.latency_sum[side] / 1000.0)
        yield calls
        yield results
        yield errors
        for family, _ in plain:
            yield family
        yield latency


# -- OpenTelemetry ------------------------------------------------------------------------------


def instrument_opentelemetry(meter_provider: MeterProvider | None = None) -> OpenTelemetryMetrics:
    """
    Observe migratekit's counts through OpenTelemetry: observable counters
    and a latency gauge on a meter of *meter_provider* (the global one by
    default), read at each collection. Close the answer to stop.
    """
    try:
        from opentelemetry import metrics  # noqa: PLC0415
    except ImportError as error:
        raise _missing("otel", "opentelemetry-api", error) from None
    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    return OpenTelemetryMetrics(provider.get_meter("migratekit", __version__))


_OTEL_UNITS = {
    "migratekit_calls": "{call}",
    "migratekit_consistency_checks": "{check}",
    "migratekit_inconsistent": "{check}",
    "migratekit_compare_errors": "{comparison}",
    "migratekit_type_mismatches": "{check}",
    "migratekit_ignored": "{check}",
    "migratekit_shadow_dropped": "{shadow}",
    "migratekit_shadow_skipped": "{shadow}",
    "migratekit_warnings_suppressed": "{warning}",
}


def _otel_name(prometheus_name: str) -> str:
    """``migratekit_calls`` -> ``migratekit.calls``: a counter's OpenTelemetry name."""
    return "migratekit." + prometheus_name.removeprefix("migratekit_")


class OpenTelemetryMetrics:
    """
    What :func:`instrument_opentelemetry` made: observable counters named
    ``migratekit.calls``, ``migratekit.results``... (an OpenTelemetry
    Prometheus exporter writes them ``migratekit_calls_total``... as the
    :class:`PrometheusCollector` does), and ``migratekit.latency``, a gauge
    in seconds of the latency quantiles (attribute ``quantile``) of each side
    over the calls since the previous collection. The meter keeps them (and
    this object) for as long as it lives; :meth:`close` stops them.
    """

    def __init__(self, meter: Meter) -> None:
        from opentelemetry.metrics import Observation  # noqa: PLC0415

        self._observation = Observation
        self._reader = _Reader(self)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str, int], tuple[dict[int, int], int]] = {}
        for name, (attribute, text) in COUNTERS.items():
            meter.create_observable_counter(
                _otel_name(name), [self._counter(attribute)], unit=_OTEL_UNITS[name],
                description=text)
        meter.create_observable_counter(
            "migratekit.results", [self._results], unit="{result}",
            description="Results of each side: ok or failed.")
        meter.create_observable_counter(
            "migratekit.errors", [self._errors], unit="{result}",
            description="Failures of each side, by exception class.")
        meter.create_observable_gauge(
            "migratekit.latency", [self._latency], unit="s",
            description="Latency quantiles of each side over the calls since the "
                        "previous collection.")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: the instruments observe nothing since."""
        return self._reader.closed

    def close(self) -> None:
        """Stop: the instruments observe nothing, and calls are no longer counted for them."""
        self._reader.close()

    def _totals(self) -> list[_summary.Totals]:
        return [] if self._reader.closed else _summary.totals()

    def _counter(self, attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [self._observation(getattr(totals.row, attribute), _attributes(totals))
                    for totals in self._totals()]

        return observe

    def _results(self, options: CallbackOptions) -> Iterable[Observation]:
        found: list[Observation] = []
        for totals in self._totals():
            row = totals.row
            for side, origin in enumerate(_ORIGINS):
                if row.ok[side] or row.failed[side]:
                    found.append(self._observation(row.ok[side],
                                             _attributes(totals, origin=origin, ok="true")))
                    found.append(self._observation(row.failed[side],
                                             _attributes(totals, origin=origin, ok="false")))
        return found

    def _errors(self, options: CallbackOptions) -> Iterable[Observation]:
        return [self._observation(n, _attributes(totals, origin=origin, exc_type=exc_type))
                for totals in self._totals()
                for side, origin in enumerate(_ORIGINS)
                for exc_type, n in sorted(totals.row.errors[side].items())]

    def _latency(self, options: CallbackOptions) -> Iterable[Observation]:
        """The quantiles of each side over the calls since the previous collection."""
        from migratekit.report._digest import LatencyDigest  # noqa: PLC0415

        found = self._totals()
        observed: list[Observation] = []
        with self._lock:
            for totals in found:
                row = totals.row
                for side, origin in enumerate(_ORIGINS):
                    key = (totals.migration, totals.operation, totals.stage, side)
                    buckets, zeros = dict(row.buckets[side]), row.zeros[side]
                    window, window_zeros = _since(buckets, zeros, self._seen.get(key))
                    self._seen[key] = (buckets, zeros)
                    count = window_zeros + sum(window.values())
                    if not count:
                        continue
                    digest = LatencyDigest()
                    digest.merge_histogram(window, count=count, total=0.0,
                                           maximum=row.latency_max[side], zeros=window_zeros)
                    for quantile in _LATENCY_QUANTILES_TEXT:
                        ms = digest.percentile(float(quantile) * 100.0) or 0.0
                        observed.append(self._observation(
                            ms / 1000.0, _attributes(totals, origin=origin, quantile=quantile)))
        return observed


def _since(buckets: dict[int, int], zeros: int,
           before: tuple[dict[int, int], int] | None) -> tuple[dict[int, int], int]:
    """What grew since *before*; everything when the counts went back (a reset)."""
    if before is None:
        return buckets, zeros
    old, old_zeros = before
    window = {index: n - old.get(index, 0) for index, n in buckets.items()}
    if zeros < old_zeros or any(n < 0 for n in window.values()) \
            or any(index not in buckets for index in old):
        return buckets, zeros
    return {index: n for index, n in window.items() if n}, zeros - old_zeros


def _attributes(totals: _summary.Totals, **more: str) -> dict[str, str]:
    return {"migration": totals.migration, "operation": totals.operation,
            "stage": totals.stage, **more}
