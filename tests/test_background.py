"""Background shadows: the caller returns first, the shadow finishes later off its path."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import _events, configure, migration
from migratekit import _pool as pool_module
from migratekit.providers import StaticStageProvider
from tests.helpers import fresh


@pytest.fixture(autouse=True)
def _shadow() -> Iterator[None]:
    configure(provider=StaticStageProvider("shadow"))
    _events.reset_dropped_shadows()
    yield
    assert migratekit.drain(10)


def test_caller_returns_before_the_shadow_finishes() -> None:
    """The call returns the old value while the new side is still blocked; events come after."""
    release = threading.Event()
    started = threading.Event()

    def new(x: int) -> int:
        started.set()
        release.wait(10)
        return x + 1

    @migration(new=new, shadow="background", name="bg.read")
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert read(1) == 1
        assert started.wait(10)
        assert [e["event"] for e in logs] == ["migration.result"]  # only the old side so far
        release.set()
        assert migratekit.drain(10)
    events = [(e["event"], e.get("origin")) for e in logs]
    assert events == [("migration.result", "old"), ("migration.result", "new"),
                      ("migration.op", None)]
    call_ids = {e["call_id"] for e in logs}
    assert len(call_ids) == 1
    op = logs[-1]
    assert op["consistent"] is False
    assert op["invoked"] == ["old", "new"]


def test_a_full_queue_drops_the_shadow_and_counts_it() -> None:
    """With the queue full, shadows are dropped without blocking, counted and reported."""
    configure(shadow_workers=1, shadow_queue_size=2)
    release = threading.Event()

    def new(x: int) -> int:
        release.wait(10)
        return x

    @migration(new=new, shadow="background", name="bg.drop")
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        try:
            results = [read(i) for i in range(5)]
        finally:
            release.set()
        assert migratekit.drain(10)
    assert results == [0, 1, 2, 3, 4]
    assert _events.dropped_shadows() == {"bg.drop": 3}
    dropped_ops = [e for e in logs if e["event"] == "migration.op" and e.get("shadow_dropped")]
    assert len(dropped_ops) == 3
    assert all(e["invoked"] == ["old"] for e in dropped_ops)
    notices = [e for e in logs if e["event"] == "migration.shadow_dropped"]
    assert notices
    assert notices[0]["migration"] == "bg.drop"
    assert notices[0]["log_level"] == "warning"
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 5  # exactly one per call, dropped or not


def test_drain_times_out_while_a_shadow_hangs() -> None:
    """drain(timeout) answers False while work is outstanding, True once it is done."""
    release = threading.Event()

    @migration(new=lambda x: release.wait(10) and x, shadow="background")
    def read(x: int) -> int:
        return x

    assert read(1) == 1
    assert migratekit.drain(0.01) is False
    release.set()
    assert migratekit.drain(10) is True


def test_background_shadow_with_a_timeout_records_a_late_answer_as_an_error() -> None:
    """A background shadow that answers after shadow_timeout is a ShadowTimeoutError result."""
    gate = threading.Event()

    def new(x: int) -> int:
        gate.wait(0.2)  # times out on purpose: longer than shadow_timeout below
        return x

    @migration(new=new, shadow="background", shadow_timeout=0.01)
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert read(1) == 1
        assert migratekit.drain(10)
    new_result = next(e for e in logs if e.get("origin") == "new")
    assert new_result["exc_type"] == "ShadowTimeoutError"
    assert next(e for e in logs if e["event"] == "migration.op")["consistent"] is None


def test_background_keeps_structlog_contextvars() -> None:
    """Events of a background shadow carry the caller's structlog contextvars."""
    import structlog

    @migration(new=lambda x: x, shadow="background")
    def read(x: int) -> int:
        return x

    structlog.configure(processors=[structlog.contextvars.merge_contextvars,
                                    structlog.testing.LogCapture()])
    capture = structlog.get_config()["processors"][-1]
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        read(1)
    assert migratekit.drain(10)
    assert capture.entries
    assert all(entry.get("request_id") == "r-1" for entry in capture.entries)


@pytest.mark.parametrize("options", [{"execution_order": "parallel"},
                                     {"shadow": "background"},
                                     {"execution_order": "parallel", "shadow_timeout": 5.0}])
def test_shadows_on_the_pool_keep_the_callers_contextvars(options: dict[str, Any]) -> None:
    """A shadow run by a pool worker sees the caller's contextvars as they were at the call."""
    import structlog

    seen: list[str | None] = []

    def new(x: int) -> int:
        seen.append(structlog.contextvars.get_contextvars().get("request_id"))
        return x

    @migration(new=new, **options)
    def read(x: int) -> int:
        return x

    structlog.configure(processors=[structlog.contextvars.merge_contextvars,
                                    structlog.testing.LogCapture()])
    capture = structlog.get_config()["processors"][-1]
    with structlog.contextvars.bound_contextvars(request_id="r-2"):
        read(1)
    assert migratekit.drain(10)
    assert seen == ["r-2"]
    results = [e for e in capture.entries if e["event"] == "migration.result"]
    assert {e["origin"] for e in results} == {"old", "new"}
    assert all(e.get("request_id") == "r-2" for e in capture.entries if e.get("call_id"))


async def test_async_background_returns_first_and_adrain_waits() -> None:
    """Async: the caller gets the value while the new side is pending; adrain waits for it."""
    release = asyncio.Event()

    async def new(x: int) -> int:
        await release.wait()
        return x

    @migration(new=new, shadow="background")
    async def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert await read(1) == 1
        assert [e["event"] for e in logs] == ["migration.result"]
        assert await migratekit.adrain(0.01) is False
        release.set()
        assert await migratekit.adrain(10) is True
    assert [e["event"] for e in logs] == ["migration.result", "migration.result", "migration.op"]
    assert logs[-1]["consistent"] is True


async def test_async_background_full_queue_drops() -> None:
    """Async background shadows beyond the queue size are dropped and counted."""
    configure(shadow_queue_size=1)
    release = asyncio.Event()

    async def new(x: int) -> int:
        await release.wait()
        return x

    @migration(new=new, shadow="background", name="abg.drop")
    async def read(x: int) -> int:
        return x

    assert [await read(i) for i in range(3)] == [0, 1, 2]
    release.set()
    assert await migratekit.adrain(10)
    assert _events.dropped_shadows() == {"abg.drop": 2}


def test_drain_waits_for_work_of_a_pool_replaced_by_configure() -> None:
    """Resizing the pool while shadows run: drain() still waits for the old pool's work."""
    release = threading.Event()
    finished: list[int] = []

    def new(x: int) -> int:
        release.wait(10)
        finished.append(x)
        return x

    @migration(new=new, shadow="background")
    def read(x: int) -> int:
        return x

    assert read(1) == 1
    configure(shadow_workers=2)  # a new pool; the first one still holds the shadow
    assert migratekit.drain(0.01) is False
    release.set()
    assert migratekit.drain(10) is True
    assert finished == [1]


def test_a_base_exception_in_a_background_shadow_is_its_result() -> None:
    """SystemExit from a background shadow reaches no caller: it becomes that side's result."""

    def new(x: int) -> int:
        raise SystemExit(3)

    @migration(new=new, shadow="background", name="bg.exit")
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert read(1) == 1
        assert migratekit.drain(10)
        assert read(2) == 2  # the pool still serves
        assert migratekit.drain(10)
    new_results = [e for e in logs if e["event"] == "migration.result" and e["origin"] == "new"]
    assert [e["exc_type"] for e in new_results] == ["SystemExit", "SystemExit"]
    assert len([e for e in logs if e["event"] == "migration.op"]) == 2


def _shadow_threads() -> int:
    return sum(t.name.startswith("migratekit-shadow") for t in threading.enumerate())


def test_resizing_the_pool_leaves_no_idle_threads_behind() -> None:
    """Fifty resizes (and reset()s) with shadows running: the replaced pools' workers finish
    their work and exit, so the threads alive are those of the current pool only."""

    def new(x: int) -> int:
        return x

    @migration(new=new, shadow="background", name="bg.resize")
    def read(x: int) -> int:
        return x

    with capture_logs():
        for i in range(50):
            configure(shadow_workers=2 + i % 3)
            for j in range(4):
                assert read(j) == j
            if i % 10 == 9:
                fresh()
                configure(provider=StaticStageProvider("shadow"))
        assert migratekit.drain(10)
    deadline = time.monotonic() + 10
    while _shadow_threads() > 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _shadow_threads() <= 4  # the current pool's, at most its size


def test_a_submit_to_a_pool_replaced_meanwhile_goes_to_the_current_one() -> None:
    """A caller holding the pool that configure() just replaced still gets its work run."""
    old_pool = pool_module.pool()
    configure(shadow_workers=3)
    future = old_pool.submit(lambda: threading.current_thread().name)
    assert future is not None
    assert future.result(10).startswith("migratekit-shadow")
    assert pool_module.pool() is not old_pool
    assert pool_module.pool().threads >= 1


def test_async_background_shadows_of_closed_loops_do_not_fill_the_queue() -> None:
    """Loops closed with background shadows still pending (run_until_complete, then close,
    no adrain): their tasks are pruned, so a fresh asyncio.run's shadows are not dropped."""
    configure(shadow_queue_size=8)

    async def new(x: int) -> int:
        await asyncio.sleep(3600)
        return x

    @migration(new=new, shadow="background", name="bg.closed")
    async def read(x: int) -> int:
        return x

    loops = []
    with capture_logs():
        for _ in range(12):
            loop = asyncio.new_event_loop()
            assert loop.run_until_complete(read(1)) == 1
            loop.close()
            loops.append(loop)  # kept alive: the test is about migratekit letting go

        async def fresh() -> None:
            assert await read(2) == 2
            assert pool_module.outstanding_tasks(asyncio.get_running_loop()) == 1

        asyncio.run(fresh())
    assert _events.dropped_shadows() == {}
    assert pool_module.outstanding_tasks() == 0  # the closed loops' tasks were let go


def test_a_task_taken_back_is_counted_off_the_pool_that_queued_it() -> None:
    """A caller that held a pool resized away meanwhile: its task went to the current pool,
    and taking it back counts it off that pool, so drain() still ends."""
    release = threading.Event()
    held = pool_module.pool()
    configure(shadow_workers=2)  # `held` is closed
    current = pool_module.pool()
    assert current is not held
    blockers = [current.submit(lambda: release.wait(30)) for _ in range(2)]
    future = held.submit(lambda: None)  # queued on `current`, behind the two blockers
    assert future is not None
    assert current.outstanding == 3
    assert future.claim() is True
    assert current.outstanding == 2
    assert held.outstanding == 0
    release.set()
    for blocker in blockers:
        assert blocker is not None
        blocker.result(10)
    assert migratekit.drain(10)
    assert current.outstanding == 0
