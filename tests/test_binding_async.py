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


# -- sides that are not `async def` but return an awaitable --------------------------------


class KV:
    """An async key-value client, as a side would wrap it with a lambda."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def set(self, key: str, value: str) -> str:
        await asyncio.sleep(0)
        self.data[key] = value
        return value

    async def get(self, key: str) -> str | None:
        await asyncio.sleep(0)
        return self.data.get(key)


class AsyncCallable:
    """An object whose __call__ is async: calling it gives a coroutine."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    async def __call__(self, repo: object, key: str, value: str) -> str:
        return await self.kv.set(key, value)


class LambdaRepo:
    def __init__(self) -> None:
        self.old: dict[str, str] = {}
        self.kv = KV()

    @migration.write(new=lambda self, key, value: self.kv.set(key, value), name="lambda.set")
    async def set(self, key: str, value: str) -> str:
        await asyncio.sleep(0)
        self.old[key] = value
        return value

    @migration.read(new=lambda self, key: self.kv.get(key), name="lambda.get")
    async def get(self, key: str) -> str | None:
        return self.old.get(key)


@pytest.mark.parametrize("stage", STAGES)
async def test_a_lambda_returning_a_coroutine_is_awaited(stage: str) -> None:
    """A plain callable side of an async migration that returns a coroutine is awaited:
    writes reach the new store, and the caller never gets a bare coroutine."""
    configure(provider=StaticStageProvider(stage))
    repo = LambdaRepo()
    assert await repo.set("k", "v") == "v"
    writes_new = stage in ("dualwrite", "shadow", "live", "rampdown", "complete")
    writes_old = stage in ("off", "dualwrite", "shadow", "live", "rampdown")
    assert repo.kv.data == ({"k": "v"} if writes_new else {})
    assert repo.old == ({"k": "v"} if writes_old else {})
    value = await repo.get("k")
    assert not inspect.isawaitable(value)
    assert value == "v"


async def test_a_callable_object_with_async_call_is_awaited() -> None:
    """An object whose __call__ is `async def` is an async side, awaited in every stage."""
    kv = KV()

    class Repo:
        @migration.write(new=AsyncCallable(kv), name="callable.set")
        async def set(self, key: str, value: str) -> str:
            return value

    configure(provider=StaticStageProvider("complete"))
    assert await Repo().set("k", "v") == "v"
    assert kv.data == {"k": "v"}


def test_an_async_callable_object_on_a_sync_function_is_refused() -> None:
    """An object with an async __call__ given to a sync function fails at decoration."""
    from migratekit import ConfigurationError

    with pytest.raises(ConfigurationError, match="'new' is an async function"):

        @migration(new=AsyncCallable(KV()))
        def get(key: str) -> str:
            return key


@pytest.mark.parametrize("stage", ["dualwrite", "complete"])
def test_a_sync_side_returning_a_coroutine_fails_instead_of_passing(stage: str) -> None:
    """In a sync migration a lambda around an async client fails as its side (TypeError),
    its coroutine closed, never an ok=True result for a write that never ran."""
    from structlog.testing import capture_logs

    kv = KV()

    # The README's lambda style around an async client is the case under test.
    @migration.write(new=lambda key, value: kv.set(key, value), name="sync.lambda")  # noqa: PLW0108
    def set_(key: str, value: str) -> str:
        return value

    configure(provider=StaticStageProvider(stage))
    with capture_logs() as logs:
        if stage == "complete":
            with pytest.raises(TypeError, match="returned a coroutine"):
                set_("k", "v")
        else:
            assert set_("k", "v") == "v"
    assert kv.data == {}
    (new,) = [e for e in logs if e["event"] == "migration.result" and e["origin"] == "new"]
    assert new["ok"] is False
    assert new["exc_type"] == "TypeError"
