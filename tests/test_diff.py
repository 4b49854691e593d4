"""Tests of where two results differ (migratekit/_diff.py)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from migratekit._diff import DIFF_PATHS_LIMIT, diff_paths


@dataclasses.dataclass
class Address:
    """A nested dataclass."""

    city: str
    zip: str


@dataclasses.dataclass
class User:
    """A dataclass with a nested one and a list."""

    name: str
    address: Address
    tags: list[str]


class Point(NamedTuple):
    """A named tuple."""

    x: int
    y: int


def test_nested_mappings_and_sequences() -> None:
    """Paths join keys with dots and indices with brackets."""
    old = {"address": {"zip": "1", "city": "A"}, "tags": ["a", "b", "c"]}
    new = {"address": {"zip": "2", "city": "A"}, "tags": ["a", "b", "x"]}
    assert diff_paths(old, new) == ["address.zip", "tags[2]"]


def test_dataclasses_and_named_tuples() -> None:
    """Dataclass fields and named tuple fields are walked by name."""
    old = User("Ada", Address("Lyon", "69001"), ["x"])
    new = User("Ada", Address("Lyon", "69002"), ["x", "y"])
    assert diff_paths(old, new) == ["address.zip", "tags[1]"]
    assert diff_paths(Point(1, 2), Point(1, 3)) == ["y"]


def test_missing_and_extra_keys() -> None:
    """A key on one side only is a difference at that key."""
    assert diff_paths({"a": 1}, {"a": 1, "b": 2}) == ["b"]
    assert diff_paths({"a": 1, "b": 2}, {"a": 1}) == ["b"]


def test_top_level_leaves_give_no_path() -> None:
    """Two different scalars have no structure to tell where."""
    assert diff_paths(1, 2) == []
    assert diff_paths("a", "b") == []
    assert diff_paths(None, {"a": 1}) == []


def test_keys_that_could_be_data_are_hidden() -> None:
    """Keys that do not look like names (ids, e-mail addresses) are shown as [?]."""
    old = {"ada@example.org": {"score": 1}, 42: "x"}
    new = {"ada@example.org": {"score": 2}, 42: "y"}
    paths = diff_paths(old, new)
    assert paths == ["[?].score", "[?]"]
    assert all("ada" not in path and "42" not in path for path in paths)


def test_limit() -> None:
    """At most limit paths are given."""
    old = {f"k{i}": i for i in range(50)}
    new = {f"k{i}": -i - 1 for i in range(50)}
    assert len(diff_paths(old, new)) == DIFF_PATHS_LIMIT
    assert diff_paths(old, new, limit=3) == ["k0", "k1", "k2"]


def test_equality_that_raises_is_a_difference() -> None:
    """A leaf whose == raises counts as different, without raising."""

    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        __hash__ = object.__hash__

    assert diff_paths({"a": Weird()}, {"a": Weird()}) == ["a"]


def test_cycles_end() -> None:
    """A structure that contains itself does not recurse forever."""
    old: list[Any] = [1]
    old.append(old)
    new: list[Any] = [2]
    new.append(new)
    paths = diff_paths(old, new)
    assert paths[0] == "[0]"
    assert len(paths) <= DIFF_PATHS_LIMIT


_leaves = st.one_of(st.integers(), st.text(max_size=6), st.none(), st.booleans())
_trees = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=4),
    max_leaves=12,
)


def _leaf_texts(tree: Any) -> list[str]:
    if isinstance(tree, dict):
        return [text for value in tree.values() for text in _leaf_texts(value)]
    if isinstance(tree, list):
        return [text for value in tree for text in _leaf_texts(value)]
    return [tree] if isinstance(tree, str) and len(tree) >= 3 else []


@given(_trees, _trees)
def test_paths_never_hold_values(old: Any, new: Any) -> None:
    """No leaf value appears in a path, equal trees give no path, and the limit holds."""
    paths = diff_paths(old, new)
    assert len(paths) <= DIFF_PATHS_LIMIT
    if old == new:
        assert paths == []
    keys: set[Any] = set()
    for tree in (old, new):
        stack = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                keys.update(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    for text in _leaf_texts(old) + _leaf_texts(new):
        if text not in keys and not text.isdigit():
            assert all(text not in path.replace("[", ".").split(".") for path in paths)


def test_keys_of_a_mapping_of_records_are_hidden_even_when_they_look_like_names() -> None:
    """An index of records keyed by data ({handle: {...}}) shows [?], not the handle."""
    old = {"ada_lovelace": {"plan": "pro"}, "alan_turing": {"plan": "free"}}
    new = {"ada_lovelace": {"plan": "free"}, "alan_turing": {"plan": "free"}}
    assert diff_paths(old, new) == ["[?].plan"]
    assert diff_paths({"ada_lovelace": User("Ada", Address("L", "1"), [])},
                      {"ada_lovelace": User("Ada", Address("L", "2"), [])}) == ["[?].address.zip"]
    assert diff_paths({"ada_lovelace": {"plan": "pro"}}, {}) == ["[?]"]


def test_records_that_mix_fields_still_name_them() -> None:
    """A record with scalar fields beside nested ones keeps its field names."""
    old = {"name": "Ada", "address": {"zip": "1"}, "plans": {"basic": {"seats": 1}}}
    new = {"name": "Ada", "address": {"zip": "2"}, "plans": {"basic": {"seats": 2}}}
    assert diff_paths(old, new) == ["address.zip", "plans[?].seats"]


def test_big_values_are_walked_within_a_budget() -> None:
    """Two big sequences or mappings that differ at their very end: the walk stops after
    10,000 values instead of looking at millions, and bytes-like values are leaves."""
    import time

    old = list(range(2_000_000))
    new = [*old[:-1], -1]
    started = time.perf_counter()
    assert diff_paths(old, new) == []  # the difference lies past the budget
    assert diff_paths({i: i for i in range(300_000)}, {i: -i for i in range(300_000)}) != []
    assert diff_paths(memoryview(b"a" * 10_000_000), memoryview(b"a" * 9_999_999 + b"b")) == []
    assert diff_paths(range(10**18), range(10**18 + 1)) == []
    assert time.perf_counter() - started < 60  # a hang guard, not a timing assertion
    assert diff_paths([1, 2, 3], [1, 2, 4]) == ["[2]"]


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
