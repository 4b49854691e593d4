"""
Nested migrations under a storm of callers.

Migrated code calls migrated code: a PARALLEL read whose shadow side calls
another PARALLEL read (three deep), background shadows that call PARALLEL
reads, async PARALLEL reads and background shadows nested in each other,
writes inside the sides of reads and reads inside the second side of writes.
Each runs with more concurrent callers than ``configure(shadow_workers=...)``
(16 threads on 2 workers; 200 asyncio tasks). Other tests block shadow sides
on an event that is never set, standing for a partitioned network with no
timeout, while unrelated PARALLEL reads must still return within a bound.

Invariants: every caller gets its authoritative value within a global
timeout, ``drain()`` returns True once the blockers are released, and the
threads the process holds afterwards are bounded. Every wait in a test is
bounded, every blocker is released in a ``finally``, and a last-resort
watchdog kills the process (dumping every thread's stack) rather than let
the suite hang forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import itertools
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import Stage, configure, migration
from migratekit.providers import StaticStageProvider

TIMEOUT = 20.0
"""Seconds a whole storm may take before its callers count as hung."""

WORKERS = 2
CALLERS = 16
TASKS = 200
BOUND = 3.0
"""Seconds an unrelated PARALLEL read may take while shadows are blocked."""


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    """Last resort: a test that outlives its bounds dumps every stack and ends the process."""
    faulthandler.dump_traceback_later(TIMEOUT * 4, exit=True, file=2)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


class Value:
    """What a side returns: which side, for which key; compared by both."""

    __slots__ = ("key", "origin")

    def __init__(self, origin: str, key: Any) -> None:
        self.origin = origin
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and (other.origin, other.key) == (self.origin, self.key)

    def __hash__(self) -> int:
        return hash((self.origin, self.key))

    def __repr__(self) -> str:
        return f"Value({self.origin!r}, {self.key!r})"


def stacks(threads: list[threading.Thread]) -> str:
    """The current stack of each of *threads*, for a failure message."""
    frames = sys._current_frames()
    parts = []
    for thread in threads[:3]:
        frame = frames.get(thread.ident or -1)
        if frame is not None:
            parts.append(f"--- {thread.name}\n{''.join(traceback.format_stack(frame)[-8:])}")
    return "\n".join(parts)


def storm(callers: int, work: Callable[[int], Any], timeout: float = TIMEOUT) -> list[Any]:
    """
    Run ``work(i)`` in *callers* threads started together; their results.
    Fails, with the stacks of the stuck, when any is still running after
    *timeout* seconds in all, or when any raised.
    """
    results: list[Any] = [None] * callers
    errors: list[BaseException | None] = [None] * callers
    barrier = threading.Barrier(callers)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = work(i)
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"caller-{i}", daemon=True)
               for i in range(callers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread for thread in threads if thread.is_alive()]
    assert not stuck, (
        f"{len(stuck)} of {callers} callers still blocked after {timeout:g} s:\n{stacks(stuck)}")
    failed = [exc for exc in errors if exc is not None]
    assert not failed, f"{len(failed)} callers raised; the first: {failed[0]!r}"
    return results


def run_async(main: Callable[[], Awaitable[Any]], timeout: float = TIMEOUT) -> Any:
    """``asyncio.run(main())`` in a thread joined with *timeout*: a hung loop fails the test."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="event-loop", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), (
        f"the event loop still runs after {timeout:g} s:\n{stacks([thread])}")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def assert_threads_bounded(baseline: int, workers: int = WORKERS) -> None:
    """Once the callers are gone, the process holds at most the pool's workers more threads."""
    limit = baseline + workers + 1
    deadline = time.monotonic() + 5
    while threading.active_count() > limit and time.monotonic() < deadline:
        time.sleep(0.05)
    names = sorted(thread.name for thread in threading.enumerate())
    assert threading.active_count() <= limit, (
        f"{threading.active_count()} threads alive, at most {limit} expected: {names}")


def ops_of(logs: list[Any], name: str) -> list[Any]:
    return [e for e in logs if e["event"] == "migration.op" and e["migration"] == name]


# -- sync: PARALLEL reads nested in PARALLEL reads, three deep ---------------------------------


def test_parallel_shadow_calling_parallel_reads_three_deep() -> None:
    """16 threads, 2 workers: a PARALLEL read's shadow calls a PARALLEL read, whose shadow too."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="deep.3")
    def level3(key: Any) -> Value:
        return Value("old", key)

    @migration(new=level3, execution_order="parallel", name="deep.2")
    def level2(key: Any) -> Value:
        return Value("old", key)

    @migration(new=level2, execution_order="parallel", name="deep.1")
    def level1(key: Any) -> Value:
        return Value("old", key)

    rounds = 10
    with capture_logs() as logs:
        results = storm(CALLERS, lambda i: [level1((i, n)) for n in range(rounds)])
        assert migratekit.drain(TIMEOUT)
    assert results == [[Value("old", (i, n)) for n in range(rounds)] for i in range(CALLERS)]
    calls = CALLERS * rounds
    assert [len(ops_of(logs, f"deep.{depth}")) for depth in (1, 2, 3)] == [calls] * 3
    assert_threads_bounded(baseline)


def test_parallel_reads_in_live_whose_old_side_calls_parallel_reads() -> None:
    """In LIVE the shadow is the old side: nesting through it never blocks the callers either."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.LIVE))

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="live.inner")
    def inner(key: Any) -> Value:
        return Value("old", key)

    @migration(old=inner, new=lambda key: Value("new", key),
               execution_order="parallel", name="live.outer")
    def outer(key: Any) -> Value:
        raise AssertionError("the decorated function is not a side here")

    results = storm(CALLERS, lambda i: [outer((i, n)) for n in range(10)])
    assert migratekit.drain(TIMEOUT)
    assert results == [[Value("new", (i, n)) for n in range(10)] for i in range(CALLERS)]
    assert_threads_bounded(baseline)


# -- sync: background shadows that call PARALLEL reads ----------------------------------------


def test_background_shadows_calling_parallel_reads() -> None:
    """Background shadows that call PARALLEL reads, from 16 threads on 2 workers: all finish."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))
    inner_calls = itertools.count()

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="bg.inner")
    def inner(key: Any) -> Value:
        next(inner_calls)
        return Value("old", key)

    @migration(new=inner, shadow="background", name="bg.outer")
    def outer(key: Any) -> Value:
        return Value("old", key)

    rounds = 20
    with capture_logs() as logs:
        results = storm(CALLERS, lambda i: [outer((i, n)) for n in range(rounds)])
        assert migratekit.drain(TIMEOUT), "drain() gave up with shadows still outstanding"
    assert results == [[Value("old", (i, n)) for n in range(rounds)] for i in range(CALLERS)]
    outer_ops = ops_of(logs, "bg.outer")
    assert len(outer_ops) == CALLERS * rounds, "not one op per call"
    ran = sum(1 for e in outer_ops if not e.get("shadow_dropped"))
    assert len(ops_of(logs, "bg.inner")) == next(inner_calls) == ran
    assert_threads_bounded(baseline)


def test_parallel_reads_whose_shadow_runs_background_reads() -> None:
    """A PARALLEL read's shadow calls a background read, whose shadow calls a PARALLEL read."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="mix.leaf")
    def leaf(key: Any) -> Value:
        return Value("old", key)

    @migration(new=leaf, shadow="background", name="mix.middle")
    def middle(key: Any) -> Value:
        return Value("old", key)

    @migration(new=middle, execution_order="parallel", name="mix.top")
    def top(key: Any) -> Value:
        return Value("old", key)

    results = storm(CALLERS, lambda i: [top((i, n)) for n in range(10)])
    assert migratekit.drain(TIMEOUT)
    assert results == [[Value("old", (i, n)) for n in range(10)] for i in range(CALLERS)]
    assert_threads_bounded(baseline)


# -- sync: writes inside reads, reads inside writes -------------------------------------------


def test_writes_inside_parallel_reads_and_reads_inside_writes() -> None:
    """Reads whose sides write, writes whose second side reads: both stores get every write."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))
    stores: dict[str, dict[Any, Any]] = {"old": {}, "new": {}}
    lock = threading.Lock()

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="rw.check")
    def check(key: Any) -> Value:
        return Value("old", key)

    def save_new(key: Any, value: Any) -> None:
        check(key)  # the second side of the write reads first, through a PARALLEL read
        with lock:
            stores["new"][key] = value

    @migration.write(new=save_new, name="rw.save")
    def save(key: Any, value: Any) -> None:
        with lock:
            stores["old"][key] = value

    def load_new(key: Any) -> Value:
        save(("from-new", key), key)
        return Value("new", key)

    @migration(new=load_new, execution_order="parallel", name="rw.load")
    def load(key: Any) -> Value:
        save(("from-old", key), key)
        return Value("old", key)

    rounds = 10
    results = storm(CALLERS, lambda i: [load((i, n)) for n in range(rounds)])
    assert migratekit.drain(TIMEOUT)
    assert results == [[Value("old", (i, n)) for n in range(rounds)] for i in range(CALLERS)]
    expected = {(origin, (i, n)): (i, n) for origin in ("from-old", "from-new")
                for i in range(CALLERS) for n in range(rounds)}
    assert stores["old"] == expected
    assert stores["new"] == expected
    assert_threads_bounded(baseline)


# -- sync: the pool resized while the storm goes on -------------------------------------------


def test_resizing_the_pool_during_a_storm_keeps_drain_working() -> None:
    """configure(shadow_workers=...) again and again under PARALLEL and background reads."""
    # In a child process: a pool whose books went wrong would make every later
    # drain() in this process wait its full timeout.
    source = """
        import logging, threading, time
        import structlog
        import migratekit
        from migratekit import Stage, configure, migration
        from migratekit.providers import StaticStageProvider

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        configure(shadow_workers=2, provider=StaticStageProvider(Stage.SHADOW))

        def slow_new(key):
            time.sleep(0.0005)  # long enough for shadows to queue behind the workers
            return ("new", key)

        @migration(new=slow_new, execution_order="parallel", name="resize.parallel")
        def parallel(key):
            return ("old", key)

        @migration(new=slow_new, shadow="background", name="resize.background")
        def background(key):
            return ("old", key)

        stop = time.monotonic() + 1.0
        wrong = []

        def serve(read, i):
            calls = 0
            while time.monotonic() < stop:
                calls += 1
                if read((i, calls)) != ("old", (i, calls)):
                    wrong.append(i)

        def operate():  # reconfiguring while the others serve
            changes = 0
            while time.monotonic() < stop:
                changes += 1
                configure(shadow_workers=1 + changes % 2)

        threads = [threading.Thread(target=operate, daemon=True)] + [
            threading.Thread(target=serve, args=(parallel if i % 2 else background, i),
                             daemon=True)
            for i in range(7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        print("stuck" if any(t.is_alive() for t in threads) else "wrong" if wrong else
              "drained" if migratekit.drain(5) else "drain gave up")
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True,
                          text=True, timeout=TIMEOUT * 3, check=False)
    assert done.stdout.strip() == "drained", (
        f"after the resizes: {done.stdout.strip()} {done.stderr[-2000:]}")


# -- async: 200 tasks, PARALLEL and background nested ------------------------------------------


def test_async_parallel_and_background_nested_under_200_tasks() -> None:
    """200 tasks: async PARALLEL reads whose shadows await PARALLEL and background reads."""
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    async def leaf_new(key: Any) -> Value:
        await asyncio.sleep(0)
        return Value("new", key)

    @migration(new=leaf_new, execution_order="parallel", name="async.leaf")
    async def leaf(key: Any) -> Value:
        await asyncio.sleep(0)
        return Value("old", key)

    async def background_new(key: Any) -> Value:
        return await leaf(key)

    @migration(new=background_new, shadow="background", name="async.background")
    async def background(key: Any) -> Value:
        return Value("old", key)

    async def top_new(key: Any) -> Value:
        await background(key)
        return await leaf(key)

    @migration(new=top_new, execution_order="parallel", name="async.top")
    async def top(key: Any) -> Value:
        await asyncio.sleep(0)
        return Value("old", key)

    async def main() -> list[Value]:
        results = await asyncio.gather(*(top(i) for i in range(TASKS)))
        assert await migratekit.adrain(TIMEOUT), "adrain() gave up"
        return results

    with capture_logs() as logs:
        results = run_async(main)
    assert results == [Value("old", i) for i in range(TASKS)]
    assert len(ops_of(logs, "async.top")) == TASKS
    assert len(ops_of(logs, "async.background")) == TASKS
    # each top's shadow reads the leaf, and so does each background shadow
    assert len(ops_of(logs, "async.leaf")) == 2 * TASKS
    assert all(e["consistent"] is True for e in ops_of(logs, "async.top"))


def test_async_side_that_returns_a_coroutine_is_awaited() -> None:
    """An async migration's plain (lambda) side that returns another migration's coroutine."""
    configure(provider=StaticStageProvider(Stage.SHADOW))

    async def inner_new(key: Any) -> Value:
        return Value("old", key)

    @migration(new=inner_new, name="coro.inner")
    async def inner(key: Any) -> Value:
        return Value("old", key)

    # Nesting through a lambda: the side is not `async def`, but what it
    # returns must be awaited all the same.
    @migration(new=lambda key: inner(key), name="coro.outer")  # noqa: PLW0108
    async def outer(key: Any) -> Value:
        return Value("old", key)

    async def main() -> list[Value]:
        return list(await asyncio.gather(*(outer(i) for i in range(20))))

    with capture_logs() as logs:
        results = run_async(main)
    assert results == [Value("old", i) for i in range(20)]
    assert len(ops_of(logs, "coro.inner")) == 20, "the lambda's coroutine was never awaited"
    outer_ops = ops_of(logs, "coro.outer")
    assert [e["consistent"] for e in outer_ops] == [True] * 20


# -- shadows blocked on a partitioned network, with no timeout ---------------------------------


@contextlib.contextmanager
def partition() -> Iterator[threading.Event]:
    """An event that shadow sides wait on without a timeout; set on the way out, always."""
    released = threading.Event()
    try:
        yield released
    finally:
        released.set()


def timed(call: Callable[[], Any], limit: float) -> Any:
    """*call*'s value, from a thread; fails when it takes longer than *limit* seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="timed-call", daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), (
        f"still blocked after {limit:g} s (the shadows it does not depend on are blocked):\n"
        f"{stacks([thread])}")
    if "error" in box:
        raise box["error"]
    assert time.monotonic() - start <= limit
    return box["value"]


def test_blocked_background_shadows_do_not_stall_unrelated_parallel_reads() -> None:
    """Background shadows hang on a partition: unrelated PARALLEL reads from 16 threads return."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="free.read")
    def unrelated(key: Any) -> Value:
        return Value("old", key)

    with partition() as released:

        def stuck_new(key: Any) -> Value:
            released.wait()  # a partitioned network, and no timeout
            return Value("new", key)

        @migration(new=stuck_new, shadow="background", name="stuck.background")
        def stuck(key: Any) -> Value:
            return Value("old", key)

        assert [stuck(i) for i in range(WORKERS * 4)] == [Value("old", i)
                                                          for i in range(WORKERS * 4)]
        assert timed(lambda: unrelated("alone"), BOUND) == Value("old", "alone")
        results = storm(CALLERS, lambda i: [unrelated((i, n)) for n in range(5)], BOUND * 3)
        assert results == [[Value("old", (i, n)) for n in range(5)] for i in range(CALLERS)]
        assert not migratekit.drain(0.1), "drain() says done while shadows are still blocked"
    assert migratekit.drain(TIMEOUT), "drain() did not finish once the partition healed"
    assert_threads_bounded(baseline)


def test_blocked_parallel_shadows_do_not_stall_other_parallel_reads() -> None:
    """Callers whose PARALLEL shadow hangs wait for it; other PARALLEL reads still return."""
    baseline = threading.active_count()
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    @migration(new=lambda key: Value("new", key), execution_order="parallel", name="free.read")
    def unrelated(key: Any) -> Value:
        return Value("old", key)

    blocked_results: list[Any] = []
    blocked_threads: list[threading.Thread] = []
    with partition() as released:

        def stuck_new(key: Any) -> Value:
            released.wait()  # a partitioned network, and no timeout
            return Value("new", key)

        @migration(new=stuck_new, execution_order="parallel", name="stuck.parallel")
        def stuck(key: Any) -> Value:
            return Value("old", key)

        # As many blocked callers as there are workers, and then some.
        for i in range(WORKERS + 2):
            thread = threading.Thread(target=lambda i=i: blocked_results.append(stuck(i)),
                                      name=f"blocked-{i}", daemon=True)
            thread.start()
            blocked_threads.append(thread)
        time.sleep(0.2)  # let them reach their blocked shadows
        assert timed(lambda: unrelated("alone"), BOUND) == Value("old", "alone")
        results = storm(CALLERS, lambda i: [unrelated((i, n)) for n in range(5)], BOUND * 3)
        assert results == [[Value("old", (i, n)) for n in range(5)] for i in range(CALLERS)]
    for thread in blocked_threads:
        thread.join(TIMEOUT)
    assert not [t for t in blocked_threads if t.is_alive()], "blocked callers never returned"
    assert sorted(blocked_results, key=lambda v: v.key) == [Value("old", i)
                                                            for i in range(WORKERS + 2)]
    assert migratekit.drain(TIMEOUT)
    assert_threads_bounded(baseline)


def test_blocked_async_background_shadows_do_not_stall_async_parallel_reads() -> None:
    """Async background shadows hang on a partition: 200 async PARALLEL reads still return."""
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    async def free_new(key: Any) -> Value:
        await asyncio.sleep(0)
        return Value("new", key)

    @migration(new=free_new, execution_order="parallel", name="afree.read")
    async def unrelated(key: Any) -> Value:
        return Value("old", key)

    async def main() -> None:
        released = asyncio.Event()

        async def stuck_new(key: Any) -> Value:
            await released.wait()  # a partitioned network, and no timeout
            return Value("new", key)

        @migration(new=stuck_new, shadow="background", name="astuck.background")
        async def stuck(key: Any) -> Value:
            return Value("old", key)

        try:
            assert [await stuck(i) for i in range(TASKS)] == [Value("old", i)
                                                                for i in range(TASKS)]
            start = time.monotonic()
            results = await asyncio.wait_for(
                asyncio.gather(*(unrelated(i) for i in range(TASKS))), BOUND)
            assert time.monotonic() - start <= BOUND
            assert results == [Value("old", i) for i in range(TASKS)]
            assert not await migratekit.adrain(0.1), "adrain() says done while shadows hang"
        finally:
            released.set()
        assert await migratekit.adrain(TIMEOUT), "adrain() did not finish once released"

    run_async(main)


def test_sync_shadows_blocked_while_async_parallel_reads_run() -> None:
    """Pool threads all blocked by sync shadows: async PARALLEL reads on a loop still return."""
    configure(shadow_workers=WORKERS, provider=StaticStageProvider(Stage.SHADOW))

    async def free_new(key: Any) -> Value:
        return Value("new", key)

    @migration(new=free_new, execution_order="parallel", name="mixed.async")
    async def unrelated(key: Any) -> Value:
        return Value("old", key)

    with partition() as released:

        def stuck_new(key: Any) -> Value:
            released.wait()
            return Value("new", key)

        @migration(new=stuck_new, shadow="background", name="mixed.stuck")
        def stuck(key: Any) -> Value:
            return Value("old", key)

        for i in range(WORKERS * 2):
            stuck(i)

        async def main() -> list[Value]:
            return list(await asyncio.gather(*(unrelated(i) for i in range(TASKS))))

        assert run_async(main, BOUND * 2) == [Value("old", i) for i in range(TASKS)]
    assert migratekit.drain(TIMEOUT)
