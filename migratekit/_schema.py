"""
The contract, as data: the stage table and the names of the events and their
fields. Everything in migratekit that needs them reads them here; the prose
is docs/design.md. Tests restate the table on their own (tests/helpers.py),
as a specification to check this copy against.
"""

from __future__ import annotations

import itertools

from migratekit._types import Operation, Origin, Stage

__all__ = [
    "EVENT_NAMES",
    "LATENCY_FIELDS",
    "LATENCY_GAMMA",
    "NEXT_STAGE",
    "OP_EVENT",
    "OP_FIELDS",
    "RECONCILE_EVENT",
    "RECONCILE_FIELDS",
    "RESULT_EVENT",
    "RESULT_FIELDS",
    "SHADOW_DROPPED_EVENT",
    "SHADOW_DROPPED_FIELDS",
    "SIDE_SUMMARY_FIELDS",
    "STAGE_CHANGE_EVENT",
    "STAGE_CHANGE_FIELDS",
    "STAGE_ERROR_EVENT",
    "STAGE_ERROR_FIELDS",
    "STAGE_ORDER",
    "STAGE_TABLE",
    "SUMMARY_EVENT",
    "SUMMARY_FIELDS",
    "authoritative",
    "other_side",
]

OLD, NEW = Origin.OLD, Origin.NEW

# -- the stage table ---------------------------------------------------------------------------

#   stage              authoritative  other side read  other side written
STAGE_TABLE: tuple[tuple[Stage, Origin, Origin | None, Origin | None], ...] = (
    (Stage.OFF,        OLD,           None,            None),
    (Stage.DUALWRITE,  OLD,           None,            NEW),
    (Stage.SHADOW,     OLD,           NEW,             NEW),
    (Stage.LIVE,       NEW,           OLD,             OLD),
    (Stage.RAMPDOWN,   NEW,           None,            OLD),
    (Stage.COMPLETE,   NEW,           None,            None),
)  # fmt: skip
"""
Per stage: the authoritative side (what a read returns, what a write runs
first), and the other side that also runs for a read and for a write.
"""

STAGE_ORDER: tuple[Stage, ...] = tuple(row[0] for row in STAGE_TABLE)
"""The stages in the order a migration goes through them."""

NEXT_STAGE: dict[Stage, Stage] = dict(itertools.pairwise(STAGE_ORDER))
"""The stage after each one but the last."""

_ROWS = {row[0]: row for row in STAGE_TABLE}


def authoritative(stage: Stage) -> Origin:
    """The side a read in *stage* returns, and a write runs first."""
    return _ROWS[stage][1]


def other_side(stage: Stage, operation: Operation) -> Origin | None:
    """The non-authoritative side that also runs for *operation* in *stage*, or ``None``."""
    row = _ROWS[stage]
    return row[2] if operation is Operation.READ else row[3]


# -- events --------------------------------------------------------------------------------------

RESULT_EVENT = "migration.result"
"""One per side that ran in a call."""

OP_EVENT = "migration.op"
"""One per call."""

STAGE_ERROR_EVENT = "migration.stage_error"
"""A stage could not be read or parsed; once per distinct failure."""

SHADOW_DROPPED_EVENT = "migration.shadow_dropped"
"""Background shadows dropped because the queue was full; at most one a second."""

SUMMARY_EVENT = "migration.summary"
"""The aggregates of a window, per (migration, operation, stage) that saw calls."""

RECONCILE_EVENT = "migration.reconcile"
"""One per :func:`migratekit.reconcile`: how two sets of records compare; keys, never values."""

STAGE_CHANGE_EVENT = "migration.stage_change"
"""A stage was set or unset in a store (``migratekit stage set|unset``, ``advance``)."""

STAGE_CHANGE_FIELDS = ("time", "migration", "old", "new", "actor", "reason", "action", "source")
"""
The fields of ``migration.stage_change``, and of each entry of the audit trail:
``old`` and ``new`` are what the store held before and after (``None``: unset).
"""

EVENT_NAMES = frozenset({RESULT_EVENT, OP_EVENT, STAGE_ERROR_EVENT, SHADOW_DROPPED_EVENT,
                         SUMMARY_EVENT, RECONCILE_EVENT, STAGE_CHANGE_EVENT})
"""The events ``migratekit report`` reads."""

RESULT_FIELDS = (
    "migration", "operation", "stage", "origin", "authoritative", "ok", "latency_ms", "error",
    "exc_type", "call_id",
)  # fmt: skip
"""The fields every ``migration.result`` carries (``value`` only with ``log_values``)."""

OP_FIELDS = ("migration", "operation", "stage", "invoked", "consistent", "call_id")
"""
The fields every ``migration.op`` carries; ``compare_error``, ``diff_paths``,
``types``, ``ignored``, ``shadow_dropped`` and ``arguments`` come when they apply.
"""

STAGE_ERROR_FIELDS = ("migration", "provider", "source", "value", "error", "exc_type", "stage")
"""The fields of ``migration.stage_error``."""

SHADOW_DROPPED_FIELDS = ("migration", "dropped", "total")
"""The fields of ``migration.shadow_dropped``."""

SUMMARY_FIELDS = (
    "migration", "operation", "stage", "since", "until", "host", "pid", "process", "calls",
    "sides", "consistency_checks", "inconsistent", "ignored", "compare_errors",
    "type_mismatches", "types", "diff_paths", "shadows_dropped", "shadows_skipped",
    "warnings_suppressed",
)  # fmt: skip
"""The fields of ``migration.summary`` (docs/design.md, "Summaries")."""

RECONCILE_FIELDS = (
    "migration", "consistent", "old_rows", "new_rows", "compared", "missing_in_new",
    "missing_in_old", "differing", "duplicates_in_old", "duplicates_in_new", "errors",
    "error_types", "diff_paths", "examples", "spilled",
)  # fmt: skip
"""
The fields of ``migration.reconcile`` (docs/design.md, "Closing the loop"):
counts, ``diff_paths`` and ``error_types`` as name -> count, ``examples`` as
kind -> up to five keys. ``migratekit report`` judges a read in DUALWRITE
by the newest one of its migration.
"""

SIDE_SUMMARY_FIELDS = ("ok", "failed", "errors", "latency_ms")
"""The fields of each side in a summary's ``sides``."""

LATENCY_FIELDS = ("count", "sum", "max", "zeros", "gamma", "buckets")
"""The fields of a side's ``latency_ms`` histogram in a summary."""

LATENCY_GAMMA = 1.01 / 0.99
"""
The ratio of a latency bucket's upper bound to its lower one: bucket ``i``
holds ``(LATENCY_GAMMA**(i-1), LATENCY_GAMMA**i]`` ms, within 1% of every
value it holds. The report's digest and the summaries use it both.
"""
