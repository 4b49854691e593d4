"""
Reading migratekit's events back: is a migration ready for its next stage?

The same report as ``migratekit report``, from Python::

    from migratekit.report import Thresholds, build_report, format_text, render_html

    report = build_report(["app.log.1.gz", "app.log"], Thresholds(min_samples=500),
                          since="24h", migrations=["users.*"])
    print(format_text(report))
    with open("report.html", "w", encoding="utf-8") as page:
        page.write(render_html(report))
    ready = bool(report.entries) and not report.on_hold  # what --check exits 0 on

A :class:`Report` holds one :class:`EntryReport` per migration, stage and
operation in :attr:`Report.entries`, each with its figures and its verdict;
``report.to_json()`` is the document ``migratekit report --format json``
writes. The current stage of each migration is judged along the path the
migration took: a stage it advanced past while that stage was on hold holds
it, until a later clean window shows the problem gone (the rule is in
:mod:`migratekit.report._gate`). A read in DUALWRITE is judged by the newest
``migration.reconcile`` of its migration, and ``migration.stage_change``
events say when, by whom and why a stage last changed
(:mod:`migratekit.report._history`).
"""

from migratekit.report._files import InputError, build_report
from migratekit.report._html import render_html
from migratekit.report._text import format_text
from migratekit.report._verdict import EntryReport, Report, Thresholds

__all__ = [
    "EntryReport",
    "InputError",
    "Report",
    "Thresholds",
    "build_report",
    "format_text",
    "render_html",
]

for _name in __all__:
    globals()[_name].__module__ = "migratekit.report"
del _name
