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


# -- records: objects, and lists of records matched by key -------------------------------------


class OrmUser:
    """An ORM-like instance: loaded columns in __dict__, the ORM's state private, a lazy
    relationship as a class-level descriptor that must never be triggered."""

    loads = 0

    def __init__(self, id: int, name: str, bio: str | None = None) -> None:
        self._sa_instance_state = object()
        self.id = id
        self.name = name
        if bio is not None:
            self.bio = bio

    @property
    def orders(self) -> list[Any]:
        OrmUser.loads += 1
        raise AssertionError("a lazy relationship was loaded by the diff")


class Slotted:
    """A class with __slots__: public slots walked, private ones and unset ones not."""

    __slots__ = ("_secret", "bio", "id", "name")

    def __init__(self, id: int, name: str, bio: str | None = None,
                 secret: str = "s") -> None:
        self.id, self.name, self._secret = id, name, secret
        if bio is not None:
            self.bio = bio


def test_an_object_is_walked_by_its_public_attributes() -> None:
    """An ORM-like instance and a plain class say which attribute differs; private state,
    properties and lazy relationships are never read."""
    OrmUser.loads = 0
    assert diff_paths(OrmUser(1, "Ada", "old"), OrmUser(1, "Ada", "new")) == ["bio"]
    assert diff_paths(OrmUser(1, "Ada"), OrmUser(1, "Ada", "new")) == ["bio"]
    assert diff_paths(Slotted(1, "Ada", "x", "a"), Slotted(1, "Ada", "y", "b")) == ["bio"]
    assert diff_paths({"owner": OrmUser(1, "Ada"), "n": 1},
                      {"owner": OrmUser(1, "Bob"), "n": 1}) == ["owner.name"]
    assert OrmUser.loads == 0


def test_an_object_and_the_dict_it_should_equal_are_walked_field_by_field() -> None:
    """An ORM instance against a dict of its columns: the differing field, never the type."""
    assert diff_paths(OrmUser(7, "Ada", "old"), {"id": 7, "name": "Ada", "bio": "new"}) == ["bio"]
    assert diff_paths({"id": 7, "name": "Ada"}, OrmUser(7, "Ada", "new")) == ["bio"]
    assert diff_paths(User("Ada", Address("L", "1"), []),
                      {"name": "Ada", "address": {"city": "L", "zip": "1"}, "tags": ["t"]}) \
        == ["tags[0]"]


def test_values_of_the_standard_library_and_enums_are_leaves() -> None:
    """A UUID, a Decimal, a date or an enum member differs as a whole, never by its parts."""
    import datetime
    import decimal
    import enum
    import uuid

    class Plan(enum.Enum):
        FREE = 1
        PRO = 2

    old = {"u": uuid.UUID(int=1), "d": decimal.Decimal("1.0"), "t": datetime.date(2020, 1, 1),
           "p": Plan.FREE}
    new = {"u": uuid.UUID(int=2), "d": decimal.Decimal("1.1"), "t": datetime.date(2020, 1, 2),
           "p": Plan.PRO}
    assert diff_paths(old, new) == ["u", "d", "t", "p"]


def test_an_object_without_public_attributes_is_a_leaf() -> None:
    """Nothing public to walk: the object differs where it stands (by ==)."""

    class Opaque:
        def __init__(self, value: int) -> None:
            self._value = value

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Opaque) and other._value == self._value

        __hash__ = object.__hash__

    assert diff_paths({"o": Opaque(1)}, {"o": Opaque(2)}) == ["o"]
    assert diff_paths({"o": Opaque(1)}, {"o": Opaque(1)}) == []


def records(count: int, **changed: Any) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"user{i}", "bio": f"bio of user{i}", **changed}
            for i in range(count)]


def test_a_list_of_records_missing_a_field_in_one_record_gives_one_path() -> None:
    """50 records, one without bio on the new side: exactly [*].bio, no index, no key value."""
    old = records(50)
    new = records(50)
    del new[31]["bio"]
    assert diff_paths(old, new) == ["[*].bio"]
    assert diff_paths({"users": old}, {"users": new}) == ["users[*].bio"]


def test_records_are_matched_by_key_wherever_they_stand() -> None:
    """The same records in another order are equal; a record changed is found by its id."""
    old = records(20)
    new = list(reversed(records(20)))
    assert diff_paths(old, new) == []
    new[4] = {**new[4], "name": "renamed"}
    assert diff_paths(old, new) == ["[*].name"]


def test_a_record_on_one_side_only_reads_star() -> None:
    """A record whose key is on one side only is [*]; several differences give each path once."""
    old = records(10)
    new = [*records(10)[1:], {"id": 99, "name": "x", "bio": "y"}]
    for record in new[:5]:
        record["bio"] = "changed"
    assert diff_paths(old, new) == ["[*]", "[*].bio"]
    assert diff_paths([], records(2)) == ["[*]"]


def test_the_key_field_is_id_then_key_then_pk_or_the_one_given() -> None:
    """The first of id, key, pk that every record has; diff_key chooses another."""
    by_key = [{"key": "a", "v": 1}, {"key": "b", "v": 2}]
    assert diff_paths(by_key, [by_key[1], {"key": "a", "v": 3}]) == ["[*].v"]
    by_pk = [{"pk": 1, "v": 1}, {"pk": 2, "v": 2}]
    assert diff_paths(by_pk, [{"pk": 2, "v": 2}, {"pk": 1, "v": 0}]) == ["[*].v"]
    # id is present but repeats: not a key; key is the next candidate.
    both = [{"id": 1, "key": "a", "v": 1}, {"id": 1, "key": "b", "v": 2}]
    assert diff_paths(both, [both[1], {"id": 1, "key": "a", "v": 9}]) == ["[*].v"]
    tenants = [{"tenant": "t1", "id": 1, "v": 1}, {"tenant": "t2", "id": 1, "v": 2}]
    swapped = [{"tenant": "t2", "id": 1, "v": 2}, {"tenant": "t1", "id": 1, "v": 0}]
    assert diff_paths(tenants, swapped, key="tenant") == ["[*].v"]
    assert diff_paths(tenants, swapped) == ["[0].tenant", "[0].v", "[1].tenant", "[1].v"]


def test_records_of_objects_and_named_tuples_are_matched_by_key() -> None:
    """ORM instances, slotted objects and dataclasses match by their id like mappings."""
    old = [OrmUser(i, f"u{i}", "b") for i in range(30)]
    new = [OrmUser(i, f"u{i}", "b" if i != 12 else "c") for i in reversed(range(30))]
    assert diff_paths(old, new) == ["[*].bio"]
    assert diff_paths([Slotted(1, "a", "x"), Slotted(2, "b", "y")],
                      [Slotted(2, "b", "y"), Slotted(1, "a")]) == ["[*].bio"]


def test_lists_without_a_common_key_are_compared_by_position() -> None:
    """No key field, a key that is missing somewhere, repeated or unhashable: by position."""
    assert diff_paths([{"name": "a"}, {"name": "b"}], [{"name": "a"}, {"name": "c"}]) \
        == ["[1].name"]
    assert diff_paths([{"id": 1, "v": 1}, {"v": 2}], [{"id": 1, "v": 1}, {"v": 3}]) == ["[1].v"]
    assert diff_paths([{"id": [1], "v": 1}], [{"id": [1], "v": 2}]) == ["[0].v"]
    assert diff_paths([{"id": 1, "v": 1}, 5], [{"id": 1, "v": 1}, 6]) == ["[1]"]


def test_a_key_whose_hash_raises_falls_back_to_positions() -> None:
    """A hostile key value never escapes: the lists are compared by position instead."""

    class BadKey:
        def __hash__(self) -> int:
            raise RuntimeError("no hash")

    key = BadKey()
    assert diff_paths([{"id": key, "v": 1}], [{"id": key, "v": 2}]) == ["[0].v"]


def test_key_values_never_appear_in_paths() -> None:
    """Records keyed by e-mail addresses: the paths name fields, never an address."""
    old = [{"id": f"user{i}@example.org", "plan": "free"} for i in range(5)]
    new = [{"id": f"user{i}@example.org", "plan": "pro" if i == 2 else "free"}
           for i in range(5)] + [{"id": "new@example.org", "plan": "free"}]
    paths = diff_paths(old, new)
    assert paths == ["[*].plan", "[*]"]
    assert all("example" not in path for path in paths)


def test_long_lists_of_records_stay_within_the_budget_and_keep_their_names() -> None:
    """Too many records to match in the budget: paired by position, still named [*]; the
    work stays bounded (a hang guard, not a timing assertion)."""
    import time

    old = records(200_000)
    new = records(200_000)
    new[3]["bio"] = "changed"
    started = time.perf_counter()
    assert diff_paths(old, new) == ["[*].bio"]
    assert time.perf_counter() - started < 30


def test_hostile_objects_are_walked_without_running_their_code() -> None:
    """__getattribute__, __getattr__, __eq__ and __hash__ that raise, and a __dict__
    property, never run: the instance's own attributes are read from its dict."""
    from tests.hostile import DUNDERS, raising_class

    base = raising_class(frozenset(DUNDERS))

    class Hostile(base):  # type: ignore[misc, valid-type]
        def __init__(self, bio: str) -> None:
            object.__setattr__(self, "bio", bio)
            object.__setattr__(self, "id", 1)

        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError(f"read {name}")

    class FakeDict:
        @property
        def __dict__(self) -> Any:  # type: ignore[override]
            raise RuntimeError("__dict__ read")

    assert diff_paths(Hostile("a"), Hostile("b")) == ["bio"]
    assert diff_paths([Hostile("a")], [Hostile("b")]) == ["[*].bio"]
    assert diff_paths({"f": FakeDict()}, {"f": FakeDict()}) == ["f"]  # a leaf: == is identity


def test_a_list_of_values_keeps_the_whole_budget_for_its_positions() -> None:
    """Looking for records costs a list of plain values nothing: a difference far down a
    list of 4,500 numbers is still found."""
    old = list(range(4_500))
    new = [*old[:4_000], -1, *old[4_001:]]
    assert diff_paths(old, new) == ["[4000]"]
    rows = [{"name": f"n{i}"} for i in range(4_000)]  # records without a key
    changed = [*rows[:3_900], {"name": "x"}, *rows[3_901:]]
    assert diff_paths(rows, changed) == ["[3900].name"]


def test_a_path_said_over_and_over_still_ends_the_walk() -> None:
    """Each path is given once, so a million keys or elements on one side only (all [?] or
    [*]) must end the walk by the budget, not by the limit of paths."""
    import time

    started = time.perf_counter()
    index = {f"user{i}@example.org": {"plan": "free"} for i in range(1_000_000)}
    assert diff_paths({}, index) == ["[?]"]
    many = records(1_000_000)
    assert diff_paths(many[:1], many) == ["[*]"]
    assert time.perf_counter() - started < 30  # a hang guard, not a timing assertion


def test_odd_records_are_read_as_far_as_they_can_be() -> None:
    """A tuple subclass that is no named tuple is a sequence; a dataclass field never set, a
    slot a subclass turned into a property, an object with only private attributes (more
    than are looked at) or a __dict__ property: read without running code, or leaves."""

    class Pair(tuple[int, int]):
        pass

    assert diff_paths(Pair((1, 2)), Pair((1, 3))) == ["[1]"]
    assert diff_paths({"p": Pair((1, 2))}, {"p": Pair((1, 3))}) == ["p[1]"]

    @dataclasses.dataclass
    class Lazy:
        name: str
        cached: int = dataclasses.field(init=False)

    done = Lazy("a")
    done.cached = 1
    assert diff_paths(Lazy("a"), done) == ["cached"]

    class Base:
        __slots__ = ("bio", "id")

    class Shadowed(Base):
        __slots__ = ()

        @property
        def bio(self) -> str:
            raise AssertionError("a property was run")

        def __init__(self, id: int) -> None:
            self.id = id

    assert diff_paths(Shadowed(1), Shadowed(2)) == ["id"]

    class Private:
        def __init__(self, seed: int) -> None:
            for i in range(100):
                setattr(self, f"_p{i}", seed)
            self.late = seed

    assert diff_paths({"x": Private(1), "n": 0}, {"x": Private(2), "n": 0}) == ["x"]

    class DictProperty:
        def __init__(self, bio: str) -> None:
            self.bio = bio

        @property
        def __dict__(self) -> Any:  # type: ignore[override]
            raise AssertionError("a __dict__ property was run")

    assert diff_paths({"d": DictProperty("a"), "n": 0}, {"d": DictProperty("a"), "n": 0}) \
        == ["d"]  # a leaf, compared by identity
    assert diff_paths({"_x": 1, "bio": "a"}, Slotted(1, "n", "a")) == ["_x", "id", "name"]
