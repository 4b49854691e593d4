"""Execution orders for reads that run both sides: SERIAL, RANDOM and PARALLEL, sync and async.

Concurrency is shown with barriers, never with wall-clock assertions: two
sides that each wait for the other can only both finish if they ran at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ExecutionOrder, configure, migration
from migratekit import _pool as pool_module
from migratekit.providers import StaticStageProvider


@pytest.fixture(autouse=True)
def _shadow() -> None:
    configure(provider=StaticStageProvider("shadow"))


def test_serial_runs_the_authoritative_side_first_and_alone() -> None:
    """SERIAL: old (authoritative in SHADOW) finishes before new starts."""
    order: list[str] = []

    def new(x: int) -> int:
        order.append("new")
        return x

    @migration(new=new, execution_order=ExecutionOrder.SERIAL)
    def read(x: int) -> int:
        order.append("old")
        return x

    assert read(1) == 1
    assert order == ["old", "new"]


def test_random_runs_both_orders_and_still_compares_old_first() -> None:
    """RANDOM: over many calls both orders occur; compare always gets (old, new)."""
    random.seed(1234)
    order: list[str] = []
    compared: list[tuple[str, str]] = []

    def new(x: int) -> str:
        order.append("new")
        return "new"

    def compare(a: str, b: str) -> bool:
        compared.append((a, b))
        return True

    @migration(new=new, compare=compare, execution_order="random")
    def read(x: int) -> str:
        order.append("old")
        return "old"

    firsts = set()
    for _ in range(200):
        order.clear()
        assert read(1) == "old"
        assert sorted(order) == ["new", "old"]
        firsts.add(order[0])
    assert firsts == {"old", "new"}
    assert set(compared) == {("old", "new")}


def test_parallel_sync_runs_both_sides_at_once() -> None:
    """PARALLEL: each side waits at a two-party barrier, which only opens if both run together."""
    barrier = threading.Barrier(2, timeout=10)

    def new(x: int) -> int:
        barrier.wait()
        return x

    @migration(new=new, execution_order=ExecutionOrder.PARALLEL)
    def read(x: int) -> int:
        barrier.wait()
        return x

    with capture_logs() as logs:
        assert read(5) == 5
    op = [e for e in logs if e["event"] == "migration.op"]
    assert op[0]["consistent"] is True
    assert op[0]["invoked"] == ["old", "new"]
    results = [e for e in logs if e["event"] == "migration.result"]
    assert [(e["origin"], e["ok"]) for e in results] == [("old", True), ("new", True)]


def test_parallel_sync_caller_gets_the_authoritative_exception() -> None:
    """PARALLEL in LIVE: new raises, the caller gets that very exception; old still ran."""
    configure(provider=StaticStageProvider("live"))
    error = KeyError("k")
    ran: list[str] = []

    def new() -> int:
        raise error

    @migration(new=new, execution_order="parallel")
    def read() -> int:
        ran.append("old")
        return 1

    with pytest.raises(KeyError) as caught:
        read()
    assert caught.value is error
    assert ran == ["old"]


def test_parallel_creates_no_thread_per_call() -> None:
    """1,000 PARALLEL reads start no more threads than the pool's bound."""
    configure(shadow_workers=3)
    before = threading.active_count()

    @migration(new=lambda x: x, execution_order="parallel")
    def read(x: int) -> int:
        return x

    for i in range(1000):
        assert read(i) == i
    assert pool_module.pool().threads <= 3
    assert threading.active_count() <= before + 3


async def test_parallel_async_runs_both_sides_at_once() -> None:
    """PARALLEL async: each side signals the other and waits for it, so both must be in flight."""
    old_here, new_here = asyncio.Event(), asyncio.Event()

    async def new(x: int) -> int:
        new_here.set()
        await asyncio.wait_for(old_here.wait(), 10)
        return x

    @migration(new=new, execution_order=ExecutionOrder.PARALLEL)
    async def read(x: int) -> int:
        old_here.set()
        await asyncio.wait_for(new_here.wait(), 10)
        return x

    with capture_logs() as logs:
        assert await read(9) == 9
    assert [e["consistent"] for e in logs if e["event"] == "migration.op"] == [True]


async def test_serial_async_does_not_overlap() -> None:
    """SERIAL async: new starts only after old has finished."""
    timeline: list[str] = []

    async def new(x: int) -> int:
        timeline.append("new-start")
        await asyncio.sleep(0)
        timeline.append("new-end")
        return x

    @migration(new=new)
    async def read(x: int) -> int:
        timeline.append("old-start")
        await asyncio.sleep(0)
        timeline.append("old-end")
        return x

    assert await read(1) == 1
    assert timeline == ["old-start", "old-end", "new-start", "new-end"]


def test_parallel_with_a_full_pool_runs_the_shadow_inline() -> None:
    """With every worker busy, PARALLEL never blocks on the pool: the shadow runs in the caller."""
    configure(shadow_workers=1, shadow_queue_size=1)
    release = threading.Event()
    blocker = pool_module.pool().submit(lambda: release.wait(10))
    assert blocker is not None
    seen: list[str] = []

    def new(x: int) -> int:
        seen.append(threading.current_thread().name)
        return x

    @migration(new=new, execution_order="parallel")
    def read(x: int) -> int:
        return x

    try:
        assert read(1) == 1
    finally:
        release.set()
    assert seen == [threading.current_thread().name]
    assert pool_module.drain(10)


# -- the caller never waits behind the pool's queue ----------------------------------------


def _in_threads(call: Any, count: int, timeout: float = 20) -> list[Any]:
    """Run call(i) in *count* threads started at once; their answers, failing on a hang."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout)
        answers[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not [thread for thread in threads if thread.is_alive()], "a caller hangs"
    return answers


def test_nested_parallel_reads_with_as_many_callers_as_workers_do_not_deadlock() -> None:
    """A PARALLEL shadow that calls another PARALLEL migration, from as many callers as
    there are workers: every caller returns (no worker waits on a task queued behind it)."""
    configure(shadow_workers=2)
    inner_started = threading.Barrier(2, timeout=10)

    def inner_new(x: int) -> int:
        return x

    @migration(new=inner_new, execution_order="parallel", name="nested.inner")
    def inner(x: int) -> int:
        return x

    def outer_new(x: int) -> int:
        with contextlib.suppress(threading.BrokenBarrierError):
            inner_started.wait()  # both workers are now inside a shadow
        return inner(x)

    @migration(new=outer_new, execution_order="parallel", name="nested.outer")
    def outer(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert _in_threads(outer, 2) == [0, 1]
        assert outer(7) == 7, "later PARALLEL reads still run"
    assert migratekit.drain(10)
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert sorted(e["migration"] for e in ops) == ["nested.inner"] * 3 + ["nested.outer"] * 3
    assert all(e["consistent"] is True for e in ops)


def test_hung_background_shadows_do_not_hold_an_unrelated_parallel_read() -> None:
    """Every worker hung in a background shadow: a PARALLEL read of another migration
    takes its shadow back from the queue and runs it itself, and drain() ends once
    the hung shadows are released."""
    release = threading.Event()

    def hang(x: int) -> int:
        release.wait(30)
        return x

    @migration(new=hang, shadow="background", name="hung.bg")
    def background(x: int) -> int:
        return x

    ran_in: list[str] = []

    def new(x: int) -> int:
        ran_in.append(threading.current_thread().name)
        return x

    @migration(new=new, execution_order="parallel", name="unrelated.parallel")
    def read(x: int) -> int:
        return x

    try:
        with capture_logs() as logs:
            for i in range(pool_module.pool_workers()):
                assert background(i) == i
            assert _in_threads(read, 3, timeout=5) == [0, 1, 2]
        assert len(ran_in) == 3
        assert not [name for name in ran_in if name.startswith("migratekit-shadow")]
        assert migratekit.drain(0.05) is False, "the hung shadows are still out"
    finally:
        release.set()
    assert migratekit.drain(10)
    assert pool_module.pool().outstanding == 0
    ops = [e for e in logs
           if e["migration"] == "unrelated.parallel" and e["event"] == "migration.op"]
    assert [e["consistent"] for e in ops] == [True, True, True]


def test_a_timed_shadow_still_queued_at_its_deadline_is_recorded_as_not_run() -> None:
    """shadow_timeout with every worker busy: the caller waits no longer than the timeout,
    the queued shadow is taken back (it never runs) and recorded as not run."""
    configure(shadow_workers=1)
    release = threading.Event()
    blocker = pool_module.pool().submit(lambda: release.wait(30))
    assert blocker is not None
    ran: list[int] = []

    def new(x: int) -> int:
        ran.append(x)
        return x

    @migration(new=new, shadow_timeout=0.05, name="timed.queued")
    def read(x: int) -> int:
        return x

    try:
        with capture_logs() as logs:
            assert read(1) == 1
    finally:
        release.set()
    assert migratekit.drain(10)
    assert ran == [], "a shadow taken back from the queue never runs"
    (failed,) = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert failed["exc_type"] == "ShadowTimeoutError"
    assert "not run" in failed["error"]
