"""
``migratekit advance NAME``: judge a migration's current stage with the
report's gate, and set the next stage only when it is ready, on the record.

::

    migratekit advance NAME (--file PATH | --redis URL) (--log FILE... | --prometheus URL)
                       [--dry-run] [--rollback | --force] [--to STAGE]
                       [--watch [--every 10m] [--until complete]]
                       [--actor WHO] [--reason WHY] [--event-log FILE] [--format {text,json}]
                       [--since TIME] [--range DURATION] [the report's thresholds]

The decisions and their rules are :mod:`migratekit._advance`'s; this module
reads the options, the evidence and the store, and prints one line per
decision (with ``--watch``, one per tick, each after the time it was made).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from migratekit import _advance
from migratekit._cli.report import (
    add_thresholds,
    duration,
    moment,
    thresholds_from,
)
from migratekit._cli.stage import _events_to, store_failure
from migratekit._text import shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError
from migratekit.report import InputError, Report, build_report

__all__ = ["add_parser", "run"]

OK = 0
PROBLEM = 1
FAILED = 2

sleep: Callable[[float], object] = time.sleep
"""How ``--watch`` waits between ticks (tests replace it)."""


def _stage(text: str) -> Stage:
    stage = Stage.from_str(text.strip().lower())
    if stage is None:
        raise argparse.ArgumentTypeError(
            f"expected a stage, one of {', '.join(s.value for s in Stage)} (got {text!r})")
    return stage


def add_parser(subparsers: Any) -> None:
    """Add the ``advance`` subcommand."""
    parser = subparsers.add_parser(
        "advance",
        help="set a migration's next stage when the report says it is ready, on the record",
        usage=(
            "migratekit advance NAME (--file PATH | --redis URL) "
            "(--log FILE [FILE ...] | --prometheus URL)\n"
            "                          [--dry-run] [--rollback | --force] [--to STAGE]\n"
            "                          [--watch [--every DURATION] [--until STAGE]]\n"
            "                          [--actor WHO] [--reason WHY] [--event-log FILE] "
            "[--format {text,json}]\n"
            "                          [--since TIME] [--range DURATION] "
            "[--redis-prefix PREFIX] [thresholds]"
        ),
        description=(
            "Judge migration NAME's current stage, as kept in a stage file or Redis, with "
            "the report's gate and thresholds on the evidence (log files, or a Prometheus "
            "server), and set the next stage only when it is ready. On hold nothing changes "
            "(or --rollback sets the previous stage, --force the next one all the same). The "
            "change is a compare-and-set: of two operators at once, one wins and the other is "
            "told who did. Each change is recorded with its actor and the verdict it acted on "
            "(migratekit stage history NAME) and logged as migration.stage_change."
        ),
        epilog=(
            "The evidence must be newer than the stage's last recorded change, and hold calls "
            "in that stage: calls made in an earlier stay, or before the processes saw the "
            "change, cannot judge it. A stage with no recorded change (set by hand, or never "
            "set: OFF) is judged when the evidence's latest stage is that stage. Exit status: "
            "0 when the stage was advanced (or would be, with --dry-run) or --until was "
            "reached; 1 when it was not (on hold, rolled back, too few samples, evidence that "
            "cannot judge, another operator first); 2 for a usage error, a store or a log "
            "that cannot be read."
        ),
    )
    parser.add_argument("name", metavar="NAME", nargs="?",
                        help="the migration, e.g. users.get (before --log, which takes every "
                        "word after it)")
    store = parser.add_argument_group("where the stage is kept (one of)")
    kept = store.add_mutually_exclusive_group(required=True)
    kept.add_argument("--file", metavar="PATH",
                      help="a JSON or TOML stage file (changes recorded in PATH.audit.jsonl)")
    kept.add_argument("--redis", metavar="URL",
                      help="Redis, e.g. redis://localhost:6379/0 (changes recorded in the "
                      "stream migratekit:audit; needs pip install 'migratekit[redis]')")
    store.add_argument("--redis-prefix", default="migratekit:stage:", metavar="PREFIX",
                       help="prefix of the Redis keys (default: %(default)s)")
    evidence = parser.add_argument_group("the evidence (one of)")
    read = evidence.add_mutually_exclusive_group(required=True)
    read.add_argument("--log", dest="logs", action="extend", nargs="+", metavar="FILE",
                      help="migratekit's JSON log lines (gzip too; - for standard input)")
    read.add_argument("--prometheus", metavar="URL",
                      help="the Prometheus server scraping migratekit.metrics "
                      "(http://host:9090)")
    evidence.add_argument("--range", type=duration, default=3600.0, metavar="DURATION",
                          dest="range_seconds",
                          help="with --prometheus: how far back to count (default 1h)")
    evidence.add_argument("--since", type=moment, metavar="TIME",
                          help="leave out the evidence before TIME (ISO 8601, or 15m, 2h, 7d "
                          "back from when the command starts), as migratekit report --since "
                          "does")
    _add_thresholds(parser)
    step = parser.add_argument_group("what to do")
    step.add_argument("--dry-run", action="store_true",
                      help="say what would be done, and change nothing")
    step.add_argument("--rollback", action="store_true",
                      help="on hold, set the previous stage (never past OFF; from LIVE back to "
                      "SHADOW the old side answers reads again)")
    step.add_argument("--force", action="store_true",
                      help="advance even on hold, recorded with the verdict it overrode")
    step.add_argument("--to", type=_stage, metavar="STAGE",
                      help="advance to STAGE, skipping the stages in between only when the "
                      "evidence of each is ready")
    step.add_argument("--watch", action="store_true",
                      help="judge again every --every and advance stage by stage until "
                      "--until, stopping at the first hold (rolling back with --rollback)")
    step.add_argument("--every", type=duration, metavar="DURATION",
                      help="with --watch: how long between judgements (30s, 10m, 1h; "
                      "default 10m)")
    step.add_argument("--until", type=_stage, metavar="STAGE",
                      help="with --watch: the stage to reach (default complete)")
    record = parser.add_argument_group("what the audit trail records")
    record.add_argument("--actor", metavar="WHO", help="who makes the change (default user@host)")
    record.add_argument("--reason", metavar="WHY",
                        help="why, recorded before the verdict acted on")
    record.add_argument("--event-log", metavar="FILE",
                        help="append the migration.stage_change event to FILE as a JSON line "
                        "(default: standard error, unless structlog is set up)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="one line per decision (default), or one JSON document each")
    parser.set_defaults(func=run)


def _add_thresholds(parser: argparse.ArgumentParser) -> None:
    """The thresholds of ``migratekit report``, with its defaults."""
    add_thresholds(parser.add_argument_group("the verdict's thresholds (as for migratekit "
                                             "report)"))


def _conflict(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of options given, if anything."""
    if args.name is None:
        return ("name the migration first: migratekit advance NAME --file PATH --log FILE... "
                "(--log takes every word after it as a file, up to the next option)")
    if args.rollback and args.force:
        return ("--rollback and --force contradict each other: on hold, one goes back and the "
                "other goes on; choose one")
    if args.to is not None and args.rollback:
        return ("--to names a stage to advance to, --rollback goes back one stage; to go back "
                "further: migratekit stage set NAME STAGE")
    if args.watch:
        for option in ("dry_run", "force", "to"):
            if getattr(args, option) not in (None, False):
                flag = "--" + option.replace("_", "-")
                return (f"{flag} is for one step; leave out --watch, or {flag} (--watch "
                        "advances one stage at a time and stops at the first hold)")
    else:
        for option in ("every", "until"):
            if getattr(args, option) is not None:
                return f"--{option} goes with --watch (migratekit advance NAME ... --watch " \
                       "--every 10m --until complete)"
    if args.prometheus is not None and args.since is not None:
        return "--since is for --log; with --prometheus, --range says how far back to count"
    return None


def run(args: argparse.Namespace) -> int:
    """Carry out ``migratekit advance``; returns the exit status."""
    problem = _conflict(args)
    if problem is not None:
        return _usage(problem)
    try:
        store = _store(args)
    except ConfigurationError as exc:
        return _usage(str(exc))
    try:
        with _events_to(args.event_log):
            if args.watch:
                decision = _advance.watch(
                    store, args.name, lambda: _evidence(args),
                    every=args.every or 600.0, until=args.until or Stage.COMPLETE,
                    rollback=args.rollback, actor=args.actor, reason=args.reason,
                    sleep=sleep,
                    on_decision=lambda made: _show(args, made, watching=True))
            else:
                decision = _advance.advance(
                    store, args.name, _evidence(args), to=args.to, rollback=args.rollback,
                    force=args.force, dry_run=args.dry_run, actor=args.actor,
                    reason=args.reason)
                _show(args, decision, watching=False)
    except ConfigurationError as exc:
        return _usage(str(exc))
    except InputError as exc:
        return _usage(str(exc))
    except OSError as exc:
        if exc.filename is not None and exc.filename == args.event_log:
            return _usage(f"cannot append to --event-log {args.event_log}: "
                          f"{exc.strerror or exc}")
        return _store_failed(store, exc)
    except Exception as exc:
        return _store_failed(store, exc)
    return decision.exit_status


def _store(args: argparse.Namespace) -> Any:
    if args.file is not None:
        from migratekit.providers import StageFile  # noqa: PLC0415

        return StageFile(args.file)
    # Imported here: the redis extra may not be installed, and only --redis needs it.
    from migratekit.providers import RedisStageProvider  # noqa: PLC0415

    return RedisStageProvider(args.redis, prefix=args.redis_prefix)


def _evidence(args: argparse.Namespace) -> Report:
    """The report on the migration's events, read afresh (each --watch tick reads again)."""
    pattern = [_advance.evidence_pattern(args.name)]
    if args.prometheus is not None:
        from migratekit.report._prometheus import build_prometheus_report  # noqa: PLC0415

        return build_prometheus_report(args.prometheus, thresholds_from(args),
                                       range_seconds=args.range_seconds, migrations=pattern)
    return build_report(args.logs, thresholds_from(args), since=args.since, migrations=pattern)


def _show(args: argparse.Namespace, decision: _advance.Decision, *, watching: bool) -> None:
    if args.format == "json":
        print(json.dumps(decision.as_dict()), flush=True)
        return
    line = decision.line()
    if watching:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        line = f"{now}  {line}"
    print(line, flush=True)
    if watching or decision.dry_run:
        return
    name = str(shown_value(args.name, 100))
    if decision.outcome == "hold":
        back = _advance.PREVIOUS_STAGE.get(decision.stage) if decision.stage else None
        print(f"  to advance anyway, on the record: migratekit advance {name} ... --force"
              + (f"; to go back to {back.value.upper()}: ... --rollback" if back else ""),
              flush=True)
    elif decision.outcome == "wait":
        print("  judge again once the stage has seen more calls (--watch does it on its own)",
              flush=True)


def _usage(message: str) -> int:
    text = message if message.isprintable() else repr(message)[1:-1]
    print(f"migratekit advance: {text}", file=sys.stderr)
    return FAILED


def _store_failed(store: Any, exc: Exception) -> int:
    """Say in one line why *store* could not be read or changed; the exit status."""
    return _usage(store_failure(store, exc))
