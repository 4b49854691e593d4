"""Logs for the report's tests: real ones written by the library, and lines made by hand."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import json
import math
import random
from collections import Counter
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
        if "max_warnings_per_second" in inspect.signature(migratekit.configure).parameters:
            # Every per-call warning in the log, however many tests ran this second
            # (issue 11 limits them per second and migration, across the process).
            migratekit.configure(max_warnings_per_second=None)
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


# -- summaries, written by hand (docs/design.md, "The fields of migration.summary") -----------

GAMMA = 1.01 / 0.99
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def iso(seconds: float) -> str:
    """*seconds* since the epoch as the ISO 8601 UTC time the library writes."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat()


def histogram(values: list[float]) -> dict[str, Any]:
    """A summary side's ``latency_ms``: bucket i counts the values in (GAMMA**(i-1), GAMMA**i]."""
    buckets: Counter[int] = Counter()
    zeros = 0
    for value in values:
        if value <= 0:
            zeros += 1
        else:
            buckets[math.ceil(math.log(value) / math.log(GAMMA))] += 1
    return {"count": len(values), "sum": sum(values), "max": max(values, default=0.0),
            "zeros": zeros, "gamma": GAMMA,
            "buckets": {str(index): n for index, n in sorted(buckets.items())}}


@dataclasses.dataclass
class Call:
    """One call as the tests know it: each side's latency (None: it did not run), and more."""

    old_ms: float | None
    new_ms: float | None
    new_error: str | None = None
    consistent: bool | None = None
    compare_error: bool = False
    paths: tuple[str, ...] = ()


def known_calls(n: int, seed: int = 1, *, compared: bool = True, bad: float = 0.02,
                errors: float = 0.01) -> list[Call]:
    """*n* reads in SHADOW with varied latencies, a share *bad* inconsistent, *errors* failed."""
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        failed = rng.random() < errors
        inconsistent = compared and not failed and rng.random() < bad
        consistent = (not inconsistent) if compared and not failed else None
        calls.append(Call(
            old_ms=round(rng.lognormvariate(0, 0.6), 4),
            new_ms=round(rng.lognormvariate(0.2, 0.7), 4),
            new_error="TimeoutError" if failed else None,
            consistent=consistent,
            compare_error=compared and not failed and not inconsistent and rng.random() < 0.005,
            paths=(rng.choice(["email", "address.zip"]),) if inconsistent else (),
        ))
        if calls[-1].compare_error:
            calls[-1].consistent = None
    return calls


def per_call_lines(calls: list[Call], *, process: str = "p1", migration: str = "m",
                   stage: str = "shadow", operation: str = "read", start: float = T0,
                   step: float = 0.001, first: int = 1) -> list[bytes]:
    """The ``migration.result`` and ``migration.op`` lines of *calls*, ``call_id`` process-N."""
    lines = []
    for index, call in enumerate(calls):
        stamp = iso(start + index * step)
        call_id = f"{process}-{first + index}"
        common = {"migration": migration, "operation": operation, "stage": stage,
                  "call_id": call_id, "timestamp": stamp}
        for origin, latency in (("old", call.old_ms), ("new", call.new_ms)):
            if latency is None:
                continue
            failed = origin == "new" and call.new_error is not None
            lines.append(json.dumps({
                "event": "migration.result", **common, "origin": origin,
                "authoritative": origin == "old", "ok": not failed, "latency_ms": latency,
                "error": "failed" if failed else None,
                "exc_type": call.new_error if failed else None}).encode())
        op: dict[str, Any] = {"event": "migration.op", **common,
                              "invoked": ["old", "new"], "consistent": call.consistent}
        if call.compare_error:
            op["compare_error"] = "KeyError"
        if call.paths:
            op["diff_paths"] = list(call.paths)
        lines.append(json.dumps(op).encode())
    return lines


def summary_event(calls: list[Call], *, process: str = "p1", migration: str = "m",
                  stage: str = "shadow", operation: str = "read", since: float = T0,
                  until: float = T0 + 10, **extra: Any) -> dict[str, Any]:
    """The ``migration.summary`` of *calls* in the window [since, until)."""
    sides: dict[str, Any] = {}
    for origin in ("old", "new"):
        ran = [c for c in calls if getattr(c, f"{origin}_ms") is not None]
        if not ran:
            continue
        failed = [c for c in ran if origin == "new" and c.new_error is not None]
        sides[origin] = {
            "ok": len(ran) - len(failed), "failed": len(failed),
            "errors": dict(Counter(c.new_error for c in failed)),
            "latency_ms": histogram([getattr(c, f"{origin}_ms") for c in ran]),
        }
    paths: Counter[str] = Counter(path for c in calls for path in c.paths)
    event = {
        "event": "migration.summary", "level": "info", "timestamp": iso(until),
        "migration": migration, "operation": operation, "stage": stage,
        "since": iso(since), "until": iso(until), "host": "web-1", "pid": 4242,
        "process": process, "calls": len(calls), "sides": sides,
        "consistency_checks": sum(c.consistent is not None for c in calls),
        "inconsistent": sum(c.consistent is False for c in calls),
        "compare_errors": sum(c.compare_error for c in calls),
        "type_mismatches": 0, "diff_paths": dict(paths), "shadows_dropped": 0,
        "shadows_skipped": 0, "warnings_suppressed": 0,
    }
    event.update(extra)
    return event


def summary_line(calls: list[Call], **fields: Any) -> bytes:
    """:func:`summary_event` as a log line."""
    return json.dumps(summary_event(calls, **fields)).encode()


def report_of(lines: list[bytes], thresholds: Thresholds | None = None, **window: Any) -> Any:
    """The report of *lines*, read in order (*window*: ``since``, ``until``)."""
    aggregator = Aggregator(**window)
    aggregator.feed(lines)
    return aggregator.report(thresholds)
