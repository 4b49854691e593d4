"""Tests of migratekit._types: the seed vocabulary and the result types."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from migratekit import (
    ExecutionOrder,
    MigrationConfig,
    Migrator,
    MigratorCompareFn,
    MigratorFn,
    Operation,
    OperationResult,
    Origin,
    Result,
    Stage,
    WriteResult,
)

# The names and values of LaunchDarkly's ldclient.migrations.types (see seed/).
SEED_VALUES: dict[type[enum.Enum], dict[str, str]] = {
    Stage: {
        "OFF": "off",
        "DUALWRITE": "dualwrite",
        "SHADOW": "shadow",
        "LIVE": "live",
        "RAMPDOWN": "rampdown",
        "COMPLETE": "complete",
    },
    Origin: {"OLD": "old", "NEW": "new"},
    Operation: {"READ": "read", "WRITE": "write"},
    ExecutionOrder: {"SERIAL": "serial", "RANDOM": "random", "PARALLEL": "parallel"},
}

ENUMS = list(SEED_VALUES)


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
def test_enum_members_match_the_seed(enum_cls: type[enum.Enum]) -> None:
    """Each enum has exactly the seed's member names and values, in the seed's order."""
    assert [(m.name, m.value) for m in enum_cls] == list(SEED_VALUES[enum_cls].items())


def test_stage_order_is_the_migration_order() -> None:
    """Stage members are listed in the order a migration goes through them."""
    assert list(Stage) == [
        Stage.OFF,
        Stage.DUALWRITE,
        Stage.SHADOW,
        Stage.LIVE,
        Stage.RAMPDOWN,
        Stage.COMPLETE,
    ]


@pytest.mark.parametrize(
    ("enum_cls", "value"),
    [(cls, value) for cls, values in SEED_VALUES.items() for value in values.values()],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_from_str_returns_the_member_for_its_exact_value(
    enum_cls: type[enum.Enum], value: str
) -> None:
    """from_str(value) returns the member whose value it is."""
    member = enum_cls.from_str(value)  # type: ignore[attr-defined]
    assert member is enum_cls(value)


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
@pytest.mark.parametrize(
    "transform", [str.upper, str.title, lambda s: f" {s}", lambda s: f"{s}\n"]
)
def test_from_str_is_exact(enum_cls: type[enum.Enum], transform) -> None:
    """from_str does no case folding nor stripping: any other spelling gives None."""
    for value in SEED_VALUES[enum_cls].values():
        assert enum_cls.from_str(transform(value)) is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("text", ["", "nonsense", "OFF", "SHADOW", "Old", "none"])
def test_from_str_unknown_is_none(enum_cls: type[enum.Enum], text: str) -> None:
    """from_str of a string that is no member's value is None (not OFF, not an error)."""
    assert enum_cls.from_str(text) is None  # type: ignore[attr-defined]


def test_stage_from_str_shadow_upper_is_none() -> None:
    """The DESIGN example: Stage.from_str('SHADOW') is None, from_str('shadow') is SHADOW."""
    assert Stage.from_str("SHADOW") is None
    assert Stage.from_str("shadow") is Stage.SHADOW


def test_stage_from_str_member_names_are_not_values() -> None:
    """from_str looks at values, not names: 'DUALWRITE' is None."""
    assert Stage.from_str("DUALWRITE") is None
    assert ExecutionOrder.from_str("PARALLEL") is None


# -- Result ------------------------------------------------------------------


def test_result_success() -> None:
    """Result.success(v) is a success carrying v, no error nor exception."""
    value = object()
    result = Result.success(value)
    assert result.is_success() is True
    assert result.value is value
    assert result.error is None
    assert result.exception is None


def test_result_success_with_none_value_is_still_success() -> None:
    """A success whose value is None (or falsy) is still a success."""
    values: tuple[Any, ...] = (None, 0, "", [], False)
    for value in values:
        result = Result.success(value)
        assert result.is_success() is True
        assert result.value == value


def test_result_fail_with_exception() -> None:
    """Result.fail(msg, exc) is a failure with that message and the same exception object."""
    exc = KeyError("k")
    result = Result.fail("lookup failed", exc)
    assert result.is_success() is False
    assert result.value is None
    assert result.error == "lookup failed"
    assert result.exception is exc


def test_result_fail_without_exception() -> None:
    """Result.fail(msg) has no exception and is a failure."""
    result = Result.fail("boom")
    assert result.is_success() is False
    assert result.error == "boom"
    assert result.exception is None
    assert result.value is None


def test_result_constructor_positional_fields() -> None:
    """Result(value, error, exception) keeps the three fields as given."""
    exc = RuntimeError("x")
    result: Result[int] = Result(None, "e", exc)
    assert (result.value, result.error, result.exception) == (None, "e", exc)
    assert not result.is_success()


def test_result_repr_mentions_value_or_error() -> None:
    """repr of a Result shows the value of a success and the error of a failure."""
    assert "42" in repr(Result.success(42))
    assert "went wrong" in repr(Result.fail("went wrong"))


# -- OperationResult -----------------------------------------------------------


@pytest.mark.parametrize("origin", list(Origin))
def test_operation_result_origin_and_success(origin: Origin) -> None:
    """OperationResult(origin, Result.success(v)) keeps the origin and the value."""
    value = object()
    op = OperationResult(origin, Result.success(value))
    assert op.origin is origin
    assert op.is_success()
    assert op.value is value
    assert op.error is None
    assert op.exception is None
    assert isinstance(op, Result)


@pytest.mark.parametrize("origin", list(Origin))
def test_operation_result_origin_and_failure(origin: Origin) -> None:
    """OperationResult of a failure keeps the origin, the message and the exception object."""
    exc = ValueError("bad")
    op = OperationResult(origin, Result.fail("bad read", exc))
    assert op.origin is origin
    assert not op.is_success()
    assert op.error == "bad read"
    assert op.exception is exc


def test_operation_result_origin_is_read_only() -> None:
    """origin is a read-only property."""
    op = OperationResult(Origin.OLD, Result.success(1))
    with pytest.raises(AttributeError):
        op.origin = Origin.NEW  # type: ignore[misc]
    assert op.origin is Origin.OLD


# -- WriteResult ---------------------------------------------------------------


def test_write_result_both() -> None:
    """WriteResult keeps both operation results, the very same objects."""
    auth = OperationResult(Origin.NEW, Result.success(1))
    other = OperationResult(Origin.OLD, Result.success(2))
    write = WriteResult(auth, other)
    assert write.authoritative is auth
    assert write.nonauthoritative is other


def test_write_result_nonauthoritative_defaults_to_none() -> None:
    """WriteResult(authoritative) has nonauthoritative None."""
    auth = OperationResult(Origin.OLD, Result.fail("x"))
    write = WriteResult(auth)
    assert write.authoritative is auth
    assert write.nonauthoritative is None


def test_write_result_is_read_only() -> None:
    """WriteResult's fields are read-only properties."""
    write = WriteResult(OperationResult(Origin.OLD, Result.success(1)))
    with pytest.raises(AttributeError):
        write.authoritative = None  # type: ignore[misc,assignment]


# -- MigrationConfig -------------------------------------------------------------


def test_migration_config_keeps_its_callables() -> None:
    """MigrationConfig(old, new, comparison) keeps the same callables."""

    def old(payload):
        return Result.success(payload)

    def new(payload):
        return Result.success(payload)

    def compare(a, b):
        return a == b

    config = MigrationConfig(old, new, compare)
    assert config.old is old
    assert config.new is new
    assert config.comparison is compare


def test_migration_config_comparison_defaults_to_none() -> None:
    """MigrationConfig(old, new) has no comparison."""
    config = MigrationConfig(Result.success, Result.success)
    assert config.comparison is None


def test_migration_config_keyword_arguments() -> None:
    """MigrationConfig accepts old, new and comparison by keyword, as the seed names them."""

    def side(payload):
        return Result.success(payload)

    config = MigrationConfig(old=side, new=side, comparison=None)
    assert config.old is side
    assert config.new is side


def test_aliases_are_callable_types() -> None:
    """MigratorFn and MigratorCompareFn exist and are callable-type aliases."""
    assert "Callable" in repr(MigratorFn)
    assert "Callable" in repr(MigratorCompareFn)


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
