"""
:func:`migratekit.reconcile`: do the old store and the new one hold the same
records? Where ``migration.op`` judges the reads that happened to run,
reconcile judges every record, once, at the end of a backfill or before a
cutover.

Both sides are read once, in any order, and matched by key. Up to
*max_in_memory* records of each side are held in memory; past that, both
sides go to temporary files partitioned by the hash of their keys
(migratekit._spill), and each partition is matched on its own, so memory
stays bounded by *max_in_memory* records whatever the size of the input.

Only keys and counts come out: values exist in memory while they are
compared and in the temporary files, which are removed on the way out.
"""

from __future__ import annotations

import dataclasses
import operator
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from migratekit._diff import diff_paths as _diff_paths
from migratekit._events import pipeline_failed, state
from migratekit._rows import (
    check_callable,
    check_count,
    check_name,
    check_path,
    check_progress,
    check_rows,
    counted,
    key_function,
    progress_bar,
)
from migratekit._schema import RECONCILE_EVENT
from migratekit._spill import FANOUT, UNUSABLE, Partitions
from migratekit._text import shown_value, type_name
from migratekit.exceptions import ConfigurationError

__all__ = ["EXAMPLE_KINDS", "Reconciliation", "reconcile", "reconciliation_fields"]

OLD, NEW = 0, 1
_SIDES = ("old", "new")

EXAMPLES_LIMIT = 5
"""Keys kept as examples, per kind."""

PATHS_LIMIT = 100
"""Distinct ``diff_paths`` counted; the paths seen first are kept."""

_MAX_LEVEL = 4
"""How many times a partition is split again, at most (a key repeated a million times
fills one partition however it is split)."""

EXAMPLE_KINDS = (
    "missing_in_new", "missing_in_old", "differing", "duplicates_in_old", "duplicates_in_new",
    "errors",
)  # fmt: skip
"""The kinds of :attr:`Reconciliation.examples`, in the order they are listed."""

_ABSENT: Any = object()


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    """
    How two sets of records compare, by key: what :func:`migratekit.reconcile` returns.

    Counts and keys only: no value of a record is kept here.

    - ``old_rows``, ``new_rows``: records read from each side.
    - ``compared``: keys found on both sides (their first record on each side).
    - ``missing_in_new``, ``missing_in_old``: keys found on one side only.
    - ``differing``: compared keys whose records differ.
    - ``duplicates_in_old``, ``duplicates_in_new``: records whose key came
      earlier on the same side. The first one is the one compared; the
      others are counted here, and make the result inconsistent: a key that
      does not identify one record cannot be reconciled, and a copy that
      wrote a record twice is a defect.
    - ``errors``: records that could not be judged: their key could not be
      read or hashed, their ``normalize`` or the ``compare`` of their pair
      raised, they could not be kept in (or read back from) the temporary
      files. A compared key in error is neither differing nor equal.
    - ``error_types``: each failure of user code by where it happened and
      the exception's class (``"new normalize: KeyError"``, ``"compare:
      TypeError"``, ``"diff: RecursionError"``); a failure of ``normalize``
      is counted here even when its record had no counterpart to compare.
    - ``diff_paths``: for differing records, path -> how many differ there
      (``"address.zip"``, ``"tags[2]"``; see ``migration.op``), the most
      frequent first; at most :data:`PATHS_LIMIT` distinct paths.
    - ``examples``: kind -> up to five keys, for the kinds above that are
      not zero (``"missing_in_new"``, ..., ``"errors"``).
    - ``consistent``: nothing is missing, differing, duplicated or in error.
    - ``spilled``: whether the records went to temporary files.
    """

    consistent: bool
    old_rows: int
    new_rows: int
    compared: int
    missing_in_new: int
    missing_in_old: int
    differing: int
    duplicates_in_old: int = 0
    duplicates_in_new: int = 0
    errors: int = 0
    error_types: dict[str, int] = dataclasses.field(default_factory=dict)
    diff_paths: dict[str, int] = dataclasses.field(default_factory=dict)
    examples: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    name: str | None = None
    spilled: bool = False


def reconciliation_fields(result: Reconciliation) -> dict[str, Any]:
    """
    *result* as the fields of a ``migration.reconcile`` event (and of
    ``migratekit reconcile --format json``): plain JSON types, each example
    key as :func:`migratekit._text.shown_value` shows a value from outside
    (as it is when it is a short str or int; bounded and escaped otherwise).
    """
    return {
        "migration": result.name,
        "consistent": result.consistent,
        "old_rows": result.old_rows,
        "new_rows": result.new_rows,
        "compared": result.compared,
        "missing_in_new": result.missing_in_new,
        "missing_in_old": result.missing_in_old,
        "differing": result.differing,
        "duplicates_in_old": result.duplicates_in_old,
        "duplicates_in_new": result.duplicates_in_new,
        "errors": result.errors,
        "error_types": dict(result.error_types),
        "diff_paths": dict(result.diff_paths),
        "examples": {
            kind: [shown_value(key) for key in keys] for kind, keys in result.examples.items()
        },
        "spilled": result.spilled,
    }


class _Tally:
    """The counts of one reconciliation, and the judging of a pair of records."""

    def __init__(self, compare: Callable[[Any, Any], Any] | None) -> None:
        self.compare = compare
        self.rows = [0, 0]
        self.compared = 0
        self.missing = [0, 0]  # [missing in old, missing in new]: by the side that lacks it
        self.duplicates = [0, 0]
        self.differing = 0
        self.errors = 0
        self.error_types: dict[str, int] = {}
        self.paths: dict[str, int] = {}
        self.examples: dict[str, list[Any]] = {kind: [] for kind in EXAMPLE_KINDS}

    def example(self, kind: str, key: Any) -> None:
        keys = self.examples[kind]
        if len(keys) < EXAMPLES_LIMIT:
            keys.append(key)

    def failed(self, where: str, exc: BaseException) -> None:
        """Count a failure of user code (or of pickling its values) at *where*."""
        name = f"{where}: {type_name(exc)}"
        self.error_types[name] = self.error_types.get(name, 0) + 1

    def lost(self, side: int, where: str, exc: BaseException, count: int) -> None:
        """*count* records of *side* that cannot be judged (no key to match them by)."""
        self.failed(f"{_SIDES[side]} {where}", exc)
        self.errors += count

    def judge(self, key: Any, old: Any, new: Any) -> None:
        """Compare the records of *key*: equal, differing (with where), or in error."""
        self.compared += 1
        if old is UNUSABLE or new is UNUSABLE:
            self.errors += 1
            self.example("errors", key)
            return
        try:
            same = bool(old == new) if self.compare is None else bool(self.compare(old, new))
        except Exception as exc:
            self.failed("compare", exc)
            self.errors += 1
            self.example("errors", key)
            return
        if same:
            return
        self.differing += 1
        self.example("differing", key)
        try:
            paths = _diff_paths(old, new)
        except Exception as exc:
            self.failed("diff", exc)
            return
        counts = self.paths
        for path in paths:
            if path in counts or len(counts) < PATHS_LIMIT:
                counts[path] = counts.get(path, 0) + 1

    def result(self, name: str | None, spilled: bool) -> Reconciliation:
        missing_in_old, missing_in_new = self.missing
        inconsistent = (missing_in_new or missing_in_old or self.differing or self.errors
                        or self.duplicates[OLD] or self.duplicates[NEW])
        return Reconciliation(
            consistent=not inconsistent,
            old_rows=self.rows[OLD],
            new_rows=self.rows[NEW],
            compared=self.compared,
            missing_in_new=missing_in_new,
            missing_in_old=missing_in_old,
            differing=self.differing,
            duplicates_in_old=self.duplicates[OLD],
            duplicates_in_new=self.duplicates[NEW],
            errors=self.errors,
            error_types=dict(sorted(self.error_types.items(), key=_by_count)),
            diff_paths=dict(sorted(self.paths.items(), key=_by_count)),
            examples={kind: tuple(keys) for kind, keys in self.examples.items() if keys},
            name=name,
            spilled=spilled,
        )


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _match(old_records: Iterable[tuple[Any, Any]], new_records: Iterable[tuple[Any, Any]],
           tally: _Tally) -> None:
    """
    Match the records of one partition (or of everything, in memory): the old
    side's into a dict, then the new side's streamed past it. A key whose
    ``__eq__`` raises while the dict looks for it is an error of that record.
    """
    old: dict[Any, Any] = {}
    for key, value in old_records:
        try:
            if key in old:
                tally.duplicates[OLD] += 1
                tally.example("duplicates_in_old", key)
                continue
            old[key] = value
        except Exception as exc:
            tally.lost(OLD, "key", exc, 1)
    seen: set[Any] = set()  # keys of the new side so far, matched or not
    for key, value in new_records:
        try:
            if key in seen:
                tally.duplicates[NEW] += 1
                tally.example("duplicates_in_new", key)
                continue
            seen.add(key)
            found = old.pop(key, _ABSENT)
        except Exception as exc:
            tally.lost(NEW, "key", exc, 1)
            continue
        if found is _ABSENT:
            tally.missing[OLD] += 1
            tally.example("missing_in_old", key)
        else:
            tally.judge(key, found, value)
    tally.missing[NEW] += len(old)
    for key in old:
        if len(tally.examples["missing_in_new"]) >= EXAMPLES_LIMIT:
            break
        tally.example("missing_in_new", key)


class _Store:
    """
    Both sides' records as they are read: in two lists while each side has at
    most *limit* records, then in partitioned files (all of them, those in
    the lists included).
    """

    def __init__(self, limit: int, directory: str | None, tally: _Tally) -> None:
        self.limit = limit
        self.directory = directory
        self.tally = tally
        self.lists: tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]] = ([], [])
        self.partitions: Partitions | None = None
        self._opened: list[Partitions] = []
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    def add(self, side: int, key: Any, value: Any) -> None:
        partitions = self.partitions
        if partitions is not None:
            partitions.add(side, key, value)
            return
        records = self.lists[side]
        records.append((key, value))
        if len(records) > self.limit:
            self._spill()

    def _spill(self) -> None:
        self._temporary = tempfile.TemporaryDirectory(prefix="migratekit-reconcile-",
                                                      dir=self.directory)
        partitions = self.partitions = self._open(self._temporary.name, 0)
        for side in (OLD, NEW):
            for key, value in self.lists[side]:
                partitions.add(side, key, value)
            self.lists[side].clear()

    def match(self, delay: float | None) -> None:
        """Match what was read: at once when in memory, else partition by partition."""
        partitions = self.partitions
        if partitions is None:
            _match(self.lists[OLD], self.lists[NEW], self.tally)
            return
        partitions.close()
        total = sum(partitions.counts[OLD]) + sum(partitions.counts[NEW])
        with progress_bar("matching", total, delay) as bar:
            self._match_partitions(partitions, bar)

    def _match_partitions(self, partitions: Partitions, bar: Any) -> None:
        for index in range(FANOUT):
            counts = partitions.counts[OLD][index], partitions.counts[NEW][index]
            if max(counts) > self.limit and partitions.level < _MAX_LEVEL:
                finer = self._open(partitions.directory, partitions.level + 1)
                for side in (OLD, NEW):
                    for key, value in partitions.read(side, index):
                        finer.add(side, key, value)
                finer.close()
                self._match_partitions(finer, bar)
                continue
            _match(partitions.read(OLD, index), partitions.read(NEW, index), self.tally)
            if bar is not None:
                bar.update(sum(counts))

    def _open(self, directory: str, level: int) -> Partitions:
        partitions = Partitions(directory, level, self.tally.lost)
        self._opened.append(partitions)
        return partitions

    def close(self) -> None:
        """Remove the temporary files, if any."""
        self.lists[OLD].clear()
        self.lists[NEW].clear()
        for partitions in self._opened:
            partitions.release()
        if self._temporary is not None:
            self._temporary.cleanup()


def _read(rows: Iterable[Any], side: int, key_of: Callable[[Any], Any],
          normalize: Callable[[Any], Any] | None, store: _Store) -> None:
    """Read every record of *side* into *store*, as (key, normalized record)."""
    tally = store.tally
    count = 0
    try:
        for record in rows:
            count += 1
            try:
                key = key_of(record)
                hash(key)
            except Exception as exc:
                tally.lost(side, "key", exc, 1)
                continue
            if normalize is None:
                store.add(side, key, record)
                continue
            try:
                value = normalize(record)
            except Exception as exc:
                tally.failed(f"{_SIDES[side]} normalize", exc)
                value = UNUSABLE
            store.add(side, key, value)
    finally:
        tally.rows[side] = count


def reconcile(
    old_rows: Iterable[Any],
    new_rows: Iterable[Any],
    *,
    key: str | Callable[[Any], Any],
    normalize: Callable[[Any], Any] | None = None,
    compare: Callable[[Any, Any], Any] | None = None,
    name: str | None = None,
    max_in_memory: int = 20_000,
    directory: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Reconciliation:
    """
    Compare two sets of records by key, and say what differs: counts and keys, never values.

    *old_rows* and *new_rows* are any iterables of records (lists, generators,
    database cursors), in any order and of any size; each is read once, the
    old side first. Records are mappings or objects. *key* is the field that
    identifies a record (read as ``record[key]``, else ``record.key``), or a
    callable ``record -> key``; keys must be hashable. *normalize(record)*,
    when given, is applied to each record before it is compared (to drop
    fields only one side has, to convert types); *compare(old, new) -> bool*
    replaces ``==``.

    At most *max_in_memory* records of each side are held in memory; past
    that, records go to temporary files in *directory* (the system's
    temporary directory by default), which must then be picklable (after
    *normalize*): a record that is not counts as an error. The files are
    removed before reconcile returns or raises.

    A key, ``normalize`` or ``compare`` that raises, never raises here: the
    record counts as an error, by kind in ``error_types``. An exception
    raised while iterating *old_rows* or *new_rows* (a database error)
    propagates: there is no answer about records that were not read.

    Emits one ``migration.reconcile`` event (level ``info``) with the counts,
    ``diff_paths``, ``error_types`` and example keys, and *name* as its
    ``migration``. *progress* shows a progress bar on standard error
    (``None``: when standard error is a terminal, once the run has lasted
    half a second).
    """
    function = "reconcile"
    old_rows = check_rows(function, "old_rows", old_rows)
    new_rows = check_rows(function, "new_rows", new_rows)
    if old_rows is new_rows and iter(old_rows) is old_rows:
        raise ConfigurationError(
            "reconcile(): 'old_rows' and 'new_rows' are the same iterator, which can be read "
            "only once; pass one iterable per side"
        )
    key_of = key_function(function, key)
    normalize = check_callable(function, "normalize", normalize,
                               "a callable record -> record, or None", "lambda row: dict(row)")
    compare = check_callable(function, "compare", compare,
                             "a callable compare(old, new) -> bool, or None",
                             "lambda old, new: old['email'] == new['email']")
    name = check_name(function, name)
    limit = check_count(function, "max_in_memory", max_in_memory, 1, "100_000")
    directory = check_path(function, "directory", directory, "/var/tmp")
    delay = check_progress(function, progress)

    tally = _Tally(compare)
    store = _Store(limit, directory, tally)
    try:
        for side, rows in ((OLD, old_rows), (NEW, new_rows)):
            total = operator.length_hint(rows, 0)
            with counted(rows, f"{_SIDES[side]} rows", total, delay) as records:
                _read(records, side, key_of, normalize, store)
        store.match(delay)
    finally:
        store.close()
    result = tally.result(name, spilled=store.partitions is not None)
    _emit(result)
    return result


def _emit(result: Reconciliation) -> None:
    """Emit ``migration.reconcile`` (level ``info``); a log pipeline that raises is counted."""
    log, _, info, _ = state()
    if not info:
        return
    try:
        log.info(RECONCILE_EVENT, **reconciliation_fields(result))
    except Exception as exc:
        pipeline_failed(RECONCILE_EVENT, exc)

