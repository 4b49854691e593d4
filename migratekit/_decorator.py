"""
``@migration``: put a migration in front of a repository method.

The decorator checks everything it is given and resolves it once, at
decoration time, into an :class:`~migratekit._engine.Engine`; the proxy it
returns (a wrapt ``FunctionWrapper``) then does per call only what depends on
the call: ask the stage, run the sides, emit the events.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable
from functools import partial
from time import perf_counter
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, ParamSpec, TypeVar, overload

import wrapt

from migratekit import _events
from migratekit._compat import BOUND_FUNCTION_WRAPPER, PROPAGATES
from migratekit._config import check_provider, settings, stage_failed
from migratekit._engine import CONSISTENT, OLD, Engine, SideFn, invoke
from migratekit._events import SideRun
from migratekit._types import ExecutionOrder, Operation
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["MigrationProxy", "build", "migration"]

P = ParamSpec("P")
R = TypeVar("R")

_OPTIONS = (
    "old",
    "new",
    "compare",
    "name",
    "operation",
    "provider",
    "execution_order",
    "check_ratio",
    "context",
    "shadow",
    "shadow_timeout",
    "log_values",
    "log_arguments",
    "log_errors",
)


# -- binding -------------------------------------------------------------------
#
# wrapt calls the wrapper as wrapper(wrapped, instance, args, kwargs), where
# `instance` depends on how the decorated function was reached:
#
#   plain function, staticmethod          instance is None, args as given
#   method through an instance            instance is the object
#   method through the class              wrapt moves args[0] into instance,
#     (Repo.get(repo, 1))                 so this is the case above
#   classmethod (decorator outside it)    instance is the class
#
# `old` and `new` have the decorated function's own signature, `self` (or
# `cls`) included, so a side that is a plain callable is called with the
# instance put back in front of the arguments. A side named by a string is
# looked up on the instance at every call, so subclasses can override it, and
# called bound. A classmethod or staticmethod object given as a side (as
# written in a class body) is unwrapped once, here, to the function it holds.


def _call_wrapped(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    return wrapped(*args, **kwargs)


def _plain_side(side: Callable[..., Any]) -> SideFn:
    def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is None:
            return side(*args, **kwargs)
        return side(instance, *args, **kwargs)

    return call


# In a sync migration a side that returns a coroutine (a lambda around an
# async client) fails, and its coroutine is closed, instead of passing for a
# success whose work never runs. The check is part of the plain side itself,
# the common case, to spare a call per side.


def _plain_sync_side(option: str, side: Callable[..., Any]) -> SideFn:
    def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = side(*args, **kwargs) if instance is None else side(instance, *args, **kwargs)
        if type(value) is CoroutineType:
            _refuse_coroutine(option, value)
        return value

    return call


def _sync_only(option: str, call: SideFn) -> SideFn:
    def sync_call(wrapped: Any, instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        value = call(wrapped, instance, args, kwargs)
        if type(value) is CoroutineType:
            _refuse_coroutine(option, value)
        return value

    return sync_call


def _refuse_coroutine(option: str, coroutine: Any) -> NoReturn:
    coroutine.close()
    raise TypeError(
        f"side {option!r} returned a coroutine but the decorated function is sync, so "
        "nothing would await it; make both sync or both async"
    )


def _static_side(side: Callable[..., Any]) -> SideFn:
    def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return side(*args, **kwargs)

    return call


def _class_side(side: Callable[..., Any]) -> SideFn:
    def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is None:  # a classmethod reached with cls passed explicitly
            return side(*args, **kwargs)
        owner = instance if isinstance(instance, type) else type(instance)
        return side(owner, *args, **kwargs)

    return call


def _named_side(attribute: str, is_async: bool) -> SideFn:
    def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is None:
            if not args:
                raise AttributeError(
                    f"cannot look up side {attribute!r}: the migration was called without "
                    "an instance (name sides by string only on methods)"
                )
            instance, args = args[0], args[1:]
        value = getattr(instance, attribute)(*args, **kwargs)
        if not is_async and type(value) is CoroutineType:
            _refuse_coroutine(attribute, value)
        return value

    return call


def _side(option: str, side: Any, is_async: bool) -> tuple[SideFn, bool | None]:
    """
    A SideFn for *side*, and whether what it returns must be awaited:
    ``True`` for an ``async def``, ``None`` for any other side of an async
    migration (a lambda or a callable object may return an awaitable: what it
    returns is looked at), ``False`` in a sync migration.
    """
    if isinstance(side, str):
        if not side.isidentifier():
            _fail(option, "the name of a method (an identifier)", side,
                  f"write {option}='_get_from_new_store', naming a method of the class")
        return _named_side(side, is_async), (None if is_async else False)
    if isinstance(side, staticmethod):
        function, make = side.__func__, _static_side
    elif isinstance(side, classmethod):
        function, make = side.__func__, _class_side
    elif callable(side):
        function, make = side, _plain_side
    else:
        _fail_type(option, "a callable with the decorated function's signature, or the name "
                   "of a method as a str", side,
                   f"pass {option}=some_function or {option}='_method_name'")
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigurationError(
            f"@migration: {option!r} is a generator function ({_describe(function)}), whose "
            "values arrive after the call returns, so the two sides cannot be compared or "
            f"written in step; make {option!r} return a list instead"
        )
    side_is_async = _is_async_callable(function)
    if side_is_async and not is_async:
        raise ConfigurationError(
            f"@migration: {option!r} is an async function ({_describe(function)}) but the "
            "decorated function is sync, so it would return a coroutine nobody awaits; make "
            f"the decorated function 'async def', or give a sync {option!r}"
        )
    if not is_async:
        if make is _plain_side:
            return _plain_sync_side(option, function), False
        return _sync_only(option, make(function)), False
    return make(function), True if side_is_async else None


def _is_async_callable(function: Any) -> bool:
    """Whether calling *function* gives a coroutine: an ``async def``, or an async ``__call__``."""
    if inspect.iscoroutinefunction(function):
        return True
    if inspect.isroutine(function) or isinstance(function, type):
        return False
    call = type(function).__call__
    return inspect.iscoroutinefunction(call)


# -- messages --------------------------------------------------------------------


def _describe(value: Any) -> str:
    name = getattr(value, "__qualname__", None)
    if name is not None and callable(value):
        return f"{name} that is a {type(value).__name__}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} that is a {type(value).__name__}"


def _fail(option: str, expected: str, given: Any, fix: str) -> NoReturn:
    raise ConfigurationError(
        f"@migration: {option!r} must be {expected} (got {_describe(given)}); {fix}"
    )


def _fail_type(option: str, expected: str, given: Any, fix: str) -> NoReturn:
    raise ConfigurationTypeError(
        f"@migration: {option!r} must be {expected} (got {_describe(given)}); {fix}"
    )


# -- the proxy -------------------------------------------------------------------


if TYPE_CHECKING:
    _FunctionWrapper = wrapt.FunctionWrapper[Any, Any]
else:  # wrapt's classes are subscriptable only from wrapt 2.5 on
    _FunctionWrapper = wrapt.FunctionWrapper


class MigrationProxy(_FunctionWrapper):
    """
    What ``@migration`` puts in place of the function it decorates: a wrapt
    ``FunctionWrapper`` that looks like the function (name, docstring,
    signature, ``__wrapped__``) and runs the migration on each call.
    """

    # Binding as cheap as for a plain FunctionWrapper: see migratekit._compat.
    __bound_function_wrapper__ = BOUND_FUNCTION_WRAPPER

    def __init__(self, wrapped: Any, engine: Engine, is_async: bool) -> None:
        super().__init__(wrapped, _async_call(engine) if is_async else _sync_call(engine))
        self._self_engine = engine

    @property
    def migration_name(self) -> str:
        """The name of the migration, as it appears in events and environment variables."""
        return self._self_engine.name

    @property
    def migration_operation(self) -> Operation:
        """Whether the migration wraps a read or a write."""
        return self._self_engine.operation


# The sync call comes in two shapes. When the logger emits info events, every
# call is reported, and the engine's runner does it all. When it does not
# (production: a filtering logger at WARNING), a call whose sides succeed and
# whose reads agree emits nothing, so the quiet path below runs the sides with
# no bookkeeping at all, and hands over to the engine's finish/emit only when
# something must be reported: a side that failed, reads that differ.
# tests/test_quiet_path.py checks that both shapes give the same outcome and
# the same warnings, stage by stage.
#
# Both wrappers are closures made once per migration: what does not change
# between calls is a local of the closure, not an attribute looked up per call.


def _no_getter() -> None:
    return None


def _sync_call(engine: Engine) -> SideFn:  # noqa: PLR0915 - see call() below
    plan_for, plan_of, plans_by_id = engine.plan, engine.plan_of, engine.plans_by_id
    name, own_provider, simple = engine.name, engine.provider, engine.context is None
    run_all = engine.run
    old, new = engine.old, engine.new
    stops, quiet_pair = engine.stops, engine.quiet_pair
    every_call = engine.check_ratio == 1
    state = _events.state

    # A provider may offer stage_getter(name): get_stage(name, None) with the
    # lookups that depend only on the name done once. The provider last seen
    # and its getter are kept here, as one tuple so that threads never see
    # one without the other.
    seen: tuple[Any, Callable[[], Any]] = (None, _no_getter)

    def getter(provider: Any) -> Callable[[], Any]:
        nonlocal seen
        make = getattr(provider, "stage_getter", None)
        get = make(name) if make is not None else partial(provider.get_stage, name, None)
        seen = (provider, get)
        return get

    def call(  # noqa: PLR0915 - the hot path, kept in one piece: a call less per request
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # Engine.plan, inlined for a migration without context= and no forced
        # stage: the provider is asked once, and the rare answers that are not
        # a Stage member go to the engine.
        if simple and settings.forced is None:
            provider = settings.provider if own_provider is None else own_provider
            known = seen
            try:
                answer = (known[1] if provider is known[0] else getter(provider))()
            except BaseException as exc:
                if isinstance(exc, PROPAGATES):
                    raise
                answer = stage_failed(provider, name, exc)
            if answer is None:  # no opinion: the default stage
                plan = plans_by_id[id(settings.default_stage)]
            else:
                plan = plans_by_id.get(id(answer)) or plan_of(provider, answer)
        else:
            plan = plan_for(wrapped, instance, args, kwargs)
        # _events.state(), inlined: while structlog keeps the same finalized
        # logger, its answer is the one cached there.
        fixed = _events.fixed_state
        if _events.logger.bind is fixed[0]:
            log, info, warning = fixed[1]
        else:
            log, info, warning = state()
        other = plan.other
        if info or (other is not None and not quiet_pair):
            run = run_all(plan, wrapped, instance, args, kwargs)[0]
            if run.ok:
                return run.value
            raise run.exception  # type: ignore[misc]  # the side's own exception object

        auth = plan.authoritative
        first = old if auth is OLD else new
        start = perf_counter()
        if other is None:
            try:
                if first is _call_wrapped:  # old left out: the decorated function itself
                    return wrapped(*args, **kwargs)
                return first(wrapped, instance, args, kwargs)
            except BaseException as exc:
                if warning and not isinstance(exc, PROPAGATES):
                    engine.emit(log, info, warning, plan,
                                [SideRun(auth, False, None, exc, perf_counter() - start)])
                raise
        second = new if auth is OLD else old
        try:
            value = first(wrapped, instance, args, kwargs)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            failed = SideRun(auth, False, None, exc, perf_counter() - start)
            if stops:  # a write: the other side is never written after a failure
                engine.finish(log, info, warning, plan, [failed])
            else:  # a read runs the other side anyway: its result is still news
                engine.finish(log, info, warning, plan,
                              [failed, invoke(other, second, wrapped, instance, args, kwargs)])
            raise
        middle = perf_counter()
        try:
            other_value = second(wrapped, instance, args, kwargs)
        except BaseException as exc:
            if isinstance(exc, PROPAGATES):
                raise
            engine.finish(log, info, warning, plan, [
                SideRun(auth, True, value, None, middle - start),
                SideRun(other, False, None, exc, perf_counter() - middle),
            ])
            return value
        if stops or not (every_call or engine.sampled()):
            return value
        comparison = (
            engine.compare_values(value, other_value)
            if auth is OLD
            else engine.compare_values(other_value, value)
        )
        if comparison is not CONSISTENT and comparison.consistent is False and warning:
            engine.emit(log, info, warning, plan, [
                SideRun(auth, True, value, None, middle - start),
                SideRun(other, True, other_value, None, perf_counter() - middle),
            ], comparison)
        return value

    return call


def _async_call(engine: Engine) -> Callable[..., Any]:
    async def acall(wrapped: Any, instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        plan = await engine.aplan(wrapped, instance, args, kwargs)
        run = (await engine.arun(plan, wrapped, instance, args, kwargs))[0]
        if run.ok:
            return run.value
        raise run.exception  # type: ignore[misc]

    return acall


# -- the decorator -----------------------------------------------------------------


def _check_known(options: dict[str, Any]) -> None:
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, _OPTIONS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigurationError(
            f"@migration: unknown option {key!r}; {hint}the options are "
            f"{', '.join(_OPTIONS)}"
        )


def _operation(options: dict[str, Any], operation: Operation) -> Operation:
    given = options.get("operation", operation)
    if isinstance(given, str) and Operation.from_str(given) is not None:
        given = Operation.from_str(given)
    if not isinstance(given, Operation):
        _fail_type("operation", "Operation.READ or Operation.WRITE", given,
                   "or use @migration.read(...) / @migration.write(...)")
    return given


def _function(func: Any) -> Any:
    """The function under *func* (a classmethod or staticmethod holds one), checked."""
    function = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if not callable(function):
        _fail_type("the decorated object", "a function or method", func,
                   "put @migration(...) directly above a 'def'")
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigurationError(
            f"@migration: cannot decorate {_describe(function)}: it is a generator, whose "
            "values arrive after the call returns, so the two sides cannot be compared or "
            "written in step; return a list (or an async list) instead"
        )
    return function


def _compare(options: dict[str, Any], operation: Operation) -> Callable[[Any, Any], Any] | None:
    compare = options.get("compare")
    if compare is None:
        return None
    if operation is Operation.WRITE:
        raise ConfigurationError(
            "@migration: 'compare' was given for a write, but only reads are compared "
            f"(got compare={_describe(compare)}); remove it, or use @migration.read"
        )
    if not callable(compare):
        _fail_type("compare", "a callable compare(old_value, new_value) -> bool", compare,
                   "e.g. compare=lambda old, new: old == new")
    if inspect.iscoroutinefunction(compare):
        _fail_type("compare", "a sync callable (comparisons are not awaited)", compare,
                   "make the comparison a plain 'def'")
    return compare  # type: ignore[no-any-return]


def _name(options: dict[str, Any], function: Any) -> str:
    name = options.get("name")
    if name is None:
        return f"{function.__module__}.{function.__qualname__}"
    if not isinstance(name, str) or not name.strip():
        _fail_type("name", "a non-empty str", name, "e.g. name='users.get'")
    return str.__str__(name)  # a str subclass's own __hash__ never runs per call


def _execution_order(options: dict[str, Any]) -> ExecutionOrder:
    order = options.get("execution_order", ExecutionOrder.SERIAL)
    if isinstance(order, str) and ExecutionOrder.from_str(order) is not None:
        order = ExecutionOrder.from_str(order)
    if not isinstance(order, ExecutionOrder):
        _fail_type("execution_order", "an ExecutionOrder (SERIAL, RANDOM or PARALLEL)", order,
                   "e.g. execution_order=ExecutionOrder.RANDOM")
    return order


def _check_ratio(options: dict[str, Any]) -> int:
    ratio = options.get("check_ratio", 1)
    fix = "1 compares every call, N one call in N, 0 never"
    if isinstance(ratio, bool) or not isinstance(ratio, int):
        _fail_type("check_ratio", "an int >= 0", ratio, fix)
    if ratio < 0:
        _fail("check_ratio", "an int >= 0", ratio, fix)
    return ratio


def _shadow(options: dict[str, Any], operation: Operation,
            order: ExecutionOrder) -> tuple[str, float | None]:
    shadow = options.get("shadow", "inline")
    if shadow not in ("inline", "background"):
        _fail("shadow", "'inline' or 'background'", shadow,
              "'background' returns as soon as the authoritative read is done and "
              "finishes the other read and the comparison off the caller's path")
    timeout = options.get("shadow_timeout")
    if timeout is not None:
        fix = "give the seconds the non-authoritative read may take, e.g. shadow_timeout=0.05"
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            _fail_type("shadow_timeout", "a number of seconds > 0, or None", timeout, fix)
        if not (0 < timeout < math.inf):
            _fail("shadow_timeout", "a number of seconds > 0, or None", timeout, fix)
    if operation is Operation.WRITE:
        # A write's second side always runs to completion, in order, inside the
        # call: anything else could leave the stores apart without anyone waiting.
        if shadow != "inline" or timeout is not None:
            option = "shadow" if shadow != "inline" else "shadow_timeout"
            raise ConfigurationError(
                f"@migration: {option!r} applies to reads only (got {option}="
                f"{options[option]!r} on a write); a write runs its second side to completion "
                "before the call returns; remove it"
            )
        if order is not ExecutionOrder.SERIAL:
            raise ConfigurationError(
                f"@migration: a write runs the authoritative side first, then the other "
                f"(got execution_order={order}); remove execution_order from the write"
            )
    return shadow, None if timeout is None else float(timeout)


def _log_hooks(options: dict[str, Any]) -> tuple[Callable[[Any], Any] | None, SideFn | None]:
    log_values = options.get("log_values")
    if log_values is not None and not callable(log_values):
        _fail_type("log_values", "a callable that returns what events may say of a value",
                   log_values, "e.g. log_values=lambda user: {'id': user['id']}")
    log_arguments = options.get("log_arguments")
    if log_arguments is not None and not callable(log_arguments):
        _fail_type("log_arguments", "a callable taking the call's arguments and returning what "
                   "events may say of them", log_arguments,
                   "e.g. log_arguments=lambda self, user_id: {'user_id': user_id}")
    return log_values, None if log_arguments is None else _plain_side(log_arguments)


def _log_errors(options: dict[str, Any]) -> Callable[[BaseException], Any] | None:
    log_errors = options.get("log_errors")
    if log_errors is not None and not callable(log_errors):
        _fail_type("log_errors", "a callable taking an exception and returning the text to "
                   "log, or None", log_errors,
                   "e.g. log_errors=lambda exc: type(exc).__name__")
    return log_errors


def _context(options: dict[str, Any]) -> SideFn | None:
    context = options.get("context")
    if context is None:
        return None
    if not callable(context):
        _fail_type("context", "a callable taking the call's arguments", context,
                   "e.g. context=lambda self, user_id: user_id")
    return _plain_side(context)


def build(func: Any, operation: Operation, options: dict[str, Any]) -> MigrationProxy:
    """Check *options* and put a migration in front of *func*; the proxy."""
    _check_known(options)
    operation = _operation(options, operation)
    function = _function(func)
    is_async = inspect.iscoroutinefunction(function)
    if options.get("new") is None:
        raise ConfigurationError(
            "@migration: 'new' is required: the callable (or method name) that does the same "
            "on the new side, e.g. @migration(new=_get_from_new_store) or "
            "@migration(new='_get_from_new_store')"
        )
    old: SideFn
    old_awaits: bool | None
    if options.get("old") is None:
        old, old_awaits = _call_wrapped, is_async
    else:
        old, old_awaits = _side("old", options["old"], is_async)
    new, new_awaits = _side("new", options["new"], is_async)
    provider = options.get("provider")
    if provider is not None:
        check_provider("@migration: 'provider'", provider)

    order = _execution_order(options)
    shadow, shadow_timeout = _shadow(options, operation, order)
    log_values, log_arguments = _log_hooks(options)
    engine = Engine(
        name=_name(options, function),
        operation=operation,
        old=old,
        new=new,
        compare=_compare(options, operation),
        provider=provider,
        execution_order=order,
        check_ratio=_check_ratio(options),
        context=_context(options),
        shadow=shadow,
        shadow_timeout=shadow_timeout,
        log_values=log_values,
        log_errors=_log_errors(options),
        log_arguments=log_arguments,
        old_awaits=old_awaits,
        new_awaits=new_awaits,
    )
    return MigrationProxy(func, engine, is_async)


def _no_operation(kind: str, options: dict[str, Any]) -> None:
    if "operation" in options:
        raise ConfigurationError(
            f"@migration.{kind}: 'operation' is already {kind.upper()} here (got "
            f"operation={options['operation']!r}); remove it, or use @migration(operation=...)"
        )


class _Migration:
    """
    The ``migration`` decorator: ``@migration(new=...)``, ``@migration.read(new=...)``,
    ``@migration.write(new=...)``.
    """

    @overload
    def __call__(self, func: Callable[P, R], /, **options: Any) -> Callable[P, R]: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        new: Callable[..., Any] | str,
        old: Callable[..., Any] | str | None = ...,
        compare: Callable[[Any, Any], bool] | None = ...,
        name: str | None = ...,
        operation: Operation | str = ...,
        provider: Any = ...,
        execution_order: ExecutionOrder | str = ...,
        check_ratio: int = ...,
        context: Callable[..., Any] | None = ...,
        shadow: Literal["inline", "background"] = ...,
        shadow_timeout: float | None = ...,
        log_values: Callable[[Any], Any] | None = ...,
        log_arguments: Callable[..., Any] | None = ...,
        log_errors: Callable[[BaseException], Any] | None = ...,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def __call__(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a read (by default) or a write; see :func:`migration.read`.

        ``@migration(new=..., old=..., compare=..., name=..., operation=...,
        provider=..., execution_order=..., check_ratio=..., context=...)``.
        """
        return self._decorate(func, Operation.READ, options)

    @overload
    def read(self, func: Callable[P, R], /, **options: Any) -> Callable[P, R]: ...

    @overload
    def read(
        self,
        func: None = None,
        /,
        *,
        new: Callable[..., Any] | str,
        old: Callable[..., Any] | str | None = ...,
        compare: Callable[[Any, Any], bool] | None = ...,
        name: str | None = ...,
        provider: Any = ...,
        execution_order: ExecutionOrder | str = ...,
        check_ratio: int = ...,
        context: Callable[..., Any] | None = ...,
        shadow: Literal["inline", "background"] = ...,
        shadow_timeout: float | None = ...,
        log_values: Callable[[Any], Any] | None = ...,
        log_arguments: Callable[..., Any] | None = ...,
        log_errors: Callable[[BaseException], Any] | None = ...,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def read(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a read: in stages that read both sides, both run and their
        answers are compared with ``compare(old_value, new_value)`` (``==`` by
        default); the caller gets the authoritative side's answer.

        *new* (required) and *old* (default: the decorated function itself)
        are callables with the decorated function's own signature, ``self``
        included, or names of methods of the instance. *name* defaults to
        ``module.qualname``; *provider* to the process-wide provider.
        *log_values*, *log_arguments* and *log_errors* decide what events say
        of values, arguments and exception messages (see
        :func:`migratekit.configure` for ``log_errors``).
        """
        _no_operation("read", options)
        return self._decorate(func, Operation.READ, options)

    @overload
    def write(self, func: Callable[P, R], /, **options: Any) -> Callable[P, R]: ...

    @overload
    def write(
        self,
        func: None = None,
        /,
        *,
        new: Callable[..., Any] | str,
        old: Callable[..., Any] | str | None = ...,
        name: str | None = ...,
        provider: Any = ...,
        context: Callable[..., Any] | None = ...,
        log_values: Callable[[Any], Any] | None = ...,
        log_arguments: Callable[..., Any] | None = ...,
        log_errors: Callable[[BaseException], Any] | None = ...,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def write(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a write: the authoritative side is written first and, only
        when it succeeded, the other side (in stages that write both). The
        caller gets the authoritative side's answer or exception.
        """
        _no_operation("write", options)
        return self._decorate(func, Operation.WRITE, options)

    @staticmethod
    def _decorate(func: Any, operation: Operation, options: dict[str, Any]) -> Any:
        if func is None:
            def decorator(f: Any) -> Any:
                return build(f, operation, options)

            return decorator
        return build(func, operation, options)

    def __repr__(self) -> str:
        return "<migratekit.migration>"


migration = _Migration()
"""
Decorate a repository method with a migration: ``@migration(new=...)`` for a
read, ``@migration.write(new=...)`` for a write.
"""
