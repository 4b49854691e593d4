"""Tests of instrument() on objects without a __dict__, and of its handle's repr."""

from __future__ import annotations

from typing import Any

from migratekit import configure, instrument
from migratekit.providers import StaticStageProvider


def fetch_old(key: str) -> str:
    return f"old:{key}"


def fetch_new(key: str) -> str:
    return f"new:{key}"


class Slotted:
    """An object with __slots__, whose fetch slot holds a plain function."""

    __slots__ = ("fetch",)

    def __init__(self) -> None:
        self.fetch: Any = fetch_old


def test_slotted_object_is_instrumented_and_restored() -> None:
    """A callable in a __slots__ attribute can be instrumented, and undo puts it back."""
    configure(provider=StaticStageProvider("live"))
    target = Slotted()
    handle = instrument(target, "fetch", new=fetch_new, name="slotted.fetch")
    try:
        assert target.fetch("k") == "new:k"
        assert repr(handle) == "<Instrumentation 'slotted.fetch' on fetch (active)>"
    finally:
        handle.undo()
    assert target.fetch is fetch_old
    assert repr(handle) == "<Instrumentation 'slotted.fetch' on fetch (undone)>"
