"""Logs for the report's tests: real ones written by the library, and lines made by hand."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

import migratekit
from migratekit.providers import StaticStageProvider
from migratekit.report import Thresholds
from migratekit.report._aggregate import Aggregator, iter_lines


@contextlib.contextmanager
def json_log(path: Path, timestamps: str | None = "iso") -> Iterator[None]:
    """Configure structlog to write JSON lines to *path*, as an application would."""
    processors: list[Any] = [structlog.processors.add_log_level]
    if timestamps == "iso":
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    elif timestamps == "epoch":
        processors.append(structlog.processors.TimeStamper())
    processors.append(structlog.processors.JSONRenderer())
    with open(path, "a", encoding="utf-8") as out:
        structlog.configure(
            processors=processors,
            logger_factory=structlog.WriteLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )
        try:
            yield
        finally:
            structlog.reset_defaults()


def _record(user_id: int, changed: bool = False) -> dict[str, Any]:
    tags = ["a", "b", "c"]
    if changed and user_id % 10 == 0:
        tags = ["a", "b", "x"]
    return {
        "id": user_id,
        "address": {"city": "Lyon", "zip": "69001" if not changed else "69002"},
        "tags": tags,
    }


def _old_get(user_id: int) -> dict[str, Any]:
    return _record(user_id)


def _new_get(user_id: int) -> dict[str, Any]:
    if user_id == 7:
        raise TimeoutError("new store timed out")
    return _record(user_id, changed=user_id % 5 == 0)


@migratekit.migration(old=_old_get, new=_new_get, name="users.get")
def get_user(user_id: int) -> dict[str, Any]:
    """The function under test: a read compared in SHADOW."""
    raise AssertionError("old is given, so this body never runs")


def _old_save(user_id: int) -> None:
    return None


def _new_save(user_id: int) -> None:
    if user_id in (3, 4):
        raise ValueError(f"cannot save {user_id}")


@migratekit.migration.write(old=_old_save, new=_new_save, name="users.save")
def save_user(user_id: int) -> None:
    """A write, dual-written in DUALWRITE."""
    raise AssertionError("never runs")


def write_library_log(path: Path, timestamps: str | None = "iso") -> None:
    """30 reads in SHADOW (6 inconsistent, 1 new-side error) and 10 writes in DUALWRITE."""
    with json_log(path, timestamps):
        migratekit.configure(provider=StaticStageProvider(
            {"users.get": "shadow", "users.save": "dualwrite"}))
        for user_id in range(30):
            get_user(user_id)
        for user_id in range(10):
            save_user(user_id)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every line of *path* as JSON."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def nearest_rank(values: list[float], p: float) -> float:
    """The nearest-rank percentile, computed independently of the report."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def aggregate(path: Path, thresholds: Thresholds | None = None) -> Any:
    """Read *path* through the Aggregator, as the command does."""
    aggregator = Aggregator()
    with open(path, "rb") as stream:
        for line in iter_lines(stream):
            assert line is not None
            aggregator.feed_line(line)
    return aggregator.report(thresholds)


def entry_of(report: Any, migration: str, stage: str) -> Any:
    """The entry of *migration* in *stage*."""
    (entry,) = [e for e in report.entries if e.migration == migration and e.stage == stage]
    return entry


GOOD_OP = {
    "event": "migration.op", "migration": "m", "operation": "read", "stage": "shadow",
    "invoked": ["old", "new"], "consistent": True, "call_id": "c-1",
}


GOOD_RESULT = {
    "event": "migration.result", "migration": "m", "operation": "read", "stage": "shadow",
    "origin": "old", "authoritative": True, "ok": True, "latency_ms": 1.5, "error": None,
    "exc_type": None, "call_id": "c-1",
}


def event_line(**changes: Any) -> bytes:
    """A good op event (a result with ``result=True``) with *changes*; ``...`` drops a field."""
    base = dict(GOOD_RESULT if changes.pop("result", False) else GOOD_OP)
    for key, value in changes.items():
        if value is ...:
            base.pop(key)
        else:
            base[key] = value
    return json.dumps(base).encode()


def call_lines(n: int, *, stage: str = "shadow", operation: str = "read", bad: int = 0,
           old_ms: float = 1.0, new_ms: float = 1.0, new_errors: int = 0,
           compare_errors: int = 0) -> list[bytes]:
    """
    The lines of *n* calls of one operation in one stage, with the sides that
    run there: *bad* inconsistent comparisons, *new_errors* failed new-side
    results, *compare_errors* comparisons that raised, and the latencies given.
    """
    lines = []
    compared = operation == "read" and stage in ("shadow", "live")
    sides = {"off": ["old"], "complete": ["new"]}.get(stage, ["old", "new"])
    if operation == "read" and stage == "dualwrite":
        sides = ["old"]
    if operation == "read" and stage == "rampdown":
        sides = ["new"]
    for index in range(n):
        call_id = f"v-{stage}-{operation}-{index}"
        for origin in sides:
            ok = not (origin == "new" and index < new_errors)
            lines.append(event_line(result=True, stage=stage, operation=operation, origin=origin,
                               ok=ok, call_id=call_id,
                               latency_ms=old_ms if origin == "old" else new_ms))
        consistent = (index >= bad) if compared else None
        extra: dict[str, Any] = {}
        if compared and index >= n - compare_errors:
            consistent, extra = None, {"compare_error": "KeyError"}
        lines.append(event_line(stage=stage, operation=operation, consistent=consistent,
                           call_id=call_id, **extra))
    return lines


def verdict_of(lines: list[bytes], **thresholds: Any) -> Any:
    """The one entry the report makes of *lines*, judged with *thresholds*."""
    aggregator = Aggregator()
    aggregator.feed(lines)
    (entry,) = aggregator.report(Thresholds(**thresholds)).entries
    return entry


def stage_error_line(migration: str, value: str) -> bytes:
    """A ``migration.stage_error`` event for *migration* about a stage *value*."""
    return json.dumps({"event": "migration.stage_error", "migration": migration,
                       "provider": "EnvStageProvider", "source": "MIGRATEKIT_STAGE",
                       "value": value, "exc_type": "StageError", "stage": "off",
                       "error": "not a stage"}).encode()
