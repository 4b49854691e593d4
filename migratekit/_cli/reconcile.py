"""
``migratekit reconcile``: compare the rows of two queries, by key, with
:func:`migratekit.reconcile`.

::

    migratekit reconcile --old old.db --old-query "SELECT * FROM users"
                         --new postgresql://app@db/app --new-query "SELECT * FROM users"
                         --key id [--name users] [--format text|json] [--progress]

A source is the path of an SQLite file, read with the standard library (and
opened read-only: a mistyped path is an error, not a new empty database), or
a database URL, read with SQLAlchemy (``pip install 'migratekit[sql]'``).
Each row is a dict of its columns. Exit status 0 when both sides hold the
same rows, 1 when they do not, 2 when the command could not run (a bad
option, a source that cannot be opened, a query that fails), with one line
on standard error and no traceback. A URL is shown without its password.

Progress: tqdm, because it wraps an iterable and writes one line to standard
error, which is all a plain argparse command needs; rich would bring a
console, markup and a dozen modules for the same line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import structlog

from migratekit._cli._logging import json_lines, restore
from migratekit._reconcile import EXAMPLE_KINDS, Reconciliation, reconcile, reconciliation_fields
from migratekit._rows import progress_enabled
from migratekit._text import shown_repr, type_name
from migratekit.exceptions import ConfigurationError

__all__ = ["add_parser", "run"]

CONSISTENT = 0
INCONSISTENT = 1
FAILED = 2

INSTALL_HINT = "pip install 'migratekit[sql]'"
_FETCH = 1000


class _Failed(Exception):
    """The command cannot go on: the message is its one line on standard error."""


def add_parser(subparsers: Any) -> None:
    """Add the ``reconcile`` subcommand."""
    parser = subparsers.add_parser(
        "reconcile",
        help="compare the rows of two queries by key: what is missing, what differs",
        description=(
            "Run a query on the old store and one on the new, match their rows by key and "
            "say which keys are missing on either side, which rows differ and where "
            "(column names, never values). Exit 0 when consistent, 1 when not, 2 when it "
            "could not run."
        ),
    )
    for side in ("old", "new"):
        parser.add_argument(
            f"--{side}", required=True, metavar="DB",
            help=f"the {side} store: an SQLite file, or a database URL "
                 f"(needs SQLAlchemy: {INSTALL_HINT})",
        )
        parser.add_argument(f"--{side}-query", required=True, metavar="SQL",
                            help=f"the query whose rows are the {side} side")
    parser.add_argument(
        "--key", required=True, action="append", metavar="COLUMN",
        help="the column that identifies a row; repeat it for a key of several columns",
    )
    parser.add_argument("--name", metavar="NAME",
                        help="the migration's name, in the output and the event")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--progress", action="store_true",
        help="show a progress bar on standard error even when it is not a terminal",
    )
    parser.add_argument(
        "--max-in-memory", type=_at_least_one, default=20_000, metavar="ROWS",
        help="rows of each side held in memory before spilling to temporary files "
             "(default: %(default)s)",
    )
    parser.add_argument("--temp-dir", metavar="DIR",
                        help="where temporary files go (default: the system's)")
    parser.add_argument(
        "--log", metavar="FILE",
        help="append the migration.reconcile event to FILE as a JSON line",
    )
    parser.set_defaults(func=run)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1 (got {text!r})")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``migratekit reconcile``; returns the exit status."""
    counting = args.progress or progress_enabled()  # the rows are counted for the bar's ETA
    keys: list[str] = args.key
    try:
        with contextlib.ExitStack() as stack:
            old = stack.enter_context(_rows("old", args.old, args.old_query, keys, counting))
            new = stack.enter_context(_rows("new", args.new, args.new_query, keys, counting))
            stack.enter_context(_events_to(args.log))
            result = reconcile(
                old, new,
                key=keys[0] if len(keys) == 1 else _columns(keys),
                name=args.name,
                max_in_memory=args.max_in_memory,
                directory=args.temp_dir,
                progress=True if args.progress else None,
            )
    except (_Failed, ConfigurationError) as exc:
        print(f"migratekit reconcile: {exc}", file=sys.stderr)
        return FAILED
    except OSError as exc:  # a temporary directory or a log file that cannot be written
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"migratekit reconcile: cannot write{where}: {exc.strerror or type_name(exc)}",
              file=sys.stderr)
        return FAILED
    if args.format == "json":
        print(json.dumps(reconciliation_fields(result), ensure_ascii=True))
    else:
        sys.stdout.write(format_text(result))
    return CONSISTENT if result.consistent else INCONSISTENT


def _columns(keys: list[str]) -> Any:
    names = tuple(keys)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in names)

    return key


def format_text(result: Reconciliation) -> str:
    """The text report of *result*: a verdict line, then one line per count."""
    title = result.name or "reconcile"
    lines = [f"{title}: {'consistent' if result.consistent else 'NOT consistent'}"]
    rows = [
        ("old rows", result.old_rows, None),
        ("new rows", result.new_rows, None),
        ("compared", result.compared, None),
        *(
            (kind.replace("_", " "), getattr(result, kind), kind)
            for kind in EXAMPLE_KINDS
        ),
    ]
    for label, count, kind in rows:
        line = f"  {label:<18}{count:>12,}"
        examples = result.examples.get(kind or "", ())
        if examples:
            line += "   e.g. " + ", ".join(shown_repr(key) for key in examples)
        lines.append(line)
    if result.diff_paths:
        lines.append("  differing at: " + ", ".join(
            f"{path} ({count:,})" for path, count in list(result.diff_paths.items())[:10]
        ))
    if result.error_types:
        lines.append("  errors: " + ", ".join(
            f"{kind} ({count:,})" for kind, count in result.error_types.items()
        ))
    return "\n".join(lines) + "\n"


# -- the rows of a query -------------------------------------------------------------------------


class _Query:
    """The rows of a query, as dicts; with the number of rows, when asked, as a length hint."""

    def __init__(self, rows: Iterator[dict[str, Any]], total: int | None) -> None:
        self._rows = rows
        self._total = total

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._rows

    def __length_hint__(self) -> int:
        return self._total or 0


@contextlib.contextmanager
def _rows(side: str, source: str, query: str, keys: list[str],
          count: bool) -> Iterator[_Query]:
    """The rows of *query* on *source*, read as they are iterated; the connection closes after."""
    if "://" in source:
        with _sqlalchemy_rows(side, source, query, keys, count) as rows:
            yield rows
    else:
        with _sqlite_rows(side, source, query, keys, count) as rows:
            yield rows


def _counting_query(query: str) -> str:
    return f"SELECT COUNT(*) FROM ({query.strip().rstrip(';')}) AS migratekit_rows"


def _check_keys(side: str, columns: list[str], keys: list[str]) -> None:
    absent = [key for key in keys if key not in columns]
    if absent:
        raise _Failed(
            f"--key {absent[0]!r} is not a column of the {side} query (its columns: "
            f"{', '.join(columns) or 'none'}); give --key one of them"
        )


@contextlib.contextmanager
def _sqlite_rows(side: str, path: str, query: str, keys: list[str],
                 count: bool) -> Iterator[_Query]:
    if not Path(path).is_file():
        raise _Failed(f"--{side} {path!r} is not a file (an SQLite database, or a URL such as "
                      "postgresql://user@host/db)")
    try:
        connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _Failed(f"cannot open --{side} {path!r}: {exc}") from None
    try:
        total = None
        if count:
            with contextlib.suppress(sqlite3.Error):
                total = connection.execute(_counting_query(query)).fetchone()[0]
        try:
            cursor = connection.execute(query)
        except sqlite3.Error as exc:
            raise _Failed(f"the --{side}-query failed on {path!r}: "
                          f"{type_name(exc)}: {exc}") from None
        columns = [column[0] for column in cursor.description or ()]
        _check_keys(side, columns, keys)
        yield _Query(_fetch(side, cursor, columns, sqlite3.Error), total)
    finally:
        connection.close()


def _fetch(side: str, cursor: Any, columns: list[str], error: Any) -> Iterator[dict[str, Any]]:
    while True:
        try:
            batch = cursor.fetchmany(_FETCH)
        except error as exc:
            raise _Failed(f"reading the --{side}-query's rows failed: "
                          f"{type_name(exc)}: {exc}") from None
        if not batch:
            return
        for row in batch:
            yield dict(zip(columns, row, strict=True))


def shown_url(url: str) -> str:
    """*url* without its password, to be shown."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = quote(parts.username or "", safe="")
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return url.split("://", 1)[0] + "://…"


def _import_sqlalchemy(side: str, url: str) -> Any:
    try:
        # Imported on first use: SQLAlchemy is an optional dependency.
        import sqlalchemy  # noqa: PLC0415
    except ImportError:
        raise _Failed(
            f"--{side} {shown_url(url)!r} is a database URL, which is read with SQLAlchemy, "
            f"which is not installed; run `{INSTALL_HINT}` (or give an SQLite file's path)"
        ) from None
    return sqlalchemy


@contextlib.contextmanager
def _sqlalchemy_rows(side: str, url: str, query: str, keys: list[str],
                     count: bool) -> Iterator[_Query]:
    sqlalchemy = _import_sqlalchemy(side, url)
    shown = shown_url(url)
    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # a bad URL, a dialect or driver that is not installed
        raise _Failed(f"cannot use --{side} {shown!r}: {type_name(exc)}: {exc}") from None
    try:
        with engine.connect() as connection:
            total = None
            if count:
                try:
                    total = connection.execute(
                        sqlalchemy.text(_counting_query(query))).scalar()
                except sqlalchemy.exc.SQLAlchemyError:
                    connection.rollback()
            try:
                result = connection.execution_options(stream_results=True).execute(
                    sqlalchemy.text(query))
            except sqlalchemy.exc.SQLAlchemyError as exc:
                raise _Failed(f"the --{side}-query failed on {shown!r}: "
                              f"{type_name(exc)}: {_first_line(exc)}") from None
            columns = list(result.keys())
            _check_keys(side, columns, keys)
            yield _Query(_fetch(side, result, columns, sqlalchemy.exc.SQLAlchemyError), total)
    except sqlalchemy.exc.SQLAlchemyError as exc:  # the connection itself
        raise _Failed(f"cannot connect to --{side} {shown!r}: "
                      f"{type_name(exc)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# -- the event -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _events_to(path: str | None) -> Iterator[None]:
    """
    structlog sends migratekit's events to *path* as JSON lines, or nowhere,
    while reconcile runs (the command is an application: it may configure
    logging); the previous configuration is restored after.
    """
    if path is not None:
        with json_lines(path):
            yield
        return
    previous = structlog.get_config() if structlog.is_configured() else None
    structlog.configure(processors=[_drop], cache_logger_on_first_use=False)
    try:
        yield
    finally:
        restore(previous)


def _drop(logger: Any, method: str, event: Any) -> Any:
    raise structlog.DropEvent
