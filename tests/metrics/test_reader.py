"""What a metrics reader costs the calls, and when calls are counted at all."""

from __future__ import annotations

import threading

import pytest

from migratekit import _summary
from migratekit.metrics import PrometheusCollector
from tests.metrics.scenario import MIGRATION, drop_info, make

pytest.importorskip("prometheus_client")


def calls_counted() -> int:
    return sum(totals.row.calls for totals in _summary.totals())


def test_info_dropped_and_no_reader_counts_nothing() -> None:
    drop_info()
    get, _ = make({MIGRATION: "shadow"})
    get("a")
    assert calls_counted() == 0


def test_a_reader_keeps_counting_on_and_close_stops_it() -> None:
    drop_info()
    get, _ = make({MIGRATION: "shadow"})
    collector = PrometheusCollector()
    get("a")
    get("b")
    assert calls_counted() == 2
    collector.close()
    get("c")
    assert calls_counted() == 2  # nothing else needs the counts: the call was not counted


def test_close_leaves_other_readers_counting() -> None:
    drop_info()
    get, _ = make({MIGRATION: "shadow"})
    first, second = PrometheusCollector(), PrometheusCollector()
    first.close()
    get("a")
    assert calls_counted() == 1
    second.close()
    get("b")
    assert calls_counted() == 1


def test_no_thread_is_started_per_call() -> None:
    drop_info()
    collector = PrometheusCollector()
    try:
        get, save = make({MIGRATION: "live", "users.save": "dualwrite"})
        get("a")  # a first call may start what the process needs once
        before = set(threading.enumerate())
        for _ in range(200):
            get("a")
            save("a")
        list(collector.collect())
        assert set(threading.enumerate()) <= before
        assert calls_counted() == 401
    finally:
        collector.close()


def test_the_counts_are_read_only_at_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    """totals() takes a lock and copies: the calls never call it, a scrape calls it once."""
    drop_info()
    read = []
    real = _summary.totals

    def counting() -> list[_summary.Totals]:
        read.append(1)
        return real()

    monkeypatch.setattr(_summary, "totals", counting)
    collector = PrometheusCollector()
    try:
        get, _ = make({MIGRATION: "shadow"})
        for _ in range(20):
            get("a")
        assert read == []
        list(collector.collect())
        assert read == [1]
    finally:
        collector.close()
