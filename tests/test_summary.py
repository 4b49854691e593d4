"""
Summaries: what the calls add up to in the process (migratekit._summary), the
``migration.summary`` events that carry it, and the defaults that make a
production log small: per-call events of calls that went well at ``debug``,
warnings at most so many a second, ``shadow_ratio``.

These tests start from migratekit's own defaults (``migratekit.reset()``),
not from the suite's settings (tests/helpers.SUITE_SETTINGS).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import migratekit
from migratekit import Migrator, _summary, configure, migration
from migratekit._schema import LATENCY_FIELDS, SIDE_SUMMARY_FIELDS, SUMMARY_FIELDS
from migratekit._types import MigrationConfig, Result
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers import StaticStageProvider
from tests.helpers import logging_at


@pytest.fixture(autouse=True)
def _defaults() -> Iterator[None]:
    """migratekit's defaults, not the suite's; and nothing left from an earlier test."""
    migratekit.reset()
    _summary.forget()
    yield
    migratekit.reset()


def summaries(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "migration.summary" and e["migration"] == name]


def read_in(stage: str, name: str, *, new: Callable[..., Any] | None = None,
            **options: Any) -> Any:
    @migration(new=new or (lambda key: key), provider=StaticStageProvider(stage), name=name,
               **options)
    def read(key: Any) -> Any:
        return key

    return read


# -- the defaults -------------------------------------------------------------------------------


def test_a_call_that_went_well_is_debug_and_counted_in_the_summary() -> None:
    """At info (production), a clean SHADOW read emits nothing per call; the summary has it."""
    events = logging_at(logging.INFO)
    read = read_in("shadow", "sum.clean")
    for key in range(5):
        assert read(key) == key
    assert [e for e in events if e["event"] != "migration.summary"] == []
    assert migratekit.flush() == 1
    (summary,) = summaries(events, "sum.clean")
    assert summary["level"] == "info"
    assert set(summary) == {*SUMMARY_FIELDS, "event", "level"}
    assert summary["calls"] == 5
    assert summary["consistency_checks"] == 5
    assert summary["inconsistent"] == 0
    assert (summary["operation"], summary["stage"]) == ("read", "shadow")
    assert summary["process"] == summary["process"].lower()
    assert summary["pid"] == os.getpid()
    for origin in ("old", "new"):
        side = summary["sides"][origin]
        assert set(side) == set(SIDE_SUMMARY_FIELDS)
        assert (side["ok"], side["failed"], side["errors"]) == (5, 0, {})
        latency = side["latency_ms"]
        assert set(latency) == set(LATENCY_FIELDS)
        assert latency["count"] == 5
        assert sum(latency["buckets"].values()) + latency["zeros"] == 5
        assert 0 < latency["max"] <= latency["sum"]


def test_the_next_window_holds_only_its_own_calls() -> None:
    """Windows follow each other: the second counts what came after the first."""
    events = logging_at(logging.INFO)
    read = read_in("off", "sum.windows")
    read(1)
    migratekit.flush()
    read(2)
    read(3)
    migratekit.flush()
    first, second = summaries(events, "sum.windows")
    assert (first["calls"], second["calls"]) == (1, 2)
    assert second["since"] == first["until"]
    assert migratekit.flush() == 0  # nothing new: no event


@pytest.mark.parametrize(("call_events", "level", "expected"), [
    ("debug", logging.DEBUG, "debug"),
    ("info", logging.INFO, "info"),
    ("off", logging.DEBUG, None),
])
def test_call_events_set_the_level_of_a_call_that_went_well(
    call_events: str, level: int, expected: str | None
) -> None:
    events = logging_at(level)
    configure(call_events=call_events)
    read_in("shadow", "sum.levels")(1)
    levels = {e["level"] for e in events if e["event"] in ("migration.result", "migration.op")}
    assert levels == (set() if expected is None else {expected})


def test_failures_stay_warnings_and_are_counted_by_type() -> None:
    events = logging_at(logging.INFO)

    def broken(key: Any) -> Any:
        raise KeyError(key)

    read = read_in("shadow", "sum.fails", new=broken)
    read(1)
    read(2)
    warnings = [e for e in events if e["level"] == "warning"]
    assert [e["event"] for e in warnings] == ["migration.result"] * 2
    migratekit.flush()
    (summary,) = summaries(events, "sum.fails")
    assert summary["sides"]["new"]["failed"] == 2
    assert summary["sides"]["new"]["errors"] == {"KeyError": 2}
    assert summary["sides"]["old"]["ok"] == 2
    assert summary["consistency_checks"] == 0


def test_warnings_are_held_to_the_allowance_and_the_rest_counted() -> None:
    """At most max_warnings_per_second calls a second warn; the summary counts the others."""
    events = logging_at(logging.INFO)
    configure(max_warnings_per_second=5)
    read = read_in("shadow", "sum.flood", new=lambda key: -key)
    start = time.monotonic()
    for key in range(1, 101):
        read(key)
    elapsed = time.monotonic() - start
    warned = [e for e in events if e["event"] == "migration.op" and e["level"] == "warning"]
    # Five at once, then five a second for the time the loop took.
    assert 5 <= len(warned) <= 5 + int(elapsed * 5) + 1
    migratekit.flush()
    (summary,) = summaries(events, "sum.flood")
    assert summary["inconsistent"] == 100
    assert summary["warnings_suppressed"] == 100 - len(warned)
    assert summary["diff_paths"] == {}


def test_a_logger_that_drops_info_counts_nothing() -> None:
    """Events dropped at warning (and no metrics reader): no counting, no summary."""
    events = logging_at(logging.WARNING)
    read = read_in("shadow", "sum.dropped")
    for key in range(3):
        read(key)
    assert _summary.totals() == []
    assert migratekit.flush() == 0
    assert events == []


def test_summary_interval_none_turns_summaries_off() -> None:
    events = logging_at(logging.INFO)
    configure(summary_interval=None)
    read_in("off", "sum.none")(1)
    assert migratekit.flush() == 0
    assert summaries(events, "sum.none") == []


def test_the_background_flusher_emits_every_interval() -> None:
    """With a short interval the summaries come by themselves, windows back to back."""
    events = logging_at(logging.INFO)
    configure(summary_interval=0.05)
    read = read_in("off", "sum.clock")
    deadline = time.monotonic() + 10
    calls = 0
    while len(summaries(events, "sum.clock")) < 3 and time.monotonic() < deadline:
        read(calls)
        calls += 1
        time.sleep(0.005)
    configure(summary_interval=None)
    migratekit.flush()
    found = summaries(events, "sum.clock")
    assert len(found) >= 3
    assert sum(s["calls"] for s in found) == calls
    for earlier, later in itertools.pairwise(found):
        assert later["since"] >= earlier["until"]


def test_reset_flushes_then_forgets() -> None:
    events = logging_at(logging.INFO)
    read_in("off", "sum.reset")(1)
    migratekit.reset()
    assert [s["calls"] for s in summaries(events, "sum.reset")] == [1]
    assert _summary.totals() == []


def test_a_comparison_that_agrees_across_types_is_a_type_mismatch() -> None:
    """A lenient comparison says consistent; the summary still says the types differ."""
    events = logging_at(logging.INFO)
    read = read_in("shadow", "sum.types", new=str, compare=lambda a, b: True)
    read(1)
    migratekit.flush()
    (summary,) = summaries(events, "sum.types")
    assert (summary["consistency_checks"], summary["type_mismatches"]) == (1, 1)


# -- exact counts under concurrency ---------------------------------------------------------


def test_threads_count_every_call_exactly() -> None:
    """Eight threads, one migration: the totals and the summary add up to the calls made."""
    events = logging_at(logging.INFO)
    read = read_in("shadow", "sum.threads", new=lambda key: key if key % 7 else -key)
    per_thread = 2_000
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for key in range(1, per_thread + 1):
            read(key)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    migratekit.flush()
    (summary,) = summaries(events, "sum.threads")
    calls = 8 * per_thread
    assert summary["calls"] == calls
    assert summary["sides"]["old"]["ok"] == summary["sides"]["new"]["ok"] == calls
    assert summary["sides"]["new"]["latency_ms"]["count"] == calls
    assert summary["consistency_checks"] == calls
    assert summary["inconsistent"] == 8 * (per_thread // 7)


def test_tasks_count_every_call_exactly() -> None:
    events = logging_at(logging.INFO)

    @migration.write(new=lambda key: None, provider=StaticStageProvider("dualwrite"),
                     name="sum.tasks")
    async def write(key: int) -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(write(key) for key in range(500)))
        await migratekit.adrain()

    asyncio.run(main())
    (summary,) = summaries(events, "sum.tasks")
    assert summary["calls"] == 500
    assert summary["sides"]["old"]["ok"] == summary["sides"]["new"]["ok"] == 500


def test_background_shadows_are_counted_when_they_end() -> None:
    events = logging_at(logging.INFO)
    read = read_in("shadow", "sum.background", shadow="background")
    for key in range(200):
        assert read(key) == key
    assert migratekit.drain(10)
    (summary,) = summaries(events, "sum.background")
    assert summary["calls"] == 200
    assert summary["sides"]["new"]["ok"] + summary["shadows_dropped"] == 200
    assert summary["consistency_checks"] == summary["sides"]["new"]["ok"]


def test_a_thread_that_ended_leaves_its_counts() -> None:
    logging_at(logging.INFO)
    read = read_in("off", "sum.ended")
    thread = threading.Thread(target=lambda: [read(key) for key in range(10)])
    thread.start()
    thread.join()
    read(0)
    (totals,) = [t for t in _summary.totals() if t.migration == "sum.ended"]
    assert totals.row.calls == 11
    (again,) = [t for t in _summary.totals() if t.migration == "sum.ended"]
    assert again.row.calls == 11  # retired once, not twice


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")
def test_a_forked_child_counts_from_nothing() -> None:
    logging_at(logging.INFO)
    read = read_in("off", "sum.fork")
    read(1)
    read(2)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            before = sum(t.row.calls for t in _summary.totals())
            read(3)
            after = [t.row.calls for t in _summary.totals() if t.migration == "sum.fork"]
            os.write(writer, json.dumps([before, after]).encode())
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        before, after = json.loads(pipe.read())
    assert (before, after) == (0, [1])
    (parent,) = [t for t in _summary.totals() if t.migration == "sum.fork"]
    assert parent.row.calls == 2


def test_the_last_summary_is_written_at_exit() -> None:
    """A process that ends without flushing still writes what it counted (atexit)."""
    source = textwrap.dedent("""
        import logging, structlog
        structlog.configure(
            processors=[structlog.processors.JSONRenderer()],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
        from migratekit import migration
        from migratekit.providers import StaticStageProvider

        @migration(new=lambda: 1, provider=StaticStageProvider("shadow"), name="sum.exit")
        def read():
            return 1

        for _ in range(7):
            read()
    """)
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          timeout=60, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["event"], e["calls"]) for e in lines] == [("migration.summary", 7)]


# -- shadow_ratio ---------------------------------------------------------------------------------


def test_shadow_ratio_runs_one_shadow_in_n() -> None:
    events = logging_at(logging.INFO)
    ran: list[int] = []

    def new(key: int) -> int:
        ran.append(key)
        return key

    read = read_in("shadow", "sum.ratio", new=new, shadow_ratio=4)
    for key in range(100):
        assert read(key) == key
    assert len(ran) == 25
    migratekit.flush()
    (summary,) = summaries(events, "sum.ratio")
    assert summary["calls"] == 100
    assert summary["sides"]["new"]["ok"] == 25
    assert summary["shadows_skipped"] == 75
    assert summary["consistency_checks"] == 25


def test_shadow_ratio_on_the_migrator() -> None:
    """LIVE: the new side answers every read, the old one is the shadow, one read in three."""
    ran: list[Any] = []

    def old(payload: Any) -> Result[Any]:
        ran.append(payload)
        return Result.success(payload)

    migrator = Migrator(MigrationConfig(old, Result.success),
                        provider=StaticStageProvider("live"), shadow_ratio=3)
    for payload in range(9):
        assert migrator.read("sum.migrator", payload=payload).value == payload
    assert ran == [0, 3, 6]


@pytest.mark.parametrize(("ratio", "error"), [
    (0, ConfigurationError), (-1, ConfigurationError), (True, ConfigurationTypeError),
    (1.5, ConfigurationTypeError),
])
def test_shadow_ratio_must_be_a_positive_int(ratio: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="shadow_ratio"):
        migration(new=lambda: 1, shadow_ratio=ratio)(lambda: 1)
    with pytest.raises(error, match="shadow_ratio"):
        Migrator(MigrationConfig(Result.success, Result.success), shadow_ratio=ratio)


def test_shadow_ratio_is_for_reads() -> None:
    with pytest.raises(ConfigurationError, match="reads only"):
        migration(new=lambda: 1, operation="write", shadow_ratio=2)(lambda: 1)


# -- configure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "error"), [
    ("summary_interval", 0, ConfigurationError),
    ("summary_interval", -5, ConfigurationError),
    ("summary_interval", float("nan"), ConfigurationError),
    ("summary_interval", "10", ConfigurationTypeError),
    ("summary_interval", True, ConfigurationTypeError),
    ("max_warnings_per_second", 0, ConfigurationError),
    ("max_warnings_per_second", "ten", ConfigurationTypeError),
    ("call_events", "loud", ConfigurationError),
    ("call_events", None, ConfigurationError),
])
def test_configure_refuses_bad_values_and_changes_nothing(option: str, value: Any,
                                                          error: type[Exception]) -> None:
    with pytest.raises(error, match=option):
        configure(**{option: value})
    assert migratekit._config.settings.summary_interval == 10.0
    assert migratekit._config.settings.call_events == "debug"
    assert migratekit._config.settings.max_warnings_per_second == 10.0


def test_one_summary_per_stage_the_calls_ran_in() -> None:
    """Calls of one migration in two stages (a rollout under way) make a summary each."""
    events = logging_at(logging.INFO)
    read_in("off", "sum.stages")(1)
    shadowed = read_in("shadow", "sum.stages")
    shadowed(1)
    shadowed(2)
    migratekit.flush()
    assert sorted((s["stage"], s["calls"]) for s in summaries(events, "sum.stages")) == [
        ("off", 1), ("shadow", 2)]


@pytest.mark.parametrize("stage", ["shadow", "live"])
def test_each_sides_latency_buckets_add_up_to_its_own_results(stage: str) -> None:
    """
    Past the exact latencies, each side samples on its own count: when the
    non-authoritative side fails now and then, its buckets still add up to
    its results within a stride for its successes and one for its failures
    (a sample keyed on the other side's count drifted without bound).
    """
    logging_at(logging.INFO)
    configure(max_warnings_per_second=None)
    calls = itertools.count()

    def flaky(key: int) -> int:
        if next(calls) % 3 == 0:
            raise LookupError("now and then")
        return key

    name = f"summary.buckets.{stage}"
    if stage == "shadow":
        read = read_in(stage, name, new=flaky)
    else:
        @migration(old=flaky, new=lambda key: key, provider=StaticStageProvider(stage),
                   name=name)
        def read(key: int) -> int:
            return key
    for i in range(30_000):
        read(i)
    row = next(t.row for t in _summary.totals() if t.migration == name)
    for side in (0, 1):
        timed = sum(row.buckets[side].values()) + row.zeros[side]
        results = row.ok[side] + row.failed[side]
        assert results - 2 * (_summary.LATENCY_STRIDE - 1) <= timed <= results, (side, timed,
                                                                                 results)
    assert row.failed == ([0, 10_000] if stage == "shadow" else [10_000, 0])
