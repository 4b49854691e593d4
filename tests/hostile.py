"""
Hypothesis strategies of hostile objects: what user code may hand migratekit.

Every place where migratekit takes something from its user (a side's value or
exception, a comparison's answer, a stage provider's answer, a log hook's
return value) may be given one of these: objects whose dunder methods raise,
alone and in combination; huge values; structures nested deeper than the
recursion limit lets ``repr`` go; self-referential containers; lone
surrogates; ``str`` and ``int`` subclasses with raising methods; objects that
lie about their class; NaN and signalling NaN; exceptions whose ``str`` or
``repr`` raise, whose ``source``/``value`` cannot be hashed, whose attribute
lookup raises, whose class name cannot be read, or whose message is huge.

The strategies come in two kinds. ``*_recipes()`` draw :class:`Recipe`
objects: a label that prints safely and a factory that makes a fresh hostile
object; tests draw these, so that a falsifying example prints as labels,
never as a hostile object that would break the report. ``hostile_values()``,
``hostile_exceptions()`` and ``hostile_answers()`` draw the objects themselves.
"""

from __future__ import annotations

import asyncio
import decimal
import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from hypothesis import strategies as st

from migratekit import Stage

__all__ = [
    "DUNDERS",
    "HEAVY",
    "HUGE_STR",
    "LAZY_VALUES",
    "HostileError",
    "Recipe",
    "answer_list",
    "answer_recipes",
    "base_exception_list",
    "base_exception_recipes",
    "deep_dict",
    "deep_list",
    "exception_list",
    "exception_recipes",
    "hostile_answers",
    "hostile_base_exceptions",
    "hostile_exceptions",
    "hostile_values",
    "raising_class",
    "safe_label",
    "value_list",
    "value_recipes",
]


class HostileError(Exception):
    """What the methods of hostile objects raise."""


class Recipe:
    """
    A hostile object's label (safe to print) and the factory that makes one;
    *heavy* when merely rendering the object takes tens of milliseconds.
    """

    __slots__ = ("heavy", "label", "make")

    def __init__(self, label: str, make: Callable[[], Any], *, heavy: bool = False) -> None:
        self.label = label
        self.make = make
        self.heavy = heavy

    def __call__(self) -> Any:
        return self.make()

    def __repr__(self) -> str:
        return f"<{self.label}>"


def _raise(*args: Any, **kwargs: Any) -> NoReturn:
    raise HostileError("a hostile method was called")


def _raise_memory(*args: Any, **kwargs: Any) -> NoReturn:
    raise MemoryError("a hostile method ran out of memory")


def _raise_recursion(*args: Any, **kwargs: Any) -> NoReturn:
    raise RecursionError("a hostile method recursed too deep")


RAISERS: dict[str, Callable[..., NoReturn]] = {
    "HostileError": _raise,
    "MemoryError": _raise_memory,
    "RecursionError": _raise_recursion,
}

DUNDERS = (
    "__repr__",
    "__str__",
    "__eq__",
    "__ne__",
    "__hash__",
    "__bool__",
    "__len__",
    "__iter__",
    "__getattr__",
    "__format__",
    "__getitem__",
)
"""The methods that a hostile object's class may make raise."""


@functools.cache
def raising_class(
    dunders: frozenset[str], raiser: str = "HostileError", base: type = object,
    name: str = "Hostile",
) -> type:
    """A subclass of *base* named *name* whose methods *dunders* raise (one class per recipe)."""
    body: dict[str, Any] = dict.fromkeys(dunders, RAISERS[raiser])
    return type(name, (base,), body)


# -- huge and deep values -------------------------------------------------------------

HUGE_STR = "x" * 10_000_000
"""Ten megabytes of text."""

HUGE_BYTES = b"\0" * 10_000_000
INT_400_DIGITS = 10**399 + 7
INT_PAST_STR_LIMIT = 10**5000 + 1  # str() and repr() raise ValueError (int_max_str_digits)
DEPTH = sys.getrecursionlimit() * 20


def deep_list(depth: int = DEPTH) -> list[Any]:
    """A list nested *depth* deep: ``repr`` and ``==`` of it raise RecursionError."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int = DEPTH) -> dict[str, Any]:
    """A dict nested *depth* deep under the key ``"a"``."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _self_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def _self_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"id": 1}
    value["self"] = value
    return value


@functools.cache
def _shared(label: str) -> Any:
    """The huge values, made once per process: building them per example costs seconds."""
    makers: dict[str, Callable[[], Any]] = {
        "deep list": deep_list,
        "deep dict": deep_dict,
        "big list": lambda: list(range(200_000)),
        "big dict": lambda: {str(i): i for i in range(50_000)},
    }
    return makers[label]()


# -- str, int and bool look-alikes ---------------------------------------------------------

STR_METHODS = (
    "strip", "lower", "upper", "casefold", "__hash__", "__eq__", "__len__", "__getitem__",
    "__str__", "__repr__", "encode", "startswith",
)  # fmt: skip
INT_METHODS = ("__hash__", "__eq__", "__repr__", "__str__", "__bool__", "__index__", "__int__")


def _lying_class(claimed: type) -> Callable[[], Any]:
    """An object whose ``__class__`` says *claimed* (so ``isinstance`` believes it)."""

    class Liar:
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return claimed

        def __repr__(self) -> str:
            return f"<not a {claimed.__name__}>"

    return Liar


class _NameRaises(type):
    """A metaclass whose classes' ``__name__`` cannot be read."""

    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise HostileError("this class has no readable name")


# -- exceptions -------------------------------------------------------------------------------


class StrRaises(Exception):
    """An exception whose ``str()`` raises."""

    def __str__(self) -> str:
        raise HostileError("str() of this exception raises")


class ReprRaises(Exception):
    """An exception whose ``repr()`` raises."""

    def __repr__(self) -> str:
        raise HostileError("repr() of this exception raises")


class StrAndReprRaise(StrRaises, ReprRaises):
    """An exception whose ``str()`` and ``repr()`` both raise."""


class StrNotStr(Exception):
    """An exception whose ``__str__`` returns something that is not a str."""

    def __str__(self) -> Any:
        return 42  # noqa: PLE0307 - the hostility is the point


class StrSubclassMessage(Exception):
    """An exception whose ``str()`` is a str subclass whose methods raise."""

    def __str__(self) -> str:
        evil = raising_class(frozenset(STR_METHODS) | {"__len__", "__getitem__"}, base=str,
                             name="EvilStr")
        return evil("m" * 300)  # type: ignore[no-any-return]


class AttributeLookupRaises(Exception):
    """An exception whose missing attributes raise something else than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        raise HostileError(f"no attribute {name!r}, and not an AttributeError")


class HashRaises(Exception):
    """An exception that cannot be hashed or compared."""

    __hash__ = _raise
    __eq__ = _raise


class WithSource(Exception):
    """A failure that says where it came from, with whatever ``source`` and ``value`` it got."""

    def __init__(self, message: str, source: Any, value: Any) -> None:
        super().__init__(message)
        self.source = source
        self.value = value


class NameRaises(Exception, metaclass=_NameRaises):
    """An exception whose class's ``__name__`` raises."""


class DictMessage(Exception):
    """An exception whose only argument is a huge dict."""


def _unicode_error() -> BaseException:
    try:
        "\ud800".encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def _exception_factories() -> dict[str, Callable[[], BaseException]]:
    return {
        "plain Exception": lambda: Exception("plain"),
        "ValueError": lambda: ValueError("bad value"),
        "exception whose str raises": StrRaises,
        "exception whose repr raises": ReprRaises,
        "exception whose str and repr raise": StrAndReprRaise,
        "exception whose __str__ returns an int": StrNotStr,
        "exception whose str is a str subclass with raising methods": StrSubclassMessage,
        "exception whose attribute lookup raises": AttributeLookupRaises,
        "exception that cannot be hashed": HashRaises,
        "exception with an unhashable source": lambda: WithSource("bad", ["a", "list"], "v"),
        "exception with an unhashable value": lambda: WithSource("bad", "src", {"a": []}),
        "exception with a hostile source": lambda: WithSource(
            "bad", raising_class(frozenset(DUNDERS))(), None),
        "exception with a hostile value": lambda: WithSource(
            "bad", "src", raising_class(frozenset(DUNDERS))()),
        "exception with a huge source": lambda: WithSource("bad", HUGE_STR, HUGE_STR),
        "exception with a huge message": lambda: ValueError(HUGE_STR),
        "exception with a lone surrogate message": lambda: ValueError("bad \ud800 value"),
        "exception with a deep list as argument": lambda: DictMessage(_shared("deep list")),
        "exception with a self-referential argument": lambda: DictMessage(_self_list()),
        "exception whose class name cannot be read": NameRaises,
        "StopIteration": lambda: StopIteration("done"),
        "RecursionError": lambda: RecursionError("too deep"),
        "MemoryError": MemoryError,
        "UnicodeEncodeError": _unicode_error,
        "KeyError with a hostile key": lambda: KeyError(raising_class(frozenset(DUNDERS))()),
    }


def exception_list(*, for_async: bool = False) -> list[Recipe]:
    """
    Every fixed recipe of a hostile exception (all ``Exception`` subclasses),
    and one per raising dunder alone and all together. With *for_async*,
    leave out StopIteration, which Python itself turns into a RuntimeError
    when an ``async def`` raises it.
    """
    factories = _exception_factories()
    if for_async:
        del factories["StopIteration"]
    recipes = [Recipe(label, make, heavy=label in HEAVY) for label, make in factories.items()]
    recipes.extend(_dunder_exception(frozenset({name})) for name in DUNDERS)
    recipes.append(_dunder_exception(frozenset(DUNDERS)))
    return recipes


def _dunder_exception(names: frozenset[str]) -> Recipe:
    return Recipe(
        f"exception whose {','.join(sorted(names))} raise",
        lambda: raising_class(names, base=Exception, name="HostileException")("hostile"),
    )


def exception_recipes(*, for_async: bool = False) -> st.SearchStrategy[Recipe]:
    """Recipes of hostile exceptions: the fixed ones, or any set of raising dunders."""
    return st.one_of(
        st.sampled_from(exception_list(for_async=for_async)),
        st.frozensets(st.sampled_from(DUNDERS), min_size=1).map(_dunder_exception),
    )


def hostile_exceptions(*, for_async: bool = False) -> st.SearchStrategy[BaseException]:
    """Hostile exception objects, fresh for each draw."""
    return exception_recipes(for_async=for_async).map(lambda recipe: recipe())


class CustomBaseException(BaseException):
    """A BaseException that is neither an Exception nor one of Python's interrupts."""


class HostileBaseException(BaseException):
    """A custom BaseException whose ``str`` and ``repr`` raise."""

    def __str__(self) -> str:
        raise HostileError("str() of this BaseException raises")

    __repr__ = __str__


INTERRUPTS = ("KeyboardInterrupt", "SystemExit", "CancelledError")
"""The BaseExceptions that always propagate, from any side."""


def base_exception_list() -> list[Recipe]:
    """Recipes of BaseExceptions that are not Exceptions; the label is the class name."""

    factories: dict[str, Callable[[], BaseException]] = {
        "KeyboardInterrupt": KeyboardInterrupt,
        "SystemExit": lambda: SystemExit(3),
        "CancelledError": asyncio.CancelledError,
        "GeneratorExit": GeneratorExit,
        "CustomBaseException": CustomBaseException,
        "HostileBaseException": HostileBaseException,
    }
    return [Recipe(label, make) for label, make in factories.items()]


def base_exception_recipes() -> st.SearchStrategy[Recipe]:
    """Recipes of BaseExceptions that are not Exceptions."""
    return st.sampled_from(base_exception_list())


def hostile_base_exceptions() -> st.SearchStrategy[BaseException]:
    """BaseExceptions that are not Exceptions, fresh for each draw."""
    return base_exception_recipes().map(lambda recipe: recipe())


# -- values -------------------------------------------------------------------------------------


HEAVY = frozenset({
    "a 10 MB str", "10 MB of bytes", "a list of 200000 ints", "a dict of 50000 entries",
    "exception with a huge message", "exception with a huge source",
})
"""The recipes whose objects take tens of milliseconds to render or repr."""


def _value_factories() -> dict[str, Callable[[], Any]]:
    return {
        "None": lambda: None,
        "a 10 MB str": lambda: HUGE_STR,
        "10 MB of bytes": lambda: HUGE_BYTES,
        "a 400-digit int": lambda: INT_400_DIGITS,
        "an int too long for str()": lambda: INT_PAST_STR_LIMIT,
        "a list of 200000 ints": lambda: _shared("big list"),
        "a dict of 50000 entries": lambda: _shared("big dict"),
        "a list nested past the recursion limit": lambda: _shared("deep list"),
        "a dict nested past the recursion limit": lambda: _shared("deep dict"),
        "a list that contains itself": _self_list,
        "a dict that contains itself": _self_dict,
        "a lone surrogate": lambda: "\ud800",
        "a str with a lone surrogate": lambda: "abc\udfffdef",
        "a dict keyed by a lone surrogate": lambda: {"\ud800": 1, "ok": "\udc00"},
        "NaN": lambda: float("nan"),
        "a list holding NaN": lambda: [float("nan")],
        "a signalling decimal NaN": lambda: decimal.Decimal("sNaN"),
        "an object claiming to be a Stage": _lying_class(Stage),
        "an object claiming to be a str": _lying_class(str),
        "an object claiming to be a bool": _lying_class(bool),
        "an object claiming to be a dict": _lying_class(dict),
        "a numpy-like bool_ whose bool() raises": raising_class(
            frozenset({"__bool__"}), name="bool_"),
        "a bool_ whose every method raises": raising_class(
            frozenset(DUNDERS), name="bool_"),
        "an object whose class name cannot be read": _NameRaises(
            "Nameless", (), {}),
        "an exception object as a value": StrAndReprRaise,
        "a dict holding a hostile object": lambda: {
            "id": 1, "x": raising_class(frozenset(DUNDERS))()},
        "a list holding a hostile object": lambda: [raising_class(frozenset(DUNDERS))()],
        "a class whose metaclass hides its name": lambda: _NameRaises("Nameless", (), {}),
    }


def _dunder_recipes(base: type, name: str, methods: Iterable[str],
                    value: Any = None) -> st.SearchStrategy[Recipe]:
    return st.builds(
        functools.partial(_dunder_value, base, name),
        st.frozensets(st.sampled_from(tuple(methods)), min_size=1),
        st.sampled_from(tuple(RAISERS)),
        st.just(value),
    )


def _dunder_value(base: type, name: str, names: frozenset[str], raiser: str = "HostileError",
                  value: Any = None) -> Recipe:
    def make() -> Any:
        cls = raising_class(names, raiser, base, name)
        return cls() if value is None else cls(value)

    shown = "" if value is None else repr(value)
    return Recipe(f"{name}({shown}) whose {','.join(sorted(names))} raise {raiser}", make)


def value_list() -> list[Recipe]:
    """
    Every fixed recipe of a hostile value, one object per raising dunder
    alone and all together, the str and int subclasses with each method
    raising, and a few hostile exceptions used as values.
    """
    recipes = [Recipe(label, make, heavy=label in HEAVY)
               for label, make in _value_factories().items()]
    recipes.extend(_dunder_value(object, "Hostile", frozenset({name})) for name in DUNDERS)
    recipes.append(_dunder_value(object, "Hostile", frozenset(DUNDERS)))
    recipes.append(_dunder_value(object, "Hostile", frozenset(DUNDERS), "RecursionError"))
    recipes.extend(_dunder_value(str, "EvilStr", frozenset({name}), value="shadow")
                   for name in STR_METHODS)
    recipes.append(_dunder_value(str, "EvilStr", frozenset(STR_METHODS), value="shadow"))
    recipes.append(_dunder_value(int, "EvilInt", frozenset(INT_METHODS), value=7))
    return recipes


def value_recipes() -> st.SearchStrategy[Recipe]:
    """Recipes of hostile values: what a side, a comparison or a log hook may return."""
    return st.one_of(
        st.sampled_from(value_list()),
        _dunder_recipes(object, "Hostile", DUNDERS),
        _dunder_recipes(str, "EvilStr", STR_METHODS, "shadow"),
        _dunder_recipes(int, "EvilInt", INT_METHODS, 7),
        exception_recipes(),
    )


LAZY_VALUES: dict[str, Callable[[], Any]] = {
    "a lazy range of 10**18": lambda: range(10**18),
    "a lazy range of 10**18 + 1": lambda: range(10**18 + 1),
}
"""
Values whose walk never ends in practice (a lazy sequence of 10**18 items),
kept out of :func:`value_recipes`: code that walks them spins on a core until
the process exits, so tests feed them to a subprocess they can kill.
"""


def hostile_values() -> st.SearchStrategy[Any]:
    """Hostile values, fresh for each draw where that is cheap."""
    return value_recipes().map(lambda recipe: recipe())


# -- stage providers' answers ------------------------------------------------------------------


def _constant(value: Any) -> Recipe:
    return Recipe(repr(value), lambda: value)


def _stage_names() -> list[Recipe]:
    spellings = [
        spelling
        for stage in Stage
        for spelling in (stage.value, stage.value.upper(), f"  {stage.value.title()}\n")
    ]
    return [*map(_constant, Stage), *map(_constant, spellings)]


def answer_list() -> list[Recipe]:
    """Every fixed recipe of a provider's answer: stage members and names, hostile values."""
    return [*_stage_names(), *value_list()]


def answer_recipes() -> st.SearchStrategy[Recipe]:
    """
    Recipes of what a stage provider may answer: real Stage members, stage
    names in odd spellings, and every hostile value.
    """
    return st.one_of(st.sampled_from(_stage_names()), value_recipes())


def hostile_answers() -> st.SearchStrategy[Any]:
    """What a stage provider may answer: Stage members, stage names, hostile values."""
    return answer_recipes().map(lambda recipe: recipe())


def safe_label(value: Any) -> str:
    """A description of *value* that never raises."""
    try:
        return f"a {type(value).__name__}"
    except Exception:
        return "an object whose type has no name"
