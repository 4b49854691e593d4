"""
The adversarial review, as a standing part of the suite.

Hostile objects (tests/hostile.py) are put in every place where migratekit
takes something from its user: what a side returns or raises, what a
comparison answers or raises, what a stage provider answers or raises (sync
and async), what the ``context=``, ``log_values`` and ``log_arguments`` hooks
return or raise, and the structlog configuration the events go through. They
go in through the public API only: ``@migration`` (plain functions, methods,
methods named by string; sync, and async under ``asyncio.run``) and
``Migrator``, over every stage, both operations, every execution order and
inline and background shadows.

The invariant is docs/design.md's: the caller sees exactly the authoritative
outcome (the very value object, or the very exception object), nothing hangs,
no other exception escapes, a write's second side runs iff the stage writes
both and the first side succeeded, and a call emits exactly one
``migration.op`` event. Each call runs in a thread joined with a timeout, so
a hang fails the example with the stack of the hung thread instead of
hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
import logging
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import migratekit
from migratekit import (
    ExecutionOrder,
    MigrationConfig,
    Migrator,
    Operation,
    Origin,
    Result,
    Stage,
    _compat,
    _events,
    configure,
    migration,
)
from migratekit.providers import StaticStageProvider
from migratekit.testing import capture_events
from tests import helpers, hostile
from tests.helpers import NEW, OLD, READ, WRITE, authoritative, planned
from tests.hostile import Recipe, safe_label

WATCHDOG = 10.0
"""Seconds one call may take before the example fails as hung."""

DRAIN = 5.0
INTERRUPTS = (KeyboardInterrupt, SystemExit, asyncio.CancelledError)
HOSTILE = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def describe(exc: BaseException) -> str:
    """An exception's class, message and the line it was raised from, never raising."""
    try:
        name = type(exc).__qualname__
    except Exception:
        name = "<an exception whose class has no name>"
    try:
        message = str(exc)[:120]
    except Exception:
        message = "<str() raises>"
    try:  # the innermost line of migratekit it went through
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if "/migratekit/" in f.filename]
        frame = frames[-1]
        where = f" from {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} ({frame.line})"
    except Exception:
        where = ""
    return f"{name}({message!r}){where}"


# -- the shape of one call: stage, operation, binding, mode, order, shadow ------------------


@dataclasses.dataclass(frozen=True)
class Shape:
    """Where a call goes in: everything but the hostile objects."""

    stage: Stage
    operation: Operation
    binding: str  # "function", "method", "named" (sides named by string), "migrator"
    mode: str  # "sync" or "async"
    order: ExecutionOrder
    shadow: str  # "inline" or "background"

    @property
    def name(self) -> str:
        return f"hostile.{self.operation.value}"

    @property
    def background(self) -> bool:
        return self.operation is READ and self.shadow == "background"


BINDINGS = ("function", "method", "named", "migrator")


@st.composite
def shapes(draw: st.DrawFn, *, reads_only: bool = False, decorator_only: bool = False) -> Shape:
    """Any stage, operation, binding, mode, order and shadow the API accepts together."""
    operation = READ if reads_only else draw(st.sampled_from([READ, WRITE]))
    binding = draw(st.sampled_from(BINDINGS[:3] if decorator_only else BINDINGS))
    mode = "sync" if binding == "migrator" else draw(st.sampled_from(["sync", "async"]))
    order, shadow = ExecutionOrder.SERIAL, "inline"
    if operation is READ:
        order = draw(st.sampled_from(list(ExecutionOrder)))
        if binding != "migrator":
            shadow = draw(st.sampled_from(["inline", "background"]))
    return Shape(draw(st.sampled_from(list(Stage))), operation, binding, mode, order, shadow)


# -- what a side (or a hook, or a comparison) does ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Does:
    """Return what *recipe* makes, or raise it."""

    kind: str  # "value" or "raise"
    recipe: Recipe

    def __repr__(self) -> str:
        return f"{'returns' if self.kind == 'value' else 'raises'} {self.recipe!r}"

    def make(self) -> Act:
        return Act(self.kind, self.recipe())


@dataclasses.dataclass
class Act:
    """A made :class:`Does`: the very object returned or raised, for identity checks."""

    kind: str
    obj: Any

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "raise":
            raise self.obj
        return self.obj


def does(*, for_async: bool = False) -> st.SearchStrategy[Does]:
    """Return a hostile value or raise a hostile exception."""
    return st.one_of(
        hostile.value_recipes().map(lambda recipe: Does("value", recipe)),
        hostile.exception_recipes(for_async=for_async).map(lambda recipe: Does("raise", recipe)),
    )


class Box:
    """A plain value with identity."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Box({self.label})"


class Boom(Exception):
    """A plain failure of a side."""


BENIGN: dict[str, Does] = {
    "ok": Does("value", Recipe("a Box", lambda: Box("value"))),
    "raises": Does("raise", Recipe("a Boom", lambda: Boom("side failed"))),
}


def benign() -> st.SearchStrategy[Does]:
    """A side that returns a plain value or raises a plain exception."""
    return st.sampled_from(list(BENIGN.values()))


# -- the world of one example: two sides, a build, a call ----------------------------------


class World:
    """Two sides that record that they ran and do what they were told."""

    def __init__(self, shape: Shape, old: Does, new: Does) -> None:
        self.shape = shape
        self.acts = {OLD: old.make(), NEW: new.make()}
        self.calls: list[str] = []

    def side(self, origin: str) -> Any:
        self.calls.append(origin)
        return self.acts[origin]()

    def build(self, provider: Any, **options: Any) -> Callable[[tuple[Any, ...]], Any]:
        """A function of the call's arguments that calls the migration as *shape* says."""
        shape = self.shape
        reads = shape.operation is READ
        if shape.binding == "migrator":
            return self._migrator(provider, options)
        options = {key: value for key, value in options.items() if value is not None}
        if reads:
            options.update(execution_order=shape.order, shadow=shape.shadow)
        else:
            options.pop("compare", None)
        decorate = migration.read if reads else migration.write
        old, new = self._sides()

        if shape.binding == "function":
            function = decorate(new=new, name=shape.name, provider=provider, **options)(old)
            return lambda args: function(*args)
        if shape.binding == "method":
            repo_class = type("Repo", (), {
                "get": decorate(new=new, name=shape.name, provider=provider, **options)(old)})
        else:
            repo_class = type("Repo", (), {
                "_old": old,
                "_new": new,
                "get": decorate(old="_old", new="_new", name=shape.name, provider=provider,
                                **options)(old),
            })
        repo = repo_class()
        return lambda args: repo.get(*args)

    def _sides(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """The old and new side as plain functions: sync, or async def in async mode."""
        world = self
        if self.shape.mode == "sync":

            def old(*args: Any) -> Any:
                return world.side(OLD)

            def new(*args: Any) -> Any:
                return world.side(NEW)

            return old, new

        async def aold(*args: Any) -> Any:
            await asyncio.sleep(0)
            return world.side(OLD)

        async def anew(*args: Any) -> Any:
            await asyncio.sleep(0)
            return world.side(NEW)

        return aold, anew

    def _migrator(self, provider: Any, options: dict[str, Any]) -> Callable[..., Any]:
        world, shape = self, self.shape

        def old(payload: Any) -> Result[Any]:
            return Result.success(world.side(OLD))

        def new(payload: Any) -> Result[Any]:
            return Result.success(world.side(NEW))

        context = options.get("migrator_context")
        if shape.operation is READ:
            migrator = Migrator(read=MigrationConfig(old, new, options.get("compare")),
                                read_execution_order=shape.order, provider=provider)
            return lambda args: migrator.read(shape.name, context, args[0] if args else None)
        migrator = Migrator(write=MigrationConfig(old, new), provider=provider)
        return lambda args: migrator.write(shape.name, context, args[0] if args else None)


@dataclasses.dataclass
class Got:
    """What one call gave, observed from outside."""

    hung: bool = False
    returned: bool = False
    value: Any = None
    error: BaseException | None = None
    call_error: BaseException | None = None
    """In async code, what the awaited call raised, whatever asyncio.run raised after."""
    adrained: bool | None = None
    loop_errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    drained: bool | None = None
    stack: str = ""


def call(world: World, function: Callable[[tuple[Any, ...]], Any],
         args: tuple[Any, ...]) -> Got:
    """
    Call *function* in a thread joined with :data:`WATCHDOG` (async: under
    ``asyncio.run``, with ``adrain`` before the loop closes); then ``drain``.
    """
    got = Got()

    def target() -> None:
        try:
            if world.shape.mode == "async":

                async def main() -> None:
                    # A background task that dies with an exception nobody
                    # retrieves is reported by asyncio when it is collected,
                    # formatting its traceback then; CPython 3.11 formats
                    # with ast.parse, and a collection that lands inside
                    # another ast.parse (pytest's own, reporting a failure)
                    # breaks it ("AST constructor recursion depth mismatch").
                    # Such tasks are kept here instead; the lost events they
                    # stand for are what check() asserts on.
                    asyncio.get_running_loop().set_exception_handler(
                        lambda loop, context: got.loop_errors.append(context))
                    try:
                        got.value = await function(args)
                        got.returned = True
                    except BaseException as exc:
                        got.call_error = exc
                        raise
                    finally:
                        got.adrained = await migratekit.adrain(DRAIN)

                asyncio.run(main())
            else:
                got.value = function(args)
                got.returned = True
        except BaseException as exc:
            got.error = exc

    thread = threading.Thread(target=target, name="hostile-call", daemon=True)
    thread.start()
    thread.join(WATCHDOG)
    if thread.is_alive():
        got.hung = True
        frame = sys._current_frames().get(thread.ident or -1)
        got.stack = "".join(traceback.format_stack(frame)) if frame else ""
        return got
    got.drained = migratekit.drain(DRAIN)
    return got


# -- what should have happened ----------------------------------------------------------------


def _outcome_mismatch(world: World, stage: Stage, got: Got) -> str | None:
    auth = authoritative(stage)
    act = world.acts[auth]
    if world.shape.binding == "migrator":
        return _migrator_mismatch(world, stage, got)
    if act.kind == "raise":
        if got.error is None:
            return f"returned {safe_label(got.value)}, but the {auth} side raised"
        if got.error is not act.obj:
            return f"raised {describe(got.error)}, not the {auth} side's exception"
        return None
    if got.error is not None:
        return f"raised {describe(got.error)}, but the {auth} side returned"
    if got.value is not act.obj:
        return f"returned {safe_label(got.value)}, not the {auth} side's value"
    return None


def _result_mismatch(result: Any, origin: str, act: Act) -> str | None:
    if result.origin is not Origin(origin):
        return f"the result's origin is {result.origin}, not {origin}"
    if act.kind == "raise":
        if result.is_success() or result.exception is not act.obj:
            return f"the {origin} result does not carry the {origin} side's exception"
    elif not result.is_success() or result.value is not act.obj:
        return f"the {origin} result does not hold the {origin} side's value"
    return None


def _migrator_mismatch(world: World, stage: Stage, got: Got) -> str | None:
    if got.error is not None:
        return f"Migrator raised {describe(got.error)}"
    auth = authoritative(stage)
    if world.shape.operation is READ:
        return _result_mismatch(got.value, auth, world.acts[auth])
    problem = _result_mismatch(got.value.authoritative, auth, world.acts[auth])
    if problem is not None:
        return problem
    other = NEW if auth == OLD else OLD
    second = got.value.nonauthoritative
    if len(expected_calls(world, stage)) == 1:
        return None if second is None else "a nonauthoritative result for a side that never ran"
    if second is None:
        return "no nonauthoritative result, but the second side ran"
    return _result_mismatch(second, other, world.acts[other])


def expected_calls(world: World, stage: Stage) -> list[str]:
    """The sides a call runs in *stage*: a write stops after a failed first side."""
    sides = planned(stage, world.shape.operation)
    auth = authoritative(stage)
    if world.shape.operation is WRITE and world.acts[auth].kind == "raise":
        return [auth]
    return list(sides)


def _calls_mismatch(world: World, stage: Stage) -> str | None:
    expected = expected_calls(world, stage)
    if world.shape.operation is WRITE:
        ok = world.calls == expected
    else:  # PARALLEL, RANDOM and background reads run in any order
        ok = sorted(world.calls) == sorted(expected)
    return None if ok else f"ran {world.calls}, expected {expected}"


def check(world: World, got: Got, stages: set[Stage],
          logs: list[Any] | None = None) -> None:
    """The call gave the authoritative outcome of one of *stages*, ran its sides, one op event."""
    assert not got.hung, f"the call hung; its stack:\n{got.stack}"
    assert got.drained, "drain() did not finish the background shadows"
    assert got.adrained in (None, True), "adrain() did not finish the background shadows"
    problems = []
    for stage in sorted(stages, key=list(Stage).index):
        problem = _outcome_mismatch(world, stage, got) or _calls_mismatch(world, stage)
        if problem is None:
            break
        problems.append(f"in stage {stage.value}: {problem}")
    else:
        raise AssertionError("; ".join(problems))
    if logs is not None:
        ops = [e for e in logs if e.get("event") == "migration.op"]
        assert len(ops) == 1, f"{len(ops)} migration.op events for one call"
        assert sorted(ops[0]["invoked"]) == sorted(world.calls)


@contextlib.contextmanager
def fresh() -> Iterator[None]:
    """One example's clean slate: migratekit's and structlog's defaults, before and after."""
    helpers.fresh()
    _events.reset_pipeline_failures()
    structlog.reset_defaults()
    try:
        yield
    finally:
        migratekit.drain(DRAIN)
        helpers.fresh()
        structlog.reset_defaults()
        _compat.unfinalize_logger(_events.logger)


# -- 1. sides --------------------------------------------------------------------------------


@st.composite
def side_cases(draw: st.DrawFn) -> tuple[Shape, Does, Does, Recipe]:
    shape = draw(shapes())
    for_async = shape.mode == "async"
    return shape, draw(does(for_async=for_async)), draw(does(for_async=for_async)), draw(
        hostile.value_recipes())


def sides_scenario(shape: Shape, old: Does, new: Does, argument: Recipe) -> None:
    """Call a migration whose sides do *old* and *new*, with *argument*; check the contract."""
    with fresh():
        world = World(shape, old, new)
        function = world.build(StaticStageProvider(shape.stage))
        with capture_logs() as logs:
            got = call(world, function, (argument(),))
        check(world, got, {shape.stage}, logs)


@HOSTILE
@given(case=side_cases())
def test_hostile_side_values_and_exceptions(case: tuple[Shape, Does, Does, Recipe]) -> None:
    """Sides returning or raising hostile objects: the caller gets just the authoritative one."""
    sides_scenario(*case)


# -- 2. comparisons --------------------------------------------------------------------------


@st.composite
def compare_cases(draw: st.DrawFn) -> tuple[Shape, Does, Does, Does]:
    shape = draw(shapes(reads_only=True))
    for_async = shape.mode == "async"
    sides = st.one_of(benign(), does(for_async=for_async))
    answers = st.one_of(
        st.sampled_from([Does("value", Recipe(repr(b), functools.partial(bool, b)))
                         for b in (True, False)]),
        does(),
    )
    return shape, draw(sides), draw(sides), draw(answers)


def compare_scenario(shape: Shape, old: Does, new: Does, answer: Does) -> None:
    """Call a read whose comparison does *answer*; check the contract."""
    with fresh():
        world = World(shape, old, new)
        verdict = answer.make()
        compared: list[tuple[Any, Any]] = []

        def compare(a: Any, b: Any) -> Any:
            compared.append((a, b))
            return verdict()

        function = world.build(StaticStageProvider(shape.stage), compare=compare)
        with capture_logs() as logs:
            got = call(world, function, ())
        check(world, got, {shape.stage}, logs)
        ops = [e for e in logs if e.get("event") == "migration.op"]
        if compared:
            assert compared == [(world.acts[OLD].obj, world.acts[NEW].obj)], "not old first"
            if verdict.kind == "raise" or (verdict.obj is not True and verdict.obj is not False):
                assert ops[0]["consistent"] is None


@HOSTILE
@given(case=compare_cases())
def test_hostile_comparisons(case: tuple[Shape, Does, Does, Does]) -> None:
    """A comparison answering or raising anything: the caller still gets the authoritative read."""
    compare_scenario(*case)


# -- 3. stage providers and context hooks --------------------------------------------------------


def model_stages(answer: Any, default: Stage) -> set[Stage]:
    """
    The stages a provider's answer may stand for. A str subclass spelling a
    stage (whose methods may raise) may be read as that stage or refused.
    """
    kind = type(answer)  # the real class: objects may lie through __class__
    if kind is Stage:
        return {answer}
    if isinstance(answer, str) and issubclass(kind, str):
        named = str.lower(str.strip(answer))
        stage = next((s for s in Stage if s.value == named), None)
        if stage is None:
            return {default}
        return {stage} if kind is str else {stage, default}
    return {default}


class AnsweringProvider:
    """A stage provider that answers (or raises) what it was told, whatever the context."""

    def __init__(self, act: Act) -> None:
        self.act = act
        self.contexts: list[Any] = []

    def get_stage(self, name: str, context: Any = None) -> Any:
        self.contexts.append(context)
        return self.act()


class AsyncAnsweringProvider(AnsweringProvider):
    """An :class:`AnsweringProvider` with ``aget_stage`` too, which may answer otherwise."""

    def __init__(self, act: Act, async_act: Act) -> None:
        super().__init__(act)
        self.async_act = async_act

    async def aget_stage(self, name: str, context: Any = None) -> Any:
        self.contexts.append(context)
        return self.async_act()


def answers() -> st.SearchStrategy[Does]:
    return st.one_of(
        hostile.answer_recipes().map(lambda recipe: Does("value", recipe)),
        hostile.exception_recipes().map(lambda recipe: Does("raise", recipe)),
    )


@dataclasses.dataclass(frozen=True)
class ProviderCase:
    shape: Shape
    old: Does
    new: Does
    answer: Does
    async_answer: Does | None
    context: Does | None
    default: Stage


@st.composite
def provider_cases(draw: st.DrawFn) -> ProviderCase:
    shape = draw(shapes())
    async_answer = draw(st.none() | answers()) if shape.mode == "async" else None
    return ProviderCase(shape, draw(benign()), draw(benign()), draw(answers()), async_answer,
                        draw(st.none() | does()), draw(st.sampled_from(list(Stage))))


def provider_stages(case: ProviderCase, provider: AnsweringProvider) -> set[Stage]:
    act = provider.act
    if isinstance(provider, AsyncAnsweringProvider):
        act = provider.async_act
    if act.kind == "raise":
        return {case.default}
    return model_stages(act.obj, case.default)


def provider_scenario(case: ProviderCase) -> None:
    """Call a migration whose provider and context hook do what *case* says; check the contract."""
    shape = case.shape
    with fresh():
        configure(default_stage=case.default)
        world = World(shape, case.old, case.new)
        provider = (
            AnsweringProvider(case.answer.make()) if case.async_answer is None
            else AsyncAnsweringProvider(case.answer.make(), case.async_answer.make())
        )
        context = None if case.context is None else case.context.make()
        options: dict[str, Any] = {}
        if shape.binding == "migrator":
            options["migrator_context"] = None if context is None else context.obj
        elif context is not None:
            options["context"] = context
        function = world.build(provider, **options)
        with capture_logs() as logs:
            got = call(world, function, (Box("argument"),))
        check(world, got, provider_stages(case, provider), logs)


@HOSTILE
@given(case=provider_cases())
def test_hostile_stage_providers(case: ProviderCase) -> None:
    """A provider (get_stage, aget_stage) or context hook giving anything: harmless."""
    provider_scenario(case)


# -- 4. log hooks, through renderers that choke on what the hooks return -------------------------

RENDERERS = ("capture_logs", "capture_events", "json", "console", "keyvalue", "logfmt")


@contextlib.contextmanager
def rendering(kind: str) -> Iterator[list[Any] | None]:
    """Events rendered by *kind*; the captured events when *kind* captures them."""
    if kind == "capture_logs":
        with capture_logs() as logs:
            yield logs
        return
    if kind == "capture_events":
        with capture_events() as events:
            yield events
        return
    renderer: Any = {
        "json": structlog.processors.JSONRenderer(),
        "console": structlog.dev.ConsoleRenderer(colors=False),
        "keyvalue": structlog.processors.KeyValueRenderer(),
        "logfmt": structlog.processors.LogfmtRenderer(),
    }[kind]
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper("iso"),
                    renderer],
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )
    yield None


@dataclasses.dataclass(frozen=True)
class HookCase:
    shape: Shape
    old: Does
    new: Does
    log_values: Does | None
    log_arguments: Does | None
    renderer: str


@st.composite
def hook_cases(draw: st.DrawFn) -> HookCase:
    shape = draw(shapes(decorator_only=True))
    hooks = st.none() | does()
    return HookCase(shape, draw(benign()), draw(benign()), draw(hooks), draw(hooks),
                    draw(st.sampled_from(RENDERERS)))


def hooks_scenario(case: HookCase) -> None:
    """Call a migration whose log hooks do what *case* says; check the contract."""
    with fresh():
        world = World(case.shape, case.old, case.new)
        options = {
            "log_values": None if case.log_values is None else case.log_values.make(),
            "log_arguments": None if case.log_arguments is None else case.log_arguments.make(),
        }
        function = world.build(StaticStageProvider(case.shape.stage), **options)
        with rendering(case.renderer) as logs:
            got = call(world, function, (Box("argument"),))
        check(world, got, {case.shape.stage}, logs)


@HOSTILE
@given(case=hook_cases())
def test_hostile_log_hooks(case: HookCase) -> None:
    """log_values / log_arguments returning or raising anything, rendered any way: no harm."""
    hooks_scenario(case)


# -- 5. structlog configured every way, including ways that raise ---------------------------------


class _Raising:
    """Callables that raise, for logger factories, processors and wrapper classes."""

    def __init__(self, exc: Callable[[], BaseException]) -> None:
        self.exc = exc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc()


class _UnsureLogger(structlog.BoundLogger):
    """A bound logger that cannot say which levels it emits."""

    def is_enabled_for(self, level: int) -> bool:
        raise hostile.HostileError("is_enabled_for")


class _LevelLiar(structlog.BoundLogger):
    """A bound logger whose answer about levels cannot be turned into a bool."""

    def is_enabled_for(self, level: int) -> Any:
        return hostile.raising_class(frozenset({"__bool__"}), name="bool_")()


def _reconfiguring_processor(logger: Any, method: str, event: Any) -> Any:
    # The application reconfigures structlog while migratekit emits: from
    # here on the logger factory raises.
    structlog.configure(logger_factory=_Raising(lambda: hostile.HostileError("factory")))
    return event


def _structlog_configs() -> dict[str, Callable[[io.StringIO], dict[str, Any]]]:
    json = structlog.processors.JSONRenderer()

    def factory(stream: io.StringIO) -> Any:
        return structlog.PrintLoggerFactory(stream)

    def exc_of(label: str) -> Callable[[], BaseException]:
        return hostile._exception_factories()[label]

    return {
        "defaults": lambda s: {"logger_factory": factory(s)},
        "json": lambda s: {"processors": [json], "logger_factory": factory(s)},
        "json, cached": lambda s: {"processors": [json], "logger_factory": factory(s),
                                   "cache_logger_on_first_use": True},
        "warning only, cached": lambda s: {
            "processors": [json], "logger_factory": factory(s), "cache_logger_on_first_use": True,
            "wrapper_class": structlog.make_filtering_bound_logger(logging.WARNING)},
        "error only": lambda s: {
            "processors": [json], "logger_factory": factory(s),
            "wrapper_class": structlog.make_filtering_bound_logger(logging.ERROR)},
        "stdlib": lambda s: {
            "processors": [structlog.stdlib.filter_by_level, structlog.stdlib.add_log_level,
                           structlog.stdlib.render_to_log_kwargs],
            "logger_factory": structlog.stdlib.LoggerFactory(),
            "wrapper_class": structlog.stdlib.BoundLogger},
        "logger factory raises": lambda s: {
            "logger_factory": _Raising(lambda: hostile.HostileError("factory"))},
        "logger factory raises, cached": lambda s: {
            "logger_factory": _Raising(lambda: hostile.HostileError("factory")),
            "cache_logger_on_first_use": True},
        "logger factory raises an exception whose str raises": lambda s: {
            "logger_factory": _Raising(exc_of("exception whose str and repr raise"))},
        "logger factory returns an object without methods": lambda s: {
            "logger_factory": lambda *args: object()},
        "wrapper class cannot be built": lambda s: {
            "wrapper_class": _Raising(lambda: hostile.HostileError("wrapper")),
            "logger_factory": factory(s)},
        "is_enabled_for raises": lambda s: {
            "wrapper_class": _UnsureLogger, "logger_factory": factory(s)},
        "is_enabled_for answers a bool_ that raises": lambda s: {
            "wrapper_class": _LevelLiar, "logger_factory": factory(s)},
        "processor raises": lambda s: {
            "processors": [_Raising(lambda: hostile.HostileError("processor"))],
            "logger_factory": factory(s)},
        "processor raises an exception whose str raises": lambda s: {
            "processors": [_Raising(exc_of("exception whose str and repr raise"))],
            "logger_factory": factory(s)},
        "processor raises an exception whose class name cannot be read": lambda s: {
            "processors": [_Raising(exc_of("exception whose class name cannot be read"))],
            "logger_factory": factory(s)},
        "processor raises RecursionError": lambda s: {
            "processors": [_Raising(lambda: RecursionError("deep"))],
            "logger_factory": factory(s)},
        "processor returns garbage": lambda s: {
            "processors": [lambda logger, method, event: 42], "logger_factory": factory(s)},
        "processor drops everything": lambda s: {
            "processors": [_Raising(structlog.DropEvent)], "logger_factory": factory(s)},
        "processor reconfigures structlog mid-call": lambda s: {
            "processors": [_reconfiguring_processor, json], "logger_factory": factory(s)},
    }


STRUCTLOG_CONFIGS = _structlog_configs()


@dataclasses.dataclass(frozen=True)
class LogCase:
    shape: Shape
    old: Does
    new: Does
    config: str
    provider_raises: bool


@st.composite
def log_cases(draw: st.DrawFn) -> LogCase:
    shape = draw(shapes())
    sides = st.one_of(benign(), does(for_async=shape.mode == "async"))
    return LogCase(shape, draw(sides), draw(sides), draw(st.sampled_from(list(STRUCTLOG_CONFIGS))),
                   draw(st.booleans()))


class FailingProvider:
    """A provider that is down: its failure is reported through the log pipeline."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def get_stage(self, name: str, context: Any = None) -> Any:
        raise hostile.HostileError("the stage store is down")


def structlog_scenario(case: LogCase) -> None:
    """Call a migration with structlog configured as *case* says; check the contract."""
    shape = case.shape
    with fresh():
        structlog.configure(**STRUCTLOG_CONFIGS[case.config](io.StringIO()))
        world = World(shape, case.old, case.new)
        stage = Stage.OFF if case.provider_raises else shape.stage
        provider = FailingProvider(stage) if case.provider_raises else StaticStageProvider(stage)
        function = world.build(provider)
        got = call(world, function, (Box("argument"),))
        check(world, got, {stage})


@settings(HOSTILE, max_examples=150)
@given(case=log_cases())
def test_hostile_structlog_configurations(case: LogCase) -> None:
    """However structlog is set up, raising included, the caller sees only its outcome."""
    structlog_scenario(case)


# -- 6. BaseExceptions from the sides ---------------------------------------------------------


def base_or_not(*, for_async: bool) -> st.SearchStrategy[Does]:
    return st.one_of(
        benign(),
        hostile.base_exception_recipes().map(lambda recipe: Does("raise", recipe)),
    )


@st.composite
def base_cases(draw: st.DrawFn) -> tuple[Shape, Does, Does]:
    shape = draw(shapes())
    sides = base_or_not(for_async=shape.mode == "async")
    return shape, draw(sides), draw(sides)


def _is_base(act: Act) -> bool:
    return act.kind == "raise" and not isinstance(act.obj, Exception)


def base_scenario(shape: Shape, old: Does, new: Does) -> None:
    """Call a migration whose sides may raise BaseExceptions; check the decided behaviour."""
    with fresh():
        world = World(shape, old, new)
        function = world.build(StaticStageProvider(shape.stage))
        with capture_logs() as logs:
            got = call(world, function, ())
        assert not got.hung, f"the call hung; its stack:\n{got.stack}"
        assert got.drained, "drain() did not finish the background shadows"
        stage = shape.stage
        auth = authoritative(stage)
        other = NEW if auth == OLD else OLD
        first, second = world.acts[auth], world.acts[other]
        # What may reach the caller: the first side's BaseException, and an
        # interrupt of a second side that ran (not in the background: no
        # caller is left there). When both raise, whichever ran first wins.
        expected: list[BaseException] = [first.obj] if _is_base(first) else []
        if (other in world.calls and _is_base(second) and isinstance(second.obj, INTERRUPTS)
                and not shape.background):
            expected.append(second.obj)
        # An async background shadow's interrupt has no caller left to reach;
        # asyncio lets it escape the loop after the call ended: there the
        # call's own outcome is what is checked.
        escapes_loop = (shape.background and shape.mode == "async" and _is_base(second)
                        and isinstance(second.obj, INTERRUPTS))
        error = got.call_error if escapes_loop else got.error
        if not expected:
            if escapes_loop:
                if first.kind == "raise":
                    assert error is first.obj, "not the authoritative exception"
                else:
                    assert got.returned, "the call itself did not return"
                    assert got.value is first.obj, "not the authoritative value"
                return
            check(world, got, {stage}, logs)
            return
        shown = describe(error) if error else safe_label(got.value)
        if (shape.binding == "migrator" and error is None and _is_base(first)
                and not isinstance(first.obj, INTERRUPTS)):
            # Migrator hands a side's failure back as a failed result instead
            # of raising it (docs/design.md); for a BaseException that is not an
            # interrupt, either way is the authoritative outcome.
            result = got.value if shape.operation is READ else got.value.authoritative
            assert not result.is_success(), "a failed side came back as a success"
            assert result.exception is first.obj, "the failed result lost the side's exception"
        elif shape.mode == "async" and all(
                isinstance(e, asyncio.CancelledError) for e in expected):
            # asyncio may hand on a CancelledError of its own making
            assert isinstance(error, asyncio.CancelledError), f"got {shown}"
        else:
            assert any(error is e for e in expected), (
                f"expected {[type(e).__name__ for e in expected]} to propagate, got {shown}")
        if shape.operation is WRITE and _is_base(first):
            assert world.calls == [auth], "a write ran its second side after an interrupted first"


@HOSTILE
@given(case=base_cases())
def test_base_exceptions_from_sides(case: tuple[Shape, Does, Does]) -> None:
    """
    KeyboardInterrupt, SystemExit, CancelledError propagate from any side;
    other BaseExceptions propagate from the authoritative side and are the
    failed result of the other.
    """
    base_scenario(*case)


# -- 7. everything hostile at once ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StormCase:
    shape: Shape
    old: Does
    new: Does
    compare: Does | None
    answer: Does
    context: Does | None
    log_values: Does | None
    log_arguments: Does | None
    argument: Recipe
    config: str


@st.composite
def storm_cases(draw: st.DrawFn) -> StormCase:
    shape = draw(shapes())
    for_async = shape.mode == "async"
    maybe = st.none() | does()
    return StormCase(
        shape,
        draw(does(for_async=for_async)),
        draw(does(for_async=for_async)),
        draw(maybe) if shape.operation is READ else None,
        draw(answers()),
        draw(maybe),
        draw(maybe),
        draw(maybe),
        draw(hostile.value_recipes()),
        draw(st.sampled_from(["capture_logs", *STRUCTLOG_CONFIGS])),
    )


@settings(HOSTILE, max_examples=120)
@given(case=storm_cases())
def test_everything_hostile_at_once(case: StormCase) -> None:
    """Hostile sides, comparison, provider, hooks, argument and structlog at once: same rules."""
    shape = case.shape
    with fresh():
        world = World(shape, case.old, case.new)
        provider = AnsweringProvider(case.answer.make())
        options: dict[str, Any] = {
            "compare": None if case.compare is None else case.compare.make(),
            "log_values": None if case.log_values is None else case.log_values.make(),
            "log_arguments": None if case.log_arguments is None else case.log_arguments.make(),
        }
        context = None if case.context is None else case.context.make()
        if shape.binding == "migrator":
            options = {"compare": options["compare"],
                       "migrator_context": None if context is None else context.obj}
        else:
            options["context"] = context
        function = world.build(provider, **options)
        stages = model_stages(provider.act.obj, Stage.OFF) if provider.act.kind == "value" else {
            Stage.OFF}
        if case.config == "capture_logs":
            with capture_logs() as logs:
                got = call(world, function, (case.argument(),))
            check(world, got, stages, logs)
        else:
            structlog.configure(**STRUCTLOG_CONFIGS[case.config](io.StringIO()))
            got = call(world, function, (case.argument(),))
            check(world, got, stages)


# -- sweeps: every fixed hostile object in every place, over the shapes that matter ---------------
#
# The properties above search combinations at random; these go through every
# fixed recipe of tests/hostile.py one by one, each over a fixed list of
# shapes, and name every shape where it breaks the contract.


def sweep_shapes(*, reads_only: bool = False, decorator_only: bool = False,
                 stages: tuple[Stage, ...] = (Stage.SHADOW, Stage.LIVE)) -> list[Shape]:
    """Stages that run both sides, each read order and shadow, writes, sync, async, Migrator."""
    found = []
    serial, parallel = ExecutionOrder.SERIAL, ExecutionOrder.PARALLEL
    random_ = ExecutionOrder.RANDOM
    for stage in stages:
        for mode in ("sync", "async"):
            for order, shadow in ((serial, "inline"), (random_, "inline"), (parallel, "inline"),
                                  (serial, "background")):
                found.append(Shape(stage, READ, "function", mode, order, shadow))
            if not reads_only:
                found.append(Shape(stage, WRITE, "function", mode, serial, "inline"))
        found.append(Shape(stage, READ, "named", "sync", serial, "inline"))
        if not decorator_only:
            found.append(Shape(stage, READ, "migrator", "sync", serial, "inline"))
            found.append(Shape(stage, READ, "migrator", "sync", parallel, "inline"))
            if not reads_only:
                found.append(Shape(stage, WRITE, "migrator", "sync", serial, "inline"))
    return found


def shapes_for(heavy: bool, shapes: list[Shape]) -> list[Shape]:
    """All *shapes*, or for an object that is slow to render, one of each kind of call."""
    if not heavy:
        return shapes
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for shape in shapes:
        kind = (shape.operation, shape.binding, shape.order is ExecutionOrder.PARALLEL,
                shape.shadow)
        if kind not in seen:
            seen.add(kind)
            kept.append(shape)
    return kept


def label(shape: Shape) -> str:
    return "/".join([shape.stage.value, shape.operation.value, shape.binding, shape.mode,
                     shape.order.value, shape.shadow])


def _broken(run: Callable[[], None]) -> str | None:
    """How *run* broke the contract (the first line of its assertion), or None."""
    try:
        run()
    except AssertionError as exc:
        return str(exc).splitlines()[0] if str(exc) else "failed"
    return None


def sweep(runs: Sequence[tuple[str, Callable[[], None]]]) -> None:
    """Run every scenario; fail once, naming each that broke the contract and how."""
    failures = []
    for name, run in runs:
        problem = _broken(run)
        if problem is not None:
            failures.append(f"{name}: {problem}")
    if failures:
        pytest.fail(f"{len(failures)} of {len(runs)} broke the contract:\n" + "\n".join(failures),
                    pytrace=False)


def _ids(recipes: list[Recipe]) -> list[str]:
    return [recipe.label for recipe in recipes]


EXCEPTIONS = hostile.exception_list()
VALUES = hostile.value_list()
ANSWERS = hostile.answer_list()
OK, RAISES = BENIGN["ok"], BENIGN["raises"]


@pytest.mark.parametrize("recipe", EXCEPTIONS, ids=_ids(EXCEPTIONS))
def test_sweep_a_side_raises(recipe: Recipe) -> None:
    """Each hostile exception, raised by the authoritative side and by the other: the contract."""
    raises = Does("raise", recipe)
    argument = Recipe("a Box", lambda: Box("argument"))
    runs = []
    for shape in shapes_for(recipe.heavy, sweep_shapes()):
        if shape.mode == "async" and recipe.label == "StopIteration":
            continue  # Python turns it into a RuntimeError at the async def's edge
        runs.append((f"old raises, {label(shape)}",
                     functools.partial(sides_scenario, shape, raises, OK, argument)))
        runs.append((f"new raises, {label(shape)}",
                     functools.partial(sides_scenario, shape, OK, raises, argument)))
    sweep(runs)


@pytest.mark.parametrize("recipe", VALUES, ids=_ids(VALUES))
def test_sweep_a_side_returns(recipe: Recipe) -> None:
    """Each hostile value, returned by one side, by the other, by both, passed in: the contract."""
    returns = Does("value", recipe)
    plain = Recipe("a Box", lambda: Box("argument"))
    runs = []
    for shape in shapes_for(recipe.heavy, sweep_shapes()):
        runs.append((f"old returns it, {label(shape)}",
                     functools.partial(sides_scenario, shape, returns, OK, plain)))
        runs.append((f"new returns it, {label(shape)}",
                     functools.partial(sides_scenario, shape, OK, returns, plain)))
        runs.append((f"both return it, {label(shape)}",
                     functools.partial(sides_scenario, shape, returns, returns, plain)))
        runs.append((f"it is the argument, {label(shape)}",
                     functools.partial(sides_scenario, shape, OK, RAISES, recipe)))
    sweep(runs)


COMPARE_ANSWERS = [Does("value", recipe) for recipe in VALUES] + [
    Does("raise", recipe) for recipe in EXCEPTIONS]


@pytest.mark.parametrize("answer", COMPARE_ANSWERS, ids=[repr(a) for a in COMPARE_ANSWERS])
def test_sweep_a_comparison(answer: Does) -> None:
    """A comparison returning or raising each hostile object: the authoritative read, always."""
    runs = [(label(shape), functools.partial(compare_scenario, shape, OK, OK, answer))
            for shape in shapes_for(answer.recipe.heavy, sweep_shapes(reads_only=True))]
    sweep(runs)


PROVIDER_ANSWERS = [Does("value", recipe) for recipe in ANSWERS] + [
    Does("raise", recipe) for recipe in EXCEPTIONS]


@pytest.mark.parametrize("answer", PROVIDER_ANSWERS, ids=[repr(a) for a in PROVIDER_ANSWERS])
def test_sweep_a_stage_provider(answer: Does) -> None:
    """get_stage, aget_stage and context= each giving each hostile object: the default stage."""
    runs = []
    for shape in shapes_for(answer.recipe.heavy, sweep_shapes(stages=(Stage.OFF,))):
        for default in (Stage.SHADOW, Stage.LIVE):
            runs.append((f"get_stage {answer!r}, default {default.value}, {label(shape)}",
                         functools.partial(provider_scenario, ProviderCase(
                             shape, OK, RAISES, answer, None, None, default))))
            if shape.mode == "async":
                runs.append((f"aget_stage {answer!r}, default {default.value}, {label(shape)}",
                             functools.partial(provider_scenario, ProviderCase(
                                 shape, OK, RAISES, BENIGN_ANSWER, answer, None, default))))
            if shape.binding != "migrator":
                runs.append((f"context= {answer!r}, default {default.value}, {label(shape)}",
                             functools.partial(provider_scenario, ProviderCase(
                                 shape, OK, RAISES, BENIGN_ANSWER, None, answer, default))))
    sweep(runs)


BENIGN_ANSWER = Does("value", Recipe("None", lambda: None))

HOOK_ANSWERS = COMPARE_ANSWERS


@pytest.mark.parametrize("hook", HOOK_ANSWERS, ids=[repr(a) for a in HOOK_ANSWERS])
def test_sweep_a_log_hook(hook: Does) -> None:
    """log_values and log_arguments each giving each hostile object, captured and rendered."""
    runs = []
    for n, shape in enumerate(shapes_for(hook.recipe.heavy, sweep_shapes(decorator_only=True))):
        # Rendering a heavy object as JSON takes a second or more: once is enough.
        renderers = ("capture_logs",) if hook.recipe.heavy and n else ("capture_logs", "json")
        for renderer in renderers:
            runs.append((f"log_values, {renderer}, {label(shape)}", functools.partial(
                hooks_scenario, HookCase(shape, OK, OK, hook, None, renderer))))
            runs.append((f"log_arguments, {renderer}, {label(shape)}", functools.partial(
                hooks_scenario, HookCase(shape, OK, RAISES, None, hook, renderer))))
    sweep(runs)


@pytest.mark.parametrize("config", list(STRUCTLOG_CONFIGS))
def test_sweep_a_structlog_configuration(config: str) -> None:
    """Each structlog configuration, with sides that succeed or fail and a provider that's down."""
    sweep([
        (f"{old!r}/{new!r}, provider down: {provider_raises}, {label(shape)}",
         functools.partial(structlog_scenario, LogCase(shape, old, new, config, provider_raises)))
        for shape in sweep_shapes()
        for old, new in ((OK, OK), (OK, RAISES), (RAISES, OK))
        for provider_raises in (False, True)
    ])


BASE_EXCEPTIONS = [Does("raise", recipe) for recipe in hostile.base_exception_list()]


@pytest.mark.parametrize("raises", BASE_EXCEPTIONS, ids=[repr(b) for b in BASE_EXCEPTIONS])
def test_sweep_a_side_raises_a_base_exception(raises: Does) -> None:
    """Each BaseException from the authoritative side and from the other: the decided behaviour."""
    runs = []
    for shape in sweep_shapes():
        runs.append((f"old raises, {label(shape)}",
                     functools.partial(base_scenario, shape, raises, OK)))
        runs.append((f"new raises, {label(shape)}",
                     functools.partial(base_scenario, shape, OK, raises)))
    sweep(runs)


# -- values that cost the caller time or memory ---------------------------------------------------


def _run_python(source: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run *source* in a fresh interpreter that the test can kill."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True,
                          text=True, timeout=timeout, check=False)


BIG_SEQUENCES = {
    # label: (old value, new value), as Python source; they differ only at the end
    "lazy ranges of 10**18 items": ("range(10**18)", "range(10**18 + 1)"),
    "20 MB memoryviews (a bytea column)": ("memoryview(bytes(20_000_000))",
                                           "memoryview(bytes(19_999_999) + b'1')"),
}


@pytest.mark.parametrize("pair", list(BIG_SEQUENCES))
def test_reads_of_big_sequences_that_differ_at_the_end_return_in_time(pair: str) -> None:
    """Big sequences the sides compare in a blink: an inline SHADOW read returns within 2 s."""
    old, new = BIG_SEQUENCES[pair]
    source = f"""
        import threading, time
        from structlog.testing import capture_logs
        from migratekit import migration
        from migratekit.providers import StaticStageProvider

        OLD, NEW = {old}, {new}
        assert OLD != NEW

        @migration(new=lambda: NEW, provider=StaticStageProvider("shadow"), name="big")
        def read():
            return OLD

        got = []
        def target():
            with capture_logs():
                got.append(read())
        thread = threading.Thread(target=target, daemon=True)
        start = time.monotonic()
        thread.start()
        thread.join(2)
        print("returned" if got and got[0] is OLD else
              f"still comparing after {{time.monotonic() - start:.1f}} s")
    """
    try:
        done = _run_python(source, 60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the child could not even report
        raise AssertionError("the child process hung") from None
    # The first line: at exit the process also writes its last summary (a later line).
    assert done.stdout.strip().splitlines()[:1] == ["returned"], done.stdout + done.stderr[-2000:]


def test_a_log_processor_that_calls_a_migration_does_not_hang_the_caller() -> None:
    """A structlog processor that enriches events through migrated code: the call still returns."""
    source = """
        import io, threading
        import structlog
        from migratekit import migration
        from migratekit.providers import StaticStageProvider

        @migration(new=lambda user_id: {"id": user_id}, provider=StaticStageProvider("shadow"),
                   name="users.get")
        def get_user(user_id):
            return {"id": user_id}

        def add_user(logger, method, event):
            event["user"] = get_user(1)  # the application's processor uses migrated code
            return event

        structlog.configure(processors=[add_user, structlog.processors.JSONRenderer()],
                            logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
        got = []
        thread = threading.Thread(target=lambda: got.append(get_user(7)), daemon=True)
        thread.start()
        thread.join(5)
        print("returned" if got == [{"id": 7}] else "hung")
    """
    done = _run_python(source, 30)
    # The first line: at exit the process also writes its last summary (a later line).
    assert done.stdout.strip().splitlines()[:1] == ["returned"], done.stdout + done.stderr[-2000:]


def test_garbage_stage_answers_do_not_pile_up_in_memory() -> None:
    """A provider answering distinct 1 MB garbage strings: memory held stays bounded."""
    source = """
        import gc, tracemalloc
        import structlog
        import migratekit
        from migratekit import migration

        structlog.configure(processors=[structlog.testing.LogCapture()])
        answers = iter(f"{i:08d}" + "x" * 1_000_000 for i in range(10**6))

        class Provider:
            def get_stage(self, name, context=None):
                return next(answers)

        @migration(new=lambda: "new", provider=Provider(), name="garbage")
        def read():
            return "old"

        read()
        gc.collect()
        tracemalloc.start()
        for _ in range(100):
            assert read() == "old"
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        print(held // 1_000_000)
    """
    done = _run_python(source, 60)
    assert done.returncode == 0, done.stderr
    held_mb = int(done.stdout.strip())
    assert held_mb < 20, f"{held_mb} MB held after 100 calls that answered 1 MB of garbage each"
