"""The report as a text table."""

from __future__ import annotations

import datetime as _dt

from migratekit.report._history import change_text
from migratekit.report._strings import printable
from migratekit.report._verdict import EntryReport, Report, format_ms, percent, wilson_interval

_HEADERS = (
    "MIGRATION", "OP", "STAGE", "CALLS", "COMPARED", "INCONSISTENT (95% CI)",
    "ERRORS OLD", "ERRORS NEW", "P50 OLD/NEW", "P99 OLD/NEW ms", "VERDICT",
)  # fmt: skip
_RIGHT = {3, 4, 6, 7}


def _errors_cell(entry: EntryReport, origin: str) -> str:
    if not entry.results[origin]:
        return "-"
    rate = entry.error_rate(origin) or 0.0
    count = entry.errors[origin]
    return f"{count:,}" if count == 0 else f"{count:,} ({percent(rate)})"


def _pair(entry: EntryReport, key: str) -> str:
    old, new = entry.latency_ms["old"], entry.latency_ms["new"]
    return f"{format_ms(old[key] if old else None)} / {format_ms(new[key] if new else None)}"


def _row(entry: EntryReport) -> list[str]:
    if entry.consistency_checks:
        low, high = wilson_interval(entry.inconsistent, entry.consistency_checks)
        rate = entry.inconsistency_rate or 0.0
        inconsistent = f"{entry.inconsistent:,} = {percent(rate)} ({percent(low)}-{percent(high)})"
    else:
        inconsistent = "-"
    return [
        printable(entry.migration),
        entry.operation,
        entry.stage.upper() + (" *" if entry.current else ""),
        f"{entry.calls:,}",
        f"{entry.consistency_checks:,}" if entry.consistency_checks else "-",
        inconsistent,
        _errors_cell(entry, "old"),
        _errors_cell(entry, "new"),
        _pair(entry, "p50"),
        _pair(entry, "p99"),
        entry.verdict,
    ]


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def input_notes(report: Report) -> list[str]:
    """What the report read besides per-call events, and what it left out: a line each."""
    out: list[str] = []
    if report.since is not None or report.until is not None:
        line = f"window: from {_when(report.since)} until {_when(report.until)}"
        if report.kept_without_timestamp:
            line += f" ({report.kept_without_timestamp:,} events without a timestamp kept)"
        out.append(line)
    if report.summaries:
        processes = report.summary_processes
        line = (f"summaries: {report.summaries:,} migration.summary from {processes:,} "
                f"process{'' if processes == 1 else 'es'}")
        if report.not_counted_again:
            line += (f"; {report.not_counted_again:,} per-call events of those processes "
                     "not counted again")
        out.append(line)
    if report.unmatched_reconciles:
        names = report.unmatched_reconciles
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")
        out.append(f"note: migration.reconcile of {shown} matches no migration read: name a "
                   "reconcile as the read migration it verifies (name=\"users.get\")")
    if report.untracked_events:
        out.append(f"note: {report.untracked_events:,} per-call events of processes past the "
                   "report's limit counted even if their process has summaries")
    return out


def _ids(ids: list[str], shown: int = 2) -> str:
    return ", ".join(ids[-shown:])


def _differences(report: Report) -> list[str]:
    out: list[str] = []
    differ = [entry for entry in report.entries if entry.inconsistent]
    if differ:
        out.append("")
        out.append("Where the sides differ:")
        for entry in differ:
            summary = entry.mismatch_summary()
            where = f"{entry.migration} {entry.operation} {entry.stage.upper()}"
            if summary is None:
                out.append(f"  {where}: {entry.inconsistent:,} mismatches, no paths "
                           "(the values have no structure to tell where)")
            else:
                out.append(f"  {where}: {summary} ({entry.inconsistent:,} mismatches)")
            examples = entry.examples.get("diff_paths", {})
            order = [item["path"] for item in entry.diff_paths[:3]] or list(examples)[:3]
            shown = [f"{path} {_ids(examples[path])}" for path in order if path in examples]
            if shown:
                out.append("    example call_ids: " + "; ".join(shown))
    return out


def _failures(report: Report) -> list[str]:
    out: list[str] = []
    for entry in report.entries:
        examples = entry.examples.get("errors", {})
        for origin in ("old", "new"):
            kinds = sorted(entry.error_types[origin].items(), key=lambda kv: (-kv[1], kv[0]))
            if not kinds:
                continue
            if not out:
                out += ["", "Failures by type:"]
            parts = []
            for exc_type, count in kinds[:5]:
                ids = examples.get(origin, {}).get(exc_type)
                shown = f" (call_ids {_ids(ids)})" if ids else ""
                parts.append(f"{exc_type} x{count:,}{shown}")
            if len(kinds) > 5:
                parts.append(f"{len(kinds) - 5:,} more types")
            out.append(f"  {entry.migration} {entry.operation} {entry.stage.upper()} "
                       f"{origin} side: " + ", ".join(parts))
    return out


def last_change_text(entry: EntryReport) -> str | None:
    """
    The last stage change of *entry*'s migration (``SHADOW since
    2026-12-01T04:00Z (set by alice@ops-1: dual writes clean)``), or ``None``.
    """
    if entry.last_change is None:
        return None
    return change_text(entry.stage, entry.last_change, entry.last_timestamp)


def path_text(report: Report, entry: EntryReport) -> str | None:
    """
    The path of *entry*'s migration (``DUALWRITE -> SHADOW (on hold when
    left) -> COMPLETE``) when a stage of it was left on hold, else ``None``.
    """
    stages = {(e.migration, e.operation, e.stage): e for e in report.entries}
    steps, flagged = [], False
    for stage in entry.path:
        seen = stages.get((entry.migration, entry.operation, stage))
        step = stage.upper()
        if seen is not None and seen.left_verdict and not seen.left_verdict.startswith("ready"):
            flagged = True
            step += " (on hold when left" + (
                f"; clean later in {seen.cleared_by.upper()})" if seen.cleared_by else ")")
        steps.append(step)
    return " -> ".join(steps) if flagged else None


def _also_counted(report: Report) -> list[str]:
    out: list[str] = []
    noted = [(entry, entry.notes()) for entry in report.entries]
    if any(notes for _, notes in noted):
        out.append("")
        out.append("Also counted:")
        for entry, notes in noted:
            if notes:
                out.append(f"  {entry.migration} {entry.operation} {entry.stage.upper()}: "
                           + ", ".join(notes))
    return out


def format_text(report: Report) -> str:
    """
    The report for people: an aligned table, then where the sides differ.
    Strings from the log go through :func:`printable`.
    """
    out: list[str] = []
    sources = ", ".join(report.sources) if report.sources else "standard input"
    out.append(
        f"migratekit report: {report.events:,} events in {report.lines:,} lines from {sources}"
    )
    out.extend(input_notes(report))
    if report.skipped_lines:
        reasons = ", ".join(f"{count:,} {reason.replace('_', ' ')}"
                            for reason, count in sorted(report.skipped.items()))
        out.append(f"skipped lines: {report.skipped_lines:,} ({reasons})")
    else:
        out.append("skipped lines: 0")
    if not report.entries:
        out.append("")
        out.append("No migration.result, migration.op or migration.summary events found. Is "
                   "structlog writing JSON lines (see the structlog recipe in the README)?")
    else:
        rows = [list(_HEADERS)] + [_row(entry) for entry in report.entries]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS) - 1)]
        out.append("")
        for row in rows:
            cells = [
                cell.rjust(widths[i]) if i in _RIGHT else cell.ljust(widths[i])
                for i, cell in enumerate(row[:-1])
            ]
            out.append("  ".join([*cells, row[-1]]).rstrip())
        out.append("")
        out.append("* the latest stage seen for the migration; --check looks at these")
    out.extend(_differences(report))
    out.extend(_failures(report))
    out.extend(_also_counted(report))
    if report.stage_errors:
        out.append("")
        out.append("Stage errors (the default stage was used instead):")
        for item in report.stage_errors:
            source = f" {item['source']}={item['value']!r}" if item["source"] else ""
            out.append(
                f"  {item['migration']}: {item['count']:,} x {item['exc_type']} from "
                f"{item['provider']}{source}, used {str(item['stage']).upper()}"
            )
        if report.stage_errors_other:
            out.append(f"  and {report.stage_errors_other:,} more, of kinds not listed "
                       f"(only the first {len(report.stage_errors):,} kinds are kept)")
    if report.shadow_dropped:
        out.append("")
        out.append("Background shadows dropped (queue full):")
        for migration, count in sorted(report.shadow_dropped.items()):
            out.append(f"  {migration}: {count:,}")
    current = [entry for entry in report.entries if entry.current]
    if current:
        out.append("")
        out.append("Readiness:")
        names = [f"{printable(e.migration)} {e.operation}" for e in current]
        width = max(len(name) for name in names)
        for entry, name in zip(current, names, strict=True):
            out.append(f"  {name.ljust(width)}  in {entry.stage.upper()}: {entry.verdict}")
            change = last_change_text(entry)
            if change is not None:
                out.append(f"  {''.ljust(width)}  {change}")
            path = path_text(report, entry)
            if path is not None:
                out.append(f"  {''.ljust(width)}  path: {path}")
    # Every line, not only the table's cells: migration names, paths, stage
    # errors and file names all come from outside.
    return "\n".join(printable(line) for line in out) + "\n"
