"""
The function wrapt calls for each call of a migration, built once per
migration: for async code a call of :func:`~migratekit._runners.arun`; for
sync code the quiet path, which runs the sides with no bookkeeping but the
counts while nothing needs reporting, and hands over to
:func:`~migratekit._runners.run` when something does. A read with
``normalize`` or ``ignore``, or a write with ``pass_result``, runs its calls of
both sides through a pair of its own (:func:`_paired`), chosen once: the
inline code, and the migrations without them, pay nothing for those options.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import Any

from migratekit import _events, _summary
from migratekit._compat import PROPAGATES
from migratekit._engine import OLD, Call, Engine, Plan, invoke, reporting, with_result
from migratekit._events import SideRun, logger_attribute
from migratekit._judge import CONSISTENT, NOT_COMPARED
from migratekit._options import SideFn, call_wrapped
from migratekit._resolve import stage_failed, stage_from_answer
from migratekit._runners import arun, run
from migratekit._settings import settings
from migratekit._summary import EXACT_LATENCIES, LATENCY_STRIDE
from migratekit._text import type_name
from migratekit.providers._env import EnvStageProvider, stage_of_raw

__all__ = ["call_for"]


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

_Step = tuple[Plan, SideFn | None, SideFn | None, tuple[int, int, int]]
"""
One stage of one migration, as the quiet path runs it: the plan, the
authoritative side (``None``: the decorated function itself), the other side
(``None``: the stage runs one), and what only some calls need: the index of
the authoritative side (0 old, 1 new), the key of the stage's counts
(migratekit._summary), and the stage's id, to find its step with the
authoritative side alone (``shadow_ratio``).
"""


def _steps(engine: Engine, plans: dict[int, Plan]) -> dict[int, _Step]:
    """The quiet path's step of each stage in *plans*, by the stage's id."""
    steps = {}
    for stage_id, plan in plans.items():
        first = engine.side(plan.authoritative)
        second = None if plan.other is None else engine.side(plan.other)
        steps[stage_id] = (plan, None if first is call_wrapped else first, second,
                           (0 if plan.authoritative is OLD else 1, engine.keys[stage_id],
                            stage_id))
    return steps


_Asker = tuple[Callable[[], Any], Any, "dict[Any, Any] | None", Any, Any]
"""
How the quiet path asks a provider for the stage: ``provider.get_stage(name,
None)`` or the provider's cheaper equivalent; and for the environment
provider, its :class:`~migratekit.providers._env.RawLookup` (``os.environ``,
its store, the two encoded names), else four ``None``.
"""

_NO_LOOKUP = (None, None, None, None)

_STEPS_LEARNED_LIMIT = 64
_NOT_FIXED: Any = object()
"""A bind no logger has: the logger is asked again on the next call."""


def _asker(provider: Any, name: str) -> _Asker:
    make = getattr(provider, "stage_getter", None)
    get = make(name) if make is not None else partial(provider.get_stage, name, None)
    if type(provider) is EnvStageProvider:
        lookup = provider.raw_lookup(name)
        if lookup is not None:
            return (get, *lookup)
    return (get, None, None, None, None)


class _Raising:
    """The getter of a provider whose getter could not be made: it raises what that raised."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __call__(self) -> Any:
        raise self.exc


def _quiet_call(engine: Engine) -> SideFn:  # noqa: PLR0915 - see call() below
    """
    The sync call. When a call that goes well is reported (``call_events``
    at a level the logger emits), :func:`run` does it all. When it is not
    (production: ``debug`` call events, a logger at ``info`` or above), a
    call whose sides succeed and whose reads agree emits nothing, so the
    sides run here with no bookkeeping but the counts, and a
    :class:`~migratekit._engine.Call` is made only when something must be
    reported: a side that failed, reads that differ.
    tests/test_quiet_path.py checks that both give the same outcome, the same
    warnings and the same counts, stage by stage. What does not change
    between calls is a local of this closure.
    """
    name, own_provider, simple = engine.name, engine.provider, engine.context is None
    plan_for, stops = engine.plan, not engine.reads
    plain_pair, every_call, compare = engine.plain_pair, engine.check_ratio == 1, engine.compare
    paired = _paired(engine)
    sampled_shadows = engine.shadow_ratio != 1
    here = _summary.here  # this thread's counts are here.rows (migratekit._summary)
    steps, alone = _steps(engine, engine.plans_by_id), _steps(engine, engine.alone)
    # The stages of the raw values of the environment seen so far: a value
    # seen before is one dictionary lookup from its step.
    learned: dict[Any, _Step] = {}
    # What the call worked out from the settings of one generation (see
    # migratekit._settings) and from the logger: the generation; structlog's
    # finalized bind (or a bind no logger has, to ask the logger again on the
    # next call); whether the logger emits warnings, whether a call that went
    # well is reported, and whether calls are counted; whether the engine is
    # asked (a forced stage, or context=); the provider, and how to ask it
    # (_Asker); the default stage's step. One tuple, so that threads never see
    # half of a change. In the order call() unpacks it: the environment's
    # lookup before the provider, which only a value not seen before needs.
    seen: tuple[Any, ...] = (None, _NOT_FIXED, *(None,) * 9, (None, None))

    def refresh(known: tuple[Any, ...]) -> tuple[Any, ...]:
        """Work out again what the call needs: the settings or the logger changed."""
        nonlocal seen
        # Both read before what they stand for: a change in between is seen next time.
        generation, bind = settings.generation, logger_attribute("bind")
        _, debug, info, warning = _events.state()
        reported, _, counted = reporting(debug, info)
        if counted and settings.summary_interval is not None:
            _summary.start(settings.summary_interval)
        if bind is None or _events.fixed_state[0] is not bind:  # levels that may change
            bind = _NOT_FIXED
        asking = known[5:] if known[0] is generation else ask()
        updated = (generation, bind, warning, reported, counted, *asking)
        if type(asking[-1][1]) is not _Raising:  # a getter not made is tried again
            seen = updated
        return updated

    def ask() -> tuple[Any, ...]:
        """
        Whether the engine is asked; the environment's lookup (or four
        ``None``); the default step; the provider and its getter.
        """
        provider = settings.provider if own_provider is None else own_provider
        asks_engine = not simple or settings.forced is not None
        default_step = steps[id(settings.default_stage)]
        try:
            get, *lookup = (None, *_NO_LOOKUP) if asks_engine else _asker(provider, name)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            # This call reports the failure as the stage's, through answer_of.
            get, lookup = _Raising(exc), list(_NO_LOOKUP)
        return (asks_engine, *lookup, default_step, (provider, get))

    def step_of(provider: Any, answer: Any) -> _Step:
        """The step for what *provider* answered: a Stage member, or anything else."""
        found = steps.get(id(answer))
        if found is not None:
            return found
        if answer is None:  # no opinion: the default stage
            return steps[id(settings.default_stage)]
        return steps[id(stage_from_answer(provider, name, answer))]

    def slow_step(asking: tuple[Any, Callable[[], Any]], raw: Any) -> _Step:
        """Ask the provider; when it read a value it will map again, remember that value."""
        step = step_of(asking[0], answer_of(*asking))
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
        # The logger: while structlog keeps the same finalized logger, its
        # levels stay what they were (a logger that is not finalized says each time).
        known = seen
        (generation, bind, warning, reported, counted, asks_engine, environ, store, variable,
         fallback, default_step, asking) = known
        if generation is not settings.generation or logger_attribute("bind") is not bind:
            (_, _, warning, reported, counted, asks_engine, environ, store, variable,
             fallback, default_step, asking) = refresh(known)
        if asks_engine:
            step = steps[id(plan_for(wrapped, instance, args, kwargs).stage)]
        elif store is not None and os.environ is environ:
            # EnvStageProvider.stage_getter, inlined: change both together.
            raw = store.get(variable)
            if raw is None:
                raw = store.get(fallback)
            # No variable: the default stage.
            step = default_step if raw is None else learned.get(raw) or slow_step(asking, raw)
        else:
            step = step_of(asking[0], answer_of(*asking))
        plan, first, second, more = step
        if reported or (second is not None and not plain_pair):
            if reported or paired is None:
                auth = run(engine, plan, wrapped, instance, args, kwargs)[0]
                if auth.ok:
                    return auth.value
                raise auth.exception  # type: ignore[misc]  # the side's own exception object
            if not sampled_shadows or engine.shadowed():
                return paired(plan, first, second, more, wrapped, instance, args, kwargs,
                              warning, counted)
            plan, first, second, more = alone[more[2]]
            if counted:
                _summary.row(more[1]).skipped += 1
        elif sampled_shadows and second is not None and not engine.shadowed():
            plan, first, second, more = alone[more[2]]
            if counted:
                _summary.row(more[1]).skipped += 1

        start = perf_counter()
        if second is None:
            try:
                value = wrapped(*args, **kwargs) if first is None else first(
                    wrapped, instance, args, kwargs)
            except BaseException as exc:
                if (warning or counted) and not isinstance(exc, PROPAGATES):
                    Call(engine, plan, wrapped, instance, args, kwargs, [
                        SideRun(plan.authoritative, False, None, exc, perf_counter() - start),
                    ]).emit()
                raise
            if counted:
                # Row.result for a success, inlined: change both together.
                seconds = perf_counter() - start
                side = more[0]
                try:
                    row = here.rows[more[1]]  # this thread's row, when it has one
                except (AttributeError, KeyError):
                    row = _summary.row(more[1])
                n = row.ok[side] = row.ok[side] + 1
                if n <= EXACT_LATENCIES:
                    row.timed(side, seconds)
                elif not n % LATENCY_STRIDE:
                    row.timed(side, seconds, LATENCY_STRIDE)
            return value
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
        # Uncounted, the clock is read again only for a call to report. Such a
        # call's two latencies reach only the migration.result events of sides
        # that went well, which the quiet path never emits (it runs only while
        # they are not reported): no one sees the comparison in them.
        end = perf_counter() if counted else 0.0
        old_value, new_value = (value, other_value) if more[0] == 0 else (other_value, value)
        compared = not stops and (every_call or engine.sampled())
        if compared:
            try:
                verdict = (old_value == new_value if compare is None
                           else compare(old_value, new_value))
            except BaseException as exc:
                comparison = engine.compare_failed(exc)
            else:
                if verdict is True and not counted:
                    return value
                comparison = (CONSISTENT if verdict is True
                              else engine.judge(verdict, old_value, new_value))
            if comparison is not CONSISTENT:
                if (comparison.consistent is False and warning) or counted:
                    Call(engine, plan, wrapped, instance, args, kwargs, [
                        SideRun(plan.authoritative, True, value, None, middle - start),
                        SideRun(plan.other, True, other_value, None,  # type: ignore[arg-type]
                                (end if counted else perf_counter()) - middle),
                    ]).emit(comparison)
                return value
        if counted:
            # Row.result for two successes, and Row.compared, inlined: change them together.
            mine, key, _ = more  # mine: the authoritative side, 0 old or 1 new
            try:
                row = here.rows[key]  # this thread's row, when it has one
            except (AttributeError, KeyError):
                row = _summary.row(key)
            ok, theirs = row.ok, 1 - mine
            n = ok[mine] = ok[mine] + 1
            # Each side samples on its own count, as Row.result does: the two
            # counts part when a side fails, and a side's buckets must add up
            # to its own results (within a stride).
            if n <= EXACT_LATENCIES:
                row.timed(mine, middle - start)
            elif not n % LATENCY_STRIDE:
                row.timed(mine, middle - start, LATENCY_STRIDE)
            n = ok[theirs] = ok[theirs] + 1
            if n <= EXACT_LATENCIES:
                row.timed(theirs, end - middle)
            elif not n % LATENCY_STRIDE:
                row.timed(theirs, end - middle, LATENCY_STRIDE)
            if compared:
                row.checks += 1
                if type(old_value) is not type(new_value):
                    row.mistyped((type_name(old_value), type_name(new_value)))
        return value

    return call


_Pair = Callable[[Plan, "SideFn | None", "SideFn | None", tuple[int, int, int], Any, Any,
                  tuple[Any, ...], dict[str, Any], bool, bool], Any]
"""A call of both sides, given a step's parts: (plan, first, second, more), then the call's
(wrapped, instance, args, kwargs), then whether warnings are emitted and calls counted."""


def _paired(engine: Engine) -> _Pair | None:
    """
    How the quiet path runs a call of both sides (serial, inline) of a
    migration whose reads are judged with ``normalize`` or ``ignore``, or
    whose write passes its result on (``pass_result``); ``None`` for any
    other migration, whose calls the quiet path runs inline.

    The pair takes a step's parts (see :data:`_Step`), the call, and whether
    warnings are emitted and calls counted; it runs the sides as the full
    runner does (:func:`~migratekit._engine.invoke`), lets the engine judge
    the reads, and makes a :class:`~migratekit._engine.Call` only when
    something is counted or must be reported. tests/test_quiet_path.py checks
    it against the full runner with each option.
    """
    if engine.plain_pair or not engine.quiet_pair:
        return None
    stops, passes = not engine.reads, engine.pass_result

    def pair(plan: Plan, first: SideFn | None, second: Any, more: tuple[int, int, int],
             wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             warning: bool, counted: bool) -> Any:
        other: Any = plan.other
        auth = invoke(plan.authoritative, call_wrapped if first is None else first,
                      wrapped, instance, args, kwargs)
        if not auth.ok:
            # A write never writes the other side after a failure; a read
            # runs it anyway: its result is still news.
            Call(engine, plan, wrapped, instance, args, kwargs, [auth] if stops else [
                auth, invoke(other, second, wrapped, instance, args, kwargs),
            ]).finish()
            raise auth.exception  # type: ignore[misc]  # the side's own exception object
        second_run = invoke(other, second, wrapped, instance, args,
                            with_result(kwargs, auth.value) if passes else kwargs)
        comparison = NOT_COMPARED
        if not stops and second_run.ok and engine.sampled():
            old, new = (auth, second_run) if more[0] == 0 else (second_run, auth)
            comparison = engine.compare_values(old.value, new.value)
        if counted or (warning and (not second_run.ok or comparison.consistent is False)):
            Call(engine, plan, wrapped, instance, args, kwargs,
                 [auth, second_run]).emit(comparison)
        return auth.value

    return pair
