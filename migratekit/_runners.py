"""
The runners: one call of a migration, from its stage to its events.

Sync and async runners are twins that match line for line but for ``await``
and the ``a`` of their names; each names its twin. The decisions are the
engine's (migratekit._engine) and the small functions here, the twins only
call or await them. A write stops at its first failure: the other side is
never written after the authoritative one failed. A read runs every side of
its order whatever the first one did.

:func:`call_for` builds, once per migration, the function wrapt calls: for
sync code a quiet path that runs the sides with no bookkeeping while nothing
needs reporting, and hands over to :func:`run` when something does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeoutError
from functools import partial
from time import perf_counter
from typing import Any, NamedTuple

from migratekit import _events
from migratekit._compat import PROPAGATES
from migratekit._engine import OLD, Call, Engine, Plan, invoke
from migratekit._events import SideRun, logger_attribute
from migratekit._options import SideFn, call_wrapped
from migratekit._pool import ShadowFuture, pool, pool_queue_size, spawn, track
from migratekit._resolve import stage_failed, stage_from_answer
from migratekit._settings import settings
from migratekit._types import ExecutionOrder, Origin
from migratekit.exceptions import ShadowTimeoutError, WriteIncompleteError
from migratekit.providers._env import EnvStageProvider, stage_of_raw

__all__ = ["arun", "call_for", "run"]

Runs = tuple[SideRun, SideRun | None]
"""The authoritative run, and the other (``None``: not run, or running in the background)."""


# -- every call: the sides in order --------------------------------------------------------


def run(engine: Engine, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
        kwargs: dict[str, Any]) -> Runs:
    """Carry out one call as *plan* says and emit its events."""
    # Twin: arun.
    if engine.offloads and plan.other is not None:
        return run_offloaded(engine, plan, wrapped, instance, args, kwargs)
    call = Call(engine, plan, wrapped, instance, args, kwargs)
    for origin in engine.order(plan):
        call.runs.append(_run_side(call, origin))
        if call.stopped():
            break
    return call.finish()


async def arun(engine: Engine, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Runs:
    """:func:`run` for async code: each side that returns an awaitable is awaited."""
    # Twin: run.
    if engine.offloads and plan.other is not None:
        return await arun_offloaded(engine, plan, wrapped, instance, args, kwargs)
    call = Call(engine, plan, wrapped, instance, args, kwargs)
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


# -- the function wrapt calls ------------------------------------------------------------------


def call_for(engine: Engine) -> SideFn:
    """What wrapt calls for each call of the migration *engine* runs."""
    return _async_call(engine) if engine.is_async else _quiet_call(engine)


def _async_call(engine: Engine) -> SideFn:
    async def call(wrapped: Any, instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
        plan = await engine.aplan(wrapped, instance, args, kwargs)
        auth = (await arun(engine, plan, wrapped, instance, args, kwargs))[0]
        if auth.ok:
            return auth.value
        raise auth.exception  # type: ignore[misc]  # the side's own exception object

    return call


# The quiet path's records are plain tuples: unpacking a tuple subclass (a
# NamedTuple) takes CPython's slow path, which cost more than the rest of
# reading the stage.

_Step = tuple[Plan, SideFn | None, SideFn | None, bool]
"""
One stage of one migration, as the quiet path runs it: the plan, the
authoritative side (``None``: the decorated function itself), the other side
(``None``: the stage runs one), and whether the authoritative side is the old.
"""


def _steps(engine: Engine) -> dict[int, _Step]:
    """The quiet path's step of each stage, by the stage's id."""
    steps = {}
    for stage_id, plan in engine.plans_by_id.items():
        first = engine.side(plan.authoritative)
        second = None if plan.other is None else engine.side(plan.other)
        steps[stage_id] = (plan, None if first is call_wrapped else first, second,
                           plan.authoritative is OLD)
    return steps


_Asker = tuple[Callable[[], Any], Any, "dict[Any, Any] | None", Any, Any]
"""
How the quiet path asks a provider for the stage: ``provider.get_stage(name,
None)`` or the provider's cheaper equivalent; and for the environment
provider, its :class:`~migratekit.providers._env.RawLookup` (``os.environ``,
its store, the two encoded names), else four ``None``.
"""

_STEPS_LEARNED_LIMIT = 64
_NO_LOGGER: tuple[Any, ...] = (None, object(), False, False)  # a bind no logger has


def _asker(provider: Any, name: str) -> _Asker:
    make = getattr(provider, "stage_getter", None)
    get = make(name) if make is not None else partial(provider.get_stage, name, None)
    if type(provider) is EnvStageProvider:
        lookup = provider.raw_lookup(name)
        if lookup is not None:
            return (get, *lookup)
    return (get, None, None, None, None)


def _reraise(exc: BaseException) -> Any:
    raise exc


def _quiet_call(engine: Engine) -> SideFn:  # noqa: PLR0915 - see call() below
    """
    The sync call. When the logger emits info events, every call is reported,
    and :func:`run` does it all. When it does not (production: a filtering
    logger at WARNING), a call whose sides succeed and whose reads agree
    emits nothing, so the sides run here with no bookkeeping at all, and a
    :class:`~migratekit._engine.Call` is made only when something must be
    reported: a side that failed, reads that differ. tests/test_quiet_path.py
    checks that both give the same outcome and the same warnings, stage by
    stage. What does not change between calls is a local of this closure.
    """
    name, own_provider, simple = engine.name, engine.provider, engine.context is None
    plan_for, stops = engine.plan, not engine.reads
    quiet_pair, every_call, compare = engine.quiet_pair, engine.check_ratio == 1, engine.compare
    steps = _steps(engine)
    # The stages of the raw values of the environment seen so far: a value
    # seen before is one dictionary lookup from its step.
    learned: dict[Any, _Step] = {}
    # What the call worked out from the settings of one generation (see
    # migratekit._settings): the generation; structlog's finalized bind, and
    # whether the logger it stands for emits info and warning events; whether
    # the engine is asked (a forced stage, or context=); the provider, and how
    # to ask it (_Asker); the default stage's step. One tuple, so that threads
    # never see half of a change.
    seen: tuple[Any, ...] = (None,)

    def look(generation: object) -> tuple[Any, ...]:
        """Work out how to find the stage while the settings are of *generation*."""
        nonlocal seen
        # What the logger emits stays what relog() last found.
        _, bind, info, warning = seen[:4] if len(seen) > 1 else _NO_LOGGER
        provider = settings.provider if own_provider is None else own_provider
        asks_engine = not simple or settings.forced is not None
        default_step = steps[id(settings.default_stage)]
        try:
            asker = (None, None, None, None, None) if asks_engine else _asker(provider, name)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            # Not remembered: the next call tries again. This one reports
            # the failure as the stage's, through answer_of.
            return (generation, bind, info, warning, False, provider, partial(_reraise, exc),
                    None, None, None, None, default_step)
        seen = (generation, bind, info, warning, asks_engine, provider, *asker, default_step)
        return seen

    def relog(known: tuple[Any, ...]) -> tuple[bool, bool]:
        """
        Whether the logger emits info and warning events, now that it is
        another one; remembered while structlog keeps it (finalized) and its
        levels are fixed (a filtering logger), asked again on every call else.
        """
        nonlocal seen
        bind = logger_attribute("bind")  # before the state: a change in between is seen
        _, info, warning = _events.state()
        if bind is not None and _events.fixed_state[0] is bind:  # levels fixed (_events.state)
            seen = (known[0], bind, info, warning, *known[4:])
        return info, warning

    def step_of(provider: Any, answer: Any) -> _Step:
        """The step for what *provider* answered: a Stage member, or anything else."""
        found = steps.get(id(answer))
        if found is not None:
            return found
        if answer is None:  # no opinion: the default stage
            return steps[id(settings.default_stage)]
        return steps[id(stage_from_answer(provider, name, answer))]

    def slow_step(provider: Any, get: Callable[[], Any], raw: Any) -> _Step:
        """Ask the provider; when it read a value it will map again, remember that value."""
        step = step_of(provider, answer_of(provider, get))
        stage = stage_of_raw(raw)
        if stage is not None and id(stage) in steps and len(learned) < _STEPS_LEARNED_LIMIT:
            learned[raw] = steps[id(stage)]
        return step

    def answer_of(provider: Any, get: Callable[[], Any]) -> Any:
        try:
            return get()
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            return stage_failed(provider, name, exc)

    def call(  # noqa: PLR0915 - the hot path, in one piece: a call less per request
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # The stage: for a migration without context= and no forced stage, the
        # provider is asked here; from the environment, by dictionary lookups.
        known = seen
        if known[0] is not settings.generation:
            known = look(settings.generation)
        (_, bind, info, warning, asks_engine, provider, get, environ, store, key, fallback,
         default_step) = known
        if asks_engine:
            step = steps[id(plan_for(wrapped, instance, args, kwargs).stage)]
        elif store is not None and os.environ is environ:
            # EnvStageProvider.stage_getter, inlined: change both together.
            raw = store.get(key)
            if raw is None:
                raw = store.get(fallback)
            if raw is None:  # no variable: the default stage
                step = default_step
            else:
                step = learned.get(raw) or slow_step(provider, get, raw)
        else:
            step = step_of(provider, answer_of(provider, get))
        plan, first, second, first_is_old = step
        # The logger's levels: while structlog keeps the same finalized logger
        # they stay what they were (a logger that is not finalized says each time).
        if logger_attribute("bind") is not bind:
            info, warning = relog(known)
        if info or (second is not None and not quiet_pair):
            auth = run(engine, plan, wrapped, instance, args, kwargs)[0]
            if auth.ok:
                return auth.value
            raise auth.exception  # type: ignore[misc]  # the side's own exception object

        start = perf_counter()
        if second is None:
            try:
                if first is None:  # old left out: the decorated function itself
                    return wrapped(*args, **kwargs)
                return first(wrapped, instance, args, kwargs)
            except BaseException as exc:
                if warning and not isinstance(exc, PROPAGATES):
                    Call(engine, plan, wrapped, instance, args, kwargs, [
                        SideRun(plan.authoritative, False, None, exc, perf_counter() - start),
                    ]).emit()
                raise
        try:
            value = wrapped(*args, **kwargs) if first is None else first(
                wrapped, instance, args, kwargs)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            failed = SideRun(plan.authoritative, False, None, exc, perf_counter() - start)
            # A write never writes the other side after a failure; a read
            # runs it anyway: its result is still news.
            Call(engine, plan, wrapped, instance, args, kwargs, [failed] if stops else [
                failed, invoke(plan.other, second, wrapped, instance, args, kwargs),  # type: ignore[arg-type]
            ]).finish()
            raise
        middle = perf_counter()
        try:
            other_value = second(wrapped, instance, args, kwargs)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            Call(engine, plan, wrapped, instance, args, kwargs, [
                SideRun(plan.authoritative, True, value, None, middle - start),
                SideRun(plan.other, False, None, exc, perf_counter() - middle),  # type: ignore[arg-type]
            ]).finish()
            return value
        if stops or not (every_call or engine.sampled()):
            return value
        old_value, new_value = (value, other_value) if first_is_old else (other_value, value)
        try:
            verdict = old_value == new_value if compare is None else compare(old_value, new_value)
        except BaseException as exc:
            comparison = engine.compare_failed(exc)
        else:
            if verdict is True:
                return value
            comparison = engine.judge(verdict, old_value, new_value)
        if comparison.consistent is False and warning:
            Call(engine, plan, wrapped, instance, args, kwargs, [
                SideRun(plan.authoritative, True, value, None, middle - start),
                SideRun(plan.other, True, other_value, None, perf_counter() - middle),  # type: ignore[arg-type]
            ]).emit(comparison)
        return value

    return call
