"""
:func:`migratekit.backfill`: copy the rows that exist before the dual writes
began into the new store, in batches, retrying a failed batch, and resuming
after the last batch written when a run stops half-way.

The checkpoint is a small JSON file holding the key of the last row of the
last batch written. It is replaced whole (written beside, then renamed), so
that a crash at any moment leaves either the old checkpoint or the new one,
never half of one.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import operator
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from migratekit._rows import (
    check_count,
    check_path,
    check_progress,
    check_rows,
    counted,
    key_function,
)
from migratekit._text import shown_repr, type_name
from migratekit.exceptions import BackfillError, ConfigurationError, ConfigurationTypeError

__all__ = ["BackfillResult", "backfill", "read_checkpoint"]

_FORMAT = 1
"""The version of the checkpoint file's format."""


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    """
    What a :func:`migratekit.backfill` run did.

    - ``rows_written``: rows this run handed to ``write`` successfully.
    - ``batches``: batches this run wrote.
    - ``retries``: failed attempts of ``write`` that a later attempt made good.
    - ``resumed_after``: the key of the last row an earlier run wrote, read
      from the checkpoint, after which this run began; ``None`` for a run
      that began at the first row.
    - ``skipped``: rows passed over up to and including that key.
    - ``last_key``: the key of the last row written (by this run, or else by
      the run it resumed), which the checkpoint now holds; ``None`` when
      none was ever written.
    """

    rows_written: int
    batches: int
    retries: int
    resumed_after: Any = None
    skipped: int = 0
    last_key: Any = None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """
    The checkpoint at *path*: ``{"last_key": ..., "rows": ..., "batches":
    ...}`` (the rows and batches of every run so far), or ``None`` when
    there is no file. A file that is not a checkpoint raises
    :class:`~migratekit.exceptions.BackfillError`.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackfillError(
            f"backfill(): cannot read the checkpoint {path!r}: {exc.strerror or type_name(exc)}"
        ) from exc
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not (isinstance(data, dict) and data.get("format") == _FORMAT and "last_key" in data):
        raise BackfillError(
            f"backfill(): {path!r} is not a migratekit backfill checkpoint; give another "
            "path, or delete the file to start from the first row"
        )
    return data


def _write_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Replace the checkpoint at *path* by *state*, atomically."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _encoded(key: Any) -> str:
    """*key* as the checkpoint holds it: canonical JSON, so that (1, "a") matches [1, "a"]."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_write(write: Any) -> Callable[[list[Any]], Any]:
    if not callable(write) or isinstance(write, type):
        raise ConfigurationTypeError(
            f"backfill(): 'write' must be a callable write(batch) that stores a list of rows "
            f"(got {shown_repr(write)} that is a {type_name(write)}); e.g. "
            "write=lambda batch: connection.executemany(INSERT, batch)"
        )
    if inspect.iscoroutinefunction(write):
        raise ConfigurationTypeError(
            f"backfill(): 'write' must be a plain function, not async (got "
            f"{shown_repr(write)}); call the async store from a sync wrapper, e.g. "
            "write=lambda batch: asyncio.run(store(batch))"
        )
    return write  # type: ignore[no-any-return]


def _check_backoff(backoff: Any) -> float:
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)):
        raise ConfigurationTypeError(
            f"backfill(): 'backoff' must be a number of seconds (got {shown_repr(backoff)} "
            f"that is a {type_name(backoff)}); e.g. backoff=0.5"
        )
    if not 0 <= backoff < float("inf"):
        raise ConfigurationError(
            f"backfill(): 'backoff' must be 0 or more seconds (got {backoff!r}); e.g. backoff=0.5"
        )
    return float(backoff)


class _Run:
    """One backfill run: the batches, their retries, and the checkpoint after each."""

    def __init__(self, write: Callable[[list[Any]], Any], key_of: Callable[[Any], Any],
                 retries: int, backoff: float, checkpoint: str | None,
                 earlier: dict[str, Any] | None) -> None:
        self.write = write
        self.key_of = key_of
        self.retries = retries
        self.backoff = backoff
        self.checkpoint = checkpoint
        self.rows_written = 0
        self.batches = 0
        self.retried = 0
        self.total_rows = 0 if earlier is None else _count(earlier.get("rows"))
        self.total_batches = 0 if earlier is None else _count(earlier.get("batches"))

    def key(self, row: Any, where: str) -> Any:
        """The key of *row*; a row without one stops the run (it could not be resumed after)."""
        try:
            key = self.key_of(row)
        except Exception as exc:
            raise BackfillError(
                f"backfill(): cannot read the key of {where} ({type_name(exc)}); check 'key'",
                rows_written=self.rows_written,
            ) from exc
        if self.checkpoint is not None:
            try:
                _encoded(key)
            except (TypeError, ValueError, RecursionError):
                raise ConfigurationTypeError(
                    f"backfill(): a checkpoint records keys as JSON, but the key of {where} is "
                    f"{shown_repr(key)} that is a {type_name(key)}; give a key that is an int, "
                    "a str or a list of them, e.g. key=lambda row: str(row['id'])"
                ) from None
        return key

    def _attempt(self, batch: list[Any]) -> Exception | None:
        """Write *batch* once: ``None``, or the exception ``write`` raised."""
        try:
            self.write(batch)
        except Exception as exc:
            return exc
        return None

    def flush(self, batch: list[Any]) -> Any:
        """Write *batch*, retrying; record it in the checkpoint. Its last key."""
        first = self.key(batch[0], f"row {self.rows_written + 1} of this run")
        last = self.key(batch[-1], f"row {self.rows_written + len(batch)} of this run")
        attempt = 0
        while (failure := self._attempt(batch)) is not None:
            if attempt == self.retries:
                raise BackfillError(
                    f"backfill(): the batch of rows {shown_repr(first)} to "
                    f"{shown_repr(last)} ({len(batch)} rows) failed "
                    f"{attempt + 1} time{'s' if attempt else ''}, last with "
                    f"{type_name(failure)}; {self.rows_written} rows were written before it"
                    f"{', and the checkpoint resumes there' if self.checkpoint else ''}",
                    first_key=first, last_key=last, rows_written=self.rows_written,
                ) from failure
            self.retried += 1
            time.sleep(self.backoff * 2**attempt)
            attempt += 1
        self.rows_written += len(batch)
        self.batches += 1
        if self.checkpoint is not None:
            self.total_rows += len(batch)
            self.total_batches += 1
            _write_checkpoint(self.checkpoint, {
                "format": _FORMAT, "last_key": last, "rows": self.total_rows,
                "batches": self.total_batches, "updated": time.time(),
            })
        return last


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _after(rows: Iterator[Any], run: _Run, key: Any, checkpoint: str) -> int:
    """Pass over *rows* up to the row whose key is *key*; how many were passed over."""
    wanted = _encoded(key)
    skipped = 0
    for row in rows:
        skipped += 1
        if _encoded(run.key(row, f"row {skipped}")) == wanted:
            return skipped
    raise BackfillError(
        f"backfill(): the checkpoint {checkpoint!r} says the last row written was "
        f"{shown_repr(key)}, but no row has that key ({skipped} rows read): the rows changed, "
        "or come in another order than in the run that wrote it. Nothing was written; give "
        "the rows in the same order, or delete the checkpoint to start from the first row"
    )


def backfill(
    rows: Iterable[Any],
    write: Callable[[list[Any]], Any],
    *,
    key: str | Callable[[Any], Any],
    batch_size: int = 500,
    checkpoint: str | os.PathLike[str] | None = None,
    retries: int = 3,
    backoff: float = 0.5,
    progress: bool | None = None,
) -> BackfillResult:
    """
    Copy *rows* by calling ``write(batch)`` with lists of up to *batch_size*
    rows, in order; return what was done.

    A ``write`` that raises an ``Exception`` is called again with the same
    list, after *backoff* seconds, then twice that, and so on, up to
    *retries* more times; then :class:`~migratekit.exceptions.BackfillError`
    names the batch's first and last keys (read with *key*: a field name, or
    a callable ``row -> key``), with the last failure as its ``__cause__``.
    Keys are read from the first and last rows of each batch, and from the
    rows passed over when resuming; a row there without a key stops the
    run with a BackfillError.
    A retried batch is written again whole: make ``write`` one transaction,
    or an upsert.

    With *checkpoint* (a file path), the key of the last row of each batch
    written is recorded there, atomically. A run that finds a checkpoint
    passes over the rows up to that key and resumes after it, so a run that
    stopped half-way (a failure, a crash, Ctrl-C) and is run again writes
    every row once, provided *rows* come in the same order each time (an
    ``ORDER BY``) and ``write`` commits a batch before returning; a crash
    between a batch's commit and its checkpoint writes that batch again,
    which an upsert absorbs. Keys must then be JSON values (ints, strs,
    lists of them). Run again after it finished, a backfill writes only the
    rows that came after its last key since: delete the checkpoint to copy
    everything again.

    *progress* shows a progress bar on standard error (``None``: when
    standard error is a terminal, once the run has lasted half a second).
    """
    function = "backfill"
    rows = check_rows(function, "rows", rows)
    write = _check_write(write)
    key_of = key_function(function, key)
    size = check_count(function, "batch_size", batch_size, 1, "500")
    retries = check_count(function, "retries", retries, 0, "3")
    pause = _check_backoff(backoff)
    path = check_path(function, "checkpoint", checkpoint, "users.checkpoint.json")
    delay = check_progress(function, progress)

    earlier = None if path is None else read_checkpoint(path)
    run = _Run(write, key_of, retries, pause, path, earlier)
    resumed_after = None if earlier is None else earlier["last_key"]
    last_key = resumed_after
    skipped = 0
    with counted(rows, "backfill", operator.length_hint(rows, 0), delay) as shown:
        iterator = iter(shown)
        if path is not None and earlier is not None:
            skipped = _after(iterator, run, resumed_after, path)
        batch: list[Any] = []
        for row in iterator:
            batch.append(row)
            if len(batch) >= size:
                last_key = run.flush(batch)
                batch = []
        if batch:
            last_key = run.flush(batch)
    return BackfillResult(
        rows_written=run.rows_written,
        batches=run.batches,
        retries=run.retried,
        resumed_after=resumed_after,
        skipped=skipped,
        last_key=last_key,
    )
