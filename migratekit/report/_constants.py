"""
The events the report reads, the stages it knows, and the limits that keep
its memory bounded.
"""

from __future__ import annotations

from migratekit import _schema
from migratekit._types import Operation, Origin

RESULT = _schema.RESULT_EVENT
OP = _schema.OP_EVENT
STAGE_ERROR = _schema.STAGE_ERROR_EVENT
SHADOW_DROPPED = _schema.SHADOW_DROPPED_EVENT
SUMMARY = _schema.SUMMARY_EVENT
EVENT_NAMES = _schema.EVENT_NAMES

# The report reads strings from JSON lines, so it keeps the contract's stages,
# operations and sides as their string values.
STAGES = tuple(stage.value for stage in _schema.STAGE_ORDER)
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
NEXT_STAGE = {stage.value: after.value for stage, after in _schema.NEXT_STAGE.items()}
OPERATIONS = tuple(operation.value for operation in Operation)
ORIGINS = tuple(origin.value for origin in Origin)

# Per operation, the stages in which the new side runs (authoritative or not):
# the report needs it to tell "the new side never ran here" from "no data".
NEW_RUNS = {
    operation.value: {
        stage.value
        for stage in _schema.STAGE_ORDER
        if Origin.NEW in (_schema.authoritative(stage), _schema.other_side(stage, operation))
    }
    for operation in Operation
}
# Per operation, the stages in which the old side runs.
OLD_RUNS = {
    operation.value: {
        stage.value
        for stage in _schema.STAGE_ORDER
        if Origin.OLD in (_schema.authoritative(stage), _schema.other_side(stage, operation))
    }
    for operation in Operation
}
# The stages in which a read runs both sides and compares them.
COMPARED = {
    stage.value
    for stage in _schema.STAGE_ORDER
    if _schema.other_side(stage, Operation.READ) is not None
}

MAX_LINE_BYTES = 1 << 20
"""Longer lines are skipped (and counted) without being held in memory."""

CALL_WINDOW = 1 << 16
"""How many recent ``call_id``s are remembered to count each call once."""

TIMELINE_BINS = 96
"""At most this many bins per timeline; the bin width doubles to keep within it."""

MAX_DIFF_PATHS = 256
"""Distinct diff paths kept per entry; the rest are counted as ``(other paths)``."""

MAX_PATHS_PER_EVENT = 32
MAX_STAGE_ERRORS = 256

MAX_ENTRIES = 10_000
"""Distinct (migration, stage, operation) kept; events of more are skipped and counted."""

MAX_NAME_CHARS = 512
"""A longer migration name is no migration name: the line is malformed."""

MAX_LATENCY_MS = 365 * 24 * 3600 * 1000.0
"""A year: a larger ``latency_ms`` is no latency, and the line is malformed."""

MAX_COUNT = 1 << 53
"""The largest count (``dropped``) one event may carry: the largest exact JSON integer."""

MAX_ERROR_TYPES = 64
"""Distinct ``exc_type``s kept per side and entry; the rest count as ``(other types)``."""

MAX_BUCKETS = 4096
"""
The most buckets one summary's histogram may have (about three times what a
microsecond to a year takes): a line with more is skipped as ``too_many_buckets``.
"""

MAX_PROCESSES = 1 << 16
"""Distinct processes whose summaries are read; summaries of more are skipped."""

MAX_PARTS = 1 << 12
"""
Distinct (entry, process) whose per-call events are kept apart, so that they
can be left out when the process's summaries are read too; the per-call
events of more are counted as if their process had no summaries.
"""

MAX_WINDOWS = 256
"""Windows remembered per entry and process to tell a summary read twice."""

MAX_TYPE_PAIRS = 64
"""Distinct (old type, new type) pairs kept per entry; the rest count in ``type_mismatches``."""

MAX_TYPE_NAME_CHARS = 200
"""A type name is cut to this many characters."""

MAX_SUMMARY_TYPES = 64
"""The most ``types`` items one summary may carry (the library writes at most 8)."""

EXAMPLES = 5
"""Example ``call_id``s kept per mismatch path and per error type: the last ones read."""

MAX_EXAMPLE_PATHS = 32
"""Mismatch paths per entry that keep examples."""

MAX_EXAMPLE_ERROR_TYPES = 16
"""Error types per side and entry that keep examples."""

MAX_EXAMPLE_KEYS = 1 << 14
"""Paths and error types with examples, over all entries: with :data:`EXAMPLES`, a bound."""

TAIL_BINS = 256
"""
The most bins of a stage's tail (:mod:`~migratekit.report._tail`) before it
is compacted: memory per stage stays bounded whatever the log's length.
"""

TAIL_RESOLUTION = 64
"""
A stage's tail keeps its last window of samples in bins of at most
1/TAIL_RESOLUTION of the window (one summary is one bin, whatever it holds).
"""
