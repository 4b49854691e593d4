"""
Checks of a decoration made before its first call, so that a side that can
never work fails where it is written, not at every call.

Two moments: when the decorator is applied, a callable side's signature is
bound to the arguments the decorated function passes it
(:func:`decoration_checks`); when the class that holds the decorated method
is created (``__set_name__``), a side named by a string is looked for in the
class (the check :func:`decoration_checks` returns for that moment). Neither
adds anything to a call.

Each check fails only when no reading of the decoration can work; what can
only be known at call time (an attribute set on the instance, a subclass's
method, a builtin's arguments) passes.
"""

from __future__ import annotations

import difflib
import dis
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any, NoReturn

from migratekit._text import type_name
from migratekit.exceptions import ConfigurationError

__all__ = ["ClassCheck", "decoration_checks"]

ClassCheck = Callable[[type, str], None]
"""Run by the proxy's ``__set_name__``: ``check(owner, attribute)``; raises ConfigurationError."""

_SIDES = ("old", "new")
_EMPTY = inspect.Parameter.empty
_TYPE_QUALNAME: Any = type.__dict__["__qualname__"]
_CLOSE = 0.75
"""How close (difflib's ratio) a missing name must be to one of the class's to read as its
typo: one letter wrong in four, two in eight; ``_old`` and ``_new`` (0.5) are far apart."""


def decoration_checks(func: Any, given: Mapping[str, Any]) -> ClassCheck | None:
    """
    Check the callable sides in *given* (the decorator's options, already
    checked one by one) against *func*, the decorated object; raise
    :class:`ConfigurationError` for one that cannot take *func*'s arguments.
    Return what is left to check once *func* is put in a class: the sides
    named by a string, and a staticmethod side's reading as a method's side
    (``None`` when there is nothing).
    """
    kind = _kind(func)
    function = func.__func__ if kind in ("static", "class") else func
    shape = _Shape.of(function, pass_result=given.get("pass_result") is True)
    named: list[tuple[str, str]] = []
    later: list[_StaticSide] = []
    for option in _SIDES:
        side = given.get(option)
        if side is None:
            continue
        if isinstance(side, str):
            if kind != "static":  # a staticmethod has no instance to look the name up on
                named.append((option, side))
            continue
        if shape is None:
            continue
        static = isinstance(side, staticmethod)
        target = side.__func__ if isinstance(side, (staticmethod, classmethod)) else side
        signature = _signature(target)
        if signature is None:
            continue
        if not static or kind == "static":
            shape.require(option, target, signature, drop_self=False)
        elif kind == "class":
            shape.require(option, target, signature, drop_self=True)
        else:
            # A staticmethod side is called without the instance: the decorated
            # function's arguments less `self` when it is a method, all of them
            # when it is a plain function. Which one is known when a class takes
            # it; until then either reading will do.
            shape.require_either(option, target, signature)
            if isinstance(function, FunctionType):
                later.append(_StaticSide(option, target, signature, shape))
    if not named and not later:
        return None
    return _ClassCheck(tuple(named), tuple(later), on_class=kind == "class").check


def _kind(func: Any) -> str:
    if isinstance(func, staticmethod):
        return "static"
    if isinstance(func, classmethod):
        return "class"
    return "function"


def _signature(function: Any) -> inspect.Signature | None:
    """
    *function*'s own signature, or ``None`` when it cannot be read (a builtin,
    a C function, an object whose ``__signature__`` is wrong or raises).
    ``__wrapped__`` is not followed: a ``functools.wraps`` wrapper that
    takes ``(*args, **kwargs)`` to add an argument of its own takes anything.
    """
    try:
        return inspect.signature(function, follow_wrapped=False)
    except Exception:
        return None


# -- the arguments a side is called with -------------------------------------------------------


Call = tuple[tuple[str, ...], tuple[str, ...]]
"""A way the side may be called: the names of the positional arguments, then of the keywords."""


@dataclass(frozen=True)
class _Shape:
    """
    The calls the decorated function may pass on to a side, read from its
    signature: its required arguments alone, and every argument (optional
    ones positional, or by keyword: either will do). With ``*args`` or
    ``**kwargs`` in it, what a side needs more may come through them: only
    what cannot be bound at all (one argument too many, an unknown keyword)
    is refused.
    """

    qualname: str
    signature: inspect.Signature
    calls: tuple[tuple[Call, ...], ...]
    open_ended: bool
    pass_result: bool

    @classmethod
    def of(cls, function: Any, *, pass_result: bool) -> _Shape | None:
        signature = _signature(function)
        if signature is None:
            return None
        required: list[str] = []
        positional_only: list[str] = []  # optional, and positional only
        either: list[str] = []  # optional, by position or by keyword
        keywords: list[str] = []
        optional_keywords: list[str] = []
        open_ = False
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                open_ = True
            elif parameter.kind is parameter.KEYWORD_ONLY:
                (keywords if parameter.default is _EMPTY else optional_keywords).append(
                    parameter.name)
            elif parameter.default is _EMPTY:
                required.append(parameter.name)
            elif parameter.kind is parameter.POSITIONAL_ONLY:
                positional_only.append(parameter.name)
            else:
                either.append(parameter.name)
        # The required arguments alone; then every argument, the optional
        # positional ones passed by position or (when they may be) by keyword.
        calls: list[tuple[Call, ...]] = [((tuple(required), tuple(keywords)),)]
        if positional_only or either or optional_keywords:
            every: list[Call] = [(tuple(required + positional_only + either),
                                  tuple(keywords + optional_keywords))]
            if either:
                every.append((tuple(required + positional_only),
                              tuple(keywords + either + optional_keywords)))
            calls.append(tuple(every))
        try:
            qualname = str(function.__qualname__)
        except Exception:
            qualname = type_name(function)
        return cls(qualname, signature, tuple(calls), open_, pass_result)

    def failure(self, signature: inspect.Signature, *, drop_self: bool) -> _Failure | None:
        """The first call the side of *signature* cannot take, and why; ``None`` if none."""
        if drop_self and not self.calls[-1][0][0]:
            return None  # no named `self` to leave out: it comes through *args, or never
        for result in (False, True) if self.pass_result else (False,):
            for alternatives in self.calls:
                failures: list[_Failure] = []
                for args, kwargs in alternatives:
                    call: Call = (args[1:] if drop_self else args,
                                  (*kwargs, "result") if result else kwargs)
                    reason = _cannot_bind(signature, call, partial=self.open_ended)
                    if reason is None:
                        break
                    failures.append(_Failure(call, reason, result))
                else:
                    return failures[0]
        return None

    def require(self, option: str, side: Any, signature: inspect.Signature, *,
                drop_self: bool) -> None:
        failed = self.failure(signature, drop_self=drop_self)
        if failed is not None:
            self.refuse(option, side, signature, failed, drop_self=drop_self)

    def require_either(self, option: str, side: Any, signature: inspect.Signature) -> None:
        failed = self.failure(signature, drop_self=False)
        if failed is not None and self.failure(signature, drop_self=True) is not None:
            self.refuse(option, side, signature, failed, drop_self=False, either=True)

    def refuse(self, option: str, side: Any, signature: inspect.Signature, failed: _Failure,
               *, drop_self: bool, either: bool = False, where: str | None = None) -> NoReturn:
        args, kwargs = failed.call
        passed = ", ".join([*args, *(f"{name}=…" for name in kwargs)])
        where = where or self.qualname
        expected = _shown(self.signature, drop_self=drop_self)
        if failed.result:
            fix = ("with pass_result=True the side that runs second also gets result=<the "
                   f"other side's answer>: give {option!r} a parameter result")
        elif drop_self:
            fix = (f"a staticmethod side of a method is called without self: give {option!r} "
                   f"the signature {expected}")
        else:
            fix = (f"a side is called with the decorated function's own arguments, self or "
                   f"cls included: give {option!r} the signature {expected}")
            if either:
                fix += (f", or {_shown(self.signature, drop_self=True)} if it is a "
                        "staticmethod of the class that holds the method")
        raise ConfigurationError(
            f"@migration on {where}: {option!r} ({_describe(side)}) has the signature "
            f"{_shown(signature, drop_self=False)}, which cannot take the arguments of "
            f"{where}{_shown(self.signature, drop_self=False)}: called as "
            f"{option}({passed}), {failed.reason}; {fix}"
        )


@dataclass(frozen=True)
class _Failure:
    call: Call
    reason: str
    result: bool
    """Whether only the keyword result= (pass_result=True) made the call fail."""


def _cannot_bind(signature: inspect.Signature, call: Call, *, partial: bool) -> str | None:
    args, kwargs = call
    try:
        bind = signature.bind_partial if partial else signature.bind
        bind(*args, **dict.fromkeys(kwargs))
    except TypeError as exc:
        return str(exc)
    return None


class _Elided:
    def __repr__(self) -> str:
        return "…"


_ELIDED = _Elided()


def _shown(signature: inspect.Signature, *, drop_self: bool) -> str:
    """*signature* without annotations, and defaults shown as ``…`` (their repr may raise)."""
    parameters = list(signature.parameters.values())
    if drop_self and parameters and parameters[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        parameters = parameters[1:]
    plain = [parameter.replace(annotation=_EMPTY,
                               default=_EMPTY if parameter.default is _EMPTY else _ELIDED)
             for parameter in parameters]
    return str(signature.replace(parameters=plain, return_annotation=_EMPTY))


def _describe(side: Any) -> str:
    """*side* for a message: a function by its name, any other object by its class alone
    (its ``repr`` may be long, or raise)."""
    try:
        name = side.__qualname__
        if type(name) is str:
            return f"{name} that is a {type_name(side)}"
    except Exception:
        pass
    return f"an object of class {type_name(side)}"


# -- sides named by a string, when the class is created ----------------------------------------
#
# A side named by a string is looked up on the instance at each call (on the
# class for a classmethod), so that subclasses can override it. When the class
# is created, a name it has nowhere may still be set later: on the instance
# (in __init__, or by whoever holds it), by a subclass, by a __getattr__. Those
# cannot be told apart from a mistake by looking, and failing them would break
# code that works. A name that is missing but one letter or two away from a
# name the class has is a typo far more often than a plan, so that is what
# fails, with the name it probably meant. Such a name is still taken as
# planned when the class declares it (an annotation in the class body), sets
# it in one of its methods (self._kv_gett = ...), or has a __getattr__. A
# name that is like nothing in the class passes; its first call says.


@dataclass(frozen=True)
class _StaticSide:
    """A staticmethod side of a plain function, to be read as a method's side in a class."""

    option: str
    side: Any
    signature: inspect.Signature
    shape: _Shape


@dataclass(frozen=True)
class _ClassCheck:
    named: tuple[tuple[str, str], ...]
    static_sides: tuple[_StaticSide, ...]
    on_class: bool

    def check(self, owner: type, attribute: str) -> None:
        owner_name = str(_TYPE_QUALNAME.__get__(owner))  # a metaclass's own cannot interfere
        for static in self.static_sides:
            failed = static.shape.failure(static.signature, drop_self=True)
            if failed is not None:
                static.shape.refuse(static.option, static.side, static.signature, failed,
                                    drop_self=True, where=f"{owner_name}.{attribute}")
        for option, name in self.named:
            _check_name(owner, owner_name, attribute, option, name, on_class=self.on_class)


def _check_name(owner: type, owner_name: str, attribute: str, option: str, name: str, *,
                on_class: bool) -> None:
    where = f"@migration on {owner_name}.{attribute}"
    if name == attribute:
        raise ConfigurationError(
            f"{where}: {option}={name!r} names the decorated method itself, so that side "
            "would run the migration again at every call, without end; name the method "
            f"that does the work on the {option} side"
        )
    try:
        close = _typo_of(owner, attribute, name, on_class=on_class)
    except Exception:  # a class that cannot be looked at (a hostile metaclass): no verdict
        return
    if close is None:
        return
    looked_up_on = "the class" if on_class else "the instance"
    raise ConfigurationError(
        f"{where}: {option}={name!r} is not an attribute of {owner_name} or its bases "
        f"(a side named by a string is looked up on {looked_up_on} at each call); did you "
        f"mean {close!r}? Fix the name; or, if {name!r} is set later (on the instance, by a "
        f"subclass), declare it in the class body: {name}: Callable[..., Any]"
    )


def _typo_of(owner: type, attribute: str, name: str, *, on_class: bool) -> str | None:
    """The name of *owner* that *name* is a typo of; ``None`` when *name* may yet resolve."""
    classes = [klass for klass in owner.__mro__ if klass is not object]
    if on_class:
        metaclass: type = type(owner)
        classes += [klass for klass in metaclass.__mro__ if klass not in (type, object)]
    names: set[str] = set()
    for klass in classes:
        attributes = vars(klass)
        if name in attributes or "__getattr__" in attributes or (
                "__getattribute__" in attributes):
            return None
        declared = _annotations(klass)
        if name in declared:
            return None
        names.update(key for key in attributes if type(key) is str)
        names.update(key for key in declared if type(key) is str)
    dunder = name.startswith("__") and name.endswith("__")
    candidates = [key for key in names
                  if key != attribute and (dunder or not key.startswith("__"))]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=_CLOSE)
    if not close or any(_sets(klass, name) for klass in classes):
        return None
    return close[0]


def _annotations(klass: type) -> Mapping[Any, Any]:
    """The names *klass* annotates in its own body (not its bases')."""
    try:
        return inspect.get_annotations(klass)
    except Exception:  # Python 3.14 evaluates them: a name not defined yet raises
        if sys.version_info >= (3, 14):  # pragma: no cover - Python 3.14
            annotationlib = importlib.import_module("annotationlib")
            found: Mapping[Any, Any] = annotationlib.get_annotations(
                klass, format=annotationlib.Format.FORWARDREF)
            return found
        return {}


def _sets(klass: type, name: str) -> bool:
    """Whether a method of *klass* sets the attribute *name* (``self.name = ...``,
    ``setattr(self, "name", ...)``)."""
    return any(_code_sets(code, name) for value in vars(klass).values()
               for code in _codes(value))


def _codes(value: Any) -> Iterator[CodeType]:
    try:
        if isinstance(value, (staticmethod, classmethod)):
            functions: tuple[Any, ...] = (value.__func__,)
        elif isinstance(value, property):
            functions = (value.fget, value.fset)
        else:
            functions = (value,)
        for function in functions:
            if isinstance(function, FunctionType):
                yield function.__code__
    except Exception:
        return


def _code_sets(code: CodeType, name: str) -> bool:
    if name in code.co_names or name in code.co_consts:
        for instruction in dis.get_instructions(code):
            if instruction.argval == name and instruction.opname in ("STORE_ATTR",
                                                                      "LOAD_CONST"):
                return True
    return any(_code_sets(const, name) for const in code.co_consts
               if isinstance(const, CodeType))
