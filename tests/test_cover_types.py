"""Tests of the reprs of migratekit's result and configuration types (migratekit/_types.py)."""

from __future__ import annotations

from typing import Any

from migratekit import MigrationConfig, Migrator, Origin, Result, WriteResult
from migratekit._types import OperationResult


def old_side(payload: Any) -> Result[Any]:
    return Result.success(payload)


def new_side(payload: Any) -> Result[Any]:
    return Result.success(payload)


def test_operation_result_repr_shows_origin_and_outcome() -> None:
    """An OperationResult's repr names the side and its value or its error."""
    ok = OperationResult(Origin.NEW, Result.success({"id": 1}))
    assert repr(ok) == "OperationResult(origin=new, value={'id': 1})"
    boom = KeyError("k")
    failed = OperationResult(Origin.OLD, Result.fail("missing", boom))
    assert repr(failed) == "OperationResult(origin=old, error='missing', exception=KeyError('k'))"


def test_write_result_repr_shows_both_sides() -> None:
    """A WriteResult's repr shows the authoritative result and the other one, or None."""
    first = OperationResult(Origin.OLD, Result.success(1))
    assert repr(WriteResult(first)) == (
        "WriteResult(authoritative=OperationResult(origin=old, value=1), nonauthoritative=None)")
    second = OperationResult(Origin.NEW, Result.fail("down"))
    assert "nonauthoritative=OperationResult(origin=new, error='down', exception=None)" in repr(
        WriteResult(first, second))


def test_migration_config_and_migrator_reprs_name_their_parts() -> None:
    """MigrationConfig and Migrator reprs name the sides, the comparison and the settings."""
    config = MigrationConfig(old_side, new_side)
    text = repr(config)
    assert text.startswith("MigrationConfig(old=<function old_side")
    assert "new=<function new_side" in text
    assert text.endswith("comparison=None)")
    migrator = Migrator(read=config)
    shown = repr(migrator)
    assert shown.startswith(f"Migrator(read={text}, write=None, ")
    assert "check_ratio=" in shown
