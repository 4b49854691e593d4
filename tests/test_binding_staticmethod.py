"""Binding case: staticmethods, with @migration inside and outside @staticmethod."""

from __future__ import annotations

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider

calls: list[tuple[str, int]] = []


class Repo:
    @staticmethod
    def _new(user_id: int) -> int:
        calls.append(("new", user_id))
        return user_id * 10

    @staticmethod
    @migration(new=_new)
    def inside(user_id: int) -> int:
        calls.append(("old", user_id))
        return user_id * 10

    @migration(new=_new)
    @staticmethod
    def outside(user_id: int) -> int:
        calls.append(("old", user_id))
        return user_id * 10


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


@pytest.mark.parametrize("method", ["inside", "outside"])
@pytest.mark.parametrize("through", ["class", "instance"])
def test_staticmethod_sides_get_no_instance(method: str, through: str) -> None:
    """No self or cls is passed to either side, whether called on the class or an instance."""
    configure(provider=StaticStageProvider("live"))
    owner = Repo if through == "class" else Repo()
    assert getattr(owner, method)(2) == 20
    assert calls == [("new", 2), ("old", 2)]
