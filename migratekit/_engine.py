"""
The plans of the stages, and the engine that carries out one call of a migration.

The plans are made once from the stage table (migratekit._schema): which side
is authoritative, which other side runs for a read and for a write. The sync
and async runners share what they decide (what to run next, whether to
compare, which events to emit) through the engine's plain methods.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeoutError
from time import perf_counter
from typing import Any, NamedTuple

from migratekit import _events
from migratekit._compat import PROPAGATES, is_numpy_bool, propagates_async
from migratekit._config import (
    aresolve_stage,
    forced_stage,
    settings,
    stage_failed,
    stage_from_answer,
)
from migratekit._diff import diff_paths
from migratekit._events import SideRun
from migratekit._pool import ShadowFuture, pool, pool_queue_size, spawn, track
from migratekit._schema import STAGE_TABLE
from migratekit._text import type_name
from migratekit._types import ExecutionOrder, Operation, Origin, Stage
from migratekit.exceptions import ShadowTimeoutError, WriteIncompleteError

__all__ = ["Engine", "Plan", "SideFn", "plans_for"]

OLD, NEW = Origin.OLD, Origin.NEW


class Plan(NamedTuple):
    """What one stage does for one operation."""

    stage: Stage
    authoritative: Origin
    other: Origin | None
    """The non-authoritative side that also runs, or ``None``."""
    single: tuple[Origin, ...]
    """The authoritative side alone."""
    both: tuple[Origin, ...]
    """Every side that runs, authoritative first."""
    reversed: tuple[Origin, ...]
    """Every side that runs, authoritative last."""
    stage_value: str
    """``stage.value``, read once: Enum's ``value`` is a Python property."""


def _plan(stage: Stage, authoritative: Origin, other: Origin | None) -> Plan:
    single = (authoritative,)
    if other is None:
        return Plan(stage, authoritative, None, single, single, single, stage.value)
    both = (authoritative, other)
    return Plan(stage, authoritative, other, single, both, both[::-1], stage.value)


_PLANS: dict[Operation, dict[Stage, Plan]] = {
    Operation.READ: {stage: _plan(stage, auth, read) for stage, auth, read, _ in STAGE_TABLE},
    Operation.WRITE: {stage: _plan(stage, auth, write) for stage, auth, _, write in STAGE_TABLE},
}


def plans_for(operation: Operation) -> dict[Stage, Plan]:
    """The plan of every stage for *operation*."""
    return _PLANS[operation]


SideFn = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
"""
One side, called the way wrapt calls a wrapper: ``side(wrapped, instance,
args, kwargs)``. The decorator builds these from ``old``/``new``; the
Migrator from its ``MigratorFn``s.
"""


class FailedResult(Exception):
    """
    Carries a ``Result.fail(...)`` that a Migrator side returned, so that the
    engine treats it like a side that raised.
    """

    def __init__(self, error: str, exception: BaseException | None) -> None:
        super().__init__(error)
        self.error = error
        self.exception = exception


def invoke(origin: Origin, side: SideFn, wrapped: Any, instance: Any,
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> SideRun:
    """Run one side; an exception it raises becomes a failed run (but :data:`PROPAGATES`)."""
    start = perf_counter()
    try:
        value = side(wrapped, instance, args, kwargs)
    except FailedResult as failed:
        return SideRun(origin, False, None, failed.exception, perf_counter() - start, failed.error)
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return SideRun(origin, False, None, exc, perf_counter() - start)
    return SideRun(origin, True, value, None, perf_counter() - start)


async def ainvoke(origin: Origin, side: SideFn, awaits: bool | None, wrapped: Any,
                  instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SideRun:
    """
    :func:`invoke` for async code. *awaits* says whether the side returns an
    awaitable (``None``: look at what it returned, for sides that are not
    ``async def``: a lambda or an object whose ``__call__`` returns a coroutine).
    """
    start = perf_counter()
    try:
        value = side(wrapped, instance, args, kwargs)
        if awaits or (awaits is None and inspect.isawaitable(value)):
            value = await value
    except FailedResult as failed:
        return SideRun(origin, False, None, failed.exception, perf_counter() - start, failed.error)
    except BaseException as exc:
        if propagates_async(exc):
            raise
        return SideRun(origin, False, None, exc, perf_counter() - start)
    return SideRun(origin, True, value, None, perf_counter() - start)


class Comparison(NamedTuple):
    consistent: bool | None
    error: str | None
    paths: list[str] | None


NOT_COMPARED = Comparison(None, None, None)
CONSISTENT = Comparison(True, None, None)


class Engine:
    """
    One migration's settings, resolved once, and the runners of its calls.

    Everything a call needs that does not depend on the call is decided
    here, when the migration is set up: the plans of the operation, the two
    sides, the comparison, the sampling of comparisons.
    """

    __slots__ = (
        "_checks",
        "background",
        "check_ratio",
        "compare",
        "context",
        "execution_order",
        "log_arguments",
        "log_errors",
        "log_values",
        "name",
        "new",
        "new_awaits",
        "offloads",
        "old",
        "old_awaits",
        "operation",
        "operation_value",
        "plans",
        "plans_by_id",
        "provider",
        "quiet_pair",
        "randomized",
        "shadow_timeout",
        "stops",
    )

    def __init__(
        self,
        *,
        name: str,
        operation: Operation,
        old: SideFn,
        new: SideFn,
        compare: Callable[[Any, Any], Any] | None,
        provider: Any,
        execution_order: ExecutionOrder,
        check_ratio: int,
        context: SideFn | None = None,
        old_awaits: bool | None = False,
        new_awaits: bool | None = False,
        shadow: str = "inline",
        shadow_timeout: float | None = None,
        log_values: Callable[[Any], Any] | None = None,
        log_arguments: SideFn | None = None,
        log_errors: Callable[[BaseException], Any] | None = None,
    ) -> None:
        self.name = name
        self.operation = operation
        self.operation_value = operation.value
        self.plans = plans_for(operation)
        self.plans_by_id = {id(stage): plan for stage, plan in self.plans.items()}
        self.old = old
        self.new = new
        self.old_awaits = old_awaits
        self.new_awaits = new_awaits
        self.compare = compare
        self.provider = provider
        self.execution_order = execution_order
        self.check_ratio = check_ratio
        self.context = context
        self.log_values = log_values
        self.log_arguments = log_arguments
        self.log_errors = log_errors
        self._checks = itertools.count()
        reads = operation is Operation.READ
        # A write stops at its first failure; a read whose order is RANDOM
        # draws it per call. Both asked once per call, so decided here.
        self.stops = not reads
        self.randomized = reads and execution_order is ExecutionOrder.RANDOM
        self.background = reads and shadow == "background"
        self.shadow_timeout = shadow_timeout if reads else None
        # Whether a read of both sides leaves the caller's thread (or task)
        # for the non-authoritative side; decided once, asked once per call.
        self.offloads = reads and (
            self.background
            or shadow_timeout is not None
            or execution_order is ExecutionOrder.PARALLEL
        )
        # Whether a call of both sides can take the decorator's quiet path
        # (serial, inline, nothing logged unless a side fails or reads differ).
        self.quiet_pair = not (self.offloads or self.randomized or log_arguments is not None)

    # -- what both runners share -------------------------------------------

    def plan(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any], context: Any = None) -> Plan:
        """
        The plan of this call's stage, as the provider says; the default
        stage's when it cannot say. Never raises an ``Exception``.
        """
        if settings.forced is not None:
            forced = forced_stage(self.name)
            if forced is not None:
                return self.plans_by_id[id(forced)]
        provider = self.provider if self.provider is not None else settings.provider
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        try:
            answer = provider.get_stage(self.name, context)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            answer = stage_failed(provider, self.name, exc)
        # Keyed by identity: Enum's __hash__ is written in Python and would
        # cost more than the rest of this lookup. Anything that is not a Stage
        # member (None, a name, garbage) misses and is interpreted.
        plan = self.plans_by_id.get(id(answer))
        if plan is None:
            plan = self.plan_of(provider, answer)
        return plan

    def plan_of(self, provider: Any, answer: Any) -> Plan:
        """The plan for what *provider* answered when it was not a Stage member."""
        if answer is None:  # no opinion: the default stage
            return self.plans_by_id[id(settings.default_stage)]
        return self.plans_by_id[id(stage_from_answer(provider, self.name, answer))]

    async def aplan(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Plan:
        """:meth:`plan` for async code, for providers that have ``aget_stage``."""
        provider = self.provider if self.provider is not None else settings.provider
        context = None
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        stage = await aresolve_stage(provider, self.name, context)
        return self.plans_by_id[id(stage)]

    def call_context(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        assert self.context is not None
        try:
            return _not_a_coroutine(self.context(wrapped, instance, args, kwargs), "context")
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            stage_failed(_ContextFunction(), self.name, exc)
            return None

    def describe_errors(self) -> Callable[[BaseException], Any] | None:
        """The ``log_errors`` hook of this migration, else the process-wide one."""
        return self.log_errors if self.log_errors is not None else settings.log_errors

    def side(self, origin: Origin) -> SideFn:
        return self.old if origin is OLD else self.new

    def awaits(self, origin: Origin) -> bool | None:
        return self.old_awaits if origin is OLD else self.new_awaits

    def sampled(self) -> bool:
        """Whether this call's two reads are compared (``check_ratio``)."""
        ratio = self.check_ratio
        if ratio == 1:
            return True
        if ratio == 0:
            return False
        return next(self._checks) % ratio == 0

    def first_is_authoritative(self) -> bool:
        """For a read of both sides: whether the authoritative side runs first."""
        if self.execution_order is ExecutionOrder.RANDOM:
            return random.random() < 0.5
        return True

    def compare_runs(self, runs: tuple[SideRun, SideRun]) -> Comparison:
        """Compare two successful reads, old first, never raising."""
        a, b = runs
        old, new = (a, b) if a.origin is OLD else (b, a)
        if not (old.ok and new.ok) or not self.sampled():
            return NOT_COMPARED
        return self.compare_values(old.value, new.value)

    def compare_values(self, old_value: Any, new_value: Any) -> Comparison:
        """``compare(old_value, new_value)`` as a :class:`Comparison`, never raising."""
        compare = self.compare
        try:
            if compare is None:
                verdict: Any = old_value == new_value
            else:
                verdict = compare(old_value, new_value)
            if verdict is not True and verdict is not False:
                verdict = _verdict(verdict)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            return Comparison(None, type_name(exc), None)
        if verdict is None:
            # Truthiness of an arbitrary object (None from a comparator that
            # forgot to return) is no verdict: it counts as not compared.
            return Comparison(None, "TypeError", None)
        if verdict:
            return CONSISTENT
        return Comparison(False, None, _paths(old_value, new_value))

    def emit(
        self,
        log: Any,
        info: bool,
        warning: bool,
        plan: Plan,
        runs: list[SideRun],
        comparison: Comparison = NOT_COMPARED,
        call_id: str | None = None,
        emitted: int = 0,
        **extra: Any,
    ) -> None:
        """
        Emit the events of one call: a result per side that ran, then the op.
        The results of ``runs[:emitted]`` went out already, under *call_id*
        (a background shadow reports its side after the call returned).
        """
        op_wanted = info or (warning and comparison.consistent is False)
        fresh = runs[emitted:] if emitted else runs
        if not op_wanted:
            if not warning:
                return
            for run in fresh:
                if not run.ok:
                    break
            else:
                return
        if call_id is None:
            call_id = _events.new_call_id()
        name, operation, stage = self.name, self.operation_value, plan.stage_value
        authoritative = plan.authoritative
        redact = self.log_values
        for run in fresh:
            if info if run.ok else warning:
                _events.emit_result(
                    log, call_id, name, operation, stage, run, run.origin is authoritative,
                    _UNLOGGED if redact is None or not run.ok else _redacted(redact, run.value),
                    self.describe_errors(),
                )
        if op_wanted:
            _events.emit_op(
                log,
                call_id,
                name,
                operation,
                stage,
                [run.origin for run in runs],
                comparison.consistent,
                comparison.error,
                comparison.paths,
                **extra,
            )

    def order(self, plan: Plan) -> tuple[Origin, ...]:
        """The sides this call runs, in the order it runs them."""
        if plan.other is None:
            return plan.single
        if self.operation is Operation.READ and not self.first_is_authoritative():
            return plan.reversed
        return plan.both

    def finish(self, log: Any, info: bool, warning: bool, plan: Plan, runs: list[SideRun],
               extra: dict[str, Any] | None = None) -> tuple[SideRun, SideRun | None]:
        """Compare the reads, emit the events; the authoritative run and the other."""
        extra = extra or _NO_EXTRA
        if len(runs) == 2:
            first, second = runs
            comparison = (
                self.compare_runs((first, second))
                if self.operation is Operation.READ
                else NOT_COMPARED
            )
            self.emit(log, info, warning, plan, runs, comparison, **extra)
            if first.origin is plan.authoritative:
                return first, second
            return second, first
        self.emit(log, info, warning, plan, runs, **extra)
        return runs[0], None

    def arguments(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The op event's ``arguments`` field, when the migration opted in to logging them."""
        if self.log_arguments is None:
            return None
        try:
            said = self.log_arguments(wrapped, instance, args, kwargs)
            return {"arguments": _not_a_coroutine(said, "log_arguments")}
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            return {"arguments": f"<log_arguments raised {type_name(exc)}>"}

    # -- the runners: the same loop, one calls and the other awaits ----------
    #
    # A write stops at the first failure: the other side is never written
    # after the authoritative one failed, so the two stores cannot diverge
    # because of this call. A read runs every side of its order whatever the
    # first one did.

    def run(self, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> tuple[SideRun, SideRun | None]:
        """
        Carry out one call as *plan* says and emit its events; return the
        authoritative run and the other one (``None`` when it did not run, or
        runs on in the background).
        """
        if self.offloads and plan.other is not None:
            return self.run_offloaded(plan, wrapped, instance, args, kwargs)
        log, info, warning = _events.state()
        stops = self.stops
        runs: list[SideRun] = []
        for origin in plan.both if not self.randomized else self.order(plan):
            run = invoke(origin, self.old if origin is OLD else self.new,
                         wrapped, instance, args, kwargs)
            runs.append(run)
            if stops and not run.ok:
                break
        return self.finish(log, info, warning, plan, runs,
                           None if self.log_arguments is None
                           else self.arguments(wrapped, instance, args, kwargs))

    async def arun(self, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[SideRun, SideRun | None]:
        """:meth:`run` for async code: each side that returns an awaitable is awaited."""
        if self.offloads and plan.other is not None:
            return await self.arun_offloaded(plan, wrapped, instance, args, kwargs)
        log, info, warning = _events.state()
        stops = self.stops
        runs: list[SideRun] = []
        extra = self.arguments(wrapped, instance, args, kwargs)
        for origin in self.order(plan):
            start = perf_counter()
            if stops and runs:  # the second side of a write: it reports itself when cancelled
                run = await self._write_to_completion(
                    log, info, warning, plan, runs, extra, origin, start,
                    ainvoke(origin, self.side(origin), self.awaits(origin),
                            wrapped, instance, args, kwargs),
                )
            else:
                try:
                    run = await ainvoke(origin, self.side(origin), self.awaits(origin),
                                        wrapped, instance, args, kwargs)
                except asyncio.CancelledError as cancelled:
                    self.finish(log, info, warning, plan,
                                [*runs, SideRun(origin, False, None, cancelled,
                                                perf_counter() - start)], extra)
                    raise
            runs.append(run)
            if stops and not run.ok:
                break
        return self.finish(log, info, warning, plan, runs, extra)

    async def _write_to_completion(
        self, log: Any, info: bool, warning: bool, plan: Plan, runs: list[SideRun],
        extra: dict[str, Any] | None, origin: Origin, start: float,
        second: Coroutine[Any, Any, SideRun],
    ) -> SideRun:
        """
        Run the second side of a write so that cancelling the caller cannot
        cut it in half.

        The side runs as a task of its own, shielded from the caller: a
        cancelled caller gets its ``CancelledError`` at once (a hanging store
        must not hold a caller past its own timeout), and the side goes on,
        tracked so that :func:`migratekit.adrain` waits for it. It reports its
        events when it ends; when it is cancelled in turn (``asyncio.run``
        cancels what is left when its main coroutine returns) or its loop
        closes under it, it reports a failed result for that side, so that a
        write left half done is always on record.
        """
        task = asyncio.get_running_loop().create_task(second)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            done_runs = list(runs)

            def report(finished: asyncio.Task[SideRun] | None) -> None:
                if finished is None or finished.cancelled():
                    run = SideRun(origin, False, None, _unfinished(origin, finished),
                                  perf_counter() - start)
                elif finished.exception() is not None:  # KeyboardInterrupt, SystemExit
                    run = SideRun(origin, False, None, finished.exception(),
                                  perf_counter() - start)
                else:
                    run = finished.result()
                self.finish(log, info, warning, plan, [*done_runs, run], extra)

            if task.done():
                report(task)
            else:
                task.add_done_callback(report)
                track(task, on_abandon=lambda: report(None))
            raise

    # -- reads whose other side leaves the caller: PARALLEL, timeouts, background
    #
    # The non-authoritative read runs on the shared pool (threads) or as a task
    # (async). The caller waits for it only as long as the order says:
    # PARALLEL waits for both (max, not sum), a timeout bounds the wait, and a
    # background shadow is not waited for at all. When the pool is full the
    # caller is never blocked: PARALLEL runs the shadow inline afterwards, a
    # timed shadow is recorded as timed out, a background shadow is dropped.

    def run_offloaded(self, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> tuple[SideRun, SideRun | None]:
        """:meth:`run` for a read of both sides that leaves the caller's thread."""
        log, info, warning = _events.state()
        auth = plan.authoritative
        other: Origin = plan.other  # type: ignore[assignment]
        auth_side, other_side = self.side(auth), self.side(other)
        timeout = self.shadow_timeout

        def shadow() -> SideRun:
            return invoke(other, other_side, wrapped, instance, args, kwargs)

        if self.background:
            first = invoke(auth, auth_side, wrapped, instance, args, kwargs)
            call_id = self.emit_first(log, info, warning, plan, first)

            extra = self.arguments(wrapped, instance, args, kwargs) or _NO_EXTRA

            def finish_later() -> None:
                start = perf_counter()
                try:
                    second = shadow()
                except BaseException as exc:
                    # Nobody waits for a background shadow, so a SystemExit or
                    # KeyboardInterrupt raised on its side has no caller to
                    # reach: it is that side's failed result, reported as such.
                    second = SideRun(other, False, None, exc, perf_counter() - start)
                if timeout is not None and second.latency > timeout:
                    second = _timed_out(other, timeout, second.latency)
                self.emit(log, info, warning, plan, [first, second],
                          self.compare_runs((first, second)), call_id, emitted=1, **extra)

            if pool().submit(finish_later) is None:
                self.dropped(log, info, warning, plan, first, call_id, extra)
            return first, None

        runs: list[SideRun] = []
        if self.execution_order is ExecutionOrder.PARALLEL:
            start = perf_counter()
            future = pool().submit(shadow)
            try:
                first = invoke(auth, auth_side, wrapped, instance, args, kwargs)
            except BaseException:
                if future is not None:
                    future.claim()
                raise
            runs = [first, _collect(future, shadow, other, timeout, start)]
        else:
            for origin in self.order(plan):
                if origin is auth:
                    runs.append(invoke(auth, auth_side, wrapped, instance, args, kwargs))
                else:
                    start = perf_counter()
                    future = pool().submit(shadow)
                    runs.append(_collect(future, shadow, other, timeout, start))
        return self.finish(log, info, warning, plan, runs,
                           self.arguments(wrapped, instance, args, kwargs))

    async def arun_offloaded(self, plan: Plan, wrapped: Any, instance: Any,
                             args: tuple[Any, ...],
                             kwargs: dict[str, Any]) -> tuple[SideRun, SideRun | None]:
        """:meth:`run_offloaded` for async code: the other side is an asyncio task."""
        log, info, warning = _events.state()
        auth = plan.authoritative
        other: Origin = plan.other  # type: ignore[assignment]
        auth_side, other_side = self.side(auth), self.side(other)
        auth_awaits, other_awaits = self.awaits(auth), self.awaits(other)
        timeout = self.shadow_timeout

        def shadow() -> Coroutine[Any, Any, SideRun]:
            return ainvoke(other, other_side, other_awaits, wrapped, instance, args, kwargs)

        # A call cancelled while a side runs reports what ran and that side,
        # cancelled: `pending` is the side under way, since `start`.
        runs: list[SideRun] = []
        pending, start = auth, perf_counter()
        try:
            if self.background:
                first = await ainvoke(auth, auth_side, auth_awaits,
                                      wrapped, instance, args, kwargs)
                return self.ashadow_later(log, info, warning, plan, first, shadow,
                                          self.arguments(wrapped, instance, args, kwargs))
            if self.execution_order is ExecutionOrder.PARALLEL:
                task = asyncio.get_running_loop().create_task(shadow())
                try:
                    runs.append(await ainvoke(auth, auth_side, auth_awaits,
                                              wrapped, instance, args, kwargs))
                except BaseException:
                    task.cancel()
                    raise
                pending = other
                runs.append(await _await_shadow(task, other, timeout, start))
            else:
                for origin in self.order(plan):
                    pending, start = origin, perf_counter()
                    runs.append(
                        await ainvoke(auth, auth_side, auth_awaits,
                                      wrapped, instance, args, kwargs)
                        if origin is auth
                        else await _await_shadow(shadow(), other, timeout, start)
                    )
        except asyncio.CancelledError as cancelled:
            runs.append(SideRun(pending, False, None, cancelled, perf_counter() - start))
            self.finish(log, info, warning, plan, runs,
                        self.arguments(wrapped, instance, args, kwargs))
            raise
        return self.finish(log, info, warning, plan, runs,
                           self.arguments(wrapped, instance, args, kwargs))

    def ashadow_later(self, log: Any, info: bool, warning: bool, plan: Plan, first: SideRun,
                      shadow: Callable[[], Coroutine[Any, Any, SideRun]],
                      arguments: dict[str, Any] | None) -> tuple[SideRun, None]:
        """
        Report the authoritative run of an async background read now, and
        leave the other side to a task that reports it when it ends (or is
        cancelled, or its loop closes under it); the call's runs.
        """
        other: Origin = plan.other  # type: ignore[assignment]
        timeout = self.shadow_timeout
        call_id = self.emit_first(log, info, warning, plan, first)
        extra = arguments or _NO_EXTRA

        def report(second: SideRun) -> None:
            self.emit(log, info, warning, plan, [first, second],
                      self.compare_runs((first, second)), call_id, emitted=1, **extra)

        async def finish_later() -> None:
            start = perf_counter()
            try:
                second = await _await_shadow(shadow(), other, timeout, start)
            except asyncio.CancelledError as cancelled:
                report(SideRun(other, False, None, cancelled, perf_counter() - start))
                raise
            report(second)

        def abandoned() -> None:
            report(SideRun(other, False, None, WriteIncompleteError(
                f"the {other.value} side did not finish: its event loop closed first"), 0.0))

        if not spawn(finish_later, pool_queue_size(), abandoned):
            self.dropped(log, info, warning, plan, first, call_id, extra)
        return first, None

    def emit_first(self, log: Any, info: bool, warning: bool, plan: Plan,
                   first: SideRun) -> str | None:
        """Emit the authoritative result of a background call now; the call's id."""
        if not (info or warning):
            return None
        call_id = _events.new_call_id()
        if info if first.ok else warning:
            redact = self.log_values
            _events.emit_result(
                log, call_id, self.name, self.operation_value, plan.stage_value, first, True,
                _UNLOGGED if redact is None or not first.ok else _redacted(redact, first.value),
                self.describe_errors(),
            )
        return call_id

    def dropped(self, log: Any, info: bool, warning: bool, plan: Plan, first: SideRun,
                call_id: str | None, extra: dict[str, Any]) -> None:
        """A background shadow found the queue full: count it, and close the call's events."""
        _events.shadow_dropped(log, warning, self.name)
        self.emit(log, info, warning, plan, [first], NOT_COMPARED, call_id, emitted=1,
                  shadow_dropped=True, **extra)


def _timed_out(origin: Origin, timeout: float, waited: float) -> SideRun:
    error = ShadowTimeoutError(f"the {origin.value} side did not answer within {timeout:g} s")
    return SideRun(origin, False, None, error, waited)


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


def _no_worker(origin: Origin) -> SideRun:
    error = ShadowTimeoutError(
        f"the {origin.value} side was not run: every shadow worker is busy and "
        f"{pool_queue_size()} shadow reads are outstanding"
    )
    return SideRun(origin, False, None, error, 0.0)


def _collect(future: ShadowFuture | None, shadow: Callable[[], SideRun], origin: Origin,
             timeout: float | None, start: float) -> SideRun:
    """
    The other side's run, handed to the shadow pool as *future*, for a
    caller that waits for it.

    The caller never waits behind the pool's queue, where the task could sit
    behind work that waits for this very caller (a shadow that calls another
    migration) or behind shadows that hang: without a timeout, a task that no
    worker has started is taken back and run here, and a task that a worker
    runs is waited for as a serial read would be. With a timeout, the wait
    ends at the deadline; a task still queued then is recorded as not run.
    """
    if future is None:  # the pool is full
        return shadow() if timeout is None else _no_worker(origin)
    if timeout is None:
        if future.claim():
            return shadow()
        run: SideRun = future.result()
        return run
    try:
        run = future.result(max(0.0, timeout - (perf_counter() - start)))
    except FutureTimeoutError:
        if future.claim():
            return _no_worker(origin)
        # A worker goes on with it; its answer, when it comes, is dropped.
        return _timed_out(origin, timeout, perf_counter() - start)
    return run


async def _await_shadow(shadow: Awaitable[SideRun], origin: Origin, timeout: float | None,
                        start: float) -> SideRun:
    """Await the other side's run, at most until *timeout* after *start* (then cancel it)."""
    if timeout is None:
        return await shadow
    try:
        return await asyncio.wait_for(shadow, max(0.0, timeout - (perf_counter() - start)))
    except asyncio.TimeoutError:
        return _timed_out(origin, timeout, perf_counter() - start)


_NO_EXTRA: dict[str, Any] = {}
_UNLOGGED: Any = _events.UNLOGGED


def _redacted(redact: Callable[[Any], Any], value: Any) -> Any:
    """What *redact* lets the events say of *value*; never the value itself when it fails."""
    try:
        return _not_a_coroutine(redact(value), "log_values")
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return f"<log_values raised {type_name(exc)}>"


def _not_a_coroutine(answer: Any, hook: str) -> Any:
    """*answer* of a sync hook; a coroutine (an ``async def`` hook) is closed, and a TypeError."""
    if inspect.iscoroutine(answer):
        answer.close()
        raise TypeError(f"{hook} returned a coroutine; hooks are called, never awaited")
    return answer


class _ContextFunction:
    """Stands for a migration's ``context=`` callable in ``migration.stage_error``."""


def _verdict(answer: Any) -> bool | None:
    """What a comparison's answer that is not ``True`` or ``False`` says; ``None``: nothing."""
    if is_numpy_bool(answer):
        return bool(answer)  # inside the caller's guard: a look-alike may raise
    if inspect.iscoroutine(answer):  # an async comparison: never awaited, so closed
        answer.close()
    return None


def _paths(old: Any, new: Any) -> list[str] | None:
    try:
        return diff_paths(old, new) or None
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return None
