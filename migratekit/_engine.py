"""
The plans of the stages, one migration's engine, and the record of one call.

The plans are made once from the stage table (migratekit._schema): which side
is authoritative, which other side runs for a read and for a write. The
:class:`Engine` holds what a migration decided at decoration time and makes
the decisions of a call that do not wait on anything: which stage, which
order, whether to compare, what two reads' comparison says (migratekit._judge).
A :class:`Call` records one call and emits its events. The runners
(migratekit._runners) carry calls out, sync and async.
"""

from __future__ import annotations

import inspect
import itertools
import random
from collections.abc import Callable, Coroutine
from logging import DEBUG, INFO
from time import perf_counter
from typing import Any, NamedTuple

from migratekit import _events, _summary
from migratekit._compat import PROPAGATES, propagates_async
from migratekit._events import SideRun
from migratekit._judge import NOT_COMPARED, Comparison, Judge, not_a_coroutine
from migratekit._options import Options, SideFn
from migratekit._resolve import CONTEXT, aresolve_stage, resolve_stage, stage_failed
from migratekit._schema import STAGE_TABLE
from migratekit._settings import settings
from migratekit._summary import Row, key_for
from migratekit._text import type_name
from migratekit._types import ExecutionOrder, Operation, Origin, Stage

__all__ = ["Call", "Engine", "FailedResult", "Plan", "ResultCall", "ainvoke", "invoke",
           "plans_for", "with_result"]

OLD, NEW = Origin.OLD, Origin.NEW


class Plan(NamedTuple):
    """What one stage does for one operation."""

    stage: Stage
    authoritative: Origin
    other: Origin | None
    """The non-authoritative side that also runs, or ``None``."""
    both: tuple[Origin, ...]
    """Every side that runs, authoritative first."""
    reversed: tuple[Origin, ...]
    """Every side that runs, authoritative last."""
    stage_value: str
    """``stage.value``, read once: Enum's ``value`` is a Python property."""


def _plan(stage: Stage, authoritative: Origin, other: Origin | None) -> Plan:
    if other is None:
        return Plan(stage, authoritative, None, (authoritative,), (authoritative,), stage.value)
    both = (authoritative, other)
    return Plan(stage, authoritative, other, both, both[::-1], stage.value)


_PLANS: dict[Operation, dict[Stage, Plan]] = {
    Operation.READ: {stage: _plan(stage, auth, read) for stage, auth, read, _ in STAGE_TABLE},
    Operation.WRITE: {stage: _plan(stage, auth, write) for stage, auth, _, write in STAGE_TABLE},
}


def plans_for(operation: Operation) -> dict[Stage, Plan]:
    """The plan of every stage for *operation*."""
    return _PLANS[operation]


# -- running one side ----------------------------------------------------------------------


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
    # Twin: ainvoke.
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
    # Twin: invoke.
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


# -- the engine ------------------------------------------------------------------------------


class Engine(Judge):
    """
    One migration's options, resolved once, and the decisions of its calls.

    Everything a call needs that does not depend on the call is decided
    here, when the migration is set up: the plans of the operation, the two
    sides, the comparison (the :class:`~migratekit._judge.Judge` it extends),
    whether a read of both sides leaves the caller.
    """

    __slots__ = (
        "_shadows",
        "alone",
        "background",
        "call_type",
        "context",
        "execution_order",
        "is_async",
        "keys",
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
        "pass_result",
        "plain_pair",
        "plans",
        "plans_by_id",
        "provider",
        "quiet_pair",
        "randomized",
        "reads",
        "shadow_ratio",
        "shadow_timeout",
    )

    def __init__(self, options: Options) -> None:
        self.name = options.name
        self.operation = operation = options.operation
        self.operation_value = operation.value
        self.plans = plans_for(operation)
        # Keyed by identity: Enum's __hash__ is written in Python and would
        # cost more than the rest of a lookup.
        self.plans_by_id = {id(stage): plan for stage, plan in self.plans.items()}
        # Each stage's plan with the authoritative side alone: a read that
        # shadow_ratio leaves unshadowed.
        self.alone = {id(stage): _plan(stage, plan.authoritative, None)
                      for stage, plan in self.plans.items()}
        # The key of each stage's counts (migratekit._summary), by the stage's id.
        self.keys = {id(stage): key_for(self.name, self.operation_value, stage.value)
                     for stage in self.plans}
        self.old, self.new = options.old, options.new
        self.old_awaits, self.new_awaits = options.old_awaits, options.new_awaits
        self.provider = options.provider
        self.execution_order = order = options.execution_order
        self.context = options.context
        self.log_values = options.log_values
        self.log_arguments = options.log_arguments
        self.log_errors = options.log_errors
        self.is_async = options.is_async
        self._shadows = itertools.count()
        # A write stops at its first failure; a read whose order is RANDOM
        # draws it per call. Both asked once per call, so decided here.
        self.reads = reads = operation is Operation.READ
        # How two reads are compared (migratekit._judge): a write's never are.
        super().__init__(options, reads)
        self.shadow_ratio = options.shadow_ratio if reads else 1
        self.randomized = reads and order is ExecutionOrder.RANDOM
        self.background = reads and options.shadow == "background"
        self.shadow_timeout = options.shadow_timeout if reads else None
        # Whether a read of both sides leaves the caller's thread (or task)
        # for the non-authoritative side.
        self.offloads = reads and (
            self.background
            or self.shadow_timeout is not None
            or order is ExecutionOrder.PARALLEL
        )
        # Whether a call of both sides can take the quiet path (serial,
        # inline, nothing logged unless a side fails or reads differ).
        self.quiet_pair = not (self.offloads or self.randomized
                               or self.log_arguments is not None)
        # A call that passes the first write's result on to the second side.
        self.pass_result = options.pass_result and not reads
        self.call_type: type[Call] = ResultCall if self.pass_result else Call
        # Whether the quiet path runs a call of both sides inline (else
        # through migratekit._quiet's pair, which knows these options).
        self.plain_pair = self.quiet_pair and not (
            self.normalize is not None or self.ignore is not None or self.pass_result)

    # -- the stage ----------------------------------------------------------------------------

    def plan(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any], context: Any = None) -> Plan:
        """The plan of this call's stage (migratekit._resolve). Never raises an ``Exception``."""
        # Twin: aplan.
        provider = self.provider if self.provider is not None else settings.provider
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        return self.plans_by_id[id(resolve_stage(provider, self.name, context))]

    async def aplan(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any], context: Any = None) -> Plan:
        """:meth:`plan` for async code, for providers that have ``aget_stage``."""
        # Twin: plan.
        provider = self.provider if self.provider is not None else settings.provider
        if self.context is not None:
            context = self.call_context(wrapped, instance, args, kwargs)
        return self.plans_by_id[id(await aresolve_stage(provider, self.name, context))]

    def call_context(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        """What ``context=`` says of this call; ``None`` (and an event) when it fails."""
        assert self.context is not None
        try:
            return not_a_coroutine(self.context(wrapped, instance, args, kwargs), "context")
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            stage_failed(CONTEXT, self.name, exc)
            return None

    # -- the sides ----------------------------------------------------------------------------

    def side(self, origin: Origin) -> SideFn:
        return self.old if origin is OLD else self.new

    def awaits(self, origin: Origin) -> bool | None:
        return self.old_awaits if origin is OLD else self.new_awaits

    def order(self, plan: Plan) -> tuple[Origin, ...]:
        """The sides this call runs, in the order it runs them."""
        if self.randomized and plan.other is not None and random.random() < 0.5:
            return plan.reversed
        return plan.both

    def arguments(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> dict[str, Any]:
        """The op event's ``arguments`` field, when the migration opted in to logging them."""
        if self.log_arguments is None:
            return NO_EXTRA
        try:
            said = self.log_arguments(wrapped, instance, args, kwargs)
            return {"arguments": not_a_coroutine(said, "log_arguments")}
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            return {"arguments": f"<log_arguments raised {type_name(exc)}>"}

    def describe_errors(self) -> Callable[[BaseException], Any] | None:
        """The ``log_errors`` hook of this migration, else the process-wide one."""
        return self.log_errors if self.log_errors is not None else settings.log_errors

    # -- sampling -----------------------------------------------------------------------------

    def shadowed(self) -> bool:
        """Whether this read runs its non-authoritative side (``shadow_ratio``)."""
        ratio = self.shadow_ratio
        return ratio == 1 or next(self._shadows) % ratio == 0

    def sample(self, plan: Plan) -> tuple[Plan, bool]:
        """*plan*, or its authoritative side alone when ``shadow_ratio`` skips this shadow."""
        if plan.other is None or self.shadowed():
            return plan, False
        return self.alone[id(plan.stage)], True

# -- one call ----------------------------------------------------------------------------------

NO_EXTRA: dict[str, Any] = {}


def reporting(debug: bool, info: bool) -> tuple[bool, int, bool]:
    """
    For a logger that emits *debug* and *info* events: whether a call that
    went well emits its own events, at which level, and whether calls are
    counted for the summaries (or a metrics collector that reads them).
    """
    mode = settings.call_events
    level = INFO if mode == "info" else DEBUG
    reported = mode != "off" and (info if mode == "info" else debug)
    counted = (info and settings.summary_interval is not None) or settings.readers > 0
    return reported, level, counted


class Call:
    """
    One call of a migration on its way through a runner: what it was called
    with, where its events go, the sides that have run, and which of them
    were reported already (a background read reports its authoritative side
    at once, and the other when it ends).
    """

    __slots__ = ("args", "call_id", "counted", "emitted", "engine", "extra", "instance",
                 "kwargs", "level", "log", "plan", "reported", "runs", "warning", "wrapped")

    def __init__(self, engine: Engine, plan: Plan, wrapped: Any, instance: Any,
                 args: tuple[Any, ...], kwargs: dict[str, Any],
                 runs: list[SideRun] | None = None) -> None:
        self.engine, self.plan = engine, plan
        self.wrapped, self.instance, self.args, self.kwargs = wrapped, instance, args, kwargs
        self.log, debug, info, self.warning = _events.state()
        self.reported, self.level, self.counted = reporting(debug, info)
        self.runs = [] if runs is None else runs
        self.extra: dict[str, Any] | None = None  # the arguments, asked for when needed
        self.call_id: str | None = None
        self.emitted = 0

    def side(self, origin: Origin) -> SideRun:
        """Run the side *origin*."""
        # Twin: aside.
        return invoke(origin, self.engine.side(origin),
                      self.wrapped, self.instance, self.args, self.kwargs)

    def aside(self, origin: Origin) -> Coroutine[Any, Any, SideRun]:
        """:meth:`side` for async code: the coroutine that runs the side *origin*."""
        # Twin: side.
        engine = self.engine
        return ainvoke(origin, engine.side(origin), engine.awaits(origin),
                       self.wrapped, self.instance, self.args, self.kwargs)

    def arguments(self) -> dict[str, Any]:
        """The call's ``arguments`` field (see :meth:`Engine.arguments`), asked for once."""
        if self.extra is None:
            self.extra = self.engine.arguments(self.wrapped, self.instance, self.args,
                                               self.kwargs)
        return self.extra

    def stopped(self) -> bool:
        """Whether the call stops here: a write whose last side failed writes no more."""
        return not (self.engine.reads or self.runs[-1].ok)

    def finish(self) -> tuple[SideRun, SideRun | None]:
        """Compare the reads, emit the events; the authoritative run and the other."""
        runs = self.runs
        if len(runs) == 1:
            self.emit()
            return runs[0], None
        engine = self.engine
        self.emit(engine.compare_runs(runs) if engine.reads else NOT_COMPARED)
        first, second = runs
        if first.origin is self.plan.authoritative:
            return first, second
        return second, first

    def row(self) -> Row:
        """This thread's counts for the call's migration, operation and stage."""
        return _summary.row(self.engine.keys[id(self.plan.stage)])

    def count(self, fresh: list[SideRun], comparison: Comparison) -> None:
        """Count the runs not counted yet, and the comparison (for the summaries)."""
        row = self.row()
        for run in fresh:
            row.result(0 if run.origin is OLD else 1, run.ok, run.latency,
                       None if run.ok else type_name(run.exception))
        if comparison is not NOT_COMPARED:
            row.compared(*comparison)

    def emit(self, comparison: Comparison = NOT_COMPARED, **more: Any) -> None:
        """
        Count the call, and emit its events: a result per side that ran and
        was not reported yet, then the op; *more* are fields of the op event.
        A call that went well is reported at the level ``call_events`` says;
        one that did not is a warning, as many a second as the migration may.
        """
        fresh = self.runs[self.emitted:] if self.emitted else self.runs
        if self.counted:
            self.count(fresh, comparison)
        warns = self.warning and (comparison.consistent is False
                                  or any(not run.ok for run in fresh))
        if warns and not _events.warning_allowed(self.engine.name,
                                                 settings.max_warnings_per_second):
            self.row().suppressed += 1
            warns = False
        reported = self.reported
        if not (reported or warns):
            return
        if self.call_id is None:
            self.call_id = _events.new_call_id()
        for run in fresh:
            if reported if run.ok else warns:
                self.emit_result(run)
        if reported or (warns and comparison.consistent is False):
            engine, plan = self.engine, self.plan
            _events.emit_op(self.log, self.call_id, engine.name, engine.operation_value,
                            plan.stage_value, [run.origin for run in self.runs],
                            comparison.consistent, comparison.error, comparison.paths,
                            self.level, comparison.types, comparison.ignored,
                            **self.arguments(), **more)

    def emit_result(self, run: SideRun) -> None:
        engine = self.engine
        redact = engine.log_values
        _events.emit_result(
            self.log, self.call_id, engine.name, engine.operation_value,  # type: ignore[arg-type]
            self.plan.stage_value, run, run.origin is self.plan.authoritative,
            _events.UNLOGGED if redact is None or not run.ok else _redacted(redact, run.value),
            engine.describe_errors(), self.level,
        )

    def emit_first(self) -> None:
        """Report the authoritative run of a background read now; the rest comes later."""
        self.arguments()  # said of the arguments as they are now, not when the shadow ends
        first = self.runs[0]
        if self.counted:
            self.count([first], NOT_COMPARED)
        if self.reported or self.warning:
            self.call_id = _events.new_call_id()
            if self.reported if first.ok else self.warning:
                self.emit_result(first)
        self.emitted = 1

    def skipped(self) -> None:
        """``shadow_ratio`` left this read unshadowed: count it."""
        if self.counted:
            self.row().skipped += 1

    def dropped(self) -> None:
        """A background shadow found the queue full: count it, and close the call's events."""
        _events.shadow_dropped(self.log, self.warning, self.engine.name)
        self.row().dropped += 1
        self.emit(NOT_COMPARED, shadow_dropped=True)


class ResultCall(Call):
    """
    A call of a write with ``pass_result``: the second side is called with
    the call's arguments and ``result=`` what the first side returned (a
    write's second side runs only when the first succeeded).
    """

    __slots__ = ()

    def side(self, origin: Origin) -> SideRun:
        # Twin: aside.
        return invoke(origin, self.engine.side(origin), self.wrapped, self.instance,
                      self.args, self.given())

    def aside(self, origin: Origin) -> Coroutine[Any, Any, SideRun]:
        # Twin: side.
        engine = self.engine
        return ainvoke(origin, engine.side(origin), engine.awaits(origin),
                       self.wrapped, self.instance, self.args, self.given())

    def given(self) -> dict[str, Any]:
        """The keyword arguments of the side to run now: ``result=`` for the second."""
        if not self.runs:
            return self.kwargs
        return with_result(self.kwargs, self.runs[0].value)


def with_result(kwargs: dict[str, Any], result: Any) -> dict[str, Any]:
    """*kwargs* and ``result=`` *result*: what a write's second side gets with ``pass_result``."""
    return {**kwargs, "result": result}


def _redacted(redact: Callable[[Any], Any], value: Any) -> Any:
    """What *redact* lets the events say of *value*; never the value itself when it fails."""
    try:
        return not_a_coroutine(redact(value), "log_values")
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return f"<log_values raised {type_name(exc)}>"
