"""
What :func:`migratekit.reconcile` and :func:`migratekit.backfill` share: how a
record's key is read, how their arguments are checked, and the progress bar.

Records are mappings (a ``dict``, a ``sqlite3.Row``) or objects; a key given
as a field name is read as ``record[name]``, else as ``record.name``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn

from migratekit._text import shown_repr, type_name
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError

__all__ = [
    "KeyFunction",
    "check_callable",
    "check_count",
    "check_name",
    "check_path",
    "check_progress",
    "check_rows",
    "counted",
    "key_function",
    "progress_bar",
    "progress_enabled",
]

KeyFunction = Callable[[Any], Any]
"""What a record's key is read with: ``record -> key``."""

_NOT_FOUND = (KeyError, IndexError, TypeError)
"""What ``record[name]`` raises when *record* is an object whose key is an attribute."""


def _describe(value: Any) -> str:
    name = getattr(value, "__qualname__", None) if callable(value) else None
    shown = name if isinstance(name, str) else shown_repr(value, 80)
    return f"{shown} that is a {type_name(value)}"


def _fail_type(function: str, argument: str, expected: str, given: Any, fix: str) -> NoReturn:
    raise ConfigurationTypeError(
        f"{function}(): {argument!r} must be {expected} (got {_describe(given)}); {fix}"
    )


def key_function(function: str, key: Any) -> KeyFunction:
    """
    The function that reads a record's key: *key* itself when it is a
    callable, else a reader of the field it names, by item (mappings) or by
    attribute (objects). A key of another kind raises
    :class:`~migratekit.exceptions.ConfigurationTypeError` naming *function*.
    """
    if isinstance(key, str) and key:
        name = str.__str__(key)

        def field(record: Any) -> Any:
            if type(record) is dict:
                return record[name]
            try:
                return record[name]
            except _NOT_FOUND:
                pass
            return getattr(record, name)

        field.__qualname__ = f"field {name!r}"
        return field
    if callable(key) and not isinstance(key, type):
        return key  # type: ignore[no-any-return]
    _fail_type(function, "key", "a field name (a non-empty str) or a callable record -> key",
               key, "e.g. key='id', or key=lambda row: (row['tenant'], row['id'])")


def check_callable(function: str, argument: str, value: Any, expected: str,
                   example: str) -> Any:
    """
    *value* when it is ``None`` or a callable (a class too: ``normalize=dict``);
    else a ConfigurationTypeError.
    """
    if value is None or callable(value):
        return value
    _fail_type(function, argument, expected, value, f"e.g. {argument}={example}")


def check_rows(function: str, argument: str, rows: Any) -> Iterable[Any]:
    """*rows* when it is an iterable of records; a mapping or a string is a mistake."""
    if isinstance(rows, (str, bytes, bytearray)):
        _fail_type(function, argument, "an iterable of records", rows,
                   "pass a list, a generator or a database cursor")
    if isinstance(rows, Mapping):
        _fail_type(function, argument, "an iterable of records, not a mapping (which would "
                   "give its keys)", rows, f"pass {argument}.values() if it maps keys to records")
    if not isinstance(rows, Iterable):
        _fail_type(function, argument, "an iterable of records", rows,
                   "pass a list, a generator or a database cursor")
    return rows


def check_count(function: str, argument: str, value: Any, minimum: int, example: str) -> int:
    """*value* when it is an ``int`` of at least *minimum*; else a ConfigurationError."""
    if not isinstance(value, int) or isinstance(value, bool):
        _fail_type(function, argument, f"an int of at least {minimum}", value,
                   f"e.g. {argument}={example}")
    if value < minimum:
        raise ConfigurationError(
            f"{function}(): {argument!r} must be at least {minimum} (got {value}); "
            f"e.g. {argument}={example}"
        )
    return int(value)


def check_path(function: str, argument: str, value: Any, example: str) -> str | None:
    """*value* as a path string, or ``None``; another kind is a ConfigurationTypeError."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return path
    _fail_type(function, argument, "a path (a str or an os.PathLike) or None", value,
               f"e.g. {argument}={example!r}")


def check_progress(function: str, value: Any) -> float | None:
    """
    How to show a progress bar: ``None`` for none, else after how many
    seconds. ``True`` shows it at once; ``None`` (the default) shows it when
    standard error is a terminal, once a run has lasted half a second, so
    that a quick run prints nothing.
    """
    if value is None:
        return 0.5 if progress_enabled() else None
    if isinstance(value, bool):
        return 0.0 if value else None
    _fail_type(function, "progress", "True, False or None (on when stderr is a terminal)",
               value, "e.g. progress=True")


def check_name(function: str, value: Any) -> str | None:
    """*value* when it is ``None`` or a non-empty str; else a ConfigurationTypeError."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return str.__str__(value)
    _fail_type(function, "name", "a non-empty str or None", value, "e.g. name='users.copy'")


def progress_enabled() -> bool:
    """Whether standard error is a terminal, where a progress bar belongs."""
    stream = sys.stderr
    try:
        return stream is not None and bool(stream.isatty())
    except Exception:  # a replaced stderr that cannot say
        return False


@contextlib.contextmanager
def counted(rows: Iterable[Any], description: str, total: int | None,
            delay: float | None) -> Iterator[Iterable[Any]]:
    """
    *rows*, counted on standard error by a progress bar (rows a second, and
    the time left when *total* is known) shown after *delay* seconds; *rows*
    itself when *delay* is ``None``. The bar is closed on the way out.
    """
    with progress_bar(description, total, delay, rows) as bar:
        yield rows if bar is None else bar


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, delay: float | None,
                 rows: Iterable[Any] | None = None) -> Iterator[Any]:
    """
    A progress bar on standard error (a ``tqdm``, moved on by its
    ``update(n)``), shown after *delay* seconds; ``None`` when *delay* is ``None``.
    """
    if delay is None:
        yield None
        return
    # Imported on first use: tqdm takes tens of milliseconds to import, and
    # most processes that import migratekit never show a bar.
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(rows, desc=description, total=total or None, unit=" rows", unit_scale=True,
               file=sys.stderr, delay=delay, mininterval=0.25, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
