"""
``migratekit demo``: a real migration between two SQLite databases.

The old database keeps a user's name in one ``name`` column; the new one
splits it into ``first_name`` and ``last_name``. A repository class puts
``@migration`` in front of its methods, which read their stages from a stage
file, and the demo runs a mix of reads and writes in each stage, the events
written as JSON lines to a log file. ``migratekit advance`` (its Python API)
decides each step from that log, as an operator would: OFF, DUALWRITE, then
a backfill (:func:`migratekit.backfill`) and a check of the copy
(:func:`migratekit.reconcile`), SHADOW, and so on, each change on the record
beside the stage file, until the first hold, where the demo stops (``force``
drives on past holds, the verdicts overridden on the record).

The new side has a deliberate defect, as real ones do: its name conversion
keeps only the last word of the surname, so "Ludwig van Beethoven" becomes
Ludwig *Beethoven*. (A second, rarer one: its e-mail update lower-cases the
address.) Reads compared in SHADOW and LIVE catch both, and the report names
the fields.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

import migratekit
from migratekit import _config
from migratekit._advance import Decision, advance, evidence_pattern
from migratekit._backfill import BackfillResult, backfill
from migratekit._cli._logging import restore, to_json_lines
from migratekit._decorator import migration
from migratekit._reconcile import Reconciliation, reconcile
from migratekit._schema import STAGE_ORDER
from migratekit._types import Stage
from migratekit.providers import FileStageProvider, StageFile
from migratekit.report import Thresholds, build_report

__all__ = [
    "DEFAULT_OPERATIONS",
    "DEMO_LATENCY_FLOOR_MS",
    "DEMO_MIN_SAMPLES",
    "MIGRATIONS",
    "DemoResult",
    "User",
    "UserRepository",
    "convert_name_new",
    "demo_thresholds",
    "min_samples_for",
    "run_demo",
    "split_name",
    "threshold_options",
]

DEFAULT_OPERATIONS = 2000
"""Calls per stage."""

INITIAL_USERS = 400
"""Users the old database holds before the migration starts."""

NEW_SIDE_FAILURE_RATE = 0.002
"""How often the new side's read fails like a busy database would."""

DEMO_MIN_SAMPLES = 100
"""The demo is small: its verdicts ask for 100 samples rather than 1,000 (see min_samples_for)."""

DEMO_LATENCY_FLOOR_MS = 10.0
"""
Latencies below this count as this much in the demo's verdicts. Its sides
are SQLite calls of about a tenth of a millisecond, so one stall of a shared
machine's scheduler would read as a new side several times slower than the
old, and the demo would take another path from run to run; its planted
defects are about values, not speed.
"""

OLD_DB, NEW_DB, LOG, STAGES = "old.sqlite3", "new.sqlite3", "events.jsonl", "stages.json"
JOURNAL = STAGES + ".audit.jsonl"

MIGRATIONS = ("users.get", "users.create", "users.update_email")
"""The demo's migrations, in the order ``advance`` judges them: reads first."""

ACTOR = "migratekit demo"
"""Who the audit trail says changed the demo's stages."""

_AFTER_BACKFILL = frozenset({Stage.SHADOW, Stage.LIVE, Stage.RAMPDOWN, Stage.COMPLETE})


def demo_thresholds(samples: int) -> Thresholds:
    """The thresholds of the demo's verdicts, asking for *samples* samples."""
    return Thresholds(min_samples=samples, latency_floor_ms=DEMO_LATENCY_FLOOR_MS)


def threshold_options(samples: int) -> str:
    """The command-line options that give :func:`demo_thresholds`."""
    return f"--min-samples {samples} --latency-floor-ms {DEMO_LATENCY_FLOOR_MS:g}"


def min_samples_for(operations: int) -> int:
    """
    The samples the demo's verdicts ask for: :data:`DEMO_MIN_SAMPLES`, or one
    call in twenty of a stage's when ``--operations`` makes that fewer (a
    stage of 400 calls has about 40 creates, which 100 would always hold).
    """
    return max(1, min(DEMO_MIN_SAMPLES, operations // 20))


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
    stage_file: Path | None = None
    """The stage file the application read its stages from (changes in ``<file>.audit.jsonl``)."""
    min_samples: int = DEMO_MIN_SAMPLES
    """The samples the verdicts asked for."""
    decisions: list[Decision] = dataclasses.field(default_factory=list)
    """Every decision ``advance`` made, in order."""
    held: Decision | None = None
    """The decision the demo stopped at (a hold), or ``None`` when it went to the end."""
    reconciliation: Reconciliation | None = None
    """What reconcile said of the new database after the backfill."""


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


def _backfill(old: sqlite3.Connection, new: sqlite3.Connection,
              backoff: float = 0.5) -> BackfillResult:
    """Copy the users the new side lacks, through its (defective) conversion, in batches."""
    have = {row[0] for row in new.execute("SELECT id FROM users")}
    rows = [row for row in old.execute("SELECT id, name, email FROM users ORDER BY id")
            if row[0] not in have]

    def write(batch: list[tuple[int, str, str]]) -> None:
        new.execute("BEGIN")
        try:
            new.executemany(
                "INSERT OR REPLACE INTO users (id, first_name, last_name, email) "
                "VALUES (?, ?, ?, ?)",
                [(user_id, *convert_name_new(name), email) for user_id, name, email in batch])
        except BaseException:
            new.execute("ROLLBACK")
            raise
        new.execute("COMMIT")

    return backfill(rows, write, key=lambda row: row[0], batch_size=250, backoff=backoff,
                    progress=False)


def _reconcile(old: sqlite3.Connection, new: sqlite3.Connection) -> Reconciliation:
    """Every user of the old database, as the old application reads it, against the new one."""

    def old_rows() -> Iterator[dict[str, Any]]:
        for user_id, name, email in old.execute("SELECT id, name, email FROM users"):
            first, last = split_name(name)
            yield {"id": user_id, "first_name": first, "last_name": last, "email": email}

    new_rows = (dict(zip(("id", "first_name", "last_name", "email"), row, strict=True))
                for row in new.execute("SELECT id, first_name, last_name, email FROM users"))
    return reconcile(old_rows(), new_rows, key="id", name="users.get", progress=False)


def _reconciled(result: Reconciliation) -> str:
    text = f"  reconcile: {result.compared:,} users on both sides, {result.differing:,} differ"
    if result.diff_paths:
        text += " (at " + ", ".join(f"{path} {count:,}"
                                    for path, count in result.diff_paths.items()) + ")"
    for count, what in ((result.missing_in_new, "missing in the new database"),
                        (result.missing_in_old, "missing in the old database")):
        if count:
            text += f", {count:,} {what}"
    return text


@dataclasses.dataclass
class _Run:
    """What a demo run works with, and what it found so far."""

    old: sqlite3.Connection
    new: sqlite3.Connection
    repo: UserRepository
    rng: random.Random
    ids: list[int]
    operations: int
    store: StageFile
    log: TextIO
    log_path: Path
    thresholds: Thresholds
    out: IO[str] | None
    result: DemoResult

    def stage(self, stage: Stage) -> None:
        """Run the stage's calls (the stage file says which stage each migration is in)."""
        began = time.perf_counter()
        counts, failed = _drive(self.repo, self.rng, self.ids, self.operations)
        migratekit.flush()  # the stage's summaries, one window per stage
        self.log.flush()
        self.result.calls[stage.value] = counts
        self.result.failures[stage.value] = failed
        _say(self.out, f"  {stage.value.upper():<9} {self.operations:,} calls "
                       f"({counts['get']:,} reads, {counts['create']:,} creates, "
                       f"{counts['update_email']:,} e-mail updates; {failed} failed) "
                       f"in {time.perf_counter() - began:.2f}s")

    def set_all(self, stage: Stage, reason: str) -> None:
        for name in MIGRATIONS:
            self.store.change_stage(name, stage, actor=ACTOR, reason=reason)

    def copy(self) -> None:
        """Backfill the users the dual writes did not bring, and reconcile the two databases."""
        copied = _backfill(self.old, self.new)
        self.result.backfilled = copied.rows_written
        _say(self.out, f"  backfill: copied {copied.rows_written:,} users to the new side "
                       f"in {copied.batches} batch{'es' if copied.batches != 1 else ''}")
        self.result.reconciliation = _reconcile(self.old, self.new)
        _say(self.out, _reconciled(self.result.reconciliation))

    def advance_all(self, force: bool) -> bool:
        """Advance each migration as ``migratekit advance`` would; False at the first held."""
        for name in MIGRATIONS:
            report = build_report([str(self.log_path)], self.thresholds,
                                  migrations=[evidence_pattern(name)])
            decision = advance(self.store, name, report, force=force, actor=ACTOR)
            self.result.decisions.append(decision)
            _say(self.out, f"  advance   {decision.line()}")
            if decision.outcome != "advance":
                self.result.held = decision
                return False
        return True


def run_demo(
    directory: Path,
    *,
    operations: int = DEFAULT_OPERATIONS,
    stages: Sequence[Stage] | None = None,
    seed: int = 7,
    log_path: Path | None = None,
    out: IO[str] | None = None,
    force: bool = False,
) -> DemoResult:
    """
    Run the demo: create ``old.sqlite3``, ``new.sqlite3`` and ``stages.json``
    in *directory* (replacing any from an earlier run, with the stage file's
    audit trail), run *operations* calls in each stage, and write the events
    to *log_path* (by default ``events.jsonl`` in *directory*). Progress goes
    to *out* when given.

    Without *stages*, the story: every migration starts in OFF, and after
    each stage :func:`~migratekit._advance.advance` judges it from the log
    and sets the next one, stopping at the first that it does not advance
    (*force*: advancing past holds, on the record, to COMPLETE); the
    backfill and reconcile come after DUALWRITE. With *stages*, each of
    them in turn, set by the demo without judging, backfilled first when
    the new side is read.

    Process-wide settings (migratekit's provider, structlog's configuration)
    are restored before it returns.
    """
    start = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = log_path or directory / LOG
    old_path, new_path, stage_path = directory / OLD_DB, directory / NEW_DB, directory / STAGES
    for path in (stage_path, directory / JOURNAL):
        path.unlink(missing_ok=True)
    rng = random.Random(seed)
    old = _connect(old_path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                             "email TEXT NOT NULL)")
    new = _connect(new_path, "CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT NOT "
                             "NULL, last_name TEXT NOT NULL, email TEXT NOT NULL)")
    samples = min_samples_for(operations)
    result = DemoResult(log_path, old_path, new_path, {}, {}, 0, 0.0, stage_path, samples)
    ids: list[int] = []
    settings = _config.settings
    previous = (settings.provider, settings.call_events, settings.summary_interval,
                settings.max_warnings_per_second)
    store = StageFile(stage_path)
    # The production set-up, whatever the process had: per-call events of
    # calls that went well at debug (not written), warnings held to ten a
    # second, and the calls counted into summaries, written before the log
    # file closes. The stage file is read on every call (check_interval=0):
    # the demo changes it between stages and expects the next call to see it.
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
        with open(log_path, "w", encoding="utf-8") as log:
            previous_logging = to_json_lines(log)
            try:
                run = _Run(old, new, repo, rng, ids, operations, store, log, log_path,
                           demo_thresholds(samples), out, result)
                run.set_all(Stage.OFF, "the demo begins: only the old side runs")
                migratekit.configure(provider=FileStageProvider(stage_path, check_interval=0.0))
                if stages is None:
                    _story(run, force)
                else:
                    _stages(run, stages)
            finally:
                migratekit.flush()
                restore(previous_logging)
    finally:
        migratekit.configure(provider=previous[0], call_events=previous[1],
                             summary_interval=previous[2], max_warnings_per_second=previous[3])
        old.close()
        new.close()
    result.seconds = time.perf_counter() - start
    return result


def _story(run: _Run, force: bool) -> None:
    """OFF to COMPLETE, each step decided by advance, to the first hold (or past it, forced)."""
    for stage in STAGE_ORDER:  # each advance_all() that returns True set the next one
        run.stage(stage)
        if stage is Stage.DUALWRITE:
            run.copy()
        if stage is not Stage.COMPLETE and not run.advance_all(force):
            return


def _stages(run: _Run, stages: Sequence[Stage]) -> None:
    """Each of *stages* in order, set without judging; backfilled before the new side is read."""
    copied = False
    for stage in sorted(set(stages), key=list(Stage).index):
        if stage in _AFTER_BACKFILL and not copied:
            run.copy()
            copied = True
        if stage is not Stage.OFF:
            run.set_all(stage, "migratekit demo --stage: set without judging")
        run.stage(stage)
        if stage is Stage.DUALWRITE:
            run.copy()
            copied = True


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
