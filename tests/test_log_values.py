"""Values stay out of events unless a migration opts in, and then only through its hooks."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import configure, migration
from migratekit.providers import StaticStageProvider

SECRET = "card-4242-4242"


@pytest.fixture(autouse=True)
def _shadow() -> None:
    configure(provider=StaticStageProvider("shadow"))


def test_without_hooks_no_value_or_argument_reaches_an_event() -> None:
    """By default neither what a side returned nor what it was given is in any event."""

    @migration(new=lambda card: {"card": SECRET, "ok": False})
    def charge(card: str) -> dict[str, object]:
        return {"card": SECRET, "ok": True}

    with capture_logs() as logs:
        charge(SECRET)
    assert logs
    assert all(SECRET not in repr(event) for event in logs)
    assert all("value" not in event and "arguments" not in event for event in logs)


def test_log_values_puts_what_the_hook_returns_on_each_result() -> None:
    """Each successful side's result event carries log_values(value), not the value."""

    @migration(new=lambda user_id: {"id": user_id, "email": SECRET},
               log_values=lambda user: {"id": user["id"]})
    def get(user_id: int) -> dict[str, object]:
        return {"id": user_id, "email": SECRET}

    with capture_logs() as logs:
        get(7)
    results = [e for e in logs if e["event"] == "migration.result"]
    assert [e["value"] for e in results] == [{"id": 7}, {"id": 7}]
    assert all(SECRET not in repr(event) for event in logs)


def test_log_arguments_puts_what_the_hook_returns_on_the_op() -> None:
    """The op event carries log_arguments(*args), called like the decorated function."""

    class Repo:
        def _save_new(self, user_id: int, card: str) -> None:
            return None

        @migration.write(new=_save_new,
                         log_arguments=lambda self, user_id, card: {"user_id": user_id})
        def save(self, user_id: int, card: str) -> None:
            return None

    with capture_logs() as logs:
        Repo().save(3, SECRET)
    op = next(e for e in logs if e["event"] == "migration.op")
    assert op["arguments"] == {"user_id": 3}
    assert all(SECRET not in repr(event) for event in logs)


def test_a_failing_hook_never_leaks_the_value_nor_fails_the_call() -> None:
    """A hook that raises is named in the event instead of the value; the caller is untouched."""

    def broken(value: object) -> object:
        raise RuntimeError(SECRET)

    @migration(new=lambda x: SECRET, log_values=broken, log_arguments=lambda x: 1 / 0)
    def get(x: int) -> str:
        return SECRET

    with capture_logs() as logs:
        assert get(1) == SECRET
    results = [e for e in logs if e["event"] == "migration.result"]
    assert [e["value"] for e in results] == ["<log_values raised RuntimeError>"] * 2
    op = next(e for e in logs if e["event"] == "migration.op")
    assert op["arguments"] == "<log_arguments raised ZeroDivisionError>"
    assert all(SECRET not in repr(event) for event in logs)


def test_failed_sides_carry_no_value() -> None:
    """A side that raised has no value field, even with log_values."""

    def new(x: int) -> int:
        raise ValueError("nope")

    @migration(new=new, log_values=str)
    def get(x: int) -> int:
        return x

    with capture_logs() as logs:
        get(1)
    new_result = next(e for e in logs if e.get("origin") == "new")
    assert "value" not in new_result


@pytest.mark.parametrize("hook", ["log_values", "log_arguments"])
def test_hooks_must_be_callable(hook: str) -> None:
    """A hook that is not callable fails at decoration time, naming the option."""
    with pytest.raises(TypeError, match=f"'{hook}' must be a callable"):
        migration(new=lambda: 1, **{hook: "yes"})(lambda: 1)  # type: ignore[call-overload]


async def test_cancelling_an_async_write_lets_its_second_side_finish() -> None:
    """Cancelled while the second side of a write runs: that side completes and reports."""
    configure(provider=StaticStageProvider("dualwrite"))
    new_started = asyncio.Event()
    new_store: list[int] = []

    async def save_new(value: int) -> None:
        new_started.set()
        await asyncio.sleep(0.05)
        new_store.append(value)

    @migration.write(new=save_new)
    async def save(value: int) -> None:
        return None

    with capture_logs() as logs:
        task = asyncio.ensure_future(save(5))
        await asyncio.wait_for(new_started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await migratekit.adrain(10)
    assert new_store == [5]
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 1
    assert ops[0]["invoked"] == ["old", "new"]
