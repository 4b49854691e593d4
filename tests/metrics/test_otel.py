"""instrument_opentelemetry with the real OpenTelemetry SDK, read by InMemoryMetricReader."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from migratekit import _summary
from migratekit._schema import LATENCY_GAMMA
from migratekit._settings import settings
from migratekit.metrics import OpenTelemetryMetrics, instrument_opentelemetry
from tests.metrics.scenario import EXPECTED, MIGRATION, drop_info, make, run_scenario

Points = dict[tuple[str, frozenset[tuple[str, str]]], Any]


def points(reader: InMemoryMetricReader) -> Points:
    """Every data point of one collection, by instrument name and attributes."""
    found: Points = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = {name: str(value)
                                  for name, value in (point.attributes or {}).items()}
                    found[metric.name, frozenset(attributes.items())] = point.value  # type: ignore[union-attr]
    return found


def key(migration: str, operation: str, stage: str, **more: str) -> frozenset[tuple[str, str]]:
    return frozenset({"migration": migration, "operation": operation, "stage": stage,
                      **more}.items())


@pytest.fixture
def otel() -> Iterator[tuple[InMemoryMetricReader, OpenTelemetryMetrics]]:
    drop_info()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    handle = instrument_opentelemetry(provider)
    yield reader, handle
    handle.close()
    provider.shutdown()


def test_counters_are_exact(otel: Any) -> None:
    reader, _ = otel
    run_scenario()
    found = points(reader)
    for (migration, operation, stage), want in EXPECTED.items():
        labels = key(migration, operation, stage)
        assert found["migratekit.calls", labels] == want["calls"]
        assert found["migratekit.consistency_checks", labels] == want["checks"]
        assert found["migratekit.inconsistent", labels] == want["inconsistent"]
        assert found["migratekit.compare_errors", labels] == want["compare_errors"]
        assert found["migratekit.shadow_dropped", labels] == 0
        assert found["migratekit.shadow_skipped", labels] == 0
        assert found["migratekit.warnings_suppressed", labels] == 0
        for origin in ("old", "new"):
            assert found["migratekit.results", key(migration, operation, stage,
                                                   origin=origin, ok="true")] \
                == want["ok"][origin]
            assert found["migratekit.results", key(migration, operation, stage,
                                                   origin=origin, ok="false")] \
                == want["failed"][origin]
            assert found.get(("migratekit.errors", key(migration, operation, stage,
                                                       origin=origin, exc_type="Broken")),
                             0) == want["failed"][origin]
    # a second collection: the counters are cumulative, as Prometheus' are
    get, _ = make({MIGRATION: "shadow"})
    get("a")
    again = points(reader)
    assert again["migratekit.calls", key(MIGRATION, "read", "shadow")] == 8


def mid_bucket_seconds(ms: float) -> float:
    index = math.ceil(math.log(ms) / math.log(LATENCY_GAMMA))
    return float(LATENCY_GAMMA ** (index - 0.5)) / 1000.0


def test_latency_quantiles_of_each_collection_window(otel: Any) -> None:
    reader, _ = otel
    row = _summary.row(_summary.key_for(MIGRATION, "read", "shadow"))
    for _ in range(90):
        row.result(0, True, mid_bucket_seconds(2.0))
    for _ in range(8):
        row.result(0, True, mid_bucket_seconds(40.0))
    for _ in range(2):
        row.result(0, True, mid_bucket_seconds(900.0))
    first = points(reader)
    side = key(MIGRATION, "read", "shadow", origin="old")
    assert first["migratekit.latency", side | {("quantile", "0.5")}] \
        == pytest.approx(0.002, rel=0.011)
    assert first["migratekit.latency", side | {("quantile", "0.95")}] \
        == pytest.approx(0.040, rel=0.011)
    assert first["migratekit.latency", side | {("quantile", "0.99")}] \
        == pytest.approx(0.900, rel=0.011)
    # the next window holds only what came after
    for _ in range(10):
        row.result(0, True, mid_bucket_seconds(7.0))
    second = points(reader)
    for quantile in ("0.5", "0.95", "0.99"):
        assert second["migratekit.latency", side | {("quantile", quantile)}] \
            == pytest.approx(0.007, rel=0.011)
    # a window without calls observes nothing for that side
    third = points(reader)
    assert not [name for name, attributes in third
                if name == "migratekit.latency" and ("origin", "old") in attributes]


def test_quantiles_start_over_after_a_reset(otel: Any) -> None:
    import migratekit
    from tests.helpers import fresh

    reader, _ = otel
    row = _summary.row(_summary.key_for(MIGRATION, "read", "shadow"))
    for _ in range(5):
        row.result(1, True, mid_bucket_seconds(50.0))
    points(reader)
    migratekit.reset()  # the counts start from nothing
    fresh()
    drop_info()
    row = _summary.row(_summary.key_for(MIGRATION, "read", "shadow"))
    row.result(1, True, mid_bucket_seconds(3.0))
    found = points(reader)
    side = key(MIGRATION, "read", "shadow", origin="new")
    assert found["migratekit.latency", side | {("quantile", "0.99")}] \
        == pytest.approx(0.003, rel=0.011)


def test_close_stops_observing_and_counting(otel: Any) -> None:
    reader, handle = otel
    get, _ = make({MIGRATION: "shadow"})
    get("a")
    assert points(reader)["migratekit.calls", key(MIGRATION, "read", "shadow")] == 1
    handle.close()
    assert handle.closed
    assert settings.readers == 0
    get("b")
    assert _summary.totals()[0].row.calls == 1
    assert not [name for name, _ in points(reader) if name == "migratekit.calls"]


def test_the_global_meter_provider_by_default() -> None:
    from opentelemetry import metrics

    drop_info()
    handle = instrument_opentelemetry()  # the API's no-op provider unless one was set
    try:
        assert settings.readers == 1
        assert metrics.get_meter_provider() is not None
    finally:
        handle.close()


def test_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'migratekit\[otel\]'"):
        instrument_opentelemetry()
    assert settings.readers == 0
