"""The public face of migratekit.report: __all__ is exactly what it exports, named for it."""

from __future__ import annotations
import __future__

import types
from typing import Any

import migratekit.report

# migratekit.report's public names, frozen: adding or removing one is a decision, made here.
REPORT_ALL = [
    "EntryReport",
    "InputError",
    "Report",
    "Thresholds",
    "build_report",
    "format_text",
    "render_html",
]


def public_members(module: types.ModuleType) -> list[str]:
    """The names a user sees: not private, not submodules, not __future__ features."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    ]


def test_report_all_is_frozen_and_sorted() -> None:
    """migratekit.report.__all__ is exactly the agreed list, sorted, without duplicates."""
    assert migratekit.report.__all__ == REPORT_ALL
    assert sorted(set(REPORT_ALL)) == REPORT_ALL


def test_all_is_exactly_the_public_members() -> None:
    """Every name in __all__ exists, and every public non-module attribute is in __all__."""
    for name in migratekit.report.__all__:
        assert hasattr(migratekit.report, name), f"migratekit.report.{name} is missing"
    assert sorted(public_members(migratekit.report)) == sorted(migratekit.report.__all__)


def test_each_name_reports_the_public_module() -> None:
    """Tracebacks and docs show migratekit.report.Report, not a private module."""
    for name in migratekit.report.__all__:
        value = getattr(migratekit.report, name)
        assert value.__module__ == "migratekit.report", name


def test_star_import_gives_all() -> None:
    """`from migratekit.report import *` brings exactly __all__."""
    namespace: dict[str, Any] = {}
    exec("from migratekit.report import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(migratekit.report.__all__)

