"""
``migratekit report [FILE ...]``: read migratekit's JSON log lines and say,
per migration, stage and operation, how the new side compares and whether
the migration looks ready for its next stage.

Whatever the lines hold, the command ends with its status and at most one
line on standard error, never a traceback: what a line may hold is the
reader's business (:mod:`migratekit.report`); here, everything written is
made to fit the encoding of the stream it goes to (``backslashreplace`` for
text and JSON, character references for HTML), and ``--html FILE`` is written
to a temporary file beside FILE, renamed over it only once complete.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import sys
import time
from typing import Any

from migratekit.report import (
    InputError,
    Report,
    Thresholds,
    build_report,
    format_text,
    render_html,
)
from migratekit.report._timestamps import parse_moment

__all__ = ["add_parser", "run"]

_DEFAULTS = Thresholds()


def fraction(text: str) -> float:
    """An argparse type: ``0.001`` or ``0.1%``, between 0 and 1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction such as 0.001 or a percentage such as 0.1% (got {text!r})"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a fraction between 0 and 1, or a percentage between 0% and 100% "
            f"(got {text!r}); write 0.1% or 0.001 for one in a thousand"
        )
    return value


def moment(text: str) -> float:
    """An argparse type: ``2026-12-01T03:00:00Z`` or ``15m`` back from now, as epoch seconds."""
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_DURATION = re.compile(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*([smhd])\s*")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(text: str) -> float:
    """An argparse type: ``90s``, ``15m``, ``1h`` or ``7d``, as seconds (more than 0)."""
    match = _DURATION.fullmatch(text)
    seconds = float(match.group(1)) * _SECONDS[match.group(2)] if match else 0.0
    if seconds <= 0.0:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 15m, 1h or 7d (got {text!r})")
    return seconds


def pattern(text: str) -> str:
    """An argparse type: a migration name or shell glob (``users.*``), not empty."""
    if not text:
        raise argparse.ArgumentTypeError(
            "expected a migration name or a shell glob such as 'users.*' (got '')")
    return text


def _positive(kind: type[int] | type[float], what: str) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} (got {text!r})") from None
        if not math.isfinite(value):  # nan and inf: no verdict can be judged by them
            raise argparse.ArgumentTypeError(f"expected {what} (got {text!r}, not finite)")
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected {what} (got {text!r}, below 0)")
        return value

    return parse


def add_parser(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="read migratekit's JSON log lines and say which migrations are ready",
        description=(
            "Read migratekit's events (JSON lines, as structlog's JSONRenderer writes "
            "them) from FILEs or standard input, and print per migration, stage and "
            "operation: calls, comparisons, inconsistencies, errors and latency per "
            "side, and whether the migration looks ready for its next stage; from "
            "migration.summary events and per-call events alike, each call counted once. Lines "
            "that are not migratekit events are skipped and counted. Files ending in "
            "gzip data are read decompressed."
        ),
        epilog=(
            "Exit status: 0 when the input could be read, whatever it holds; 2 when a "
            "file cannot be read; with --check, 1 when the latest stage of any "
            "migration is on hold (or no migratekit event was found). A migration is on "
            "hold, too, when it advanced past a stage while that stage was on hold, judged "
            "on the stage's last --min-samples samples, until a later stage's last window "
            "shows the problem gone. Reads in DUALWRITE are on hold when the newest "
            "migration.reconcile of their migration (same name) found the stores apart; "
            "migration.stage_change events show who last changed the stage, and why."
        ),
    )
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="log files to read; none, or -, for standard input")
    parser.add_argument("--format", choices=("text", "json", "html"), default="text",
                        help="what to print: an aligned table (default), one JSON "
                        "document, or a self-contained HTML page")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the HTML page to FILE")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when any migration is on hold")
    parser.add_argument(
        "--since", type=moment, metavar="TIME",
        help="leave out what happened before TIME: an ISO 8601 time (2026-12-01T03:00:00Z; "
        "without an offset it is UTC) or a duration back from now (90s, 15m, 2h, 7d); "
        "summaries count when their window overlaps, events without a timestamp are kept")
    parser.add_argument(
        "--until", type=moment, metavar="TIME",
        help="leave out what happened from TIME on (the same forms as --since)")
    parser.add_argument(
        "--migration", type=pattern, action="append", dest="migrations", metavar="NAME",
        help="report on (and --check) the migrations named NAME only; a shell glob such "
        "as 'users.*' (quote it) matches several; give it again for more")
    parser.add_argument(
        "--prometheus", metavar="URL",
        help="read the counters migratekit.metrics exports from the Prometheus server at "
        "URL (http://host:9090) instead of log files: one summary per scraped process")
    parser.add_argument(
        "--range", type=duration, default=3600.0, metavar="DURATION", dest="range_seconds",
        help="with --prometheus: how far back from --until (or now) to count "
        "(90s, 15m, 1h, 7d; default 1h)")
    add_thresholds(parser)
    parser.set_defaults(func=run)


def add_thresholds(target: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The verdict's thresholds as options, with the defaults of :class:`Thresholds`."""
    target.add_argument(
        "--max-inconsistency", type=fraction, default=_DEFAULTS.max_inconsistency,
        metavar="RATE",
        help="largest share of comparisons that may disagree (default 0.1%%)")
    target.add_argument(
        "--min-samples", type=_positive(int, "a whole number of samples"),
        default=_DEFAULTS.min_samples, metavar="N",
        help="comparisons (reads in SHADOW and LIVE) or new-side calls (otherwise) "
        f"needed before a migration can be ready (default {_DEFAULTS.min_samples:,})")
    target.add_argument(
        "--max-latency-ratio", type=_positive(float, "a ratio such as 1.5"),
        default=_DEFAULTS.max_latency_ratio, metavar="X",
        help="how many times the old side's p99 the new side's may be "
        f"(default {_DEFAULTS.max_latency_ratio:g})")
    target.add_argument(
        "--max-error-rate", type=fraction, default=_DEFAULTS.max_error_rate, metavar="RATE",
        help="how much more often the new side may fail than the old one (default 1%%)")
    target.add_argument(
        "--latency-floor-ms", type=_positive(float, "milliseconds"),
        default=_DEFAULTS.latency_floor_ms, metavar="MS",
        help="latencies below this count as this much when comparing sides, as timer "
        f"noise dominates them (default {_DEFAULTS.latency_floor_ms:g})")
    target.add_argument(
        "--allow-type-change", action="store_true",
        help="the sides may return values of different types (by default, differing "
        "types hold the step to LIVE and LIVE itself: callers would get the new type)")


def thresholds_from(args: argparse.Namespace) -> Thresholds:
    """The verdict thresholds given on the command line."""
    return Thresholds(
        max_inconsistency=args.max_inconsistency,
        min_samples=args.min_samples,
        max_latency_ratio=args.max_latency_ratio,
        max_error_rate=args.max_error_rate,
        latency_floor_ms=args.latency_floor_ms,
        allow_type_change=getattr(args, "allow_type_change", False),
    )


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _fit(stream: Any, text: str, errors: str) -> str:
    """*text* as *stream* can encode it: what its encoding lacks is replaced per *errors*."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return text
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, errors).decode(encoding)
    except LookupError:  # pragma: no cover - a stream naming an encoding Python lacks
        return text.encode("ascii", errors).decode("ascii")
    return text


def _say(message: str) -> None:
    """One line on standard error, whatever its encoding; nothing when it is gone."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(_fit(stream, f"migratekit report: {message}\n", "backslashreplace"))
        stream.flush()


def _write_file(path: str, data: bytes) -> None:
    """
    Write *data* to *path* whole or not at all: to a new file beside it,
    renamed over it. A path that is no regular file (``/dev/stdout``, a
    FIFO) is written in place, as it cannot be renamed over; a symbolic link
    is followed, and the file it names replaced.
    """
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "wb") as out:
            out.write(data)
        return
    folder, name = os.path.split(os.path.realpath(path))
    temporary = os.path.join(folder, f".{name[:64]}.{secrets.token_hex(4)}.tmp")
    # Mode 0o666 as open() would give, less the umask (mkstemp would give 0o600).
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _restore_stdout_on_exit() -> None:
    # The reader went away or the disk is full: point the file descriptor at
    # /dev/null so that the interpreter's own flush at exit does not print
    # "Exception ignored" about what is still buffered.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run(args: argparse.Namespace) -> int:
    """Carry out ``migratekit report``; returns the exit status."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since >= until:
        _say("--since must come before --until; nothing happened in between")
        return 2
    url = getattr(args, "prometheus", None)
    migrations = getattr(args, "migrations", None)
    if url is not None and args.files:
        _say("--prometheus reads a server, not files: give one or the other")
        return 2
    try:
        if url is not None:
            from migratekit.report._prometheus import build_prometheus_report  # noqa: PLC0415

            range_seconds = args.range_seconds if since is None else (
                (until or time.time()) - since)
            report = build_prometheus_report(url, thresholds_from(args),
                                             range_seconds=range_seconds, end=until,
                                             migrations=migrations)
        else:
            report = build_report(args.files, thresholds_from(args),
                                  progress=_stderr_is_tty(), since=since, until=until,
                                  migrations=migrations)
    except InputError as exc:
        _say(str(exc))
        return 2
    if args.html:
        page = render_html(report).encode("utf-8", "xmlcharrefreplace")
        try:
            _write_file(args.html, page)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            _say(f"cannot write {args.html}: {reason}; choose a writable path for --html")
            return 2
    if args.format == "json":
        # ensure_ascii (the default): the document is ASCII, whatever the names hold.
        text, errors = json.dumps(report.to_json(), indent=2) + "\n", "backslashreplace"
    elif args.format == "html":
        text, errors = render_html(report), "xmlcharrefreplace"
    else:
        text, errors = format_text(report), "backslashreplace"
    stdout = sys.stdout
    try:
        if stdout is None:
            raise OSError("standard output is closed")
        stdout.write(_fit(stdout, text, errors))
        stdout.flush()
    except BrokenPipeError:
        # `migratekit report big.log | head`: the reader went away, which is fine.
        _restore_stdout_on_exit()
        return 0
    except (OSError, ValueError) as exc:
        _restore_stdout_on_exit()
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        _say(f"cannot write the report to standard output: {reason}")
        return 2
    if args.html:
        _say(f"wrote {args.html}")
    return _check(report, migrations) if args.check else 0


def _check(report: Report, migrations: list[str] | None) -> int:
    """``--check``'s exit status: 1 when nothing was found or any migration is on hold."""
    if not report.entries:
        if migrations:
            _say("--check: no events of the migrations selected by --migration "
                 f"({', '.join(migrations)}) found, nothing is ready")
        else:
            _say("--check: no migratekit events found, nothing is ready")
        return 1
    return 1 if report.on_hold else 0
