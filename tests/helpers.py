"""
What several test modules share: the stage table written out as a
specification (docs/design.md's, independently of migratekit's own copy) and
the questions asked of it; and a migration that tells which stage it ran in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from structlog.testing import capture_logs

import migratekit
from migratekit import Operation, Stage, migration

OLD, NEW = "old", "new"

SUITE_SETTINGS: dict[str, Any] = {"call_events": "info", "max_warnings_per_second": None,
                                  "summary_interval": None}
"""
The settings the suite runs with: it checks every event of a call, so a call
that went well is reported at info, no warning is held back, and no summary
comes between a test's events. tests/test_summary.py checks the defaults and
the counts; tests/test_quiet_path.py that both paths count the same.
"""


def fresh() -> None:
    """``migratekit.reset()``, then :data:`SUITE_SETTINGS`."""
    migratekit.reset()
    migratekit.configure(**SUITE_SETTINGS)
READ, WRITE = Operation.READ, Operation.WRITE

#            stage              read runs     read returns  write runs, in order
TABLE: dict[Stage, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    Stage.OFF:       ((OLD,),       OLD,          (OLD,)),
    Stage.DUALWRITE: ((OLD,),       OLD,          (OLD, NEW)),
    Stage.SHADOW:    ((OLD, NEW),   OLD,          (OLD, NEW)),
    Stage.LIVE:      ((NEW, OLD),   NEW,          (NEW, OLD)),
    Stage.RAMPDOWN:  ((NEW,),       NEW,          (NEW, OLD)),
    Stage.COMPLETE:  ((NEW,),       NEW,          (NEW,)),
}  # fmt: skip


def authoritative(stage: Stage) -> str:
    """The side a read returns; the side a write runs first."""
    return TABLE[stage][1]


def other(origin: str) -> str:
    """The other side."""
    return NEW if origin == OLD else OLD


def planned(stage: Stage, operation: Operation) -> tuple[str, ...]:
    """The sides *stage* runs for *operation*, in order."""
    runs, _, writes = TABLE[stage]
    return runs if operation is READ else writes


# -- sides that fail, values with identity ---------------------------------------------------


class Boom(Exception):
    """Raised by a side."""


class CompareBoom(Exception):
    """Raised by a comparison."""


class Value:
    """A value with identity, to check the caller gets the very same object."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Value({self.label})"


# -- running a migration to see which stage it ran in -----------------------------------------


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def ops(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.op"]


def logging_at(level: int) -> list[dict[str, Any]]:
    """Send structlog's events at *level* and above to a list, as a production set-up would."""
    events: list[dict[str, Any]] = []

    def keep(logger: Any, method: str, event: Any) -> Any:
        events.append({**event, "level": method})
        raise structlog.DropEvent

    structlog.configure(processors=[keep],
                        wrapper_class=structlog.make_filtering_bound_logger(level),
                        cache_logger_on_first_use=False)
    return events


def make(name: str, provider: Any = None) -> Any:
    """A migration called *name* whose caller learns which side was authoritative."""
    options: dict[str, Any] = {"name": name}
    if provider is not None:
        options["provider"] = provider

    @migration.write(new=lambda: "new", **options)
    def op() -> str:
        return "old"

    return op


def run(fn: Any) -> tuple[str, list[Any]]:
    """Call a migration once: the stage it ran in (as its op event says), and its events."""
    with capture_logs() as logs:
        fn()
    return next(e for e in logs if e["event"] == "migration.op")["stage"], logs


def stage_of(fn: Any) -> str:
    """The stage a migration ran in, as its op event says."""
    return run(fn)[0]
