"""
``migratekit demo``: run a real migration between two SQLite databases
through every stage, log its events as JSON lines, and report on them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from migratekit._cli._demo_app import DEFAULT_OPERATIONS, LOG, NEW_DB, OLD_DB, run_demo
from migratekit._types import Stage
from migratekit.report import InputError, Thresholds, build_report, format_text

__all__ = ["DEMO_MIN_SAMPLES", "add_parser", "run"]

DEMO_MIN_SAMPLES = 100
"""The demo is small: its report asks for 100 samples rather than 1,000."""


def _stage(text: str) -> Stage:
    stage = Stage.from_str(text.strip().lower())
    if stage is None:
        raise argparse.ArgumentTypeError(
            f"expected a stage, one of {', '.join(s.value for s in Stage)} (got {text!r})"
        )
    return stage


def _operations(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of calls per stage, at least 1 (got {text!r})"
        )
    return value


def add_parser(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run a real migration between two SQLite databases, and report on it",
        description=(
            "Migrate a small user service from one SQLite database (a 'name' column) to "
            "another ('first_name' and 'last_name'), through every stage from OFF to "
            "COMPLETE, with reads, writes and a backfill. The new side has a planted "
            "defect; the events go to a JSON lines log, and the demo ends with the "
            "report on it, which finds the defect."
        ),
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("migratekit-demo"), metavar="DIR",
        help=f"where to write {OLD_DB}, {NEW_DB} and {LOG} (default ./migratekit-demo); "
        "the two databases are replaced on each run")
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help=f"write the events to FILE instead of DIR/{LOG}")
    parser.add_argument("--operations", type=_operations, default=DEFAULT_OPERATIONS,
                        metavar="N", help=f"calls per stage (default {DEFAULT_OPERATIONS:,})")
    parser.add_argument("--stage", type=_stage, metavar="STAGE",
                        help="run this stage only (off, dualwrite, shadow, live, rampdown, "
                        "complete)")
    parser.add_argument("--seed", type=int, default=7,
                        help="seed of the made-up traffic (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``migratekit demo``; returns the exit status."""
    stages = (args.stage,) if args.stage else tuple(Stage)
    out = sys.stdout
    print(f"migratekit demo: migrating users from {args.dir / OLD_DB} (name) to "
          f"{args.dir / NEW_DB} (first_name, last_name)", file=out)
    try:
        result = run_demo(args.dir, operations=args.operations, stages=stages,
                          seed=args.seed, log_path=args.log, out=out)
    except OSError as exc:
        where = exc.filename or args.dir
        print(f"migratekit demo: cannot write {where}: {exc.strerror or exc}; "
              "choose a writable place with --dir or --log", file=sys.stderr)
        return 2
    print(f"\nevents: {result.log}  ({result.seconds:.1f}s in all)\n", file=out)
    try:
        report = build_report([str(result.log)], Thresholds(min_samples=DEMO_MIN_SAMPLES))
    except InputError as exc:  # pragma: no cover - the file was just written
        print(f"migratekit demo: {exc}", file=sys.stderr)
        return 2
    out.write(format_text(report))
    print(
        f"\n(thresholds as in: migratekit report --min-samples {DEMO_MIN_SAMPLES} "
        f"{result.log})\n"
        "The new side of this demo has planted defects: see 'Where the sides differ'. "
        f"For the page with plots: migratekit report --html report.html {result.log}",
        file=out,
    )
    return 0
