"""Tests of migratekit._diff at its depth limit."""

from __future__ import annotations

from typing import Any

from migratekit._diff import diff_paths


def nested(depth: int, leaf: Any) -> Any:
    # Each level a record with a field of its own beside the nested one: a
    # mapping whose values are all mappings is an index, whose keys are hidden.
    value = leaf
    for _ in range(depth):
        value = {"a": value, "n": 0}
    return value


def test_difference_below_the_depth_limit_is_reported_at_the_limit() -> None:
    """Values nested deeper than 24 levels that differ are reported at depth 24."""
    paths = diff_paths(nested(30, 1), nested(30, 2))
    assert paths == [".".join(["a"] * 24)]


def test_equal_values_below_the_depth_limit_give_no_path() -> None:
    """Equal values nested deeper than 24 levels (distinct objects) give no path."""
    assert diff_paths(nested(30, [1, 2]), nested(30, [1, 2])) == []
