"""
What the logs say about a migration beside its calls: the newest
``migration.reconcile`` (was the new store backfilled and verified?) and the
``migration.stage_change`` events (when, by whom and why its stage changed).

The rule, for both:

- *Whose.* An event belongs to the migration its ``migration`` names,
  exactly: no glob, so ``reconcile(..., name="users.get")`` verifies the
  store that the read migration ``users.get`` reads. A reconcile without a
  name is skipped as ``unnamed_reconcile``. A change of ``*`` (the stage of
  every migration without one of its own) applies to a migration whose
  changes read do not give it a stage of its own: it has none, or its
  newest is an ``unset``.
- *Newest.* The event with the latest time wins: a stage change's own
  ``time``, else the line's timestamp; one without a time counts as older
  than any with one, and among those the last line read wins.
- *States, not calls.* ``--since`` does not leave them out: the newest
  reconcile and stage change before the window say what state it began in.
  ``--until`` does (from then on, they had not happened). ``--migration``
  selects them by name, except changes of ``*``, which may apply to any
  migration selected.
- *Nothing trusted.* ``consistent`` must be a JSON boolean and a stage
  change's ``new`` a stage or null, or the line is ``malformed``; a count
  that is not a whole number from 0 to :data:`MAX_COUNT` counts as missing,
  as does a text field that is not a string (the others are cut to 200
  characters).
- *Memory.* Per migration: one reconcile, the newest change, and per stage
  the earliest time and the newest change into it; at most
  :data:`MAX_ENTRIES` migrations of each, the events of more skipped as
  ``too_many_migrations``.

The report uses them so (:func:`migratekit.report._aggregate.Aggregator.report`):
a read in DUALWRITE is judged for SHADOW by its migration's newest reconcile
(:func:`backfill_problem`); every entry carries that reconcile
(``reconcile``) and the newest change into its stage (``entered``); the
current one the migration's last change (``last_change``); and the path
places a stage at the earliest of its first event and the first change into
it, when every event was stamped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import heapq
from typing import Any

from migratekit import _schema
from migratekit.report._constants import MAX_COUNT, MAX_ENTRIES, MAX_NAME_CHARS, STAGE_RANK
from migratekit.report._strings import clean
from migratekit.report._timestamps import parse_timestamp

RECONCILE = _schema.RECONCILE_EVENT
STAGE_CHANGE = _schema.STAGE_CHANGE_EVENT
EVENTS = frozenset({RECONCILE, STAGE_CHANGE})
"""The events this module reads."""

ALL = "*"
"""The name a stage change gives the stage of every migration without one of its own."""

COUNTS = ("old_rows", "new_rows", "compared", "missing_in_new", "missing_in_old", "differing",
          "duplicates_in_old", "duplicates_in_new", "errors")
"""The counts of a reconcile the report keeps."""

# The counts that make a backfill not verified, and how each is said.
_PROBLEMS = (
    ("missing_in_new", "row missing in new", "rows missing in new"),
    ("missing_in_old", "row missing in old", "rows missing in old"),
    ("differing", "differing", "differing"),
    ("duplicates_in_old", "duplicate in old", "duplicates in old"),
    ("duplicates_in_new", "duplicate in new", "duplicates in new"),
    ("errors", "record in error", "records in error"),
)

MAX_PATHS = 5
"""The ``diff_paths`` of a reconcile kept: the most frequent."""

_MAX_TEXT = 200


@dataclasses.dataclass(frozen=True)
class Reconciled:
    """One ``migration.reconcile`` as read: its time, counts and most frequent diff paths."""

    moment: float | None
    line: int
    consistent: bool
    counts: dict[str, int | None]
    diff_paths: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        """The entry's ``reconcile``: ``time`` (ISO 8601 UTC or null), the counts, ``verified``."""
        problem = any(self.counts[kind] for kind, _, _ in _PROBLEMS)
        return {
            "time": _iso(self.moment),
            "consistent": self.consistent,
            "verified": self.consistent and not problem,
            **self.counts,
            "diff_paths": dict(self.diff_paths),
        }


@dataclasses.dataclass(frozen=True)
class Change:
    """One ``migration.stage_change`` as read: its time, and its fields, each bounded."""

    moment: float | None
    line: int
    fields: dict[str, str | None]

    @property
    def new(self) -> str | None:
        """The stage the change set (lower case), or ``None`` when it unset the stage."""
        return self.fields["new"]


def _newer(found: Reconciled | Change, known: Reconciled | Change | None) -> bool:
    """Whether *found* is newer than *known* (by time; without one, older; then by line)."""
    if known is None:
        return True
    if (found.moment is None) != (known.moment is None):
        return found.moment is not None
    if found.moment is not None and known.moment is not None and found.moment != known.moment:
        return found.moment > known.moment
    return found.line >= known.line


class _Changes:
    """The changes of one migration's stage (or of ``*``) that the report keeps."""

    __slots__ = ("first_into", "into", "newest")

    def __init__(self) -> None:
        self.newest: Change | None = None
        self.into: dict[str, Change] = {}
        self.first_into: dict[str, float] = {}

    def add(self, change: Change) -> None:
        if _newer(change, self.newest):
            self.newest = change
        stage = change.new
        if stage is None:
            return
        if _newer(change, self.into.get(stage)):
            self.into[stage] = change
        first = self.first_into.get(stage)
        if change.moment is not None and (first is None or change.moment < first):
            self.first_into[stage] = change.moment


class History:
    """The newest reconcile and the stage changes of each migration, read from log lines."""

    __slots__ = ("changes", "reconciles")

    def __init__(self) -> None:
        self.reconciles: dict[str, Reconciled] = {}
        self.changes: dict[str, _Changes] = {}

    # -- reading --------------------------------------------------------------

    def read(self, name: str, event: dict[str, Any], when: float | None,
             line: int) -> bool | str | None:
        """
        Read *event* (*name* one of :data:`EVENTS`), stamped *when*, read
        as line *line*: ``True`` when it was kept, else why the line is
        skipped (``None``: malformed).
        """
        if name == RECONCILE:
            return self._read_reconcile(event, when, line)
        if name == STAGE_CHANGE:
            return self._read_change(event, when, line)
        return "other"

    def _read_reconcile(self, event: dict[str, Any], when: float | None,
                        line: int) -> bool | str | None:
        consistent = event.get("consistent")
        if type(consistent) is not bool:
            return None
        raw = event.get("migration")
        if raw is None:
            return "unnamed_reconcile"
        migration = _name(raw)
        if migration is None:
            return None
        found = Reconciled(when, line, consistent,
                           {kind: _count(event.get(kind)) for kind in COUNTS},
                           _paths(event.get("diff_paths")))
        known = self.reconciles.get(migration)
        if known is None and len(self.reconciles) >= MAX_ENTRIES:
            return "too_many_migrations"
        if _newer(found, known):
            self.reconciles[migration] = found
        return True

    def _read_change(self, event: dict[str, Any], when: float | None,
                     line: int) -> bool | str | None:
        migration = _name(event.get("migration"))
        new = event.get("new")
        if migration is None:
            return None
        if new is not None:
            if type(new) is not str or len(new) > 16 or new.lower() not in STAGE_RANK:
                return None
            new = new.lower()
        fields = {field: _text(event.get(field)) for field in _schema.STAGE_CHANGE_FIELDS}
        fields["migration"], fields["new"] = migration, new
        moment = parse_timestamp(event.get("time"))
        if moment is None:
            moment = when
            if fields["time"] is None and when is not None:
                fields["time"] = _iso(when)  # the line's timestamp, for want of its own
        found = Change(moment, line, fields)
        changes = self.changes.get(migration)
        if changes is None:
            if len(self.changes) >= MAX_ENTRIES:
                return "too_many_migrations"
            changes = self.changes[migration] = _Changes()
        changes.add(found)
        return True

    # -- answers ----------------------------------------------------------------

    def reconcile_of(self, migration: str) -> dict[str, Any] | None:
        """The newest reconcile of *migration*, as an entry's ``reconcile``; ``None``: none."""
        found = self.reconciles.get(migration)
        return None if found is None else found.to_json()

    def last_change(self, migration: str) -> dict[str, Any] | None:
        """
        The newest change that applies to *migration*: its own, or one of
        ``*`` when it has no stage of its own (module docstring); ``None``.
        """
        own = self.changes.get(migration)
        newest = own.newest if own is not None else None
        if newest is None or newest.new is None:
            every = self.changes.get(ALL)
            if every is not None and every.newest is not None and _newer(every.newest, newest):
                newest = every.newest
        return None if newest is None else dict(newest.fields)

    def entered(self, migration: str, stage: str) -> dict[str, Any] | None:
        """The newest change of *migration*'s own into *stage*, or ``None``."""
        own = self.changes.get(migration)
        found = own.into.get(stage) if own is not None else None
        return None if found is None else dict(found.fields)

    def entered_at(self, migration: str) -> dict[str, float]:
        """Per stage, the time of the earliest change of *migration*'s own into it."""
        own = self.changes.get(migration)
        return dict(own.first_into) if own is not None else {}

    def unmatched(self, migrations: set[str]) -> list[str]:
        """The names of the reconciles read of no migration in *migrations*, sorted."""
        return sorted(name for name in self.reconciles if name not in migrations)


# -- the wording ------------------------------------------------------------------


def backfill_problem(reconcile: dict[str, Any]) -> str | None:
    """
    Why the reconcile (an entry's ``reconcile``) does not verify the
    backfill: ``backfill not verified: 12 rows missing in new, 3 differing
    (at email); reconciled 2026-12-01T04:00Z``; ``None`` when it does.
    """
    if reconcile.get("verified"):
        return None
    said = []
    for kind, one, many in _PROBLEMS:
        count = reconcile.get(kind)
        if count:
            said.append(f"{count:,} {one if count == 1 else many}")
            if kind == "differing" and reconcile.get("diff_paths"):
                said[-1] += f" (at {', '.join(list(reconcile['diff_paths'])[:3])})"
    problems = ", ".join(said) or "the reconcile found the stores apart"
    return f"backfill not verified: {problems}; reconciled {minute(reconcile.get('time'))}"


def backfill_verified(reconcile: dict[str, Any]) -> str:
    """``backfill verified (1,000,000 rows, 2026-12-01T04:00Z)``, of a verified reconcile."""
    rows = reconcile.get("compared")
    if rows is None:
        rows = reconcile.get("old_rows")
    counted = f"{rows:,} {'row' if rows == 1 else 'rows'}, " if rows is not None else ""
    return f"backfill verified ({counted}{minute(reconcile.get('time'))})"


def minute(time: str | None) -> str:
    """An ISO 8601 time as ``2026-12-01T04:00Z``; ``time unknown`` when it is none."""
    moment = parse_timestamp(time) if time is not None else None
    if moment is None:
        return "time unknown"
    return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


_VERBS = {"set": "set", "unset": "unset", "advance": "advanced", "rollback": "rolled back"}


def change_text(stage: str, change: dict[str, Any], last_time: float | None) -> str:
    """
    A migration's last stage change, for people: ``SHADOW since
    2026-12-01T04:00Z (set by alice@ops-1: dual writes clean)`` when it set
    the *stage* its latest events are of (the last one at *last_time*).
    Otherwise, when the change came after them: ``LIVE since ... (...); no
    events since, the verdict is on SHADOW``; else ``last change: set to
    LIVE at ... (...), yet the latest events read are of SHADOW`` (without
    ``yet`` when either has no time).
    """
    action = change.get("action") or "changed"
    by = f"{_VERBS.get(action, action)}{' for *' if change.get('migration') == ALL else ''}"
    if change.get("actor"):
        by += f" by {change['actor']}"
    if change.get("reason"):
        by += f": {change['reason']}"
    when = minute(change.get("time"))
    new = change.get("new")
    if new == stage:
        return f"{stage.upper()} since {when} ({by})"
    moment = parse_timestamp(change.get("time"))
    if moment is not None and last_time is not None and moment > last_time:
        now = new.upper() if new else "following *"
        return f"{now} since {when} ({by}); no events since, the verdict is on {stage.upper()}"
    known = moment is not None and last_time is not None
    target = f"set to {new.upper()}" if new else "unset (following *)"
    return (f"last change: {target} at {when} ({by}), {'yet ' if known else ''}the latest "
            f"events read are of {stage.upper()}")


# -- reading fields -------------------------------------------------------------------


def _name(value: Any) -> str | None:
    if type(value) is not str or not 0 < len(value) <= MAX_NAME_CHARS:
        return None
    return clean(value)


def _count(value: Any) -> int | None:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        return None
    return value


def _text(value: Any) -> str | None:
    if type(value) is not str:
        return None
    return clean(value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT - 1] + "…")


def _paths(value: Any) -> tuple[tuple[str, int], ...]:
    """The most frequent of a reconcile's ``diff_paths`` (path -> count); others are dropped."""
    if type(value) is not dict:
        return ()
    valid = ((path, count) for path, count in value.items()
             if path and _count(count) is not None)
    top = heapq.nsmallest(MAX_PATHS, valid, key=lambda item: (-item[1], item[0]))
    return tuple((_text(path) or "", count) for path, count in top)


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc).isoformat()
