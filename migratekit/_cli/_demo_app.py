"""
``migratekit demo``: a real migration between two SQLite databases.

The old database keeps a user's name in one ``name`` column; the new one
splits it into ``first_name`` and ``last_name``. A repository class puts
``@migration`` in front of its methods, and the demo drives it through every
stage, OFF to COMPLETE, with a mix of reads and writes, a backfill after
DUALWRITE, and events written as JSON lines to a log file.

The new side has a deliberate defect, as real ones do: its name conversion
keeps only the last word of the surname, so "Ludwig van Beethoven" becomes
Ludwig *Beethoven*. (A second, rarer one: its e-mail update lower-cases the
address.) Reads compared in SHADOW and LIVE catch both, and the report names
the fields.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, TextIO

import structlog

import migratekit
from migratekit import _config
from migratekit._decorator import migration
from migratekit._types import Stage
from migratekit.providers import StaticStageProvider

__all__ = [
    "DEFAULT_OPERATIONS",
    "DemoResult",
    "User",
    "UserRepository",
    "convert_name_new",
    "run_demo",
    "split_name",
]

DEFAULT_OPERATIONS = 2000
"""Calls per stage."""

INITIAL_USERS = 400
"""Users the old database holds before the migration starts."""

NEW_SIDE_FAILURE_RATE = 0.002
"""How often the new side's read fails like a busy database would."""

OLD_DB, NEW_DB, LOG = "old.sqlite3", "new.sqlite3", "events.jsonl"

_AFTER_BACKFILL = frozenset({Stage.SHADOW, Stage.LIVE, Stage.RAMPDOWN, Stage.COMPLETE})


@dataclasses.dataclass(frozen=True)
class User:
    """A user as the application sees it, whichever database it came from."""

    id: int
    first_name: str
    last_name: str
    email: str


def split_name(name: str) -> tuple[str, str]:
    """The old application's rule: the first word is the first name, the rest the last name."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def convert_name_new(name: str) -> tuple[str, str]:
    """
    The new side's conversion, with the planted defect: the last name is the
    last word only, so particles ("van", "de", "da") are lost.
    """
    words = name.split()
    if len(words) < 2:
        return name.strip(), ""
    return words[0], words[-1]


class UserRepository:
    """
    The data access of a small user service, migrating from ``old`` (one
    ``name`` column) to ``new`` (``first_name`` and ``last_name``).
    """

    def __init__(self, old: sqlite3.Connection, new: sqlite3.Connection,
                 faults: random.Random) -> None:
        self.old = old
        self.new = new
        self.faults = faults

    # -- reads, compared in SHADOW and LIVE ----------------------------------

    @migration(new="_get_new", name="users.get")
    def get(self, user_id: int) -> User | None:
        """The user with *user_id*, or ``None``."""
        row = self.old.execute(
            "SELECT id, name, email FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        first, last = split_name(row[1])
        return User(row[0], first, last, row[2])

    def _get_new(self, user_id: int) -> User | None:
        if self.faults.random() < NEW_SIDE_FAILURE_RATE:
            raise sqlite3.OperationalError("database is locked")
        row = self.new.execute(
            "SELECT id, first_name, last_name, email FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return None if row is None else User(*row)

    # -- writes ------------------------------------------------------------------

    @migration.write(new="_create_new", name="users.create")
    def create(self, user_id: int, name: str, email: str) -> None:
        """Add a user."""
        self.old.execute("INSERT INTO users (id, name, email) VALUES (?, ?, ?)",
                         (user_id, name, email))

    def _create_new(self, user_id: int, name: str, email: str) -> None:
        first, last = convert_name_new(name)
        self.new.execute(
            "INSERT INTO users (id, first_name, last_name, email) VALUES (?, ?, ?, ?)",
            (user_id, first, last, email),
        )

    @migration.write(new="_update_email_new", name="users.update_email")
    def update_email(self, user_id: int, email: str) -> None:
        """Change a user's e-mail address."""
        self.old.execute("UPDATE users SET email = ? WHERE id = ?", (email, user_id))

    def _update_email_new(self, user_id: int, email: str) -> None:
        # The second planted defect: the new service "normalises" addresses.
        self.new.execute("UPDATE users SET email = ? WHERE id = ?", (email.lower(), user_id))


# -- made-up people ---------------------------------------------------------------

_FIRST = (
    "Ada", "Alan", "Anna", "Bruno", "Carla", "Chen", "Dmitri", "Elena", "Farah", "Grace",
    "Hugo", "Ines", "Jonas", "Kenji", "Lena", "Marta", "Nadia", "Omar", "Priya", "Ravi",
    "Sofia", "Tomas", "Yara", "Zoe",
)  # fmt: skip
_LAST = (
    "Andersen", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
    "Ivanova", "Jensen", "Kowalski", "Lopez", "Martin", "Nakamura", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Virtanen", "Weber", "Yilmaz",
)  # fmt: skip
_COMPOUND = (
    "van Beethoven", "van der Berg", "de Souza", "da Silva", "von Trapp", "de la Cruz",
    "di Stefano", "bin Rashid", "ten Hag", "le Carre",
)  # fmt: skip


def _person(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(_FIRST)
    last = rng.choice(_COMPOUND) if rng.random() < 0.06 else rng.choice(_LAST)
    return f"{first} {last}", _email(rng, first, last)


def _email(rng: random.Random, first: str, last: str) -> str:
    local = f"{first}.{last.replace(' ', '')}"
    domain = rng.choice(("example.org", "example.com", "example.net"))
    if rng.random() < 0.03:  # a few people type their address with capitals
        return f"{local}@{domain.capitalize()}"
    return f"{local}@{domain}".lower()


# -- the run ------------------------------------------------------------------------


@dataclasses.dataclass
class DemoResult:
    """What a demo run produced: the files it wrote and what it did per stage."""

    log: Path
    old_db: Path
    new_db: Path
    calls: dict[str, Counter[str]]
    failures: dict[str, int]
    backfilled: int
    seconds: float


def _connect(path: Path, schema: str) -> sqlite3.Connection:
    if path.exists():
        path.unlink()
    connection = sqlite3.connect(path, isolation_level=None)
    # Speed over durability: this is a demo, and a journal in memory leaves no
    # -journal file behind.
    connection.execute("PRAGMA journal_mode = MEMORY")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute(schema)
    return connection


def _configure_logging(log: TextIO) -> dict[str, Any] | None:
    """Send structlog's events to *log* as JSON lines; the previous config to restore."""
    previous = structlog.get_config() if structlog.is_configured() else None
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=log),
        # Not cached: migratekit's module-level logger must not keep this file
        # after the demo has closed it.
        cache_logger_on_first_use=False,
    )
    return previous


def _restore_logging(previous: dict[str, Any] | None) -> None:
    if previous is None:
        structlog.reset_defaults()
    else:
        structlog.configure(**previous)


def _backfill(old: sqlite3.Connection, new: sqlite3.Connection) -> int:
    """Copy the users the new side lacks, through its (defective) conversion."""
    have = {row[0] for row in new.execute("SELECT id FROM users")}
    rows = []
    for user_id, name, email in old.execute("SELECT id, name, email FROM users ORDER BY id"):
        if user_id not in have:
            first, last = convert_name_new(name)
            rows.append((user_id, first, last, email))
    new.execute("BEGIN")
    new.executemany(
        "INSERT INTO users (id, first_name, last_name, email) VALUES (?, ?, ?, ?)", rows
    )
    new.execute("COMMIT")
    return len(rows)


def run_demo(
    directory: Path,
    *,
    operations: int = DEFAULT_OPERATIONS,
    stages: Sequence[Stage] = tuple(Stage),
    seed: int = 7,
    log_path: Path | None = None,
    out: IO[str] | None = None,
) -> DemoResult:
    """
    Run the demo: create ``old.sqlite3`` and ``new.sqlite3`` in *directory*
    (replacing any from an earlier run), drive *operations* calls through
    each of *stages* in turn, and write the events to *log_path* (by default
    ``events.jsonl`` in *directory*). Progress goes to *out* when given.

    Process-wide settings (migratekit's provider, structlog's configuration)
    are restored before it returns.
    """
    start = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = log_path or directory / LOG
    old_path, new_path = directory / OLD_DB, directory / NEW_DB
    rng = random.Random(seed)
    old = _connect(old_path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                             "email TEXT NOT NULL)")
    new = _connect(new_path, "CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT NOT "
                             "NULL, last_name TEXT NOT NULL, email TEXT NOT NULL)")
    calls: dict[str, Counter[str]] = {}
    failures: dict[str, int] = {}
    backfilled = 0
    ids: list[int] = []
    settings = _config.settings
    previous = (settings.provider, settings.call_events, settings.summary_interval,
                settings.max_warnings_per_second)
    # The production set-up, whatever the process had: per-call events of
    # calls that went well at debug (not written), warnings held to ten a
    # second, and the calls counted into summaries, written before the log
    # file closes.
    migratekit.configure(call_events="debug", summary_interval=60.0,
                         max_warnings_per_second=10.0)
    try:
        old.execute("BEGIN")
        for user_id in range(1, INITIAL_USERS + 1):
            name, email = _person(rng)
            old.execute("INSERT INTO users (id, name, email) VALUES (?, ?, ?)",
                        (user_id, name, email))
            ids.append(user_id)
        old.execute("COMMIT")
        repo = UserRepository(old, new, random.Random(seed + 1))
        ordered = sorted(set(stages), key=list(Stage).index)
        with open(log_path, "w", encoding="utf-8") as log:
            previous_logging = _configure_logging(log)
            try:
                done_backfill = False
                for stage in ordered:
                    # The new side needs the old data before it is read: a run that
                    # starts past DUALWRITE backfills first.
                    if stage in _AFTER_BACKFILL and not done_backfill:
                        backfilled, done_backfill = _backfill(old, new), True
                        _say(out, f"  backfill: copied {backfilled:,} users to the new side")
                    migratekit.configure(provider=StaticStageProvider(stage))
                    began = time.perf_counter()
                    counts, failed = _drive(repo, rng, ids, operations)
                    migratekit.flush()  # the stage's summaries, one window per stage
                    calls[stage.value] = counts
                    failures[stage.value] = failed
                    _say(out, f"  {stage.value.upper():<9} {operations:,} calls "
                              f"({counts['get']:,} reads, {counts['create']:,} creates, "
                              f"{counts['update_email']:,} e-mail updates; {failed} failed) "
                              f"in {time.perf_counter() - began:.2f}s")
                    if stage is Stage.DUALWRITE:
                        backfilled, done_backfill = _backfill(old, new), True
                        _say(out, f"  backfill: copied {backfilled:,} users to the new side")
            finally:
                migratekit.flush()
                _restore_logging(previous_logging)
    finally:
        migratekit.configure(provider=previous[0], call_events=previous[1],
                             summary_interval=previous[2], max_warnings_per_second=previous[3])
        old.close()
        new.close()
    return DemoResult(log_path, old_path, new_path, calls, failures, backfilled,
                      time.perf_counter() - start)


def _say(out: IO[str] | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def _drive(repo: UserRepository, rng: random.Random, ids: list[int],
           operations: int) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    failed = 0
    for _ in range(operations):
        roll = rng.random()
        try:
            if roll < 0.75:
                counts["get"] += 1
                # One read in twenty asks for a user that does not exist.
                user_id = rng.choice(ids) if rng.random() > 0.05 else len(ids) + 10_000
                repo.get(user_id)
            elif roll < 0.85:
                counts["create"] += 1
                user_id = len(ids) + 1
                name, email = _person(rng)
                repo.create(user_id, name, email)
                ids.append(user_id)
            else:
                counts["update_email"] += 1
                user_id = rng.choice(ids)
                first = rng.choice(_FIRST)
                repo.update_email(user_id, _email(rng, first, rng.choice(_LAST)))
        except sqlite3.Error:
            # What the application would see (and retry): the authoritative side failed.
            failed += 1
    return counts, failed
