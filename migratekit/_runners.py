"""
The runners: one call of a migration, from its stage to its events.

Sync and async runners are twins that match line for line but for ``await``
and the ``a`` of their names; each names its twin. The decisions are the
engine's (migratekit._engine) and the small functions here, the twins only
call or await them. A write stops at its first failure: the other side is
never written after the authoritative one failed. A read runs every side of
its order whatever the first one did. A write with ``pass_result`` gives its
second side the first side's result: the engine's ``call_type`` is then a
:class:`~migratekit._engine.ResultCall`, which runs the sides so.

migratekit._quiet builds, once per migration, the function wrapt calls: for
sync code a quiet path that runs the sides with no bookkeeping while nothing
needs reporting, and hands over to :func:`run` when something does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeoutError
from functools import partial
from time import perf_counter
from typing import Any, NamedTuple

from migratekit._engine import Call, Engine, Plan
from migratekit._events import SideRun
from migratekit._pool import ShadowFuture, pool, pool_queue_size, spawn, track
from migratekit._types import ExecutionOrder, Origin
from migratekit.exceptions import ShadowTimeoutError, WriteIncompleteError

__all__ = ["arun", "run"]

Runs = tuple[SideRun, SideRun | None]
"""The authoritative run, and the other (``None``: not run, or running in the background)."""


# -- every call: the sides in order --------------------------------------------------------


def run(engine: Engine, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
        kwargs: dict[str, Any]) -> Runs:
    """Carry out one call as *plan* says and emit its events."""
    # Twin: arun.
    plan, skipped = engine.sample(plan)
    if engine.offloads and plan.other is not None:
        return run_offloaded(engine, plan, wrapped, instance, args, kwargs)
    call = engine.call_type(engine, plan, wrapped, instance, args, kwargs)
    if skipped:
        call.skipped()
    for origin in engine.order(plan):
        call.runs.append(_run_side(call, origin))
        if call.stopped():
            break
    return call.finish()


async def arun(engine: Engine, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Runs:
    """:func:`run` for async code: each side that returns an awaitable is awaited."""
    # Twin: run.
    plan, skipped = engine.sample(plan)
    if engine.offloads and plan.other is not None:
        return await arun_offloaded(engine, plan, wrapped, instance, args, kwargs)
    call = engine.call_type(engine, plan, wrapped, instance, args, kwargs)
    if skipped:
        call.skipped()
    for origin in engine.order(plan):
        call.runs.append(await _arun_side(call, origin))
        if call.stopped():
            break
    return call.finish()


def _run_side(call: Call, origin: Origin) -> SideRun:
    # Twin: _arun_side.
    return call.side(origin)


async def _arun_side(call: Call, origin: Origin) -> SideRun:
    """
    Run a side of an async call. A cancelled call reports what ran and this
    side, cancelled, before its ``CancelledError`` goes on; the second side
    of a write is not cut short by it (:func:`_write_to_completion`).
    """
    # Twin: _run_side.
    if call.runs and not call.engine.reads:
        return await _write_to_completion(call, origin)
    start = perf_counter()
    try:
        return await call.aside(origin)
    except asyncio.CancelledError as cancelled:
        _cancelled(call, origin, start, cancelled)
        raise


def _cancelled(call: Call, origin: Origin, start: float, cancelled: BaseException) -> None:
    call.runs.append(SideRun(origin, False, None, cancelled, perf_counter() - start))
    call.finish()


async def _write_to_completion(call: Call, origin: Origin) -> SideRun:
    """
    Run the second side of a write so that cancelling the caller cannot cut
    it in half.

    The side runs as a task of its own, shielded from the caller: a cancelled
    caller gets its ``CancelledError`` at once (a hanging store must not hold
    a caller past its own timeout), and the side goes on, tracked so that
    :func:`migratekit.adrain` waits for it. It reports the call's events when
    it ends; when it is cancelled in turn (``asyncio.run`` cancels what is
    left when its main coroutine returns) or its loop closes under it, it
    reports a failed result for that side, so that a write left half done is
    always on record.
    """
    start = perf_counter()
    task = asyncio.get_running_loop().create_task(call.aside(origin))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def report(finished: asyncio.Task[SideRun] | None) -> None:
            if finished is None or finished.cancelled():
                run = SideRun(origin, False, None, _unfinished(origin, finished),
                              perf_counter() - start)
            elif finished.exception() is not None:  # KeyboardInterrupt, SystemExit
                run = SideRun(origin, False, None, finished.exception(), perf_counter() - start)
            else:
                run = finished.result()
            call.runs.append(run)
            call.finish()

        if task.done():
            report(task)
        else:
            task.add_done_callback(report)
            track(task, on_abandon=lambda: report(None))
        raise


def _unfinished(origin: Origin, task: asyncio.Task[Any] | None) -> BaseException:
    """The failure of a write's second side that its event loop did not let finish."""
    if task is not None:
        return asyncio.CancelledError(
            f"the {origin.value} side of the write was cancelled before it finished"
        )
    return WriteIncompleteError(
        f"the {origin.value} side of the write did not finish: its event loop closed first "
        "(await migratekit.adrain() before the loop ends)"
    )


# -- reads whose other side leaves the caller: PARALLEL, timeouts, background ---------------
#
# The non-authoritative read runs on the shared pool (threads) or as a task
# (async). The caller waits for it only as long as the order says: PARALLEL
# waits for both (max, not sum), a timeout bounds the wait, and a background
# shadow is not waited for at all. The caller is never blocked behind the
# pool: PARALLEL runs the shadow itself when no worker has started it, a
# timed shadow is recorded as not run, a background shadow is dropped.


def run_offloaded(engine: Engine, plan: Plan, wrapped: Any, instance: Any,
                  args: tuple[Any, ...], kwargs: dict[str, Any]) -> Runs:
    """:func:`run` for a read of both sides that leaves the caller's thread."""
    # Twin: arun_offloaded.
    call = Call(engine, plan, wrapped, instance, args, kwargs)
    auth = plan.authoritative
    if engine.background:
        call.runs.append(_run_side(call, auth))
        return _shadow_later(call, _in_thread)
    if engine.execution_order is ExecutionOrder.PARALLEL:
        shadow = _start_shadow(call)
        try:
            call.runs.append(_run_side(call, auth))
        except BaseException:
            _abandon(shadow)
            raise
        call.runs.append(_wait_for_shadow(call, shadow))
    else:
        for origin in engine.order(plan):
            call.runs.append(_run_side(call, auth) if origin is auth
                             else _wait_for_shadow(call, _start_shadow(call)))
    return call.finish()


async def arun_offloaded(engine: Engine, plan: Plan, wrapped: Any, instance: Any,
                         args: tuple[Any, ...], kwargs: dict[str, Any]) -> Runs:
    """:func:`run_offloaded` for async code: the other side is an asyncio task."""
    # Twin: run_offloaded.
    call = Call(engine, plan, wrapped, instance, args, kwargs)
    auth = plan.authoritative
    if engine.background:
        call.runs.append(await _arun_side(call, auth))
        return _shadow_later(call, _in_task)
    if engine.execution_order is ExecutionOrder.PARALLEL:
        shadow = _astart_shadow(call)
        try:
            call.runs.append(await _arun_side(call, auth))
        except BaseException:
            _abandon(shadow)
            raise
        call.runs.append(await _await_shadow(call, shadow))
    else:
        for origin in engine.order(plan):
            call.runs.append(await _arun_side(call, auth) if origin is auth
                             else await _await_shadow(call, _astart_shadow(call)))
    return call.finish()


class _Started(NamedTuple):
    """The other side of a read, handed to the pool (a future) or to the loop (a task)."""

    work: Any
    start: float


def _shadow(call: Call) -> SideRun:
    return call.side(call.plan.other)  # type: ignore[arg-type]


def _start_shadow(call: Call) -> _Started:
    # Twin: _astart_shadow.
    start = perf_counter()
    return _Started(pool().submit(partial(_shadow, call)), start)


def _astart_shadow(call: Call) -> _Started:
    # Twin: _start_shadow.
    start = perf_counter()
    return _Started(asyncio.get_running_loop().create_task(call.aside(call.plan.other)), start)  # type: ignore[arg-type]


def _abandon(shadow: _Started) -> None:
    """The caller failed before it waited for *shadow*: let go of it."""
    if isinstance(shadow.work, ShadowFuture):
        shadow.work.claim()
    elif shadow.work is not None:
        shadow.work.cancel()


def _wait_for_shadow(call: Call, shadow: _Started) -> SideRun:
    """
    The other side's run, for a caller that waits for it.

    The caller never waits behind the pool's queue, where the task could sit
    behind work that waits for this very caller (a shadow that calls another
    migration) or behind shadows that hang: without a timeout, a task that no
    worker has started is taken back and run here, and a task that a worker
    runs is waited for as a serial read would be. With a timeout, the wait
    ends at the deadline; a task still queued then is recorded as not run.
    """
    # Twin: _await_shadow.
    future, start = shadow
    timeout = call.engine.shadow_timeout
    other: Origin = call.plan.other  # type: ignore[assignment]
    if future is None:  # the pool is full
        return _shadow(call) if timeout is None else _no_worker(other)
    if timeout is None:
        if future.claim():
            return _shadow(call)
        run: SideRun = future.result()
        return run
    try:
        run = future.result(max(0.0, timeout - (perf_counter() - start)))
    except FutureTimeoutError:
        if future.claim():
            return _no_worker(other)
        # A worker goes on with it; its answer, when it comes, is dropped.
        return _timed_out(other, timeout, perf_counter() - start)
    return run


async def _await_shadow(call: Call, shadow: _Started) -> SideRun:
    """
    Await the other side's run, at most until the timeout (then cancel it).
    A cancelled call reports the runs and this side, cancelled.
    """
    # Twin: _wait_for_shadow.
    task, start = shadow
    timeout = call.engine.shadow_timeout
    other: Origin = call.plan.other  # type: ignore[assignment]
    try:
        if timeout is None:
            run: SideRun = await task
            return run
        try:
            return await asyncio.wait_for(task, max(0.0, timeout - (perf_counter() - start)))
        except asyncio.TimeoutError:
            return _timed_out(other, timeout, perf_counter() - start)
    except asyncio.CancelledError as cancelled:
        _cancelled(call, other, start, cancelled)
        raise


def _timed_out(origin: Origin, timeout: float, waited: float) -> SideRun:
    error = ShadowTimeoutError(f"the {origin.value} side did not answer within {timeout:g} s")
    return SideRun(origin, False, None, error, waited)


def _no_worker(origin: Origin) -> SideRun:
    error = ShadowTimeoutError(
        f"the {origin.value} side was not run: every shadow worker is busy and "
        f"{pool_queue_size()} shadow reads are outstanding"
    )
    return SideRun(origin, False, None, error, 0.0)


# -- background shadows: the caller does not wait --------------------------------------------


def _shadow_later(call: Call, begin: Callable[[Call], bool]) -> Runs:
    """
    Report the authoritative run of a background read now, and leave the
    other side to *begin*: a pool worker or a task, which reports it when it
    ends. A full queue drops it, and says so.
    """
    call.emit_first()
    if not begin(call):
        call.dropped()
    return call.runs[0], None


def _finish_later(call: Call, second: SideRun) -> None:
    call.runs.append(second)
    call.emit(call.engine.compare_runs(call.runs))


def _in_thread(call: Call) -> bool:
    other: Origin = call.plan.other  # type: ignore[assignment]

    def shadow() -> None:
        start = perf_counter()
        try:
            second = _shadow(call)
        except BaseException as exc:
            # Nobody waits for a background shadow, so a SystemExit or
            # KeyboardInterrupt raised on its side has no caller to reach:
            # it is that side's failed result, reported as such.
            second = SideRun(other, False, None, exc, perf_counter() - start)
        timeout = call.engine.shadow_timeout
        if timeout is not None and second.latency > timeout:  # a thread is not interrupted
            second = _timed_out(other, timeout, second.latency)
        _finish_later(call, second)

    return pool().submit(shadow) is not None


def _in_task(call: Call) -> bool:
    other: Origin = call.plan.other  # type: ignore[assignment]

    async def shadow() -> None:
        start = perf_counter()
        try:
            second = await _await_shadow_task(call, start)
        except asyncio.CancelledError as cancelled:
            _finish_later(call, SideRun(other, False, None, cancelled, perf_counter() - start))
            raise
        _finish_later(call, second)

    def abandoned() -> None:
        _finish_later(call, SideRun(other, False, None, WriteIncompleteError(
            f"the {other.value} side did not finish: its event loop closed first"), 0.0))

    return spawn(shadow, pool_queue_size(), abandoned)


async def _await_shadow_task(call: Call, start: float) -> SideRun:
    """The other side of a background read, within its timeout."""
    timeout = call.engine.shadow_timeout
    if timeout is None:
        return await call.aside(call.plan.other)  # type: ignore[arg-type]
    try:
        return await asyncio.wait_for(call.aside(call.plan.other), timeout)  # type: ignore[arg-type]
    except asyncio.TimeoutError:
        return _timed_out(call.plan.other, timeout, perf_counter() - start)  # type: ignore[arg-type]
