"""Values stay out of events unless a migration opts in, and then only through its hooks."""

from __future__ import annotations

import asyncio
from typing import Any

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


# -- exception messages: kept by default, and a hook to redact or drop them ------------------


def test_error_messages_are_logged_by_default_and_may_carry_data() -> None:
    """Without log_errors the error field is str(exc): a KeyError shows its key. This is
    the documented default (Guarantees), which log_errors exists to change."""

    @migration(new=lambda email: {}[email], name="err.default")
    def get(email: str) -> str:
        return email

    with capture_logs() as logs:
        assert get("ada@example.org") == "ada@example.org"
    (failed,) = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert "ada@example.org" in failed["error"]
    assert failed["exc_type"] == "KeyError"


@pytest.mark.parametrize("where", ["decorator", "configure", "migrator"])
def test_log_errors_redacts_or_drops_the_message(where: str) -> None:
    """log_errors(exc) says what the error field holds (None leaves it empty); exc_type
    still names the class. Given on the migration, in configure(), or to a Migrator."""

    def redact(exc: BaseException) -> str | None:
        return None if isinstance(exc, KeyError) else f"{type(exc).__name__} (redacted)"

    options = {"log_errors": redact} if where == "decorator" else {}
    if where == "configure":
        configure(log_errors=redact)

    def new(email: str) -> str:
        if email.startswith("ada"):
            raise KeyError(email)
        raise ValueError(f"no user {email}")

    @migration(new=new, name="err.hook", **options)  # type: ignore[call-overload]
    def get(email: str) -> str:
        return email

    def new_side(email: str) -> migratekit.Result[str]:
        return migratekit.Result.success(new(email))

    migrator = migratekit.Migrator(
        read=migratekit.MigrationConfig(migratekit.Result.success, new_side),
        log_errors=redact if where == "migrator" else None,
    )
    with capture_logs() as logs:
        for email in ("ada@example.org", "bob@example.org"):
            if where == "migrator":
                assert migrator.read("err.hook", payload=email).value == email
            else:
                assert get(email) == email
    failed = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert [(e["exc_type"], e["error"]) for e in failed] == [
        ("KeyError", None), ("ValueError", "ValueError (redacted)")
    ]
    assert "example.org" not in repr(logs)


def test_a_migration_hook_wins_over_the_process_wide_one() -> None:
    """A migration's own log_errors is used before configure()'s."""
    configure(log_errors=lambda exc: "process-wide")

    @migration(new=lambda: 1 / 0, log_errors=lambda exc: "own", name="err.own")
    def get() -> int:
        return 1

    with capture_logs() as logs:
        assert get() == 1
    (failed,) = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert failed["error"] == "own"


def test_a_log_errors_hook_that_fails_never_leaks_nor_fails_the_call() -> None:
    """A hook that raises, or returns something odd, yields a stand-in message."""

    class Odd:
        def __str__(self) -> str:
            raise RuntimeError(SECRET)

    hooks = {"raises": lambda exc: 1 / 0, "odd": lambda exc: Odd(), "long": lambda exc: "x" * 999}
    said: dict[str, Any] = {}
    for kind, hook in hooks.items():

        def missing() -> Any:
            empty: dict[str, int] = {}
            return empty[SECRET]  # KeyError(SECRET)

        @migration(new=missing, log_errors=hook, name=f"err.{kind}")
        def get() -> int:
            return 1

        with capture_logs() as logs:
            assert get() == 1
        (failed,) = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
        said[kind] = failed["error"]
    assert said["raises"] == "<log_errors raised ZeroDivisionError>"
    assert said["odd"] == "<Odd whose str() raised>"
    assert len(said["long"]) == 200
    assert SECRET not in repr(said)


@pytest.mark.parametrize("where", ["decorator", "configure", "migrator"])
def test_log_errors_must_be_callable(where: str) -> None:
    """A log_errors that is not callable fails when it is given, naming the option."""
    untyped: Any = {"migration": migration, "configure": configure,
                    "Migrator": migratekit.Migrator}
    give: Any = {
        "decorator": lambda: untyped["migration"](new=lambda: 1, log_errors="no")(lambda: 1),
        "configure": lambda: untyped["configure"](log_errors="no"),
        "migrator": lambda: untyped["Migrator"](
            read=migratekit.MigrationConfig(migratekit.Result.success, migratekit.Result.success),
            log_errors="no",
        ),
    }[where]
    with pytest.raises(TypeError, match="'log_errors' must be a callable"):
        give()
