"""
Evidence for the tests of `migratekit advance`: migration.summary lines made by
hand (tests/report/logs.py), stamped now, so that they come after the stage
changes a test has just made; and the stores a test runs on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from migratekit.providers._audit import StageStore
from migratekit.providers._stagefile import StageFile
from tests._redis import RedisServer
from tests.report.logs import Call, summary_line

COMPARED = ("shadow", "live")
NEW_RUNS = {"read": ("shadow", "live", "rampdown", "complete"),
            "write": ("dualwrite", "shadow", "live", "rampdown", "complete")}


def summary(stage: str, n: int = 1500, *, bad: int = 0, migration: str = "users.get",
            operation: str = "read", until: float | None = None, new_errors: int = 0,
            process: str = "p1") -> bytes:
    """
    A migration.summary line of *n* calls of *migration* in *stage*, *bad* of
    them inconsistent (reads compared) and *new_errors* failed on the new
    side, its window ending at *until* (now by default) and lasting 5 seconds.
    """
    until = time.time() + 0.001 if until is None else until
    new_runs = stage in NEW_RUNS[operation]
    old_runs = stage not in ("complete",) and not (stage == "rampdown" and operation == "read")
    compared = operation == "read" and stage in COMPARED
    calls = [
        Call(old_ms=0.5 if old_runs else None,
             new_ms=0.5 if new_runs else None,
             new_error="TimeoutError" if new_runs and i < new_errors else None,
             consistent=(i >= bad) if compared and i >= new_errors else None,
             paths=("last_name",) if compared and i < bad else ())
        for i in range(n)
    ]
    return summary_line(calls, migration=migration, stage=stage, operation=operation,
                        since=until - 5.0, until=until, process=process)


def append(log: Path, *lines: bytes) -> Path:
    """Append *lines* to the log file *log*; returns it."""
    with log.open("ab") as out:
        for line in lines:
            out.write(line + b"\n")
    return log


class Store:
    """A store of stages as a test sees it: the options naming it, and the object."""

    def __init__(self, options: list[str], store: StageStore) -> None:
        self.options = options
        self.store = store

    def stage(self, name: str = "users.get") -> str | None:
        """What the store holds for *name* now."""
        return self.store.raw_stage(name)

    def set(self, stage: str, name: str = "users.get", **record: Any) -> None:
        """Set *name*'s stage on the record, as `migratekit stage set` would (its event kept)."""
        record.setdefault("actor", "alice")
        with capture_logs():
            self.store.change_stage(name, stage, **record)
        structlog.reset_defaults()  # capture_logs leaves structlog "configured"


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A stage file, or a real redis-server, to advance in."""
    if request.param == "file":
        path = tmp_path / "stages.json"
        return Store(["--file", str(path)], StageFile(path))
    from migratekit.providers import RedisStageProvider

    server: RedisServer = request.getfixturevalue("redis_server")
    return Store(["--redis", server.url], RedisStageProvider(server.url))
