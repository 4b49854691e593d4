"""Binding case: async functions and methods; a coroutine is always awaited, never left bare."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider

STAGES = ["off", "dualwrite", "shadow", "live", "rampdown", "complete"]


class Repo:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def _new(self, user_id: int) -> str:
        await asyncio.sleep(0)
        self.calls.append("new")
        return f"u{user_id}"

    def _sync_new(self, user_id: int) -> str:
        self.calls.append("sync-new")
        return f"u{user_id}"

    @migration(new=_new)
    async def get(self, user_id: int) -> str:
        await asyncio.sleep(0)
        self.calls.append("old")
        return f"u{user_id}"

    @migration(new="_new")
    async def get_by_name(self, user_id: int) -> str:
        self.calls.append("old")
        return f"u{user_id}"

    @migration(new=_sync_new)
    async def get_mixed(self, user_id: int) -> str:
        self.calls.append("old")
        return f"u{user_id}"

    @migration.write(new="_new")
    async def save(self, user_id: int) -> str:
        self.calls.append("old")
        return f"u{user_id}"

    @classmethod
    async def _cnew(cls, n: int) -> int:
        return n

    @migration(new=_cnew)
    @classmethod
    async def count(cls, n: int) -> int:
        return n


def test_async_proxy_is_a_coroutine_function() -> None:
    """inspect sees the decorated async method as a coroutine function, bound or not."""
    assert inspect.iscoroutinefunction(Repo.get)
    assert inspect.iscoroutinefunction(Repo().get)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("method", ["get", "get_by_name"])
async def test_async_method_is_awaited_in_every_stage(stage: str, method: str) -> None:
    """The caller awaits the value itself, and both async sides ran to completion as planned."""
    configure(provider=StaticStageProvider(stage))
    repo = Repo()
    value = await getattr(repo, method)(1)
    assert value == "u1"
    expected = {"off": ["old"], "dualwrite": ["old"], "shadow": ["old", "new"],
                "live": ["new", "old"], "rampdown": ["new"], "complete": ["new"]}[stage]
    assert repo.calls == expected


async def test_sync_side_in_an_async_method_is_called_not_awaited() -> None:
    """A sync side of an async migration is called and its value used as is."""
    configure(provider=StaticStageProvider("live"))
    repo = Repo()
    assert await repo.get_mixed(2) == "u2"
    assert repo.calls == ["sync-new", "old"]


async def test_async_write_runs_both_sides_in_order() -> None:
    """An async write awaits the authoritative side, then the other."""
    configure(provider=StaticStageProvider("rampdown"))
    repo = Repo()
    assert await repo.save(3) == "u3"
    assert repo.calls == ["new", "old"]


async def test_async_classmethod() -> None:
    """An async classmethod with the decorator outside @classmethod is awaited."""
    configure(provider=StaticStageProvider("shadow"))
    assert await Repo.count(4) == 4


async def test_async_exception_is_the_same_object() -> None:
    """An authoritative async side that raises gives the caller that very exception."""
    error = LookupError("gone")

    async def new() -> int:
        raise error

    @migration(new=new)
    async def read() -> int:
        return 1

    configure(provider=StaticStageProvider("live"))
    with pytest.raises(LookupError) as caught:
        await read()
    assert caught.value is error
