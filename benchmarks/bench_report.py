"""
Benchmark: aggregate a generated 1,000,000-line log with ``migratekit report``'s
reader and print the time and the peak memory.

    .venv/bin/python benchmarks/bench_report.py [LINES]

The log is written to a temporary file (about 250 MB for a million lines) and
removed afterwards. It mixes results, ops, stage errors and junk lines from
six migrations in every stage. Memory is measured twice: the peak of Python
allocations during the aggregation alone (tracemalloc, which slows the run,
so it is a separate pass over a tenth of the lines and over all of them), and
the process's peak resident size (ru_maxrss). Bounded memory shows as a peak
that does not grow with the number of lines.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from migratekit.report import build_report

STAGES = ("off", "dualwrite", "shadow", "live", "rampdown", "complete")


def generate(path: Path, lines: int, seed: int = 1) -> None:
    """Write *lines* lines of realistic migratekit JSON events (and some junk) to *path*."""
    rng = random.Random(seed)
    start = 1_790_000_000.0
    with open(path, "w", encoding="utf-8") as out:
        written = 0
        call = 0
        while written < lines:
            call += 1
            migration = f"svc{call % 6}.get"
            stage = STAGES[(written * len(STAGES)) // lines]
            call_id = f"{call % 4:08x}-{call}"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + written / 500))
            stamp += f".{written % 1_000_000:06d}Z"
            origins = ("old", "new") if stage in ("shadow", "live") else ("old",)
            for origin in origins:
                out.write(json.dumps({
                    "migration": migration, "operation": "read", "stage": stage,
                    "origin": origin, "authoritative": origin == "old", "ok": rng.random() > 0.001,
                    "latency_ms": round(rng.lognormvariate(0, 0.8), 4), "error": None,
                    "exc_type": None, "call_id": call_id, "event": "migration.result",
                    "level": "info", "timestamp": stamp}) + "\n")
            consistent = (rng.random() > 0.002) if len(origins) == 2 else None
            op = {"migration": migration, "operation": "read", "stage": stage,
                  "invoked": list(origins), "consistent": consistent, "call_id": call_id,
                  "event": "migration.op", "level": "info", "timestamp": stamp}
            if consistent is False:
                op["diff_paths"] = [rng.choice(("last_name", "email", "tags[2]"))]
            out.write(json.dumps(op) + "\n")
            written += len(origins) + 1
            if call % 1000 == 0:
                out.write("GET /health 200 OK\n")
                written += 1


def measure(path: Path, traced: bool) -> tuple[float, int]:
    """Aggregate *path*; the seconds taken and the traced peak (0 when not traced)."""
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    report = build_report([str(path)])
    seconds = time.perf_counter() - began
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert report.events > 0
    return seconds, peak


def main() -> None:
    """Generate the logs, aggregate them, print the figures."""
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small.jsonl", Path(tmp) / "large.jsonl"
        generate(small, lines // 10)
        generate(large, lines)
        size = os.path.getsize(large)
        seconds, _ = measure(large, traced=False)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        _, small_peak = measure(small, traced=True)
        _, large_peak = measure(large, traced=True)
    print(f"lines:                     {lines:,} ({size / 1e6:.0f} MB)")
    print(f"time:                      {seconds:.1f} s ({lines / seconds:,.0f} lines/s)")
    print(f"peak Python allocations:   {small_peak / 1e6:.1f} MB for {lines // 10:,} lines, "
          f"{large_peak / 1e6:.1f} MB for {lines:,} lines (tracemalloc)")
    print(f"peak resident size:        {rss / 1024:.0f} MB (ru_maxrss, whole process)")


if __name__ == "__main__":
    main()
