"""The decorated callable keeps its parameter and return types (checked by mypy --strict).

`.ci/run` runs mypy in strict mode over tests/, so every assert_type below is
a type check; at run time assert_type returns its argument, and the tests
check the values too.
"""

from __future__ import annotations

import pytest
from typing_extensions import assert_type

from migratekit import ConfigurationError, configure, migration
from migratekit.providers import StaticStageProvider


class Repo:
    def _new(self, user_id: int, *, detail: bool = False) -> str:
        return f"u{user_id}"

    @migration(new=_new)
    def get(self, user_id: int, *, detail: bool = False) -> str:
        return f"u{user_id}"

    @migration.write(new="_save_new")
    def save(self, user_id: int, name: str) -> None:
        return None

    def _save_new(self, user_id: int, name: str) -> None:
        return None

    async def _aget_new(self, user_id: int) -> list[int]:
        return [user_id]

    @migration(new=_aget_new)
    async def aget(self, user_id: int) -> list[int]:
        return [user_id]


@migration.read(new=lambda key: key.upper())
def lookup(key: str) -> str:
    return key.upper()


def test_method_types_survive_decoration() -> None:
    """repo.get keeps (int, *, detail: bool) -> str, and save keeps its None return."""
    configure(provider=StaticStageProvider("shadow"))
    repo = Repo()
    assert assert_type(repo.get(1, detail=True), str) == "u1"
    assert assert_type(repo.save(1, "ada"), None) is None
    assert assert_type(lookup("k"), str) == "K"


async def test_async_method_types_survive_decoration() -> None:
    """An async method still returns an awaitable of its declared type."""
    configure(provider=StaticStageProvider("live"))
    assert assert_type(await Repo().aget(2), list[int]) == [2]


def test_options_are_typed_per_operation() -> None:
    """pass_result is a write's option, normalize/ignore/diff_key a read's: mypy refuses
    them on the other operation (each ignore below is needed, or mypy --strict says it is
    unused), and so does the decorator at run time."""
    with pytest.raises(ConfigurationError):
        migration.read(new=lambda: 1, pass_result=True)(lambda: 1)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError):
        migration.write(new=lambda: 1, normalize=str)(lambda: 1)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError):
        migration.write(new=lambda: 1, ignore=lambda a, b: True)(  # type: ignore[call-overload]
            lambda: 1)
    with pytest.raises(ConfigurationError):
        migration.write(new=lambda: 1, diff_key="id")(lambda: 1)  # type: ignore[call-overload]
    assert migration.write(new=lambda row, result=None: 1, pass_result=True)(
        lambda row, result=None: 2)(0) == 2
    assert migration.read(new=lambda: 1, normalize=str, ignore=lambda a, b: True,
                          diff_key="id")(lambda: 1)() == 1
