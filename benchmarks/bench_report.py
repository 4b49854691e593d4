"""
Benchmark: aggregate a generated 1,000,000-line log with ``migratekit report``'s
reader and print the time and the peak memory.

    .venv/bin/python benchmarks/bench_report.py [LINES]
    .venv/bin/python benchmarks/bench_report.py --summaries [PROCESSES [WINDOWS]]

With ``--summaries`` the log is ``migration.summary`` lines instead, as a
fleet writes them: PROCESSES processes (1,000 by default) each summing up
WINDOWS consecutive 10-second windows (100 by default); :func:`measure_summaries`
is what ``python -m benchmarks`` checks the report's budget with.

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
import math
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from migratekit._schema import LATENCY_GAMMA, SUMMARY_EVENT, SUMMARY_FIELDS
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


def measure(path: Path, traced: bool, events: int = 1) -> tuple[float, int]:
    """
    Aggregate *path*; the seconds taken and the traced peak (0 when not
    traced). The report must have read at least *events* events.
    """
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    report = build_report([str(path)])
    seconds = time.perf_counter() - began
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if report.events < events:
        raise RuntimeError(f"the report read {report.events:,} events, not {events:,}")
    return seconds, peak


# -- summaries -------------------------------------------------------------------------------

_LOG_GAMMA = math.log(LATENCY_GAMMA)
_SPREAD = 30
"""Buckets per side of a generated histogram: latencies over a 1.8x range, as a real one."""
_VARIANTS = 64
"""Distinct pairs of histograms the generated summaries draw from."""
_WINDOW_SECONDS = 10.0


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="microseconds")


def _histogram(rng: random.Random, calls: int, median_ms: float) -> dict[str, Any]:
    """A side's ``latency_ms`` for *calls* latencies around *median_ms*, over about 30 buckets."""
    centre = math.ceil(math.log(median_ms) / _LOG_GAMMA)
    low = centre - _SPREAD // 3
    weights = [math.exp(-(((i - _SPREAD / 3) / (_SPREAD / 5)) ** 2)) + 0.01 * rng.random()
               for i in range(_SPREAD)]
    scale = calls / sum(weights)
    counts = [int(weight * scale) for weight in weights]
    counts[_SPREAD // 3] += calls - sum(counts)
    buckets = {str(low + i): n for i, n in enumerate(counts) if n}
    total = sum(n * LATENCY_GAMMA ** (low + i - 0.5) for i, n in enumerate(counts))
    top = max(int(index) for index in buckets)
    return {"count": calls, "sum": round(total, 6), "max": round(LATENCY_GAMMA ** top, 6),
            "zeros": 0, "gamma": LATENCY_GAMMA, "buckets": buckets}


def _sides(rng: random.Random) -> tuple[int, int, str]:
    """A SHADOW read window's calls, inconsistent reads, and its ``sides``, as JSON."""
    calls = rng.randint(200, 5_000)
    failed = rng.choice((0, 0, 0, 1, 2))
    old = {"ok": calls, "failed": 0, "errors": {},
           "latency_ms": _histogram(rng, calls, rng.uniform(1.0, 4.0))}
    new = {"ok": calls - failed, "failed": failed,
           "errors": {"TimeoutError": failed} if failed else {},
           "latency_ms": _histogram(rng, calls, rng.uniform(1.5, 6.0))}
    return calls, rng.choice((0, 0, 0, 1)), json.dumps({"old": old, "new": new})


def generate_summaries(path: Path, processes: int, windows: int, seed: int = 1) -> int:
    """
    Write the ``migration.summary`` lines of *processes* processes over
    *windows* consecutive 10-second windows to *path*, window after window
    (a fleet's logs shipped together): one line per process and window, in
    the layout of docs/design.md, as structlog's JSON renderer writes it;
    histograms of about 30 buckets per side. Returns the calls they count.
    """
    rng = random.Random(seed)
    variants = [_sides(rng) for _ in range(_VARIANTS)]
    fleet = []
    for number in range(processes):
        migration = f"svc{number % 5}.users.get"
        fleet.append({"migration": migration, "host": f"web-{number // 8:03d}",
                      "pid": 1000 + number % 30_000, "process": f"{rng.getrandbits(32):08x}"})
    start = 1_790_000_000.0
    total = 0
    with open(path, "w", encoding="utf-8") as out:
        for window in range(windows):
            since, until = start + window * _WINDOW_SECONDS, start + (window + 1) * _WINDOW_SECONDS
            since_text, until_text = _iso(since), _iso(until)
            for process in fleet:
                calls, inconsistent, sides = variants[rng.randrange(_VARIANTS)]
                fields: dict[str, Any] = {
                    "migration": process["migration"], "operation": "read", "stage": "shadow",
                    "since": since_text, "until": until_text, "host": process["host"],
                    "pid": process["pid"], "process": process["process"], "calls": calls,
                    "sides": None, "consistency_checks": calls, "inconsistent": inconsistent,
                    "ignored": 0, "compare_errors": 0, "type_mismatches": 0, "types": [],
                    "diff_paths": {"email": inconsistent} if inconsistent else {},
                    "shadows_dropped": 0, "shadows_skipped": 0, "warnings_suppressed": 0,
                }
                assert tuple(fields) == SUMMARY_FIELDS
                fields.update(event=SUMMARY_EVENT, level="info",
                              timestamp=until_text.replace("+00:00", "Z"))
                line = json.dumps(fields).replace('"sides": null', '"sides": ' + sides, 1)
                out.write(line + "\n")
                total += calls
    return total


@dataclass
class SummaryReport:
    """What :func:`measure_summaries` found."""

    processes: int
    windows: int
    lines: int = 0
    megabytes: float = 0.0
    seconds: float = 0.0
    """build_report's time over every window (not traced)."""
    peak_tenth: int = 0
    """The traced peak over a tenth of the windows (same processes)."""
    peak: int = 0
    """The traced peak over every window."""
    error: str | None = None


def measure_summaries(processes: int = 1_000, windows: int = 100) -> SummaryReport:
    """
    Generate the summaries of *processes* x *windows* into a temporary file;
    time :func:`~migratekit.report.build_report` over them, then take its
    peak of Python allocations (tracemalloc, a slower pass) over a tenth of
    the windows and over all of them: memory that is bounded does not grow
    with the windows. Checks that the report counted every call.
    """
    result = SummaryReport(processes, windows, lines=processes * windows)
    with tempfile.TemporaryDirectory(prefix="migratekit-bench-report-") as tmp:
        tenth, whole = Path(tmp) / "tenth.jsonl", Path(tmp) / "whole.jsonl"
        generate_summaries(tenth, processes, max(1, windows // 10))
        calls = generate_summaries(whole, processes, windows)
        result.megabytes = whole.stat().st_size / 1e6
        began = time.perf_counter()
        report = build_report([str(whole)])
        result.seconds = time.perf_counter() - began
        counted = sum(entry.calls for entry in report.entries)
        if report.summaries != result.lines or counted != calls:
            result.error = (f"the report read {report.summaries:,} of {result.lines:,} "
                            f"summaries, {counted:,} of {calls:,} calls")
        _, result.peak_tenth = measure(tenth, traced=True, events=processes)
        _, result.peak = measure(whole, traced=True, events=result.lines)
    return result


def main() -> None:
    """Generate the logs, aggregate them, print the figures."""
    if sys.argv[1:2] == ["--summaries"]:
        numbers = [int(arg) for arg in sys.argv[2:4]]
        found = measure_summaries(*numbers)
        print(f"summaries:                 {found.lines:,} ({found.processes:,} processes x "
              f"{found.windows} windows, {found.megabytes:.0f} MB)")
        print(f"time:                      {found.seconds:.1f} s "
              f"({found.lines / found.seconds:,.0f} lines/s)")
        print(f"peak Python allocations:   {found.peak_tenth / 1e6:.1f} MB for a tenth of the "
              f"windows, {found.peak / 1e6:.1f} MB for all (tracemalloc)")
        if found.error:
            print(f"error:                     {found.error}")
        return
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
