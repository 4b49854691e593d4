"""Tests of `migratekit reconcile`: two queries' rows compared by key, through the real command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import structlog

from migratekit import Reconciliation
from migratekit._cli import main
from migratekit._cli.reconcile import format_text, shown_url

ROOT = Path(__file__).resolve().parent.parent.parent
PLANTED = "PLANTED-VALUE-zq"
QUERY = "SELECT id, email, plan FROM users"


def database(path: Path, rows: Iterable[tuple[Any, ...]]) -> Path:
    """An SQLite file with a users table holding *rows* (id, email, plan)."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER, email TEXT, plan TEXT)")
        connection.executemany("INSERT INTO users VALUES (?, ?, ?)", rows)
    connection.close()
    return path


def user(i: int, email: str | None = None, plan: str = "free") -> tuple[Any, ...]:
    """One user row."""
    return (i, email or f"user{i}@example.com", plan)


@pytest.fixture
def same(tmp_path: Path) -> tuple[Path, Path]:
    """Two databases holding the same 200 users, in other orders."""
    rows = [user(i) for i in range(200)]
    return (database(tmp_path / "old.db", rows),
            database(tmp_path / "new.db", list(reversed(rows))))


@pytest.fixture
def different(tmp_path: Path) -> tuple[Path, Path]:
    """Two databases that differ: 3 missing in new, 2 missing in old, 4 differing."""
    old = [user(i) for i in range(100)]
    new = [user(i, email=f"{PLANTED}@example.com" if i in (10, 20) else None,
                plan="pro" if i in (30, 40) else "free") for i in range(3, 102)]
    return database(tmp_path / "old.db", old), database(tmp_path / "new.db", new)


def command(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m migratekit reconcile ...` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "migratekit", "reconcile", *argv],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["python -m migratekit", "main()"])
def run(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Run:
    """The command through the real entry point in a subprocess, and in this process."""
    if request.param == "python -m migratekit":
        return command

    def in_process(*argv: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            status = main(["reconcile", *argv])
        except SystemExit as exit_:  # argparse's usage errors
            status = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, status, out, err)

    return in_process


def sides(old: Path | str, new: Path | str, query: str = QUERY) -> list[str]:
    """The options that name both sides."""
    return ["--old", str(old), "--old-query", query, "--new", str(new), "--new-query", query]


def test_the_same_rows_are_consistent_and_exit_0(run: Run, same: tuple[Path, Path]) -> None:
    """Same rows in another order: exit 0, 'consistent', nothing on stderr (not a terminal)."""
    done = run(*sides(*same), "--key", "id", "--name", "users")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "users: consistent"
    assert "compared                   200" in done.stdout
    assert done.stderr == ""


def test_differences_exit_1_with_counts_keys_and_columns(
    run: Run, different: tuple[Path, Path]
) -> None:
    """Missing and differing rows: exit 1, counts, example keys and columns, never values."""
    done = run(*sides(*different), "--key", "id")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "reconcile: NOT consistent"
    assert "  missing in new               3   e.g. 0, 1, 2" in lines
    assert "  missing in old               2   e.g. 100, 101" in lines
    assert "  differing                    4   e.g. 10, 20, 30, 40" in lines
    assert "  differing at: email (2), plan (2)" in lines
    assert PLANTED not in done.stdout + done.stderr


def test_json_output(run: Run, different: tuple[Path, Path]) -> None:
    """--format json: one document with the event's fields."""
    done = run(*sides(*different), "--key", "id", "--format", "json", "--name", "users")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["migration"] == "users"
    assert (document["old_rows"], document["new_rows"], document["compared"]) == (100, 99, 97)
    assert document["examples"]["differing"] == [10, 20, 30, 40]
    assert document["diff_paths"] == {"email": 2, "plan": 2}
    assert document["consistent"] is False
    assert PLANTED not in done.stdout


def test_a_key_of_several_columns(run: Run, tmp_path: Path) -> None:
    """--key twice: rows match on both columns."""
    old = database(tmp_path / "old.db", [(1, "a", "free"), (1, "b", "pro")])
    new = database(tmp_path / "new.db", [(1, "b", "pro"), (1, "a", "free")])
    done = run(*sides(old, new), "--key", "id", "--key", "email", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["compared"] == 2
    done = run(*sides(old, new), "--key", "id", "--format", "json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["duplicates_in_old"] == 1


def test_spilled_to_temporary_files(
    run: Run, different: tuple[Path, Path], tmp_path: Path
) -> None:
    """--max-in-memory small: the same answer, from temporary files that are removed."""
    spill = tmp_path / "spill"
    spill.mkdir()
    done = run(*sides(*different), "--key", "id", "--format", "json",
                   "--max-in-memory", "5", "--temp-dir", str(spill))
    document = json.loads(done.stdout)
    assert document["spilled"] is True
    assert (document["missing_in_new"], document["missing_in_old"], document["differing"]) == (
        3, 2, 4)
    assert list(spill.iterdir()) == []


def test_an_sqlalchemy_url(run: Run, different: tuple[Path, Path]) -> None:
    """A database URL is read with SQLAlchemy: the same answer as the file."""
    old, new = different
    done = run(*sides(f"sqlite:///{old}", new), "--key", "id", "--format", "json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert (document["missing_in_new"], document["missing_in_old"], document["differing"]) == (
        3, 2, 4)


def test_without_sqlalchemy_a_url_names_the_extra(
    same: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No SQLAlchemy: exit 2, one line naming the install line, the password hidden."""
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # import sqlalchemy raises ImportError
    status = main(["reconcile", *sides(same[0], "postgresql://app:hunter2@db.internal/app"),
                   "--key", "id"])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err == (
        "migratekit reconcile: --new 'postgresql://app:***@db.internal/app' is a database URL, "
        "which is read with SQLAlchemy, which is not installed; run "
        "`pip install 'migratekit[sql]'` (or give an SQLite file's path)\n"
    )


def test_a_url_whose_driver_is_missing_is_a_usage_error(run: Run, same: tuple[Path, Path]) -> None:
    """A URL SQLAlchemy cannot use: exit 2, one line, no password, no traceback."""
    done = run(*sides(same[0], "nosuchdialect://app:hunter2@db/app"), "--key", "id")
    assert done.returncode == 2
    assert done.stderr.startswith("migratekit reconcile: cannot use --new "
                                  "'nosuchdialect://app:***@db/app'")
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("change", "words"), [
    ({"--old": "{tmp}/missing.db"}, "--old '{tmp}/missing.db' is not a file"),
    ({"--new-query": "SELECT * FROM nothing"}, "the --new-query failed on"),
    ({"--key": "uid"}, "--key 'uid' is not a column of the old query (its columns: id, email, "
                       "plan)"),
    ({"--max-in-memory": "0"}, "expected a whole number of at least 1"),
    ({"--max-in-memory": "many"}, "expected a whole number of at least 1"),
    ({"--old": "sqlite:///{tmp}/no/such/dir.db"}, "cannot connect to --old 'sqlite:///"),
    ({"--old": "sqlite:///{tmp}/old.db", "--old-query": "SELECT * FROM nothing"},
     "the --old-query failed on 'sqlite:///"),
    ({"--log": "{tmp}"}, "cannot write '{tmp}'"),
    ({"--temp-dir": "{tmp}/no/such/dir", "--max-in-memory": "1"}, "cannot write '{tmp}/no"),
])
def test_usage_errors_exit_2_with_one_line(run: Run, same: tuple[Path, Path], tmp_path: Path,
                                           change: dict[str, str], words: str) -> None:
    """A missing file, a failing query, an unknown key column, a bad number, a place that
    cannot be written: exit 2, one line, no traceback."""
    options = dict(zip(sides(*same)[::2], sides(*same)[1::2], strict=True))
    options["--key"] = "id"
    options.update({name: value.format(tmp=tmp_path) for name, value in change.items()})
    done = run(*[word for pair in options.items() for word in pair])
    assert done.returncode == 2
    assert words.format(tmp=tmp_path) in done.stderr
    assert len(done.stderr.splitlines()) == 1 or "usage:" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "missing.db").exists()  # opened read-only: never created


def test_a_required_option_left_out_exits_2(run: Run, same: tuple[Path, Path]) -> None:
    """argparse's usage error for a missing --key: exit 2."""
    done = run(*sides(*same))
    assert done.returncode == 2
    assert "--key" in done.stderr


def test_a_query_that_fails_half_way_exits_2(run: Run, tmp_path: Path) -> None:
    """A row that fails while the rows are read: exit 2, one line, no traceback."""
    old = database(tmp_path / "old.db", [user(i) for i in range(100)])
    failing = ("SELECT id, email, CASE WHEN id = 50 THEN abs(-9223372036854775808) "
               "ELSE plan END AS plan FROM users")
    done = run("--old", str(old), "--old-query", failing, "--new", str(old),
                   "--new-query", QUERY, "--key", "id")
    assert done.returncode == 2
    assert done.stderr == ("migratekit reconcile: reading the --old-query's rows failed: "
                           "OperationalError: integer overflow\n")
    assert "Traceback" not in done.stderr


def test_progress_on_stderr_with_totals(run: Run, same: tuple[Path, Path]) -> None:
    """--progress: a bar per side on stderr, with the counted total and the rate."""
    done = run(*sides(*same), "--key", "id", "--progress")
    assert done.returncode == 0
    assert "old rows: 100%" in done.stderr
    assert "new rows: 100%" in done.stderr
    assert "200/200" in done.stderr
    assert "rows/s" in done.stderr
    assert "consistent" in done.stdout


def test_the_event_goes_to_the_log_file(
    run: Run, different: tuple[Path, Path], tmp_path: Path
) -> None:
    """--log FILE: the migration.reconcile event appended as a JSON line; stdout stays clean."""
    log = tmp_path / "reconcile.jsonl"
    log.write_text('{"event": "earlier"}\n')
    done = run(*sides(*different), "--key", "id", "--format", "json", "--log", str(log))
    json.loads(done.stdout)  # only the document
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    event = json.loads(lines[1])
    assert (event["event"], event["level"]) == ("migration.reconcile", "info")
    assert event["differing"] == 4
    assert PLANTED not in log.read_text()


def test_in_process_logging_is_restored(same: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """main(): structlog's configuration is what it was before the command."""
    assert not structlog.is_configured()
    assert main(["reconcile", *sides(*same), "--key", "id"]) == 0
    assert not structlog.is_configured()
    processors = [structlog.processors.JSONRenderer()]
    structlog.configure(processors=processors)
    assert main(["reconcile", *sides(*same), "--key", "id"]) == 0
    assert structlog.get_config()["processors"] == processors
    assert "consistent" in capsys.readouterr().out


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:secret@db:5432/app", "postgresql://app:***@db:5432/app"),
    ("postgresql://app@db/app", "postgresql://app@db/app"),
    ("mysql+pymysql://u:p%40ss@h/d?x=1", "mysql+pymysql://u:***@h/d?x=1"),
    ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
    ("postgresql://u:p@[::1:5432/d", "postgresql://…"),
])
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    """A URL's password is never printed."""
    assert shown_url(url) == shown


@pytest.mark.parametrize("old", ["file", "url"])
def test_a_query_that_cannot_be_counted_has_no_total(
    same: tuple[Path, Path], capsys: pytest.CaptureFixture[str], old: str
) -> None:
    """A query that cannot be wrapped in COUNT(*) still runs; the bar has no total."""
    pragma = "PRAGMA table_info(users)"
    source = str(same[0]) if old == "file" else f"sqlite:///{same[0]}"
    status = main(["reconcile", "--old", source, "--old-query", pragma, "--new", str(same[1]),
                   "--new-query", pragma, "--key", "cid", "--progress"])
    out, err = capsys.readouterr()
    assert status == 0
    assert "compared                     3" in out
    assert "old rows: 3.00 rows [" in err  # counted, without a total
    assert "3/3" not in err.split("new rows")[0]


def test_text_lists_error_kinds() -> None:
    """The text report names the kinds of errors, the most frequent first."""
    result = Reconciliation(
        consistent=False, old_rows=3, new_rows=3, compared=3, missing_in_new=0,
        missing_in_old=0, differing=0, errors=3,
        error_types={"compare: TypeError": 2, "old key: KeyError": 1},
        examples={"errors": ("a", 7)},
    )
    text = format_text(result)
    assert "  errors                       3   e.g. 'a', 7" in text.splitlines()
    assert text.endswith("  errors: compare: TypeError (2), old key: KeyError (1)\n")


def test_a_file_sqlite_cannot_open_is_a_usage_error(
    same: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """sqlite3 refusing to open an existing file: exit 2, one line naming it."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("migratekit._cli.reconcile.sqlite3.connect", refuse)
    assert main(["reconcile", *sides(*same), "--key", "id"]) == 2
    assert capsys.readouterr().err == (
        f"migratekit reconcile: cannot open --old '{same[0]}': unable to open database file\n"
    )
