"""
What the summaries cost and whether they hold: the bytes a clean SHADOW
workload writes to the production log, and a million calls across eight
threads whose summaries must count every call once, in flat memory.

Both run under the production logging (:mod:`benchmarks._logs`' ``json``:
JSON at info into a file) with migratekit's defaults: a call that went well
writes no line; ``migration.summary`` lines carry the counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import migratekit
from benchmarks import _cases
from benchmarks._logs import Logs, summaries
from benchmarks._memory import SUMMARY_GROWTH_LIMIT, MemoryResult, measure_memory_threads

__all__ = ["ThreadsResult", "VolumeResult", "measure_threads", "measure_volume"]

VOLUME_CALLS = 20_000


@dataclass
class VolumeResult:
    calls: int
    bytes: int = 0
    lines: int = 0
    summaries: int = 0
    counted: int = 0
    """The calls the summaries of the workload's migration add up to."""
    error: str | None = None

    @property
    def per_call(self) -> float:
        return self.bytes / self.calls


def _flush() -> None:
    migratekit.flush()


def _shadow_repo(name: str) -> Any:
    os.environ[_cases.variable(name)] = "shadow"
    return _cases.read_repo(name)


def measure_volume(logs: Logs, calls: int = VOLUME_CALLS) -> VolumeResult:
    """
    *calls* SHADOW reads that go well, in production logging; then a flush:
    every byte the log file got, summaries included.
    """
    name = "bench.volume.shadow"
    repo = _shadow_repo(name)
    result = VolumeResult(calls)
    logs.use("json")
    try:
        logs.start_clean()
        for _ in range(calls):
            repo.get(1)
        migratekit.flush()
        data = logs.read()
    finally:
        logs.use("dropped")
    result.bytes = len(data)
    result.lines = data.count(b"\n")
    found = summaries(data)
    result.summaries = len(found)
    result.counted = sum(event["calls"] for event in found if event["migration"] == name)
    if result.counted != calls:
        result.error = f"the summaries count {result.counted:,} of {calls:,} calls"
    return result


@dataclass
class ThreadsResult:
    threads: int
    calls: int
    """Calls made, all threads together."""
    counted: int = 0
    """The calls the migration's summaries add up to."""
    summaries: int = 0
    memory: MemoryResult | None = None


def measure_threads(logs: Logs, threads: int, calls: int, label: str = "") -> ThreadsResult:
    """
    *threads* threads each making *calls* SHADOW reads in production logging,
    under tracemalloc (:func:`~benchmarks._memory.measure_memory_threads`),
    the summaries flushed at every checkpoint (the background flusher may
    flush too); then the ``calls`` of the migration's summaries added up.
    """
    name = "bench.threads.shadow"
    repo = _shadow_repo(name)
    logs.use("json")
    try:
        logs.start_clean()
        memory = measure_memory_threads(
            f"SHADOW reads across {threads} threads, production logging, "
            f"{threads * calls:,} calls{label}",
            lambda: repo.get(1), threads, calls, after=_flush)
        memory.limit = SUMMARY_GROWTH_LIMIT
        migratekit.flush()
        data = logs.read()
        logs.truncate()
    finally:
        logs.use("dropped")
    found = summaries(data, name)
    return ThreadsResult(threads, memory.calls, sum(event["calls"] for event in found),
                         len(found), memory)
