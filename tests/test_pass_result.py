"""
``pass_result=True`` on writes: the second side also gets ``result=`` what the
authoritative side returned (an id the old store generated, say).

Checked with two real SQLite databases whose tables generate their ids: a
migration driven through DUALWRITE, SHADOW, LIVE and RAMPDOWN leaves the two
tables with the same rows under the same ids, on every path a write takes
(the full runner, the quiet path, counted or not, async code, Migrator).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import migratekit
from migratekit import (
    ConfigurationError,
    MigrationConfig,
    Migrator,
    Result,
    _summary,
    migration,
)
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import StaticStageProvider

STAGES = ("dualwrite", "shadow", "live", "rampdown")


class Stores:
    """Two SQLite databases, each with a table whose ids the database generates."""

    def __init__(self, directory: Path) -> None:
        self.old = sqlite3.connect(directory / "old.db")
        self.new = sqlite3.connect(directory / "new.db")
        for db in (self.old, self.new):
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "name TEXT NOT NULL)")

    def rows(self) -> tuple[list[Any], list[Any]]:
        query = "SELECT id, name FROM users ORDER BY id"
        return self.old.execute(query).fetchall(), self.new.execute(query).fetchall()

    def close(self) -> None:
        self.old.close()
        self.new.close()


def insert(db: sqlite3.Connection, name: str, result: int | None) -> int:
    """Insert a user: with the id *result* when given (the other store's), else a new one."""
    if result is None:
        cursor = db.execute("INSERT INTO users (name) VALUES (?)", (name,))
    else:
        cursor = db.execute("INSERT INTO users (id, name) VALUES (?, ?)", (result, name))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    found = Stores(tmp_path)
    yield found
    found.close()


def at_level(level: int, call_events: str) -> None:
    """A logger at *level*: WARNING takes the quiet path; INFO with call events at debug
    takes it counted; INFO with call events at info takes the full runner."""
    structlog.configure(processors=[lambda logger, method, event: _drop()],
                        wrapper_class=structlog.make_filtering_bound_logger(level),
                        cache_logger_on_first_use=False)
    migratekit.configure(call_events=call_events, summary_interval=3600)


def _drop() -> Any:
    raise structlog.DropEvent


PATHS = {
    "full runner": (logging.INFO, "info"),
    "quiet path": (logging.WARNING, "debug"),
    "quiet path, counted": (logging.INFO, "debug"),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_ids_line_up_through_every_stage(stores: Stores, path: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage writes two users; the tables hold the same ids and names after each."""
    at_level(*PATHS[path])

    class Repo:
        def _save_new(self, name: str, result: int | None = None) -> int:
            return insert(stores.new, name, result)

        @migration.write(new="_save_new", pass_result=True, name="users.save")
        def save(self, name: str, result: int | None = None) -> int:
            return insert(stores.old, name, result)

    repo = Repo()
    returned: list[int] = []
    for stage in STAGES:
        monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_SAVE", stage)
        returned.extend(repo.save(f"{stage}-{user}") for user in range(2))
        old, new = stores.rows()
        assert old == new, stage
    assert returned == list(range(1, 9))
    assert [name for _, name in stores.rows()[0]] == [
        f"{stage}-{user}" for stage in STAGES for user in range(2)]


def test_the_first_side_gets_no_result_and_the_second_gets_the_first_ones(
        stores: Stores) -> None:
    """DUALWRITE: old (authoritative) is called as the caller called; new with result=.
    LIVE: the other way round."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def side(origin: str, value: int) -> Any:
        def run(name: str, **kwargs: Any) -> int:
            calls.append((origin, kwargs))
            return value

        return run

    for stage, order in (("dualwrite", ["old", "new"]), ("live", ["new", "old"])):
        calls.clear()
        @migration.write(old=side("old", 10), new=side("new", 20), pass_result=True,
                         provider=StaticStageProvider(stage), name="users.kw")
        def save(name: str) -> int:
            raise AssertionError("old is given: the decorated function is not called")

        first = 10 if order[0] == "old" else 20
        assert save("ada") == first
        assert calls == [(order[0], {}), (order[1], {"result": first})]


def test_a_failed_first_side_runs_no_second_side_and_a_failed_second_is_an_event(
        stores: Stores) -> None:
    """The caller sees the authoritative side only; the second side's failure is a warning."""

    def duplicate(name: str, result: int | None = None) -> int:
        raise sqlite3.IntegrityError("UNIQUE constraint failed: users.id")

    save = migration.write(new=duplicate, pass_result=True,
                           provider=StaticStageProvider("dualwrite"), name="users.dup")(
        lambda name, result=None: insert(stores.old, name, result))
    with capture_logs() as logs:
        assert save("ada") == 1
    failed = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert [(e["origin"], e["exc_type"]) for e in failed] == [("new", "IntegrityError")]

    ran: list[str] = []
    broken = migration.write(new=lambda name, result=None: ran.append(name),
                             pass_result=True, provider=StaticStageProvider("shadow"),
                             name="users.broken")(lambda name, result=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        broken("bob")
    assert ran == []


def test_async_writes_pass_the_result(stores: Stores) -> None:
    """An async migration through the four stages: the rows line up."""

    async def save_new(name: str, result: int | None = None) -> int:
        await asyncio.sleep(0)
        return insert(stores.new, name, result)

    stage = {"now": "dualwrite"}

    class Provider:
        def get_stage(self, name: str, context: Any) -> str:
            return stage["now"]

    @migration.write(new=save_new, pass_result=True, provider=Provider(), name="users.asave")
    async def save(name: str, result: int | None = None) -> int:
        return insert(stores.old, name, result)

    async def drive() -> list[int]:
        ids = []
        for now in STAGES:
            stage["now"] = now
            ids.append(await save(now))
        return ids

    assert asyncio.run(drive()) == [1, 2, 3, 4]
    old, new = stores.rows()
    assert old == new == [(1, "dualwrite"), (2, "shadow"), (3, "live"), (4, "rampdown")]


def test_the_migrator_passes_the_first_sides_value(stores: Stores) -> None:
    """Migrator(pass_result=True): the second side is called fn(payload, result=value)."""
    stage = {"now": "dualwrite"}

    class Provider:
        def get_stage(self, name: str, context: Any) -> str:
            return stage["now"]

    def old(name: str, result: int | None = None) -> Result[int]:
        return Result.success(insert(stores.old, name, result))

    def new(name: str, result: int | None = None) -> Result[int]:
        return Result.success(insert(stores.new, name, result))

    migrator = Migrator(write=MigrationConfig(old, new), provider=Provider(), pass_result=True)
    for now in STAGES:
        stage["now"] = now
        written = migrator.write("users.save", payload=now)
        assert written.nonauthoritative is not None
        assert written.nonauthoritative.value == written.authoritative.value
    old_rows, new_rows = stores.rows()
    assert old_rows == new_rows
    assert len(old_rows) == 4


def test_counts_are_those_of_the_full_runner() -> None:
    """Counted on the quiet path or by the full runner: the same summary counts."""
    counts = []
    for call_events in ("info", "debug"):
        at_level(logging.INFO, call_events)
        _summary.forget()
        save = migration.write(new=lambda name, result=None: result, pass_result=True,
                               provider=StaticStageProvider("shadow"), name="users.count")(
            lambda name, result=None: 5)
        for _ in range(3):
            save("x")
        (totals,) = [t for t in _summary.totals() if t.migration == "users.count"]
        counts.append((totals.row.calls, totals.row.ok, totals.row.failed))
    assert counts[0] == counts[1] == (3, [3, 3], [0, 0])


# -- decoration-time checks --------------------------------------------------------------------


def test_pass_result_on_a_read_fails_at_decoration() -> None:
    """A read's sides answer independently, to be compared: no pass_result."""
    with pytest.raises(ConfigurationError, match="'pass_result' applies to writes only"):
        migration(new=lambda: 1, pass_result=True)(lambda: 1)
    with pytest.raises(ConfigurationError, match="'pass_result' applies to writes only"):
        migration.read(new=lambda: 1, pass_result=True)(lambda: 1)  # type: ignore[call-overload]
    # operation given as a string: a write, so accepted
    migration(new=lambda result=None: 1, operation="write", pass_result=True)(
        lambda result=None: 1)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_pass_result_must_be_a_bool(value: Any) -> None:
    with pytest.raises(ConfigurationTypeError, match="'pass_result' must be True or False"):
        migration.write(new=lambda: 1, pass_result=value)(lambda: 1)
    with pytest.raises(ConfigurationTypeError, match="'pass_result' must be True or False"):
        Migrator(write=MigrationConfig(Result.success, Result.success), pass_result=value)


def test_the_migrator_refuses_pass_result_without_a_write() -> None:
    with pytest.raises(ConfigurationError, match="'pass_result' applies to writes"):
        Migrator(read=MigrationConfig(Result.success, Result.success), pass_result=True)


def test_a_decorated_function_that_is_the_old_side_must_take_result() -> None:
    """Without old=, the decorated function is written second in LIVE and RAMPDOWN: one that
    cannot take result= fails at decoration; one that takes it (or **kwargs) passes."""
    with pytest.raises(ConfigurationError, match="give it a parameter result=None"):
        @migration.write(new=lambda row, result=None: 1, pass_result=True)
        def save(row: Any) -> int:
            return 1

    @migration.write(new=lambda row, result=None: 1, pass_result=True)
    def save_with_result(row: Any, result: int | None = None) -> int:
        return 1

    @migration.write(new=lambda row, **kwargs: 1, pass_result=True)
    def save_with_keywords(row: Any, **kwargs: Any) -> int:
        return 1

    @migration.write(new=lambda row, result=None: 1, pass_result=True,
                     old=lambda row, result=None: 1)
    def save_elsewhere(row: Any) -> int:
        return 1


def test_a_hostile_result_is_handed_over_untouched() -> None:
    """The first side's value is given as it is: migratekit neither hashes, compares,
    shows nor copies it, whatever its methods do."""
    from tests.hostile import DUNDERS, raising_class

    hostile = raising_class(frozenset(DUNDERS))()
    received: list[Any] = []

    def new(key: int, result: Any = None) -> None:
        received.append(result)

    save = migration.write(new=new, pass_result=True, provider=StaticStageProvider("shadow"),
                           name="users.hostile")(lambda key, result=None: hostile)
    assert save(1) is hostile
    assert len(received) == 1
    assert received[0] is hostile


def test_a_result_the_caller_passed_is_the_first_sides_and_replaced_for_the_second() -> None:
    """The caller's own result= reaches the side written first; the second gets the first
    side's value in its place."""
    seen: list[tuple[str, Any]] = []

    def side(origin: str) -> Any:
        def run(key: int, result: Any = None) -> str:
            seen.append((origin, result))
            return f"{origin}-id"

        return run

    save = migration.write(old=side("old"), new=side("new"), pass_result=True,
                           provider=StaticStageProvider("dualwrite"), name="users.given")(
        lambda key, result=None: None)
    save(1, result="from the caller")
    assert seen == [("old", "from the caller"), ("new", "old-id")]
