"""Execution orders for reads that run both sides: SERIAL, RANDOM and PARALLEL, sync and async.

Concurrency is shown with barriers, never with wall-clock assertions: two
sides that each wait for the other can only both finish if they ran at once.
"""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from structlog.testing import capture_logs

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
