"""
The options of ``@migration``, checked once into a frozen :class:`Options`.

Each option is named once, in the TypedDicts below, which the decorator's
signatures unpack (``**options: Unpack[ReadOptions]``). :func:`options_for`
checks what was given against them, one option at a time, converts each
(a side into the function the engine calls, ``"parallel"`` into
``ExecutionOrder.PARALLEL``) and fails with a message that says what was
expected and how to fix it. The engine is built from the result.
"""

from __future__ import annotations

import difflib
import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from types import CoroutineType
from typing import Any, Literal, NoReturn, TypedDict, TypeVar

from migratekit._types import ExecutionOrder, Operation
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import check_provider

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Required

__all__ = [
    "MigrationOptions",
    "Options",
    "ReadOptions",
    "SideFn",
    "WriteOptions",
    "call_wrapped",
    "check_diff_key",
    "check_hook",
    "options_for",
    "plain_side",
]

SideFn = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
"""
One side, called the way wrapt calls a wrapper: ``side(wrapped, instance,
args, kwargs)``. Built here from ``old``/``new``; the Migrator builds its own
from its ``MigratorFn``s.
"""


# -- the options, each named once ------------------------------------------------------------


class _EveryOptions(TypedDict, total=False):
    """The options of every migration, read or write."""

    new: Required[Callable[..., Any] | str]
    """The new side: a callable with the decorated function's signature, or a method's name."""
    old: Callable[..., Any] | str | None
    """The old side; by default the decorated function itself."""
    name: str | None
    """The migration's name in events and variables; by default ``module.qualname``."""
    provider: Any
    """The stage provider; by default the process-wide one (``configure(provider=...)``)."""
    context: Callable[..., Any] | None
    """Takes the call's arguments, returns the context the provider is asked with."""
    log_values: Callable[[Any], Any] | None
    """Returns what events may say of a side's value; by default they say nothing of it."""
    log_arguments: Callable[..., Any] | None
    """Takes the call's arguments, returns what the op event may say of them."""
    log_errors: Callable[[BaseException], Any] | None
    """Returns the text events give for an exception; see ``configure(log_errors=...)``."""


class WriteOptions(_EveryOptions, total=False):
    """The options of ``@migration.write``: those of every migration, and ``pass_result``."""

    pass_result: bool
    """``True``: the second side also gets ``result=`` the authoritative side's return value."""


class ReadOptions(_EveryOptions, total=False):
    """The options of ``@migration.read``: every migration's, and how two reads run and compare."""

    compare: Callable[[Any, Any], bool] | None
    """``compare(old_value, new_value) -> bool``; ``==`` by default."""
    normalize: Callable[[Any], Any] | None
    """Applied to each side's value before ``compare`` and ``diff_paths``; the caller gets
    the raw value."""
    ignore: Callable[[Any, Any], bool] | None
    """``ignore(old, new) -> bool``, asked when reads differ: ``True`` accepts the difference."""
    diff_key: str | None
    """The field that matches records in two lists for ``diff_paths``; ``id``, ``key``, ``pk``
    by default."""
    execution_order: ExecutionOrder | str
    """SERIAL (default), RANDOM or PARALLEL."""
    check_ratio: int
    """1 compares every read of both sides, N one in N, 0 none."""
    shadow: Literal["inline", "background"]
    """``"background"`` returns after the authoritative read and finishes the other later."""
    shadow_timeout: float | None
    """Seconds the non-authoritative read may take before it counts as failed."""
    shadow_ratio: int
    """1 runs the non-authoritative read on every call that would run it, N on one in N."""


class MigrationOptions(ReadOptions, WriteOptions, total=False):
    """The options of ``@migration``: a read's or a write's, and which operation it is."""

    operation: Operation | str
    """READ (default) or WRITE."""


_KNOWN = tuple(MigrationOptions.__annotations__)


@dataclass(frozen=True)
class Options:
    """A migration's options, checked and converted: what its engine is built from."""

    name: str
    operation: Operation
    old: SideFn
    new: SideFn
    old_awaits: bool | None
    """Whether the old side's answer is awaited: always (``True``), never (``False``),
    or when it is awaitable (``None``: a lambda or callable object in async code)."""
    new_awaits: bool | None
    compare: Callable[[Any, Any], Any] | None = None
    provider: Any = None
    execution_order: ExecutionOrder = ExecutionOrder.SERIAL
    check_ratio: int = 1
    context: SideFn | None = None
    shadow: str = "inline"
    shadow_timeout: float | None = None
    shadow_ratio: int = 1
    log_values: Callable[[Any], Any] | None = None
    log_arguments: SideFn | None = None
    log_errors: Callable[[BaseException], Any] | None = None
    is_async: bool = False
    normalize: Callable[[Any], Any] | None = None
    ignore: Callable[[Any, Any], Any] | None = None
    diff_key: str | None = None
    pass_result: bool = False


def options_for(func: Any, operation: Operation, given: dict[str, Any]) -> Options:
    """Check the options *given* to decorate *func* as *operation*; the frozen result."""
    _check_known(given)
    operation = _operation(given, operation)
    function = _function(func)
    is_async = inspect.iscoroutinefunction(function)
    if given.get("new") is None:
        raise ConfigurationError(
            "@migration: 'new' is required: the callable (or method name) that does the same "
            "on the new side, e.g. @migration(new=_get_from_new_store) or "
            "@migration(new='_get_from_new_store')"
        )
    old: SideFn
    old_awaits: bool | None
    if given.get("old") is None:
        old, old_awaits = call_wrapped, is_async
    else:
        old, old_awaits = _side("old", given["old"], is_async)
    new, new_awaits = _side("new", given["new"], is_async)
    provider = given.get("provider")
    if provider is not None:
        check_provider("@migration: 'provider'", provider)
    order = _execution_order(given)
    shadow, shadow_timeout = _shadow(given, operation, order)
    log_values, log_arguments = _log_hooks(given)
    normalize, ignore, diff_key = _judging(given, operation)
    return Options(
        name=_name(given, function),
        operation=operation,
        old=old,
        new=new,
        old_awaits=old_awaits,
        new_awaits=new_awaits,
        compare=_compare(given, operation),
        provider=provider,
        execution_order=order,
        check_ratio=_check_ratio(given),
        shadow_ratio=_shadow_ratio(given, operation),
        context=_context(given),
        shadow=shadow,
        shadow_timeout=shadow_timeout,
        log_values=log_values,
        log_arguments=log_arguments,
        log_errors=_log_errors(given),
        is_async=is_async,
        normalize=normalize,
        ignore=ignore,
        diff_key=diff_key,
        pass_result=_pass_result(given, operation, function),
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


def call_wrapped(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    return wrapped(*args, **kwargs)


def plain_side(side: Callable[..., Any]) -> SideFn:
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
        function, make = side, plain_side
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
        if make is plain_side:
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


# -- checking each option ---------------------------------------------------------------------


def _check_known(options: dict[str, Any]) -> None:
    unknown = [key for key in options if key not in _KNOWN]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, _KNOWN, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigurationError(
            f"@migration: unknown option {key!r}; {hint}the options are "
            f"{', '.join(_KNOWN)}"
        )


_E = TypeVar("_E", bound=Enum)


def _member(kind: type[_E], option: str, given: Any, expected: str, fix: str) -> _E:
    """*given* as a member of the enum *kind*: a member, or its name (``from_str``)."""
    if isinstance(given, str):
        member = kind.from_str(given)  # type: ignore[attr-defined]
        if member is not None:
            given = member
    if not isinstance(given, kind):
        _fail_type(option, expected, given, fix)
    return given


def _operation(options: dict[str, Any], operation: Operation) -> Operation:
    return _member(Operation, "operation", options.get("operation", operation),
                   "Operation.READ or Operation.WRITE",
                   "or use @migration.read(...) / @migration.write(...)")


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
    return _member(ExecutionOrder, "execution_order",
                   options.get("execution_order", ExecutionOrder.SERIAL),
                   "an ExecutionOrder (SERIAL, RANDOM or PARALLEL)",
                   "e.g. execution_order=ExecutionOrder.RANDOM")


def _check_ratio(options: dict[str, Any]) -> int:
    ratio = options.get("check_ratio", 1)
    fix = "1 compares every call, N one call in N, 0 never"
    if isinstance(ratio, bool) or not isinstance(ratio, int):
        _fail_type("check_ratio", "an int >= 0", ratio, fix)
    if ratio < 0:
        _fail("check_ratio", "an int >= 0", ratio, fix)
    return ratio


def _shadow_ratio(options: dict[str, Any], operation: Operation) -> int:
    ratio = options.get("shadow_ratio", 1)
    fix = "1 runs the other read on every call, N on one call in N"
    if isinstance(ratio, bool) or not isinstance(ratio, int):
        _fail_type("shadow_ratio", "an int >= 1", ratio, fix)
    if ratio < 1:
        _fail("shadow_ratio", "an int >= 1", ratio, fix)
    if operation is Operation.WRITE and ratio != 1:
        raise ConfigurationError(
            f"@migration: 'shadow_ratio' applies to reads only (got shadow_ratio={ratio} on a "
            "write); a write writes both sides in every stage that writes both; remove it"
        )
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
    return log_values, None if log_arguments is None else plain_side(log_arguments)


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
    return plain_side(context)


def _judging(options: dict[str, Any], operation: Operation) -> tuple[
        Callable[[Any], Any] | None, Callable[[Any, Any], Any] | None, str | None]:
    """``normalize``, ``ignore`` and ``diff_key``: how two reads' values are judged."""
    normalize = options.get("normalize")
    ignore = options.get("ignore")
    diff_key = options.get("diff_key")
    for option, value in (("normalize", normalize), ("ignore", ignore),
                          ("diff_key", diff_key)):
        if value is not None and operation is Operation.WRITE:
            raise ConfigurationError(
                f"@migration: {option!r} was given for a write, but only reads are compared "
                f"(got {option}={_describe(value)}); remove it, or use @migration.read"
            )
    if normalize is not None:
        check_hook("@migration", "normalize", normalize,
                   "a callable normalize(value) returning what compare and diff_paths see",
                   "e.g. normalize=lambda user: {'id': user.id, 'bio': user.bio}")
    if ignore is not None:
        check_hook("@migration", "ignore", ignore,
                   "a callable ignore(old_value, new_value) -> bool",
                   "e.g. ignore=lambda old, new: old['updated_at'] != new['updated_at']")
    return normalize, ignore, check_diff_key("@migration", diff_key)


def check_hook(where: str, option: str, hook: Any, expected: str, fix: str) -> None:
    """Fail unless *hook* is a sync callable (hooks are called, never awaited)."""
    if not callable(hook):
        raise ConfigurationTypeError(
            f"{where}: {option!r} must be {expected} (got {_describe(hook)}); {fix}")
    if _is_async_callable(hook):
        raise ConfigurationTypeError(
            f"{where}: {option!r} must be a sync callable: it is called on the comparison's "
            f"path and never awaited (got {_describe(hook)}); make it a plain 'def'")


def check_diff_key(where: str, diff_key: Any) -> str | None:
    """*diff_key* checked: ``None``, or the non-empty name of a field."""
    if diff_key is None:
        return None
    if not isinstance(diff_key, str) or not diff_key:
        raise ConfigurationTypeError(
            f"{where}: 'diff_key' must be the name of the field that identifies a record in a "
            f"list, a non-empty str (got {_describe(diff_key)}); e.g. diff_key='user_id'")
    return str.__str__(diff_key)


def _pass_result(options: dict[str, Any], operation: Operation, function: Any) -> bool:
    given = options.get("pass_result", False)
    if not isinstance(given, bool):
        _fail_type("pass_result", "True or False", given,
                   "pass_result=True gives the second side result=<the first side's return "
                   "value>")
    if given and operation is Operation.READ:
        raise ConfigurationError(
            "@migration: 'pass_result' applies to writes only (got pass_result=True on a "
            "read): a read's two sides answer the same question independently, to be compared; "
            "remove it, or use @migration.write"
        )
    if given and options.get("old") is None and not _takes_result(function):
        # The decorated function is the old side, which LIVE and RAMPDOWN write second.
        raise ConfigurationError(
            f"@migration: pass_result=True gives the side written second result=, and in LIVE "
            f"and RAMPDOWN that is the old side, here the decorated function "
            f"{_describe(function)}, which takes no 'result'; give it a parameter "
            "result=None, or name the old side with old=..."
        )
    return given


def _takes_result(function: Any) -> bool:
    """Whether *function* can be called with the keyword ``result``; ``True`` when unknown."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            return True
        if parameter.name == "result" and parameter.kind is not parameter.POSITIONAL_ONLY:
            return True
    return False
