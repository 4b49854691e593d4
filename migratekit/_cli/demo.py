"""
``migratekit demo``: run a real migration between two SQLite databases,
stage after stage as ``migratekit advance`` decides from the events it logs
as JSON lines, until the first hold; then report on the events.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from migratekit._cli._demo_app import (
    DEFAULT_OPERATIONS,
    DEMO_MIN_SAMPLES,
    LOG,
    NEW_DB,
    OLD_DB,
    STAGES,
    DemoResult,
    demo_thresholds,
    run_demo,
    threshold_options,
)
from migratekit._types import Stage
from migratekit.report import InputError, build_report, format_text

__all__ = ["DEMO_MIN_SAMPLES", "add_parser", "run"]


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
            "another ('first_name' and 'last_name'), with reads and writes in each stage. "
            "The stages are kept in DIR/stages.json, and after each stage migratekit "
            "advance judges the events logged (a JSON lines file) and sets the next one, on "
            "the record: OFF, DUALWRITE, a backfill and a reconcile, SHADOW, and on. The new "
            "side has a planted defect: the demo stops at the hold it causes, as a rollout "
            "would, and ends with the report, which names it."
        ),
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("migratekit-demo"), metavar="DIR",
        help=f"where to write {OLD_DB}, {NEW_DB}, {STAGES} (with its audit trail) and {LOG} "
        "(default ./migratekit-demo); all but the log are replaced on each run, the log too "
        "unless --log puts it elsewhere")
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help=f"write the events to FILE instead of DIR/{LOG}")
    parser.add_argument("--operations", type=_operations, default=DEFAULT_OPERATIONS,
                        metavar="N", help=f"calls per stage (default {DEFAULT_OPERATIONS:,})")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--stage", type=_stage, metavar="STAGE",
                     help="run this stage only, set without judging (off, dualwrite, shadow, "
                     "live, rampdown, complete)")
    how.add_argument("--force", action="store_true",
                     help="advance past each hold as migratekit advance --force does, on the "
                     "record, to COMPLETE")
    parser.add_argument("--seed", type=int, default=7,
                        help="seed of the made-up traffic (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``migratekit demo``; returns the exit status."""
    out = sys.stdout
    print(f"migratekit demo: migrating users from {args.dir / OLD_DB} (name) to "
          f"{args.dir / NEW_DB} (first_name, last_name), stages in {args.dir / STAGES}",
          file=out)
    try:
        result = run_demo(args.dir, operations=args.operations,
                          stages=None if args.stage is None else (args.stage,),
                          seed=args.seed, log_path=args.log, out=out, force=args.force)
    except OSError as exc:
        where = exc.filename or args.dir
        print(f"migratekit demo: cannot write {where}: {exc.strerror or exc}; "
              "choose a writable place with --dir or --log", file=sys.stderr)
        return 2
    if result.held is not None:
        _stopped(result, out)
    print(f"\nevents: {result.log}  ({result.seconds:.1f}s in all)\n", file=out)
    try:
        report = build_report([str(result.log)], demo_thresholds(result.min_samples))
    except InputError as exc:  # pragma: no cover - the file was just written
        print(f"migratekit demo: {exc}", file=sys.stderr)
        return 2
    out.write(format_text(report))
    print(
        f"\n(thresholds as in: migratekit report {threshold_options(result.min_samples)} "
        f"{result.log})\n"
        "The new side of this demo has planted defects: the reconcile and the verdicts above "
        "name what they break. "
        f"For the page with plots: migratekit report --html report.html {result.log}\n"
        f"Every stage change, with who and why: migratekit stage history '*' "
        f"--file {result.stage_file}",
        file=out,
    )
    return 0


_MEANING = {
    Stage.DUALWRITE: "where the new store is written but never read",
    Stage.SHADOW: "where the old side still answers every read",
    Stage.LIVE: "where the old side still runs beside the new one",
    Stage.RAMPDOWN: "where the old store is still written",
}


def _stopped(result: DemoResult, out: Any) -> None:
    """Where the demo stopped, why, and how to go on."""
    held = result.held
    assert held is not None
    stage = held.stage.value.upper() if held.stage else "its stage"
    meaning = _MEANING.get(held.stage) if held.stage else None
    print(f"\nThe demo stops at the hold, as a rollout would: {held.migration} stays in "
          f"{stage}{', ' + meaning if meaning else ''}. To drive on past it, each override on "
          "the record: migratekit demo --force"
          f"\n  (the step by hand: migratekit advance {held.migration} --file "
          f"{result.stage_file} --log {result.log} {threshold_options(result.min_samples)} "
          "--force)",
          file=out)
