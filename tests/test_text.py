"""Tests of migratekit._text: values from outside shown bounded, without running their code."""

from __future__ import annotations

from typing import Any

import pytest

from migratekit._text import shown_repr, shown_value


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("hostile")


class EvilStr(str):
    """A str whose methods raise."""

    strip = lower = encode = isprintable = __len__ = __getitem__ = _raise
    __hash__ = __eq__ = __str__ = __repr__ = _raise


class EvilInt(int):
    """An int whose repr and str raise."""

    __repr__ = __str__ = __hash__ = _raise


class NameRaises(type):
    """A metaclass whose classes' __name__ cannot be read."""

    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("no name")


class Nameless(metaclass=NameRaises):
    """An object whose class has no readable name, and whose repr raises."""

    __repr__ = _raise


class Liar:
    """An object that says it is a str."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return str

    def __repr__(self) -> str:
        return "<not a str>"


class PlainSub(str):
    """A harmless str subclass."""


class FloatSub(float):
    """A float whose repr raises."""

    __repr__ = _raise


class ReprIsStrSubclass:
    """An object whose repr is a str subclass."""

    def __repr__(self) -> str:
        return PlainSub("<sub>")


class LongRepr:
    """An object whose repr is long."""

    def __repr__(self) -> str:
        return "r" * 1000


def _released() -> memoryview:
    view = memoryview(b"gone")
    view.release()
    return view


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value



@pytest.mark.parametrize(
    "value",
    [
        EvilStr("shadow"),
        EvilStr("s" * 10_000),
        EvilInt(5),
        10**5000,
        Nameless(),
        Liar(),
        _deep(100_000),
        list(range(200_000)),
        bytearray(b"\xff" * 5000),
        memoryview(b"abc"),
        float("nan"),
        "\udcff" * 10,
        _released(),
        [1, 2],
        10**100,
        FloatSub(1.5),
        ReprIsStrSubclass(),
        LongRepr(),
        type("int", (), {"__repr__": lambda self: PlainSub("7")})(),
    ],
    ids=[
        "str subclass", "long str subclass", "int subclass", "int past str()'s digits",
        "class without a name", "liar", "deep list", "big list", "bytearray", "memoryview",
        "nan", "lone surrogates", "released memoryview", "short list", "long int",
        "float subclass", "repr is a str subclass", "long repr", "class named int",
    ],
)
def test_shown_value_and_repr_never_raise_and_stay_short(value: Any) -> None:
    """Whatever the value, shown_value and shown_repr answer a short plain str (or the value)."""
    shown = shown_value(value)
    assert shown is value or type(shown) is str
    if type(shown) is str:
        assert len(shown) < 200
        shown.encode("utf-8")  # printable: no lone surrogates left
    written = shown_repr(value)
    assert type(written) is str
    assert len(written) < 200


