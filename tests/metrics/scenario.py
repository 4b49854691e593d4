"""
Real migrations for the metrics tests: a logger that drops info (and the
warnings, to keep the output clean), so that only a metrics reader keeps the
counting on; and one scenario of known outcomes across stages.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import structlog

from migratekit import migration
from migratekit.providers import StaticStageProvider

MIGRATION = "users.get"
WRITE = "users.save"


def drop_info() -> None:
    """structlog drops every event below ERROR: calls are counted only for a reader."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )


class Broken(Exception):
    """A side that fails."""


class CompareBroken(Exception):
    """A comparison that fails."""


def _compare(old: Any, new: Any) -> bool:
    if old == "boom" or new == "boom":
        raise CompareBroken
    return bool(old == new)


def make(stages: dict[str, str]) -> tuple[Any, Any]:
    """A read and a write whose stages *stages* sets, by migration name."""
    provider = StaticStageProvider(stages)

    def new_get(key: str) -> str:
        if key == "fail":
            raise Broken(key)
        if key == "differ":
            return "other"
        return key

    @migration(new=new_get, name=MIGRATION, compare=_compare, provider=provider)
    def get(key: str) -> str:
        return key

    def new_save(key: str) -> None:
        if key == "fail":
            raise Broken(key)

    @migration.write(new=new_save, name=WRITE, provider=provider)
    def save(key: str) -> None:
        return None

    return get, save


def run_scenario() -> None:
    """
    users.get in SHADOW: 3 consistent, 2 inconsistent, 1 new failure, 1
    compare error (7 calls); then in LIVE: 2 consistent, 1 inconsistent;
    users.save in DUALWRITE: 2 ok, 1 new failure.
    """
    run_before_live()
    run_live()


def run_before_live() -> None:
    """The scenario's users.get in SHADOW and users.save in DUALWRITE."""
    get, save = make({MIGRATION: "shadow", WRITE: "dualwrite"})
    for key in ("a", "b", "c", "differ", "differ", "fail", "boom"):
        get(key)
    for key in ("a", "b", "fail"):
        save(key)


def run_live() -> None:
    """The scenario's users.get in LIVE."""
    get, _ = make({MIGRATION: "live", WRITE: "dualwrite"})
    for key in ("a", "b", "differ"):
        get(key)


EXPECTED: dict[tuple[str, str, str], dict[str, Any]] = {
    (MIGRATION, "read", "shadow"): {
        "calls": 7, "checks": 5, "inconsistent": 2, "compare_errors": 1,
        "ok": {"old": 7, "new": 6}, "failed": {"old": 0, "new": 1},
    },
    (MIGRATION, "read", "live"): {
        "calls": 3, "checks": 3, "inconsistent": 1, "compare_errors": 0,
        "ok": {"old": 3, "new": 3}, "failed": {"old": 0, "new": 0},
    },
    (WRITE, "write", "dualwrite"): {
        "calls": 3, "checks": 0, "inconsistent": 0, "compare_errors": 0,
        "ok": {"old": 3, "new": 2}, "failed": {"old": 0, "new": 1},
    },
}
"""What :func:`run_scenario` counts, per (migration, operation, stage)."""
