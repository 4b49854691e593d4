"""instrument(): the same migration on code you cannot edit, and a way to take it off."""

from __future__ import annotations

import types
from typing import Any

import pytest

import migratekit
from migratekit import MigrateKitError, Operation, configure, instrument
from migratekit.providers import StaticStageProvider


class ThirdPartyRepo:
    """Stands for a class from a library the user does not own."""

    def get(self, key: str) -> str:
        return f"old:{key}"

    def save(self, key: str) -> str:
        return f"old-saved:{key}"

    @classmethod
    def build(cls, key: str) -> str:
        return f"old-built:{key}"


class ChildRepo(ThirdPartyRepo):
    pass


def _new_get(self: ThirdPartyRepo, key: str) -> str:
    return f"new:{key}"


@pytest.fixture(autouse=True)
def _live() -> None:
    configure(provider=StaticStageProvider("live"))


def test_instrument_a_method_and_undo_it() -> None:
    """The method runs the migration while instrumented, and is the original again after undo."""
    original = ThirdPartyRepo.__dict__["get"]
    handle = instrument(ThirdPartyRepo, "get", new=_new_get, name="tp.get")
    try:
        assert handle.active
        assert ThirdPartyRepo().get("k") == "new:k"
        assert ThirdPartyRepo.get.migration_name == "tp.get"  # type: ignore[attr-defined]
    finally:
        handle.undo()
    assert handle.active is bool(0)
    assert ThirdPartyRepo.__dict__["get"] is original
    assert ThirdPartyRepo().get("k") == "old:k"
    handle.undo()  # a second undo is harmless


def test_instrument_as_a_context_manager() -> None:
    """Leaving the with block takes the migration off."""
    with instrument(ThirdPartyRepo, "save", new=lambda self, key: f"new-saved:{key}",
                    operation=Operation.WRITE):
        assert ThirdPartyRepo().save("k") == "new-saved:k"
    assert ThirdPartyRepo().save("k") == "old-saved:k"


def test_instrument_a_classmethod() -> None:
    """A classmethod stored in the class is wrapped as one: the new side gets the class."""
    seen: list[type] = []

    def new(cls: type, key: str) -> str:
        seen.append(cls)
        return f"new-built:{key}"

    with instrument(ThirdPartyRepo, "build", new=new):
        assert ThirdPartyRepo.build("k") == "new-built:k"
        assert ChildRepo.build("k") == "new-built:k"
    assert seen == [ThirdPartyRepo, ChildRepo]
    assert ThirdPartyRepo.build("k") == "old-built:k"


def test_instrument_a_module_function() -> None:
    """A function of a module, named by attribute, is migrated and restored."""
    module = types.ModuleType("fake_client")

    def fetch(key: str) -> str:
        return f"old:{key}"

    module.fetch = fetch  # type: ignore[attr-defined]
    with instrument(module, "fetch", new=lambda key: f"new:{key}"):
        assert module.fetch("k") == "new:k"
    assert module.fetch is fetch


def test_instrument_an_inherited_method_on_the_subclass_only() -> None:
    """Instrumenting a subclass leaves the base alone, and undo removes the override."""
    with instrument(ChildRepo, "get", new=_new_get):
        assert ChildRepo().get("k") == "new:k"
        assert ThirdPartyRepo().get("k") == "old:k"
    assert "get" not in ChildRepo.__dict__
    assert ChildRepo().get("k") == "old:k"


def test_instrument_twice_is_refused() -> None:
    """A method that already runs a migration cannot be instrumented again."""
    with instrument(ThirdPartyRepo, "get", new=_new_get), pytest.raises(
        MigrateKitError, match="already runs a migration"
    ):
        instrument(ThirdPartyRepo, "get", new=_new_get)


def test_undo_refuses_to_discard_a_later_change() -> None:
    """If the attribute was replaced since, undo raises instead of throwing the change away."""
    original = ThirdPartyRepo.__dict__["get"]
    handle = instrument(ThirdPartyRepo, "get", new=_new_get)

    def replacement(self: ThirdPartyRepo, key: str) -> str:
        return "patched"

    ThirdPartyRepo.get = replacement  # type: ignore[method-assign]
    try:
        with pytest.raises(MigrateKitError, match="replaced since"):
            handle.undo()
    finally:
        ThirdPartyRepo.get = original  # type: ignore[method-assign]


def test_instrument_checks_its_options_like_the_decorator() -> None:
    """A mistake in the options fails at once, and nothing is patched."""
    original = ThirdPartyRepo.__dict__["get"]
    with pytest.raises(migratekit.ConfigurationError, match="'new' is required"):
        instrument(ThirdPartyRepo, "get")
    with pytest.raises(TypeError, match="cannot find 'nope'"):
        instrument(ThirdPartyRepo, "nope", new=_new_get)
    assert ThirdPartyRepo.__dict__["get"] is original


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


def test_instrument_checks_a_side_named_by_string_at_once() -> None:
    """A near miss of the class's attribute fails when instrument() applies, not at a call."""

    class Repo:
        def _kv_get(self, key: int) -> int:
            return key

        def get(self, key: int) -> int:
            return key

    with pytest.raises(migratekit.ConfigurationError, match="did you mean '_kv_get'"):
        instrument(Repo, "get", new="_kv_gett")
    assert not isinstance(Repo.__dict__["get"], migratekit.MigrationProxy)
    with instrument(Repo, "get", new="_kv_get"):
        assert Repo().get(3) == 3
