"""The report as a text table."""

from __future__ import annotations

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
    if report.skipped_lines:
        reasons = ", ".join(f"{count:,} {reason.replace('_', ' ')}"
                            for reason, count in sorted(report.skipped.items()))
        out.append(f"skipped lines: {report.skipped_lines:,} ({reasons})")
    else:
        out.append("skipped lines: 0")
    if not report.entries:
        out.append("")
        out.append("No migration.result or migration.op events found. Is structlog writing "
                   "JSON lines (see the structlog recipe in the README)?")
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
    # Every line, not only the table's cells: migration names, paths, stage
    # errors and file names all come from outside.
    return "\n".join(printable(line) for line in out) + "\n"
