"""
Memory over many calls: what tracemalloc sees allocated and still alive after
each slice of calls. A hot path that keeps something per call (a growing
cache, a list of results, a queue without a bound) shows as a line that
keeps climbing; bounded caches and queues fill early and then stay flat.
"""

from __future__ import annotations

import gc
import itertools
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemoryResult", "measure_memory"]

# Slack for what a process allocates on its own (interned strings, the type
# cache, freelists): well under one byte per call over a million calls.
GROWTH_LIMIT = 64 * 1024


@dataclass
class MemoryResult:
    name: str
    calls: int
    seconds: float = 0.0
    checkpoints: list[int] = field(default_factory=list)
    """Bytes traced and alive after each slice of calls; the first is the baseline."""
    peak: int = 0
    error: str | None = None

    @property
    def growth(self) -> int:
        """Bytes alive at the end beyond the baseline taken after the first slice."""
        return self.checkpoints[-1] - self.checkpoints[1] if len(self.checkpoints) > 2 else 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.growth <= GROWTH_LIMIT


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
