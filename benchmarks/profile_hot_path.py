"""
Profile the hot path: OFF read, SHADOW read and DUALWRITE write, events
dropped, under cProfile; the top functions by own time, with the calls per
migrated call.

    python -m benchmarks.profile_hot_path [--calls N] [--top K] [--case off|shadow|dualwrite]

cProfile adds a fixed cost to every Python function call, so it inflates
code made of many small calls; read it for *where* the time goes and *how
many* calls each migrated call makes, and the benchmark for how much. For a
sampling profile without that distortion, run this module under
``py-spy record --native -f raw`` with ``--spin SECONDS``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import _cases
from benchmarks._logs import Logs

__all__ = ["main"]


def _targets() -> dict[str, Callable[[], Any]]:
    _cases.clear_stage_environment()
    _cases.reset_migratekit()
    reads: dict[str, Any] = {}
    for stage in ("off", "shadow"):
        name = f"profile.read.{stage}"
        os.environ[_cases.variable(name)] = stage
        reads[stage] = _cases.read_repo(name)
    off, shadow = reads["off"], reads["shadow"]
    name = "profile.write.dualwrite"
    os.environ[_cases.variable(name)] = "dualwrite"
    writer = _cases.write_repo(name)
    return {
        "off": lambda: off.get(1),
        "shadow": lambda: shadow.get(1),
        "dualwrite": lambda: writer.put(1, 2),
    }


def profile(call: Callable[[], Any], calls: int, top: int) -> str:
    for _ in range(1000):
        call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_hot_path")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--case", choices=("off", "shadow", "dualwrite"), action="append")
    parser.add_argument("--spin", type=float, default=0.0,
                        help="instead of profiling, call the case(s) for this many seconds "
                             "(to sample with py-spy)")
    args = parser.parse_args(argv)
    import tempfile
    from pathlib import Path

    logs = Logs(Path(tempfile.mkdtemp(prefix="migratekit-profile-")) / "events.jsonl")
    logs.use("dropped")
    targets = _targets()
    for case in args.case or ("off", "shadow", "dualwrite"):
        call = targets[case]
        if args.spin:
            deadline = time.monotonic() + args.spin
            while time.monotonic() < deadline:
                for _ in range(10_000):
                    call()
            continue
        print(f"=== {case}, events dropped, {args.calls:,} calls ===")
        print(profile(call, args.calls, args.top))
    logs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
