"""Tests of migratekit.backfill: rows copied in batches, retried, resumed from a checkpoint."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import migratekit
from migratekit import BackfillResult, backfill
from migratekit._backfill import read_checkpoint
from migratekit.exceptions import BackfillError, ConfigurationError, ConfigurationTypeError

ROOT = Path(__file__).resolve().parent.parent


def rows(count: int, start: int = 1) -> list[dict[str, Any]]:
    """*count* rows with ids from *start*."""
    return [{"id": i, "name": f"user {i}"} for i in range(start, start + count)]


class Target:
    """A write that keeps every batch it was given, and fails when told to."""

    def __init__(self, failures: dict[int, int] | None = None,
                 error: type[BaseException] = ConnectionError) -> None:
        self.batches: list[list[Any]] = []
        self.calls = 0
        self.failures = dict(failures or {})  # batch number (from 0) -> failures left
        self.error = error

    def __call__(self, batch: list[Any]) -> None:
        self.calls += 1
        number = len(self.batches)
        if self.failures.get(number, 0) > 0:
            self.failures[number] -= 1
            raise self.error(f"batch {number} failed")
        self.batches.append(list(batch))

    @property
    def ids(self) -> list[int]:
        return [row["id"] for batch in self.batches for row in batch]


def test_rows_are_written_in_order_in_batches() -> None:
    """Every row once, in order, in batches of batch_size (the last one shorter)."""
    target = Target()
    result = backfill(rows(1203), target, key="id", batch_size=500)
    assert target.ids == list(range(1, 1204))
    assert [len(batch) for batch in target.batches] == [500, 500, 203]
    assert result == BackfillResult(rows_written=1203, batches=3, retries=0, last_key=1203)


def test_no_rows_write_nothing() -> None:
    """An empty input calls write never."""
    target = Target()
    assert backfill([], target, key="id") == BackfillResult(0, 0, 0)
    assert target.calls == 0


def test_rows_may_be_objects_and_the_key_a_callable() -> None:
    """The key is read by attribute from objects, or by a callable."""
    class Row:
        def __init__(self, id: int) -> None:
            self.id = id

    target = Target()
    assert backfill([Row(1), Row(2)], target, key="id").last_key == 2
    assert backfill([(1, "a"), (2, "b")], Target(), key=lambda row: row[0]).last_key == 2


def test_a_failed_batch_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails is called again after backoff, doubled each time; retries counted."""
    sleeps: list[float] = []
    monkeypatch.setattr("migratekit._backfill.time.sleep", sleeps.append)
    target = Target(failures={1: 2})
    result = backfill(rows(30), target, key="id", batch_size=10, backoff=0.25)
    assert target.ids == list(range(1, 31))
    assert target.calls == 5
    assert sleeps == [0.25, 0.5]
    assert (result.retries, result.batches, result.rows_written) == (2, 3, 30)


def test_a_batch_that_keeps_failing_raises_with_its_keys(tmp_path: Path) -> None:
    """After its retries, a batch's failure raises BackfillError with its first and last keys."""
    checkpoint = tmp_path / "copy.json"
    target = Target(failures={2: 10})
    with pytest.raises(BackfillError) as raised:
        backfill(rows(50), target, key="id", batch_size=10, retries=2, backoff=0,
                 checkpoint=checkpoint)
    error = raised.value
    assert (error.first_key, error.last_key, error.rows_written) == (21, 30, 20)
    assert isinstance(error.__cause__, ConnectionError)
    assert "rows 21 to 30 (10 rows) failed 3 times, last with ConnectionError" in str(error)
    assert target.calls == 2 + 3
    assert read_checkpoint(checkpoint)["last_key"] == 20  # type: ignore[index]
    resumed = Target()
    result = backfill(rows(50), resumed, key="id", batch_size=10, checkpoint=checkpoint)
    assert resumed.ids == list(range(21, 51))
    assert (result.resumed_after, result.skipped, result.rows_written) == (20, 20, 30)


def test_retries_zero_fails_at_once() -> None:
    """retries=0: the first failure raises; the message says once."""
    target = Target(failures={0: 1})
    with pytest.raises(BackfillError, match="failed 1 time, last with ConnectionError"):
        backfill(rows(3), target, key="id", retries=0)
    assert target.calls == 1


def test_interrupts_are_not_retried(tmp_path: Path) -> None:
    """Ctrl-C in write propagates at once; the checkpoint holds the batches before it."""
    checkpoint = tmp_path / "copy.json"
    target = Target(failures={1: 1}, error=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        backfill(rows(30), target, key="id", batch_size=10, checkpoint=checkpoint)
    assert target.calls == 2
    assert read_checkpoint(checkpoint)["last_key"] == 10  # type: ignore[index]


def test_a_finished_backfill_run_again_copies_only_new_rows(tmp_path: Path) -> None:
    """Run again, a backfill resumes after its last key: only rows added since are written."""
    checkpoint = str(tmp_path / "copy.json")
    first = Target()
    backfill(rows(25), first, key="id", batch_size=10, checkpoint=checkpoint)
    again = Target()
    result = backfill(rows(25), again, key="id", batch_size=10, checkpoint=checkpoint)
    assert again.calls == 0
    assert result == BackfillResult(0, 0, 0, resumed_after=25, skipped=25, last_key=25)
    later = Target()
    result = backfill(rows(28), later, key="id", batch_size=10, checkpoint=checkpoint)
    assert later.ids == [26, 27, 28]
    state = read_checkpoint(checkpoint)
    assert state is not None
    assert (state["last_key"], state["rows"], state["batches"]) == (28, 28, 4)


def test_composite_keys_resume_through_json(tmp_path: Path) -> None:
    """A tuple key is recorded as a JSON list and found again."""
    checkpoint = tmp_path / "copy.json"
    data = [{"tenant": t, "id": i} for t in "ab" for i in range(5)]
    target = Target(failures={1: 10})
    with pytest.raises(BackfillError):
        backfill(data, target, key=lambda row: (row["tenant"], row["id"]), batch_size=4,
                 retries=0, checkpoint=checkpoint)
    resumed = Target()
    result = backfill(data, resumed, key=lambda row: (row["tenant"], row["id"]),
                      batch_size=4, checkpoint=checkpoint)
    assert result.resumed_after == ["a", 3]
    assert [(row["tenant"], row["id"]) for b in resumed.batches for row in b] == [
        (row["tenant"], row["id"]) for row in data[4:]]


def test_a_checkpoint_key_not_found_writes_nothing(tmp_path: Path) -> None:
    """Rows that no longer hold the checkpoint's key: an error, and nothing written."""
    checkpoint = tmp_path / "copy.json"
    backfill(rows(10), Target(), key="id", batch_size=5, checkpoint=checkpoint)
    target = Target()
    with pytest.raises(BackfillError, match="no row has that key"):
        backfill(rows(10, start=100), target, key="id", checkpoint=checkpoint)
    assert target.calls == 0


def test_keys_that_json_cannot_hold_are_refused_with_a_checkpoint(tmp_path: Path) -> None:
    """A checkpoint needs JSON keys: another key is a ConfigurationTypeError before writing."""
    target = Target()
    with pytest.raises(ConfigurationTypeError, match="checkpoint records keys as JSON"):
        backfill([{"id": {1, 2}}], target, key="id", checkpoint=tmp_path / "c.json")
    assert target.calls == 0
    assert backfill([{"id": {1, 2}}], Target(), key="id").rows_written == 1  # no checkpoint


def test_a_row_without_its_key_stops_the_run() -> None:
    """A batch whose first or last row has no key cannot be recorded: BackfillError."""
    with pytest.raises(BackfillError, match="cannot read the key of row 2") as raised:
        backfill([{"id": 1}, {"other": 2}], Target(), key="id", batch_size=2)
    assert isinstance(raised.value.__cause__, KeyError)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"last_key": 1}', ""])
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, content: str) -> None:
    """A checkpoint path holding something else: BackfillError, the file left alone."""
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(BackfillError, match="not a migratekit backfill checkpoint"):
        backfill(rows(3), Target(), key="id", checkpoint=path)
    assert path.read_text() == content


def test_an_unreadable_checkpoint_is_refused(tmp_path: Path) -> None:
    """A checkpoint path that is a directory: BackfillError naming it."""
    with pytest.raises(BackfillError, match="cannot read the checkpoint"):
        backfill(rows(3), Target(), key="id", checkpoint=tmp_path)


def test_the_checkpoint_is_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each checkpoint is written beside and renamed over: no temporary file stays."""
    checkpoint = tmp_path / "copy.json"
    renames: list[tuple[str, str]] = []
    real = os.replace

    def replace(source: Any, target: Any) -> None:
        renames.append((os.fspath(source), os.fspath(target)))
        real(source, target)

    monkeypatch.setattr("migratekit._backfill.os.replace", replace)
    backfill(rows(30), Target(), key="id", batch_size=10, checkpoint=checkpoint)
    assert len(renames) == 3
    assert all(target == str(checkpoint) and source != target for source, target in renames)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.json"]
    assert json.loads(checkpoint.read_text())["last_key"] == 30


@pytest.mark.parametrize(("arguments", "error", "words"), [
    ({"key": 1}, ConfigurationTypeError, "'key' must be"),
    ({"key": "id", "batch_size": 0}, ConfigurationError, "'batch_size' must be at least 1"),
    ({"key": "id", "batch_size": "10"}, ConfigurationTypeError, "'batch_size' must be an int"),
    ({"key": "id", "retries": -1}, ConfigurationError, "'retries' must be at least 0"),
    ({"key": "id", "backoff": -1}, ConfigurationError, "'backoff' must be 0 or more"),
    ({"key": "id", "backoff": "1s"}, ConfigurationTypeError, "'backoff' must be a number"),
    ({"key": "id", "checkpoint": 3}, ConfigurationTypeError, "'checkpoint' must be a path"),
    ({"key": "id", "progress": 1}, ConfigurationTypeError, "'progress' must be"),
])
def test_mistakes_raise_configuration_errors(arguments: dict[str, Any], error: type,
                                             words: str) -> None:
    """A wrong argument raises at once, saying what was expected and how to fix it."""
    with pytest.raises(error, match=words) as raised:
        backfill(rows(1), Target(), **arguments)
    assert "e.g." in str(raised.value)


def test_write_must_be_a_sync_callable() -> None:
    """write that is not callable, or async, is refused at once."""
    with pytest.raises(ConfigurationTypeError, match="'write' must be a callable"):
        backfill(rows(1), "INSERT", key="id")  # type: ignore[arg-type]

    async def store(batch: list[Any]) -> None:
        pass

    with pytest.raises(ConfigurationTypeError, match="not async"):
        backfill(rows(1), store, key="id")


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True shows the rows written, their rate and the time left (a known total)."""
    backfill(rows(100), Target(), key="id", batch_size=10, progress=True)
    err = capsys.readouterr().err
    assert "backfill" in err
    assert "100/100" in err
    assert "rows/s" in err
    backfill(rows(100), Target(), key="id", progress=None)
    assert capsys.readouterr().err == ""  # not a terminal


def test_public_names() -> None:
    """backfill and BackfillResult are exported; BackfillError lives in migratekit.exceptions."""
    assert migratekit.backfill is backfill
    assert BackfillResult.__module__ == "migratekit"
    assert BackfillError.__module__ == "migratekit.exceptions"
    assert issubclass(BackfillError, migratekit.MigrateKitError)


# -- a crash half-way, then a resumed run -------------------------------------------------------

_COPY = textwrap.dedent("""
    import os, sqlite3, sys

    from migratekit import backfill

    source, target, checkpoint, crash_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    old = sqlite3.connect(source)
    new = sqlite3.connect(target)
    written = 0

    def write(batch):
        global written
        new.executemany("INSERT INTO users (id, name) VALUES (:id, :name)", batch)
        written += len(batch)
        if written >= crash_at:
            os._exit(3)  # the process dies with the batch inserted but not committed
        new.commit()

    old.row_factory = sqlite3.Row
    result = backfill((dict(row) for row in old.execute("SELECT id, name FROM users ORDER BY id")),
                      write, key="id", batch_size=70, checkpoint=checkpoint, progress=False)
    print(result.rows_written, result.batches, result.resumed_after, result.skipped)
""")


def test_a_crash_half_way_then_a_resumed_run_copies_every_row_once(tmp_path: Path) -> None:
    """A process killed in the middle of a batch, run again: every row exactly once."""
    source, target = tmp_path / "old.db", tmp_path / "new.db"
    checkpoint = tmp_path / "users.checkpoint.json"
    with sqlite3.connect(source) as old:
        old.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        old.executemany("INSERT INTO users VALUES (?, ?)",
                        [(i, f"user {i}") for i in range(1, 1001)])
    with sqlite3.connect(target) as new:
        new.execute("CREATE TABLE users (id INTEGER, name TEXT)")  # no key: duplicates show
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(crash_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _COPY, str(source), str(target), str(checkpoint),
             str(crash_at)],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )

    crashed = run(crash_at=500)
    assert crashed.returncode == 3, crashed.stderr
    state = read_checkpoint(checkpoint)
    assert state is not None
    assert state["last_key"] == 490  # seven batches of 70 committed; the eighth died
    with sqlite3.connect(target) as new:
        assert new.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 490

    resumed = run(crash_at=10**9)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split() == ["510", "8", "490", "490"]
    with sqlite3.connect(target) as new:
        ids = [row[0] for row in new.execute("SELECT id FROM users ORDER BY id")]
        names = dict(new.execute("SELECT id, name FROM users"))
    assert ids == list(range(1, 1001))  # each once
    assert names[777] == "user 777"
    assert read_checkpoint(checkpoint)["last_key"] == 1000  # type: ignore[index]


def _generated() -> Iterator[dict[str, Any]]:
    yield from rows(5)


def test_rows_may_be_a_generator() -> None:
    """Any iterable, read once."""
    target = Target()
    assert backfill(_generated(), target, key="id", batch_size=2).batches == 3
    assert target.ids == [1, 2, 3, 4, 5]
