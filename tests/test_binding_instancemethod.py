"""Binding case: an instance method, called through the instance and through the class."""

from __future__ import annotations

import inspect

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider


class Repo:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, int]] = []

    def _new(self, user_id: int) -> str:
        self.calls.append(("new", self, user_id))
        return f"user-{user_id}"

    @migration(new=_new)
    def get(self, user_id: int) -> str:
        """Read a user."""
        self.calls.append(("old", self, user_id))
        return f"user-{user_id}"

    @migration(new="_new")
    def get_by_name(self, user_id: int) -> str:
        self.calls.append(("old", self, user_id))
        return f"user-{user_id}"


@pytest.mark.parametrize("method", ["get", "get_by_name"])
def test_method_through_the_instance_gets_self_on_both_sides(method: str) -> None:
    """Both sides receive the same instance and arguments, as the method's own signature says."""
    configure(provider=StaticStageProvider("shadow"))
    repo = Repo()
    assert getattr(repo, method)(3) == "user-3"
    assert repo.calls == [("old", repo, 3), ("new", repo, 3)]


@pytest.mark.parametrize("method", ["get", "get_by_name"])
def test_method_through_the_class_with_an_explicit_instance(method: str) -> None:
    """Repo.get(repo, 1) binds repo as the instance, exactly like repo.get(1)."""
    configure(provider=StaticStageProvider("live"))
    repo = Repo()
    assert getattr(Repo, method)(repo, 4) == "user-4"
    assert repo.calls == [("new", repo, 4), ("old", repo, 4)]


def test_method_keeps_its_identity() -> None:
    """The proxy on the class and on the instance looks like the method."""
    assert Repo.get.__name__ == "get"
    assert Repo.get.__qualname__ == "Repo.get"
    assert Repo.get.__doc__ == "Read a user."
    assert list(inspect.signature(Repo.get).parameters) == ["self", "user_id"]
    assert list(inspect.signature(Repo().get).parameters) == ["user_id"]
    assert Repo.get.migration_name == f"{__name__}.Repo.get"  # type: ignore[attr-defined]


def test_missing_string_side_raises_only_when_authoritative() -> None:
    """A method the instance lacks is an error result in SHADOW and raised in LIVE."""

    class Broken:
        @migration(new="_nope")
        def get(self) -> int:
            return 1

    configure(provider=StaticStageProvider("shadow"))
    assert Broken().get() == 1
    configure(provider=StaticStageProvider("live"))
    with pytest.raises(AttributeError, match="_nope"):
        Broken().get()
