"""
Memory over many calls: what tracemalloc sees allocated and still alive after
each slice of calls. A hot path that keeps something per call (a growing
cache, a list of results, a queue without a bound) shows as a line that
keeps climbing; bounded caches and queues fill early and then stay flat.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemoryResult", "measure_memory", "measure_memory_threads"]

# Slack for what a process allocates on its own (interned strings, the type
# cache, freelists): well under one byte per call over a million calls.
GROWTH_LIMIT = 64 * 1024

# Summaries count latencies in buckets of 2% (migratekit._summary), one
# dictionary entry per bucket seen, per side, per thread: a bucket first hit
# late (a slow call, a scheduler stall) adds an entry for good. Bounded by
# the latency range (about 120 buckets per decade), not by the calls; eight
# threads over a million calls fill in tens of KiB of them after the first
# slice. The bound is still far under a byte per call.
SUMMARY_GROWTH_LIMIT = 256 * 1024


@dataclass
class MemoryResult:
    name: str
    calls: int
    seconds: float = 0.0
    checkpoints: list[int] = field(default_factory=list)
    """Bytes traced and alive after each slice of calls; the first is the baseline."""
    peak: int = 0
    error: str | None = None
    limit: int = GROWTH_LIMIT
    """The growth allowed, in bytes."""

    @property
    def growth(self) -> int:
        """Bytes alive at the end beyond the baseline taken after the first slice."""
        return self.checkpoints[-1] - self.checkpoints[1] if len(self.checkpoints) > 2 else 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.growth <= self.limit


def measure_memory(name: str, call: Callable[[], Any], calls: int, slices: int = 10,
                   after: Callable[[], None] | None = None) -> MemoryResult:
    """
    Run *call* *calls* times under tracemalloc. The first slice lets caches
    and pools fill and is the baseline; growth is measured from there.
    """
    result = MemoryResult(name, calls)
    per_slice = max(1, calls // slices)
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result.checkpoints.append(tracemalloc.get_traced_memory()[0])
        for _ in range(slices):
            for _ in itertools.repeat(None, per_slice):
                call()
            if after is not None:
                after()
            gc.collect()
            result.checkpoints.append(tracemalloc.get_traced_memory()[0])
        result.peak = tracemalloc.get_traced_memory()[1]
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        tracemalloc.stop()
    result.seconds = time.perf_counter() - start
    return result


def measure_memory_threads(name: str, call: Callable[[], Any], threads: int, calls: int,
                           slices: int = 10,
                           after: Callable[[], None] | None = None) -> MemoryResult:
    """
    :func:`measure_memory` with *threads* threads making *calls* calls each:
    every slice, each thread makes its share, then waits while the main
    thread runs *after* and takes the checkpoint (the threads stay alive
    throughout, so what each keeps of its own is counted from the first
    slice on). ``result.calls`` is the calls of all threads.
    """
    result = MemoryResult(name, threads * calls)
    per_slice = max(1, calls // slices)
    done = threading.Barrier(threads + 1)
    resume = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(slices):
                for _ in itertools.repeat(None, per_slice):
                    call()
                done.wait()
                resume.wait()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            errors.append(exc)
            done.abort()
            resume.abort()

    workers = [threading.Thread(target=work, name=f"bench-memory-{i}") for i in range(threads)]
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result.checkpoints.append(tracemalloc.get_traced_memory()[0])
        for worker in workers:
            worker.start()
        for _ in range(slices):
            done.wait()
            if after is not None:
                after()
            gc.collect()
            result.checkpoints.append(tracemalloc.get_traced_memory()[0])
            resume.wait()
        result.peak = tracemalloc.get_traced_memory()[1]
    except threading.BrokenBarrierError:
        pass
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        done.abort()
        resume.abort()
    finally:
        for worker in workers:
            worker.join()
        tracemalloc.stop()
    if errors and result.error is None:
        result.error = f"{type(errors[0]).__name__}: {errors[0]}"
    result.calls = threads * per_slice * slices
    result.seconds = time.perf_counter() - start
    return result
