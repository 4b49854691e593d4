"""Binding case: classmethods, with @migration inside and outside @classmethod."""

from __future__ import annotations

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider

calls: list[tuple[str, type, int]] = []


class Repo:
    @classmethod
    def _new(cls, user_id: int) -> int:
        calls.append(("new", cls, user_id))
        return user_id

    @classmethod
    @migration(new=_new)
    def inside(cls, user_id: int) -> int:
        calls.append(("old", cls, user_id))
        return user_id

    @migration(new=_new)
    @classmethod
    def outside(cls, user_id: int) -> int:
        calls.append(("old", cls, user_id))
        return user_id

    @migration(new="_new")
    @classmethod
    def outside_by_name(cls, user_id: int) -> int:
        calls.append(("old", cls, user_id))
        return user_id


class Child(Repo):
    @classmethod
    def _new(cls, user_id: int) -> int:
        calls.append(("child-new", cls, user_id))
        return user_id


@pytest.fixture(autouse=True)
def _shadow() -> None:
    calls.clear()
    configure(provider=StaticStageProvider("shadow"))


@pytest.mark.parametrize("method", ["inside", "outside"])
def test_classmethod_sides_receive_the_class(method: str) -> None:
    """Both sides get the class the method was called on, through the class or an instance."""
    assert getattr(Repo, method)(1) == 1
    assert getattr(Child(), method)(2) == 2
    assert calls == [("old", Repo, 1), ("new", Repo, 1), ("old", Child, 2), ("new", Child, 2)]


def test_classmethod_side_by_name_follows_the_subclass() -> None:
    """A side named by string is looked up on the class called, so a subclass override wins."""
    assert Child.outside_by_name(5) == 5
    assert calls == [("old", Child, 5), ("child-new", Child, 5)]


def test_classmethod_keeps_its_name() -> None:
    """The proxy around a classmethod still answers to the method's name."""
    assert Repo.outside.__name__ == "outside"
    assert Repo.inside.__name__ == "inside"
