"""
The audit trail of stage changes: what a change records, who made it, the
``migration.stage_change`` event, and the journal kept beside a stage file.

A store of stages (Redis, a stage file) changes a stage in one step that
reads what it held, writes the new stage and appends the record of the
change: two operators changing the same stage at once each record the stage
the other one left, never both the same "old". :class:`StageStore` is what
such a store offers; each store writes its own ``_commit``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import socket
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, overload

from migratekit import _events
from migratekit._schema import STAGE_CHANGE_EVENT, STAGE_CHANGE_FIELDS
from migratekit._text import plain_str, shown_repr, shown_value, type_name
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import require_stage

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: writers are not serialized there
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ACTIONS",
    "ANY",
    "StageChange",
    "StageStore",
    "append_to_journal",
    "default_actor",
    "locked_journal",
    "log_change",
    "new_change",
    "read_journal",
]

ACTIONS = ("set", "unset", "advance", "rollback")
"""What made a change: ``migratekit stage set|unset``, ``migratekit advance`` (or its rollback)."""


class _Any:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
"""``expect=ANY``: change the stage whatever the store holds (the default)."""

MAX_NAME_LENGTH = 1024
MAX_ACTOR_LENGTH = 200
MAX_REASON_LENGTH = 1000
KEPT_VALUE_LENGTH = 256
"""The longest value kept of what a store held before a change (it may hold anything)."""

HISTORY_LIMIT = 100
"""How many changes :meth:`StageStore.stage_history` answers by default, the newest."""

_MAX_JOURNAL_LINE = 64 * 1024


@dataclasses.dataclass(frozen=True)
class StageChange:
    """One change of a migration's stage in a store, as the audit trail keeps it."""

    time: str
    """When, in UTC, ISO 8601 (``2024-05-01T12:00:00.123456+00:00``)."""
    migration: str
    """The migration whose stage changed; ``"*"`` for the stage of all the others."""
    old: str | None
    """What the store held before, read in the same step as the write; ``None``: unset."""
    new: str | None
    """The stage written; ``None`` when the change unset it (the migration follows ``*``)."""
    actor: str
    """Who changed it (``--actor``; ``user@host`` by default)."""
    reason: str | None
    """Why (``--reason``), if said."""
    action: str
    """What changed it: one of :data:`ACTIONS`."""
    source: str
    """Where: the stage file and key, or the Redis server (no password) and key."""

    def as_dict(self) -> dict[str, Any]:
        """The change as a JSON-ready dictionary: the fields of ``migration.stage_change``."""
        return {field: getattr(self, field) for field in STAGE_CHANGE_FIELDS}


def default_actor() -> str:
    """``user@host``: who runs this process, on which machine."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for the uid (a container), no USER variable
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def new_change(
    name: object,
    stage: object,
    *,
    actor: object = None,
    reason: object = None,
    action: object = None,
    source: str,
) -> StageChange:
    """
    The record of setting *name* to *stage* (``None``: unsetting it), made
    now, its ``old`` still unknown; a ConfigurationError for any argument
    that cannot be recorded.
    """
    name = _checked_text("name", name, MAX_NAME_LENGTH, "e.g. 'users.get', or '*'")
    new = None if stage is None else require_stage("stage", stage).value
    if action is None:
        action = "unset" if new is None else "set"
    if type(action) is not str or action not in ACTIONS:
        raise ConfigurationError(
            f"action must be one of {', '.join(map(repr, ACTIONS))} (got {shown_repr(action)})"
        )
    return StageChange(
        time=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        migration=name,
        old=None,
        new=new,
        actor=default_actor()
        if actor is None
        else _checked_text("actor", actor, MAX_ACTOR_LENGTH, "e.g. 'alice@ops'"),
        reason=None
        if reason is None
        else _checked_text("reason", reason, MAX_REASON_LENGTH, "e.g. 'canary clean for 24h'"),
        action=action,
        source=source,
    )


def _checked_text(what: str, value: object, limit: int, example: str) -> str:
    if not issubclass(type(value), str):
        raise ConfigurationTypeError(
            f"{what} must be a str (got {shown_repr(value)} that is a {type_name(value)}); "
            f"{example}"
        )
    text = plain_str(value)  # type: ignore[arg-type]
    if not text.strip() or len(text) > limit:
        raise ConfigurationError(
            f"{what} must be 1 to {limit} characters, not only blanks (got {shown_repr(text)}); "
            f"{example}"
        )
    return text


def kept(value: str | None) -> str | None:
    """What the audit trail keeps of a value a store held: at most 256 characters, printable."""
    if value is None:
        return None
    shown = shown_value(value, KEPT_VALUE_LENGTH)
    return shown if isinstance(shown, str) else str(shown)


def log_change(change: StageChange) -> None:
    """Emit ``migration.stage_change`` (level ``info``) for *change*; never raises."""
    log, _, info, _ = _events.state()
    if info:
        _events._log(log, _events.INFO, STAGE_CHANGE_EVENT, change.as_dict())


def change_from_record(record: object) -> StageChange | None:
    """
    The change an entry of a journal or stream records, every field bounded
    and printable; ``None`` for an entry that is not one (no migration or
    time, or not a mapping): a journal is a file anyone may have edited.
    """
    if not isinstance(record, Mapping):
        return None
    fields: dict[str, str | None] = {}
    for field in STAGE_CHANGE_FIELDS:
        value = record.get(field)
        fields[field] = None if value is None else kept(value if isinstance(value, str) else
                                                       json.dumps(value, default=type_name))
    migration, when = fields.pop("migration"), fields.pop("time")
    if migration is None or when is None:
        return None
    return StageChange(
        time=when,
        migration=migration,
        old=fields["old"],
        new=fields["new"],
        actor=fields["actor"] or "",
        reason=fields["reason"],
        action=fields["action"] or "",
        source=fields["source"] or "",
    )


class StageStore:
    """
    A place that keeps stages and changes them on the record: a Redis
    server (:class:`~migratekit.providers.RedisStageProvider`) or a stage
    file (``StageFile``). What ``migratekit stage set|unset`` and
    ``migratekit advance`` call.
    """

    __slots__ = ()

    @overload
    def change_stage(
        self,
        name: str,
        stage: Stage | str | None,
        *,
        actor: str | None = None,
        reason: str | None = None,
        action: str | None = None,
    ) -> StageChange: ...

    @overload
    def change_stage(
        self,
        name: str,
        stage: Stage | str | None,
        *,
        actor: str | None = None,
        reason: str | None = None,
        action: str | None = None,
        expect: str | None,
    ) -> StageChange | None: ...

    def change_stage(
        self,
        name: str,
        stage: Stage | str | None,
        *,
        actor: str | None = None,
        reason: str | None = None,
        action: str | None = None,
        expect: Any = ANY,
    ) -> StageChange | None:
        """
        Set migration *name*'s stage (``"*"``: the stage of all the others)
        to *stage*, or unset it with ``None`` so that it follows ``"*"``
        again, and record the change in the store's audit trail; log
        ``migration.stage_change``. Returns the change, with ``old`` as the
        store held it just before, read in the same step as the write.

        *actor* (``user@host`` by default) and *reason* are recorded;
        *action* is ``"set"`` or ``"unset"`` unless said (``"advance"``,
        ``"rollback"``). With *expect* (the value :meth:`raw_stage` read,
        ``None`` for unset), the change is made only if the store still
        holds exactly that: else nothing is written or recorded and the
        answer is ``None`` (compare-and-set, for ``advance``).

        Raises ConfigurationError for an argument that is not what it must
        be, and what the store raises when it cannot be changed (Redis
        unreachable, a file that cannot be written).
        """
        change = new_change(
            name, stage, actor=actor, reason=reason, action=action, source=""
        )
        change = dataclasses.replace(change, source=self.source_of(change.migration))
        done, old = self._commit(change, expect)
        if not done:
            return None
        change = dataclasses.replace(change, old=old)
        log_change(change)
        return change

    def source_of(self, name: str) -> str:
        """Where migration *name*'s stage is kept: a file and key, a server and key."""
        raise NotImplementedError  # pragma: no cover - every store has its own

    def raw_stage(self, name: str) -> str | None:
        """What the store holds for *name* right now, unparsed; ``None`` when unset."""
        raise NotImplementedError  # pragma: no cover - every store has its own

    def stage_history(self, name: str | None = None, limit: int | None = HISTORY_LIMIT
                      ) -> list[StageChange]:
        """
        The changes recorded for migration *name* (``None``: every
        migration), the newest last; at most the *limit* newest (``None``:
        all that the trail holds).
        """
        raise NotImplementedError  # pragma: no cover - every store has its own

    def _commit(self, change: StageChange, expect: Any) -> tuple[bool, str | None]:
        """
        Write *change* (its ``old`` unknown) and its record at once: whether
        it was made (not when *expect* was not what the store held), and
        the old value recorded (bounded by :func:`kept`).
        """
        raise NotImplementedError  # pragma: no cover - every store has its own


# -- the journal beside a stage file ---------------------------------------------------------
#
# ``<file>.audit.jsonl``: one JSON object per line, appended, flushed and
# fsynced. Its lock (flock, on the journal itself) is what serializes the
# writers of the stage file: each holds it while it reads the file, writes
# the new one and appends its line.


@contextlib.contextmanager
def locked_journal(path: str) -> Iterator[int]:
    """The journal at *path*, opened for appending (created if need be), locked while in use."""
    fd = os.open(
        path,
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
        0o666,
    )
    try:
        if fcntl is not None:  # pragma: no branch
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def append_to_journal(fd: int, change: StageChange) -> int:
    """Append *change* to the locked journal *fd*, flushed to disk; the size it had before."""
    line = (json.dumps(change.as_dict(), ensure_ascii=False) + "\n").encode(
        "utf-8", errors="backslashreplace"
    )
    size = os.fstat(fd).st_size
    view = memoryview(line)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)
    return size


def read_journal(path: str, name: str | None, limit: int | None) -> list[StageChange]:
    """
    The changes the journal at *path* records for *name* (``None``: all),
    the newest last, at most *limit* of them; none when there is no journal.
    Lines that are not changes (a line torn by a crash, an edit) are passed over.
    """
    found: deque[StageChange] = deque(maxlen=limit)
    try:
        journal = open(path, "rb")  # noqa: SIM115 - closed below, whatever happens
    except FileNotFoundError:
        return []
    with journal:
        while line := journal.readline(_MAX_JOURNAL_LINE):
            if len(line) >= _MAX_JOURNAL_LINE and not line.endswith(b"\n"):
                # No change is that long: the line is passed over, read in bounded pieces.
                while (rest := journal.readline(_MAX_JOURNAL_LINE)) and not rest.endswith(b"\n"):
                    pass
                continue
            try:
                change = change_from_record(json.loads(line))
            except (ValueError, RecursionError):
                continue
            if change is not None and (name is None or change.migration == name):
                found.append(change)
    return list(found)
