"""
The stage table, and the engine that carries out one call of a migration.

The table below is DESIGN.md's, as data. Everything else here reads it: which
side is authoritative, which other side runs for a read and for a write. The
sync and async runners differ only where one calls and the other awaits; the
decisions they share (what to run next, whether to compare, which events to
emit) live in plain functions they both call.
"""

from __future__ import annotations

import inspect
import itertools
import random
from collections.abc import Callable
from time import perf_counter
from typing import Any, NamedTuple

from migratekit import _events
from migratekit._config import aresolve_stage, resolve_stage, settings, stage_failed
from migratekit._diff import diff_paths
from migratekit._events import SideRun
from migratekit._types import ExecutionOrder, Operation, Origin, Stage

__all__ = ["Engine", "Plan", "SideFn", "plans_for"]

OLD, NEW = Origin.OLD, Origin.NEW

#   stage              authoritative  other side read  other side written
_TABLE = (
    (Stage.OFF,        OLD,           None,            None),
    (Stage.DUALWRITE,  OLD,           None,            NEW),
    (Stage.SHADOW,     OLD,           NEW,             NEW),
    (Stage.LIVE,       NEW,           OLD,             OLD),
    (Stage.RAMPDOWN,   NEW,           None,            OLD),
    (Stage.COMPLETE,   NEW,           None,            None),
)  # fmt: skip


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


def _plan(stage: Stage, authoritative: Origin, other: Origin | None) -> Plan:
    single = (authoritative,)
    if other is None:
        return Plan(stage, authoritative, None, single, single, single)
    both = (authoritative, other)
    return Plan(stage, authoritative, other, single, both, both[::-1])


_PLANS: dict[Operation, dict[Stage, Plan]] = {
    Operation.READ: {stage: _plan(stage, auth, read) for stage, auth, read, _ in _TABLE},
    Operation.WRITE: {stage: _plan(stage, auth, write) for stage, auth, _, write in _TABLE},
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
    """Run one side; an ``Exception`` it raises becomes a failed run."""
    start = perf_counter()
    try:
        value = side(wrapped, instance, args, kwargs)
    except FailedResult as failed:
        return SideRun(origin, False, None, failed.exception, perf_counter() - start, failed.error)
    except Exception as exc:
        return SideRun(origin, False, None, exc, perf_counter() - start)
    return SideRun(origin, True, value, None, perf_counter() - start)


async def ainvoke(origin: Origin, side: SideFn, awaits: bool | None, wrapped: Any,
                  instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SideRun:
    """
    :func:`invoke` for async code. *awaits* says whether the side returns an
    awaitable (``None``: look at what it returned, for sides named by string).
    """
    start = perf_counter()
    try:
        value = side(wrapped, instance, args, kwargs)
        if awaits or (awaits is None and inspect.isawaitable(value)):
            value = await value
    except FailedResult as failed:
        return SideRun(origin, False, None, failed.exception, perf_counter() - start, failed.error)
    except Exception as exc:
        return SideRun(origin, False, None, exc, perf_counter() - start)
    return SideRun(origin, True, value, None, perf_counter() - start)


class Comparison(NamedTuple):
    consistent: bool | None
    error: str | None
    paths: list[str] | None


NOT_COMPARED = Comparison(None, None, None)


class Engine:
    """
    One migration's settings, resolved once, and the runners of its calls.

    Everything a call needs that does not depend on the call is decided
    here, when the migration is set up: the plans of the operation, the two
    sides, the comparison, the sampling of comparisons.
    """

    __slots__ = (
        "_checks",
        "check_ratio",
        "compare",
        "context",
        "execution_order",
        "name",
        "new",
        "new_awaits",
        "old",
        "old_awaits",
        "operation",
        "operation_value",
        "plans",
        "provider",
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
    ) -> None:
        self.name = name
        self.operation = operation
        self.operation_value = operation.value
        self.plans = plans_for(operation)
        self.old = old
        self.new = new
        self.old_awaits = old_awaits
        self.new_awaits = new_awaits
        self.compare = compare
        self.provider = provider
        self.execution_order = execution_order
        self.check_ratio = check_ratio
        self.context = context
        self._checks = itertools.count()

    # -- what both runners share -------------------------------------------

    def stage(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any], context: Any = None) -> Stage:
        """The stage of this call, as the provider says; the default when it cannot."""
        provider = self.provider or settings.provider
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        return resolve_stage(provider, self.name, context)

    async def astage(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Stage:
        """:meth:`stage` for async code, for providers that have ``aget_stage``."""
        provider = self.provider or settings.provider
        context = None
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        return await aresolve_stage(provider, self.name, context)

    def call_context(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        assert self.context is not None
        try:
            return self.context(wrapped, instance, args, kwargs)
        except Exception as exc:
            stage_failed(_ContextFunction(), self.name, exc)
            return None

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
        compare = self.compare
        try:
            if compare is None:
                verdict: Any = old.value == new.value
            else:
                verdict = compare(old.value, new.value)
        except Exception as exc:
            return Comparison(None, type(exc).__name__, None)
        if verdict is True or verdict is False:
            pass
        elif type(verdict).__name__ == "bool_":  # numpy.bool_, without importing numpy
            verdict = bool(verdict)
        else:
            # Truthiness of an arbitrary object (None from a comparator that
            # forgot to return) is no verdict: it counts as not compared.
            return Comparison(None, "TypeError", None)
        if verdict:
            return Comparison(True, None, None)
        return Comparison(False, None, _paths(old.value, new.value))

    def emit(
        self,
        log: Any,
        info: bool,
        warning: bool,
        plan: Plan,
        runs: list[SideRun],
        comparison: Comparison = NOT_COMPARED,
        call_id: str | None = None,
        **extra: Any,
    ) -> None:
        """Emit the events of one call: a result per side that ran, then the op."""
        op_wanted = info or (warning and comparison.consistent is False)
        if not op_wanted and not (warning and any(not run.ok for run in runs)):
            return
        if call_id is None:
            call_id = _events.new_call_id()
        name, operation, stage = self.name, self.operation_value, plan.stage.value
        authoritative = plan.authoritative
        for run in runs:
            if info if run.ok else warning:
                _events.emit_result(
                    log, call_id, name, operation, stage, run, run.origin is authoritative
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

    def finish(self, log: Any, info: bool, warning: bool, plan: Plan,
               runs: list[SideRun]) -> tuple[SideRun, SideRun | None]:
        """Compare the reads, emit the events; the authoritative run and the other."""
        if len(runs) == 2:
            first, second = runs
            comparison = (
                self.compare_runs((first, second))
                if self.operation is Operation.READ
                else NOT_COMPARED
            )
            self.emit(log, info, warning, plan, runs, comparison)
            if first.origin is plan.authoritative:
                return first, second
            return second, first
        self.emit(log, info, warning, plan, runs)
        return runs[0], None

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
        authoritative run and the other one (``None`` when it did not run).
        """
        log = _events.current()
        info, warning = _events.levels(log)
        stops = self.operation is Operation.WRITE
        runs: list[SideRun] = []
        for origin in self.order(plan):
            run = invoke(origin, self.side(origin), wrapped, instance, args, kwargs)
            runs.append(run)
            if stops and not run.ok:
                break
        return self.finish(log, info, warning, plan, runs)

    async def arun(self, plan: Plan, wrapped: Any, instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[SideRun, SideRun | None]:
        """:meth:`run` for async code: each side that returns an awaitable is awaited."""
        log = _events.current()
        info, warning = _events.levels(log)
        stops = self.operation is Operation.WRITE
        runs: list[SideRun] = []
        for origin in self.order(plan):
            run = await ainvoke(origin, self.side(origin), self.awaits(origin),
                                wrapped, instance, args, kwargs)
            runs.append(run)
            if stops and not run.ok:
                break
        return self.finish(log, info, warning, plan, runs)


class _ContextFunction:
    """Stands for a migration's ``context=`` callable in ``migration.stage_error``."""


def _paths(old: Any, new: Any) -> list[str] | None:
    try:
        return diff_paths(old, new) or None
    except Exception:
        return None
