"""
Calls whose sides sleep: PARALLEL shadow reads, background shadow reads, and
LaunchDarkly's parallel reads, timed one call at a time (the caller's
latency), with the threads each case starts counted.

The cases take turns call by call, so that every case sees the same machine;
the figure is the median call. Sleeping sides stand for I/O: what matters is
how long the caller waits and how many threads it takes, not CPU time.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import migratekit
from benchmarks._cases import same, variable
from migratekit import ExecutionOrder, migration

__all__ = [
    "LatencyCase",
    "LatencyResult",
    "ThreadCheck",
    "background_problem",
    "concurrency_cases",
    "count_thread_starts",
    "measure_latency",
    "thread_checks",
]

GROUP = "sides that sleep (caller latency, median)"
SLOW = 0.010
FAST = 0.001

ONE_SLOW = "one 10 ms method alone"
ONE_FAST = "one 1 ms method alone"
PARALLEL = "PARALLEL SHADOW read, two 10 ms sides"
SERIAL = "SERIAL SHADOW read, two 10 ms sides"
BACKGROUND = "background SHADOW read, old 1 ms, new 10 ms"
LD_PARALLEL = "LaunchDarkly parallel SHADOW read, two 10 ms sides"


@dataclass
class LatencyCase:
    name: str
    call: Callable[[], Any] | None
    reference: str | None = None
    """The case this one's latency is compared with."""
    skip: str | None = None
    note: str = ""
    after: Callable[[], None] | None = None
    """Called once all calls are done (wait for background work)."""


@dataclass
class LatencyResult:
    case: LatencyCase
    samples: list[int] = field(default_factory=list)
    threads_started: int = 0
    """Threads started while the measured calls ran (warm-up calls not counted)."""
    calls: int = 0
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


class _ThreadCounter:
    """Counts ``threading.Thread.start`` calls, per label, while installed."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.counts: dict[str, int] = {}
        self._original = threading.Thread.start

    def __enter__(self) -> _ThreadCounter:
        counter, original = self, self._original

        def start(thread: threading.Thread) -> None:
            if counter.label is not None:
                counter.counts[counter.label] = counter.counts.get(counter.label, 0) + 1
            original(thread)

        threading.Thread.start = start  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        threading.Thread.start = self._original  # type: ignore[method-assign]


def count_thread_starts(call: Callable[[], Any], calls: int) -> int:
    """How many threads *calls* calls of *call* start."""
    with _ThreadCounter() as counter:
        counter.label = "call"
        for _ in range(calls):
            call()
    return counter.counts.get("call", 0)


def background_problem() -> str | None:
    """Why background shadow reads cannot be measured here, or ``None`` when they can."""
    if not hasattr(migratekit, "drain"):
        return "migratekit.drain() is not in this build yet"
    try:
        migration(new=lambda key: key, name="bench.probe.background", shadow="background",
                  shadow_timeout=1.0)(lambda key: key)
    except (ValueError, TypeError) as exc:
        return f"@migration(shadow='background') is not supported yet: {exc}"[:160]
    return None


def parallel_problem() -> str | None:
    """
    Why the PARALLEL budget is not judged yet: PARALLEL arrives with the
    shadow pool and ``migratekit.drain()``; before that the option is accepted
    and runs the sides one after the other.
    """
    if not hasattr(migratekit, "drain"):
        return "PARALLEL lands with migratekit.drain(), not in this build yet"
    return None


def _drain(drain: Callable[..., Any]) -> None:
    drain(timeout=10)


def _sleeper(seconds: float) -> Callable[..., Any]:
    def side(self: Any, key: Any) -> Any:
        time.sleep(seconds)
        return key

    return side


def concurrency_cases(ld: Any) -> list[LatencyCase]:
    class Alone:
        slow = _sleeper(SLOW)
        fast = _sleeper(FAST)

    alone = Alone()

    def shadow_repo(name: str, old: float, new: float, **options: Any) -> Any:
        import os

        os.environ[variable(name)] = "shadow"

        class Repo:
            @migration(new=_sleeper(new), compare=same, name=name, **options)
            def get(self, key: Any) -> Any:
                time.sleep(old)
                return key

        return Repo()

    cases = [
        LatencyCase(ONE_SLOW, lambda: alone.slow(1)),
        LatencyCase(ONE_FAST, lambda: alone.fast(1)),
    ]
    serial = shadow_repo("bench.sleep.serial", SLOW, SLOW)
    cases.append(LatencyCase(SERIAL, lambda: serial.get(1), reference=ONE_SLOW))
    parallel = shadow_repo("bench.sleep.parallel", SLOW, SLOW,
                           execution_order=ExecutionOrder.PARALLEL)
    problem = parallel_problem()
    cases.append(LatencyCase(PARALLEL, lambda: parallel.get(1), reference=ONE_SLOW,
                             note="" if problem is None else problem))
    problem = background_problem()
    if problem is None:
        background = shadow_repo("bench.sleep.background", FAST, SLOW, shadow="background",
                                 shadow_timeout=1.0)
        drain = migratekit.drain  # type: ignore[attr-defined,unused-ignore]
        cases.append(LatencyCase(BACKGROUND, lambda: background.get(1), reference=ONE_FAST,
                                 after=lambda: _drain(drain)))
    else:
        cases.append(LatencyCase(BACKGROUND, None, skip=problem))
    if ld.client is None:
        cases.append(LatencyCase(LD_PARALLEL, None, skip=ld.problem))
    else:
        migrator = ld.migrator(ld.ExecutionOrder.PARALLEL, sleep=SLOW)
        cases.append(LatencyCase(
            LD_PARALLEL,
            lambda: migrator.read("bench-shadow", ld.context, ld.Stage.OFF, 1),
            reference=ONE_SLOW,
        ))
    return cases


def _warm_up(call: Callable[[], Any], times: int) -> str | None:
    """Call *call* *times* times; what went wrong, or ``None``."""
    try:
        for _ in range(times):
            call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def measure_latency(cases: list[LatencyCase], calls: int, warmup: int,
                    seed: int = 7) -> dict[str, LatencyResult]:
    results = {case.name: LatencyResult(case) for case in cases}
    live = [case for case in cases if case.call is not None and case.skip is None]
    for case in live:
        results[case.name].error = _warm_up(case.call, warmup)  # type: ignore[arg-type]
    live = [case for case in live if results[case.name].error is None]
    shuffler = random.Random(seed)
    with _ThreadCounter() as counter:
        for _ in range(calls):
            shuffler.shuffle(live)
            for case in live:
                call = case.call
                assert call is not None
                counter.label = case.name
                start = time.perf_counter_ns()
                call()
                elapsed = time.perf_counter_ns() - start
                counter.label = None
                results[case.name].samples.append(elapsed)
        counter.label = None
        for case in live:
            if case.after is not None:
                case.after()
    for name, result in results.items():
        result.threads_started = counter.counts.get(name, 0)
        result.calls = len(result.samples)
    return results


@dataclass
class ThreadCheck:
    name: str
    calls: int
    started: int = 0
    """Threads started by the measured calls (after the warm-up)."""
    alive_before: int = 0
    alive_after: int = 0
    skip: str | None = None


def thread_checks(ld: Any, calls: int, ld_calls: int) -> list[ThreadCheck]:
    """
    Threads started by PARALLEL reads whose sides return at once (so that
    calls come faster than any pool could absorb by luck): migratekit's
    shared pool starts a bounded number once; LaunchDarkly starts two per call.
    """
    name = "bench.threads.parallel"
    import os

    os.environ[variable(name)] = "shadow"

    class Repo:
        @migration(new=lambda self, key: key, compare=same, name=name,
                   execution_order=ExecutionOrder.PARALLEL)
        def get(self, key: Any) -> Any:
            return key

    repo = Repo()
    checks: list[tuple[ThreadCheck, Callable[[], Any]]] = [
        (ThreadCheck(f"PARALLEL SHADOW read, {calls:,} calls", calls), lambda: repo.get(1)),
    ]
    if ld.client is None:
        checks.append((ThreadCheck("LaunchDarkly parallel SHADOW read", ld_calls,
                                   skip=ld.problem), lambda: None))
    else:
        migrator = ld.migrator(ld.ExecutionOrder.PARALLEL)
        checks.append((
            ThreadCheck(f"LaunchDarkly parallel SHADOW read, {ld_calls:,} calls", ld_calls),
            lambda: migrator.read("bench-shadow", ld.context, ld.Stage.OFF, 1),
        ))
    for check, call in checks:
        if check.skip is not None:
            continue
        for _ in range(20):
            call()
        check.alive_before = threading.active_count()
        check.started = count_thread_starts(call, check.calls)
        check.alive_after = threading.active_count()
    return [check for check, _ in checks]
