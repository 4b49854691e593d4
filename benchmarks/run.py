"""
migratekit's benchmark: the cost of a migrated call, as ratios to an
undecorated method call and to a wrapt pass-through measured in the same run,
beside the peers; and the performance budgets, checked.

    python -m benchmarks                 # full run, about two minutes
    python -m benchmarks --quick         # smoke run, seconds
    python -m benchmarks --markdown docs/notes/performance-table.md --check

``--check`` exits with status 1 when a budget fails (without it the budgets
are printed and the exit status is 0). Besides the per-call rows, the run
checks the summaries (issue 11): the bytes a clean SHADOW workload writes to
the production log, a million calls across eight threads counted exactly in
flat memory (a smaller count with ``--quick``), and ``migratekit report``
over the summaries of a fleet (1,000 processes x 100 windows; fewer with
``--quick``). The peers are benchmark-only dependencies: ``pip install
launchdarkly-server-sdk laboratory``; rows of a peer that is missing say so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _cases, _concurrency, _peers, _summaries
from benchmarks._concurrency import LatencyResult, ThreadCheck
from benchmarks._harness import Measurement, Runner
from benchmarks._logs import Logs
from benchmarks._memory import MemoryResult, measure_memory
from benchmarks._providers import RedisServer, provider_cases
from benchmarks._summaries import ThreadsResult, VolumeResult
from benchmarks.bench_report import SummaryReport, measure_summaries

__all__ = ["main"]

COMMAND = "python -m benchmarks"


@dataclass
class Settings:
    target_ns: int
    rounds: int
    latency_calls: int
    latency_warmup: int
    memory_calls: int
    background_memory_calls: int
    thread_calls: int
    ld_thread_calls: int
    summary_threads: int
    summary_thread_calls: int
    """SHADOW reads per thread of the summaries' threads check."""
    report_processes: int
    report_windows: int


FULL = Settings(target_ns=20_000_000, rounds=12, latency_calls=30, latency_warmup=3,
                memory_calls=1_000_000, background_memory_calls=200_000,
                thread_calls=2_000, ld_thread_calls=300,
                summary_threads=8, summary_thread_calls=125_000,
                report_processes=1_000, report_windows=100)
QUICK = Settings(target_ns=2_000_000, rounds=3, latency_calls=4, latency_warmup=1,
                 memory_calls=20_000, background_memory_calls=10_000,
                 thread_calls=200, ld_thread_calls=30,
                 summary_threads=8, summary_thread_calls=2_500,
                 report_processes=200, report_windows=100)

SUMMARY_THREADS_CALLS = 1_000_000
"""The issue's count for the threads check; --quick makes fewer (and says so)."""
REPORT_PROCESSES, REPORT_WINDOWS, REPORT_SECONDS = 1_000, 100, 10.0
"""The issue's fleet for the report's budget: under 10 s; --quick reads fewer (and says so)."""


@dataclass
class Row:
    group: str
    case: str
    ns: float | None
    x_bare: float | None
    x_wrapt: float | None
    note: str


@dataclass
class Budget:
    name: str
    measured: str
    limit: str
    status: str  # PASS, FAIL, SKIP, or INFO for a peer's figure
    detail: str = ""


# -- the run -----------------------------------------------------------------------


def _progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)


def run(settings: Settings, only: str | None) -> dict[str, Any]:
    _cases.clear_stage_environment()
    _cases.reset_migratekit()
    workdir = Path(tempfile.mkdtemp(prefix="migratekit-bench-"))
    logs = Logs(workdir / "events.jsonl")
    redis_server = RedisServer()
    ld = _peers.LaunchDarkly()
    try:
        logs.use("dropped")
        cases = [
            *_cases.baseline_cases(),
            *_cases.migratekit_cases(logs, quick=settings is QUICK),
            *_cases.structlog_alone_cases(logs),
            *provider_cases(workdir, redis_server),
            *ld.cases(),
            *_peers.laboratory_cases(),
        ]
        if only:
            pattern = re.compile(only, re.IGNORECASE)
            keep = {_cases.BARE_READ, _cases.BARE_WRITE, _cases.BARE_ASYNC, _cases.WRAPT_READ,
                    _cases.WRAPT_WRITE, _cases.WRAPT_ASYNC}
            cases = [c for c in cases if c.name in keep or pattern.search(c.name)]
        _progress(f"{len(cases)} per-call cases, {settings.rounds} rounds")
        runner = Runner(cases, use_logging=logs.use, target_ns=settings.target_ns,
                        rounds=settings.rounds, progress=_progress)
        started = time.perf_counter()
        try:
            measurements = runner.run()
        finally:
            runner.close()
        _progress(f"per-call cases took {time.perf_counter() - started:.1f} s")

        latency: dict[str, LatencyResult] = {}
        memory: list[MemoryResult] = []
        threads: list[ThreadCheck] = []
        volume: VolumeResult | None = None
        summary_threads: ThreadsResult | None = None
        report: SummaryReport | None = None
        if not only:
            logs.use("dropped")
            _progress("sides that sleep")
            latency = _concurrency.measure_latency(
                _concurrency.concurrency_cases(ld), settings.latency_calls,
                settings.latency_warmup)
            _progress("threads started by PARALLEL reads")
            threads = _concurrency.thread_checks(ld, settings.thread_calls,
                                                 settings.ld_thread_calls)
            _progress(f"memory, {settings.memory_calls:,} SHADOW reads under tracemalloc")
            memory = _memory_checks(settings)
            _progress(f"log volume, {_summaries.VOLUME_CALLS:,} SHADOW reads, production logging")
            volume = _summaries.measure_volume(logs)
            calls = settings.summary_threads * settings.summary_thread_calls
            _progress(f"summaries, {calls:,} SHADOW reads across {settings.summary_threads} "
                      "threads under tracemalloc")
            quick = "" if calls == SUMMARY_THREADS_CALLS else \
                f" (--quick; full run: {SUMMARY_THREADS_CALLS:,})"
            summary_threads = _summaries.measure_threads(
                logs, settings.summary_threads, settings.summary_thread_calls, quick)
            if summary_threads.memory is not None:
                memory.append(summary_threads.memory)
            _progress(f"migratekit report over {settings.report_processes:,} processes x "
                      f"{settings.report_windows} windows of summaries")
            report = measure_summaries(settings.report_processes, settings.report_windows)
        return {
            "measurements": measurements,
            "latency": latency,
            "memory": memory,
            "threads": threads,
            "volume": volume,
            "summary_threads": summary_threads,
            "report": report,
            "events_per_call": dict(logs.events_per_call),
            "bytes_per_call": dict(logs.bytes_per_call),
            "empty_loop_ns": runner.empty_loop_ns,
        }
    finally:
        ld.close()
        redis_server.stop()
        logs.close()
        with contextlib.suppress(OSError):
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()


def _drain(drain: Any) -> None:
    drain(timeout=10)


def _memory_checks(settings: Settings) -> list[MemoryResult]:
    # Nothing left over from the cases before: a summary flusher started by
    # production logging would count its own thread and windows here.
    _cases.reset_migratekit()
    name = "bench.memory.shadow"
    os.environ[_cases.variable(name)] = "shadow"
    repo = _cases.read_repo(name)
    results = [measure_memory(f"SHADOW read, events dropped, {settings.memory_calls:,} calls",
                              lambda: repo.get(1), settings.memory_calls)]
    if _concurrency.background_problem() is None:
        import migratekit

        name = "bench.memory.background"
        os.environ[_cases.variable(name)] = "shadow"
        background = _cases.read_repo(name, shadow="background", shadow_timeout=1.0)
        drain = migratekit.drain  # type: ignore[attr-defined,unused-ignore]
        calls = settings.background_memory_calls
        results.append(measure_memory(
            f"background SHADOW read, events dropped, {calls:,} calls",
            lambda: background.get(1), calls, after=lambda: _drain(drain)))
    return results


# -- rows and budgets -------------------------------------------------------------------


def _rows(result: dict[str, Any]) -> list[Row]:
    measurements: list[Measurement] = result["measurements"]
    best = {m.case.name: m.best for m in measurements if m.samples and m.error is None}
    rows = []
    for m in measurements:
        case = m.case
        if case.skip is not None or m.error is not None or not m.samples:
            note = case.skip or m.error or "no sample"
            rows.append(Row(case.group, case.name, None, None, None, f"skipped: {note}"))
            continue
        ns = m.best
        x_bare = ns / best[case.bare] if case.bare in best else None
        x_wrapt = ns / best[case.wrapt] if case.wrapt and case.wrapt in best else None
        note = case.note
        events = result["events_per_call"].get(case.name)
        if events:
            note = f"{events} events/call" + (f"; {note}" if note else "")
        written = result["bytes_per_call"].get(case.name)
        if written is not None:
            note = (f"no line per call; {written:.2f} bytes/call, summaries included"
                    + (f"; {note}" if note else ""))
        rows.append(Row(case.group, case.name, ns, x_bare, x_wrapt, note))
    latency: dict[str, LatencyResult] = result["latency"]
    for name, lat in latency.items():
        lcase = lat.case
        if lcase.skip is not None or lat.error is not None or not lat.samples:
            note = lcase.skip or lat.error or "no sample"
            rows.append(Row(_concurrency.GROUP, name, None, None, None, f"skipped: {note}"))
            continue
        parts = []
        reference = latency.get(lcase.reference) if lcase.reference else None
        if reference is not None and reference.samples:
            parts.append(f"{lat.median / reference.median:.2f}x {lcase.reference}")
        parts.append(f"{lat.threads_started} threads started in {lat.calls} calls")
        if lcase.note:
            parts.append(lcase.note)
        rows.append(Row(_concurrency.GROUP, name, lat.median, None, None, "; ".join(parts)))
    groups: dict[str, int] = {}
    for row in rows:
        groups.setdefault(row.group, len(groups))
    return sorted(rows, key=lambda row: groups[row.group])


def _ratio(result: dict[str, Any], name: str, reference: str) -> float | None:
    best = {m.case.name: m.best for m in result["measurements"]
            if m.samples and m.error is None}
    if name in best and reference in best:
        return float(best[name] / best[reference])
    return None


def _at_most(name: str, value: float | None, limit: float, unit: str, why: str = "",
             skip: str | None = None) -> Budget:
    if value is None or skip is not None:
        measured = "" if value is None else f"{value:.2f}{unit}"
        return Budget(name, measured, f"<= {limit:g}{unit}", "SKIP",
                      skip or why or "not measured")
    return Budget(name, f"{value:.2f}{unit}", f"<= {limit:g}{unit}",
                  "PASS" if value <= limit else "FAIL", why)


def _budgets(result: dict[str, Any]) -> list[Budget]:
    budgets = [
        _at_most("OFF read, variable set to off, events dropped",
                 _ratio(result, "read OFF, events dropped", _cases.WRAPT_READ), 1.8, "x wrapt"),
        _at_most("OFF read, nothing set, events dropped",
                 _ratio(result, "read OFF, nothing set, events dropped", _cases.WRAPT_READ),
                 1.8, "x wrapt"),
        _at_most("SHADOW read with compare, events dropped",
                 _ratio(result, "read SHADOW, events dropped", _cases.WRAPT_READ), 2.8,
                 "x wrapt"),
    ]
    ld = _ratio(result, _peers.LD_SHADOW_SERIAL, "read SHADOW, events dropped")
    if ld is None:
        budgets.append(Budget("SHADOW read vs LaunchDarkly serial SHADOW read", "", ">= 20x",
                              "SKIP", "LaunchDarkly not measured"))
    else:
        budgets.append(Budget("SHADOW read vs LaunchDarkly serial SHADOW read",
                              f"{ld:.1f}x cheaper", ">= 20x cheaper",
                              "PASS" if ld >= 20 else "FAIL"))
    budgets.append(_at_most(
        "DUALWRITE write, events dropped",
        _ratio(result, "write DUALWRITE, events dropped", _cases.WRAPT_WRITE), 3, "x wrapt"))
    budgets.extend(_production_budgets(result))
    noop = _ratio(result, _cases.SHADOW_NOOP, _cases.WRAPT_READ)
    alone = _ratio(result, _cases.STRUCTLOG_SHADOW_NOOP, _cases.WRAPT_READ)
    if noop is not None and alone is not None:
        budgets.append(Budget(
            "no-op pipeline: migratekit's own cost per event beyond structlog's",
            f"{(noop - alone) / 3:.2f}x wrapt", "(for reference)", "INFO",
            "SHADOW read with call events at info, every event let through to a pipeline "
            "without processors, minus structlog alone on the same 3 events, per event"))
    budgets.extend(_summary_budgets(result))
    budgets.extend(_latency_budgets(result["latency"]))
    budgets.extend(_thread_budgets(result["threads"]))
    budgets.extend(_memory_budgets(result["memory"]))
    return budgets


def _production_budgets(result: dict[str, Any]) -> list[Budget]:
    """The per-call budgets with production logging: JSON at info, migratekit's defaults."""
    why = "JSON at info into a file, call events debug, summaries on"
    return [
        _at_most("production logging: OFF read",
                 _ratio(result, "read OFF" + _cases.PRODUCTION, _cases.WRAPT_READ), 2.5,
                 "x wrapt", why),
        _at_most("production logging: SHADOW read with compare",
                 _ratio(result, "read SHADOW" + _cases.PRODUCTION, _cases.WRAPT_READ), 3.5,
                 "x wrapt", why),
        _at_most("production logging: DUALWRITE write",
                 _ratio(result, "write DUALWRITE" + _cases.PRODUCTION, _cases.WRAPT_WRITE), 3.5,
                 "x wrapt", why),
    ]


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def _summary_budgets(result: dict[str, Any]) -> list[Budget]:
    """Log volume, exact counts across threads, and the report over a fleet's summaries."""
    budgets = []
    volume: VolumeResult | None = result.get("volume")
    name = (f"log volume: {_summaries.VOLUME_CALLS:,} clean SHADOW reads, production logging, "
            "summaries included")
    if volume is None:
        budgets.append(Budget(name, "", "<= 60 bytes/call", "SKIP", "not measured"))
    else:
        budget = _at_most(name, volume.per_call, 60, " bytes/call",
                          f"{volume.bytes:,} bytes for {volume.calls:,} calls: "
                          f"{_plural(volume.lines, 'line')}, "
                          f"{_plural(volume.summaries, 'summary', 'summaries')}")
        if volume.error:
            budget.status, budget.detail = "FAIL", volume.error
        budgets.append(budget)

    threads: ThreadsResult | None = result.get("summary_threads")
    if threads is None:
        budgets.append(Budget("summaries: SHADOW reads across 8 threads, counts exact", "",
                              "sum of calls = calls made", "SKIP", "not measured"))
    else:
        memory = threads.memory
        made = threads.calls
        error = memory.error if memory is not None else "not measured"
        status = "PASS" if threads.counted == made and not error else "FAIL"
        detail = _plural(threads.summaries, "summary", "summaries")
        if made != SUMMARY_THREADS_CALLS:
            detail += f"; --quick: {made:,} calls, the full run makes {SUMMARY_THREADS_CALLS:,}"
        if error:
            detail += f"; {error}"
        budgets.append(Budget(
            f"summaries: {made:,} SHADOW reads across {threads.threads} threads, counts exact",
            f"{threads.counted:,} counted of {made:,} calls", "sum of calls = calls made",
            status, detail))

    report: SummaryReport | None = result.get("report")
    fleet = (f"{REPORT_PROCESSES:,} processes x {REPORT_WINDOWS} windows"
             if report is None else f"{report.processes:,} processes x {report.windows} windows")
    name = f"migratekit report over the summaries of {fleet}"
    if report is None:
        budgets.append(Budget(f"{name}: time", "", f"<= {REPORT_SECONDS:g} s", "SKIP",
                              "not measured"))
        return budgets
    full = report.processes * report.windows
    limit = REPORT_SECONDS * full / (REPORT_PROCESSES * REPORT_WINDOWS)
    why = f"{full:,} lines, {report.megabytes:.0f} MB"
    if limit != REPORT_SECONDS:
        why += (f"; --quick: {REPORT_SECONDS:g} s for {REPORT_PROCESSES * REPORT_WINDOWS:,} "
                "lines, scaled")
    timed = _at_most(f"{name}: time", report.seconds, round(limit, 2), " s", why)
    peak = Budget(
        f"{name}: peak memory",
        f"{report.peak / 2**20:.2f} MiB ({report.peak_tenth / 2**20:.2f} MiB over a tenth of "
        "the windows)",
        "<= 2x the peak over a tenth of the windows",
        "PASS" if report.peak <= 2 * report.peak_tenth else "FAIL",
        "tracemalloc's peak during build_report: memory that is bounded does not grow with "
        "the windows")
    if report.error:
        timed.status, timed.detail = "FAIL", report.error
    budgets += [timed, peak]
    return budgets


def _latency_budgets(latency: dict[str, LatencyResult]) -> list[Budget]:
    if not latency:
        return []
    budgets = []

    def ratio(name: str) -> float | None:
        lat, ref = latency.get(name), None
        if lat is None or not lat.samples or lat.case.reference is None:
            return None
        ref = latency.get(lat.case.reference)
        if ref is None or not ref.samples:
            return None
        return lat.median / ref.median

    pending = _concurrency.parallel_problem()
    budgets.append(_at_most("PARALLEL SHADOW read, two 10 ms sides", ratio(_concurrency.PARALLEL),
                            1.1, "x one 10 ms side", skip=pending))
    background = latency.get(_concurrency.BACKGROUND)
    skip = background.case.skip if background is not None else "not measured"
    budgets.append(_at_most("background SHADOW: caller latency, old 1 ms, new 10 ms",
                            ratio(_concurrency.BACKGROUND), 1.2, "x old alone", skip=skip))
    return budgets


def _thread_budgets(threads: list[ThreadCheck]) -> list[Budget]:
    budgets = []
    pending = _concurrency.parallel_problem()
    for check in threads:
        measured = (f"{check.started:,} threads started in {check.calls:,} calls "
                    f"({check.alive_before} alive before, {check.alive_after} after)")
        if check.name.startswith("LaunchDarkly"):
            status, limit = "INFO", "(peer, for reference)"
        else:
            limit = "< 1 per 10 calls"
            status = "SKIP" if pending else ("PASS" if check.started * 10 < check.calls
                                             else "FAIL")
        if check.skip is not None:
            status, measured = "SKIP", check.skip
        budgets.append(Budget(f"no thread per call: {check.name}", measured, limit, status,
                              pending or ""))
    return budgets


def _memory_budgets(memory: list[MemoryResult]) -> list[Budget]:
    budgets = []
    for result in memory:
        measured = (f"{result.growth / 1024:+.1f} KiB after the first slice "
                    f"(peak {result.peak / 1024:.0f} KiB, {result.seconds:.1f} s)")
        status = "PASS" if result.ok else "FAIL"
        if result.error:
            measured, status = result.error, "FAIL"
        budgets.append(Budget(f"memory: {result.name}", measured,
                              f"<= {result.limit // 1024} KiB growth", status))
    return budgets


# -- output ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _ns(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1_000_000:
        return f"{value / 1e6:,.2f} ms"
    return f"{value:,.0f}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dists = ("migratekit", "wrapt", "structlog", "launchdarkly-server-sdk", "laboratory")
    versions = [f"{dist} {_version(dist)}" for dist in dists]
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} logical CPUs"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Packages", ", ".join(versions)),
    ]


def render_text(rows: list[Row], budgets: list[Budget], result: dict[str, Any]) -> str:
    headers = ("case", "ns/call", "x bare", "x wrapt", "note")
    table = [headers]
    table += [(row.case, _ns(row.ns), _fmt(row.x_bare), _fmt(row.x_wrapt, 2), row.note)
              for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    out: list[str] = []
    group = None
    for i, line in enumerate(table):
        if i and rows[i - 1].group != group:
            group = rows[i - 1].group
            out.append(f"\n[{group}]")
        cells = [cell.rjust(width) for cell, width in zip(line[1:4], widths[1:4], strict=True)]
        out.append("  ".join([line[0].ljust(widths[0]), *cells, line[4]]).rstrip())
    out.append("")
    empty, aempty = result["empty_loop_ns"]
    out.append(f"(ns/call net of the empty loop: {empty:.1f} ns sync, {aempty:.1f} ns async; "
               "x bare / x wrapt: reads against the bare and wrapt read, writes against the "
               "write, async against async)")
    out.append("")
    out.append("Budgets")
    bw = max(len(b.name) for b in budgets) if budgets else 10
    for b in budgets:
        text = f"  {b.status:4}  {b.name.ljust(bw)}  {b.measured}  (limit {b.limit})"
        if b.detail:
            text += f"  — {b.detail}"
        out.append(text)
    return "\n".join(out)


def render_markdown(rows: list[Row], budgets: list[Budget], result: dict[str, Any],
                    command: str) -> str:
    out = ["| case | ns/call | x bare | x wrapt | note |", "|---|---:|---:|---:|---|"]
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            out.append(f"| **{group}** | | | | |")
        note = row.note.replace("|", "\\|")
        out.append(f"| {row.case} | {_ns(row.ns)} | {_fmt(row.x_bare)} | "
                   f"{_fmt(row.x_wrapt, 2)} | {note} |")
    empty, aempty = result["empty_loop_ns"]
    out += [
        "",
        f"ns/call is the fastest of the rounds, net of the empty loop ({empty:.1f} ns sync, "
        f"{aempty:.1f} ns async); reads are divided by the bare and wrapt reads, writes by the "
        "writes, async reads by the async reads. Rows with sleeping sides give the median "
        "call as the caller sees it. \"Production logging\" is structlog as the JSON logs "
        "how-to sets it up for production (JSON at info into a file, a filtering bound logger, "
        "cache_logger_on_first_use=True) with migratekit's defaults: a call that went well "
        "writes no line, `migration.summary` lines carry the counts, and the note gives the "
        "bytes written per call, summaries included. \"Call events at info\" rows run "
        "`configure(call_events=\"info\")`, every call's events rendered, for reference.",
        "",
        "| budget | measured | limit | |",
        "|---|---|---|---|",
    ]
    for b in budgets:
        detail = f" ({b.detail})" if b.detail else ""
        out.append(f"| {b.name}{detail} | {b.measured} | {b.limit} | {b.status} |")
    out += ["", "Machine:", ""]
    out += [f"- {key}: {value}" for key, value in machine()]
    out += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure migratekit against a bare call, wrapt and the peers; check the "
                    "performance budgets.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run in seconds (fewer rounds and calls: noisier figures)")
    parser.add_argument("--markdown", metavar="FILE", type=Path,
                        help="also write the table and the budgets as Markdown to FILE")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a budget fails")
    parser.add_argument("--only", metavar="REGEX",
                        help="time only the per-call cases whose name matches (with the "
                             "baselines); skips the sleeping and memory cases")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    result = run(settings, args.only)
    rows = _rows(result)
    budgets = _budgets(result) if not args.only else []
    print(render_text(rows, budgets, result))
    elapsed = time.perf_counter() - started
    print(f"\n{'quick' if args.quick else 'full'} run in {elapsed:.0f} s")
    if args.markdown:
        command = COMMAND + (" --quick" if args.quick else "")
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render_markdown(rows, budgets, result, command),
                                 encoding="utf-8")
        print(f"Markdown written to {args.markdown}")
    if args.check and any(b.status == "FAIL" for b in budgets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
