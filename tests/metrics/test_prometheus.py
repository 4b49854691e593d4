"""PrometheusCollector, scraped through the real prometheus_client, with exact numbers."""

from __future__ import annotations

import math
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

prometheus_client = pytest.importorskip("prometheus_client")  # in the dev extra: always there
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from migratekit import _summary, metrics  # noqa: E402
from migratekit._schema import LATENCY_GAMMA  # noqa: E402
from migratekit._settings import settings  # noqa: E402
from migratekit.metrics import LATENCY_BUCKETS, PrometheusCollector, fold_latency  # noqa: E402
from tests.metrics.scenario import EXPECTED, MIGRATION, drop_info, make, run_scenario  # noqa: E402

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def key(migration: str, operation: str, stage: str, **more: str) -> frozenset[tuple[str, str]]:
    return frozenset({"migration": migration, "operation": operation, "stage": stage,
                      **more}.items())


@pytest.fixture
def registry() -> Iterator[tuple[CollectorRegistry, PrometheusCollector]]:
    drop_info()
    registry = CollectorRegistry()
    collector = PrometheusCollector.register(registry)
    yield registry, collector
    collector.close()


def check_scenario(found: Samples) -> None:
    for (migration, operation, stage), want in EXPECTED.items():
        labels = key(migration, operation, stage)
        assert found["migratekit_calls_total", labels] == want["calls"]
        assert found["migratekit_consistency_checks_total", labels] == want["checks"]
        assert found["migratekit_inconsistent_total", labels] == want["inconsistent"]
        assert found["migratekit_compare_errors_total", labels] == want["compare_errors"]
        assert found["migratekit_shadow_dropped_total", labels] == 0
        assert found["migratekit_shadow_skipped_total", labels] == 0
        assert found["migratekit_warnings_suppressed_total", labels] == 0
        for origin in ("old", "new"):
            ok, failed = want["ok"][origin], want["failed"][origin]
            side = key(migration, operation, stage, origin=origin)
            assert found["migratekit_results_total",
                         key(migration, operation, stage, origin=origin, ok="true")] == ok
            assert found["migratekit_results_total",
                         key(migration, operation, stage, origin=origin, ok="false")] == failed
            assert found["migratekit_latency_seconds_count", side] == ok + failed
            assert found["migratekit_latency_seconds_bucket",
                         side | {("le", "+Inf")}] == ok + failed
            assert 0 <= found["migratekit_latency_seconds_sum", side] < 1
            errors = found.get(("migratekit_errors_total",
                                key(migration, operation, stage, origin=origin,
                                    exc_type="Broken")), 0)
            assert errors == failed
    assert len({labels for name, labels in found if name == "migratekit_calls_total"}) == 3


def test_generate_latest_counts_exactly(registry: Any) -> None:
    """Calls across stages and outcomes, counted with info events dropped, scraped."""
    run_scenario()
    check_scenario(samples(generate_latest(registry[0]).decode()))


def test_scraped_over_http(registry: Any) -> None:
    """The real HTTP exposition of prometheus_client serves the same numbers."""
    run_scenario()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = prometheus_client.start_http_server(port, addr="127.0.0.1",
                                                         registry=registry[0])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    check_scenario(samples(text))


def test_counters_only_grow_and_see_new_migrations(registry: Any) -> None:
    """A scrape, more calls (of migrations made after the collector), a scrape: they add up."""
    get, _ = make({MIGRATION: "shadow"})
    get("a")
    first = samples(generate_latest(registry[0]).decode())
    assert first["migratekit_calls_total", key(MIGRATION, "read", "shadow")] == 1
    run_scenario()
    second = samples(generate_latest(registry[0]).decode())
    assert second["migratekit_calls_total", key(MIGRATION, "read", "shadow")] == 8
    assert second["migratekit_calls_total", key(MIGRATION, "read", "live")] == 3


def test_calls_from_other_threads_are_counted(registry: Any) -> None:
    get, _ = make({MIGRATION: "off"})

    def work() -> None:
        for _ in range(50):
            get("a")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    live = threads[0]
    for thread in threads:
        thread.join()
    assert not live.is_alive()
    found = samples(generate_latest(registry[0]).decode())
    assert found["migratekit_calls_total", key(MIGRATION, "read", "off")] == 200
    assert found["migratekit_results_total",
                 key(MIGRATION, "read", "off", origin="old", ok="true")] == 200
    # the new side never ran in OFF: no series for it
    assert ("migratekit_results_total",
            key(MIGRATION, "read", "off", origin="new", ok="true")) not in found


def test_registering_twice_is_refused(registry: Any) -> None:
    """Two collectors in one registry would count every call twice: the registry says no."""
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusCollector.register(registry[0])
    # the refused one let go of its reader
    assert settings.readers == 1


def test_close_unregisters_and_stops_counting() -> None:
    drop_info()
    registry = CollectorRegistry()
    collector = PrometheusCollector.register(registry)
    collector.close()
    collector.close()  # once is enough; twice is harmless
    assert settings.readers == 0
    get, _ = make({MIGRATION: "shadow"})
    get("a")
    assert "migratekit_calls_total" not in generate_latest(registry).decode()
    assert _summary.totals() == []  # nothing needed the counts: none were kept
    assert list(collector.collect()) == []


def test_registered_by_hand_in_the_default_registry() -> None:
    """The README's way: REGISTRY.register(PrometheusCollector()), unregister, close."""
    drop_info()
    collector = PrometheusCollector()
    prometheus_client.REGISTRY.register(collector)
    try:
        get, _ = make({MIGRATION: "live"})
        get("a")
        text = generate_latest().decode()
    finally:
        prometheus_client.REGISTRY.unregister(collector)
        collector.close()
    found = samples(text)
    assert found["migratekit_calls_total", key(MIGRATION, "read", "live")] == 1


def test_a_collector_dropped_unregistered_lets_go_of_its_reader() -> None:
    import gc

    PrometheusCollector()
    gc.collect()
    assert settings.readers == 0


def test_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'migratekit\[prometheus\]'"):
        PrometheusCollector()
    assert settings.readers == 0


# -- the latency histogram -----------------------------------------------------------------


def mid_bucket(ms: float) -> float:
    """The middle of the fine bucket that holds *ms* (relatively: its geometric middle)."""
    index = math.ceil(math.log(ms) / math.log(LATENCY_GAMMA))
    return float(LATENCY_GAMMA ** (index - 0.5))


def test_latency_buckets_fold_exactly(registry: Any) -> None:
    """Latencies placed mid-bucket land in the le a direct histogram would put them in."""
    row = _summary.row(_summary.key_for(MIGRATION, "read", "shadow"))
    placed_ms = [0.0, 0.1, 0.3, 0.49, 0.7, 3.0, 30.0, 99.0, 101.0, 700.0, 9000.0, 20000.0]
    seconds = [mid_bucket(ms) / 1000.0 if ms else 0.0 for ms in placed_ms]
    for value in seconds:
        row.result(1, True, value)
    found = samples(generate_latest(registry[0]).decode())
    side = key(MIGRATION, "read", "shadow", origin="new")
    for le in LATENCY_BUCKETS:
        expected = sum(1 for value in seconds if value <= le)
        assert found["migratekit_latency_seconds_bucket",
                     side | {("le", str(le))}] == expected, le
    assert found["migratekit_latency_seconds_bucket", side | {("le", "+Inf")}] == len(seconds)
    assert found["migratekit_latency_seconds_count", side] == len(seconds)
    # the sum is within 1% (migratekit may work it out from the fine buckets)
    assert found["migratekit_latency_seconds_sum", side] == pytest.approx(sum(seconds), rel=0.01)


@given(st.lists(st.floats(min_value=1e-4, max_value=1e5), max_size=50))
def test_folding_is_off_by_at_most_one_fine_bucket(latencies_ms: list[float]) -> None:
    """Away from an le by more than a fine bucket, a latency folds exactly where it belongs."""
    buckets: dict[int, int] = {}
    for ms in latencies_ms:
        index = math.ceil(math.log(ms) / math.log(LATENCY_GAMMA))
        buckets[index] = buckets.get(index, 0) + 1
    folded = fold_latency(buckets, 0)
    assert sum(folded) == len(latencies_ms)
    bounds = [le * 1000.0 for le in LATENCY_BUCKETS]
    for ms in latencies_ms:
        if any(bound / LATENCY_GAMMA**1.01 < ms <= bound * LATENCY_GAMMA**0.01
               for bound in bounds):
            return  # within a fine bucket of an le: the ~2% the docstring allows
    direct = [0] * (len(LATENCY_BUCKETS) + 1)
    for ms in latencies_ms:
        direct[next((i for i, bound in enumerate(bounds) if ms <= bound), len(bounds))] += 1
    assert folded == direct


def test_le_values_are_the_documented_ones() -> None:
    assert metrics.LATENCY_BUCKETS[0] == 0.0005
    assert metrics.LATENCY_BUCKETS[-1] == 10.0
    assert list(metrics.LATENCY_BUCKETS) == sorted(metrics.LATENCY_BUCKETS)
