"""Tests of migratekit.reconcile: two sets of records compared by key, in bounded memory."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

import migratekit
from migratekit import Reconciliation, reconcile
from migratekit import _events as events
from migratekit._reconcile import PATHS_LIMIT, reconciliation_fields
from migratekit._schema import RECONCILE_EVENT, RECONCILE_FIELDS
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.testing import capture_events
from tests.hostile import HostileError, value_list

ROOT = Path(__file__).resolve().parent.parent

# Few enough to stay in memory; small enough a limit for 40 records to spill.
MODES = {"in memory": 1_000, "spilled": 3}


def users(ids: Any, **changes: Any) -> list[dict[str, Any]]:
    """One user record per id; *changes* maps an id to the fields that differ."""
    records = []
    for user_id in ids:
        record = {"id": user_id, "email": f"user{user_id}@example.com",
                  "address": {"zip": "69001", "city": "Lyon"}}
        record.update(changes.get(str(user_id), {}))
        records.append(record)
    return records


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_the_same_records_in_another_order_are_consistent(limit: int) -> None:
    """Order does not matter: the same records shuffled are consistent, every key compared."""
    old = users(range(40))
    new = list(reversed(users(range(40))))
    result = reconcile(old, new, key="id", max_in_memory=limit)
    assert result == Reconciliation(
        consistent=True, old_rows=40, new_rows=40, compared=40, missing_in_new=0,
        missing_in_old=0, differing=0, spilled=limit < 40,
    )


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_missing_and_differing_records_are_counted_with_keys(limit: int) -> None:
    """Keys on one side only, and records that differ, counted; where they differ, by path."""
    old = users(range(40), **{"5": {"email": "old@example.com"}})
    new = users([*range(3, 40), 41, 42], **{
        "5": {"email": "other@example.com"},
        "6": {"address": {"zip": "75001", "city": "Lyon"}},
        "7": {"email": "x", "address": {"zip": "1", "city": "Lyon"}},
    })
    result = reconcile(iter(old), iter(new), key="id", max_in_memory=limit, name="users")
    assert (result.old_rows, result.new_rows, result.compared) == (40, 39, 37)
    assert (result.missing_in_new, result.missing_in_old, result.differing) == (3, 2, 3)
    assert result.diff_paths == {"address.zip": 2, "email": 2}
    assert sorted(result.examples["missing_in_new"]) == [0, 1, 2]
    assert sorted(result.examples["missing_in_old"]) == [41, 42]
    assert sorted(result.examples["differing"]) == [5, 6, 7]
    assert set(result.examples) == {"missing_in_new", "missing_in_old", "differing"}
    assert result.consistent is False
    assert result.name == "users"


def test_examples_are_five_keys_at_most() -> None:
    """However many keys are missing, five of them are named."""
    result = reconcile(users(range(100)), [], key="id")
    assert result.missing_in_new == 100
    assert len(result.examples["missing_in_new"]) == 5
    assert set(result.examples["missing_in_new"]) <= set(range(100))


@dataclasses.dataclass
class User:
    """A record with attributes."""

    id: int
    email: str


class Row(NamedTuple):
    """A named tuple record."""

    id: int
    email: str


def test_records_may_be_objects_named_tuples_or_sqlite_rows() -> None:
    """A key named by a field is read by item from mappings, by attribute from objects."""
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    connection.execute("CREATE TABLE users (id INTEGER, email TEXT)")
    connection.executemany("INSERT INTO users VALUES (?, ?)", [(1, "a"), (2, "b")])
    rows = list(connection.execute("SELECT id, email FROM users"))
    objects = [User(2, "b"), User(1, "a")]
    result = reconcile(rows, objects, key="id", normalize=lambda r: (r["id"], r["email"])
                       if isinstance(r, sqlite3.Row) else (r.id, r.email))
    assert (result.compared, result.consistent) == (2, True)
    result = reconcile([Row(1, "a")], [Row(1, "b")], key="id")
    assert (result.differing, result.diff_paths) == (1, {"email": 1})


def test_a_callable_key_may_make_a_key_of_several_fields() -> None:
    """key=callable: a key of two fields matches only records equal in both."""
    old = [{"tenant": "a", "id": 1, "v": 1}, {"tenant": "b", "id": 1, "v": 2}]
    new = [{"tenant": "b", "id": 1, "v": 2}, {"tenant": "a", "id": 1, "v": 1}]
    result = reconcile(old, new, key=lambda row: (row["tenant"], row["id"]))
    assert (result.compared, result.consistent) == (2, True)
    assert reconcile(old, new, key="id").duplicates_in_old == 1


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_normalize_comes_before_compare(limit: int) -> None:
    """normalize is applied to each record before comparing; compare replaces ==."""
    old = [{"id": i, "email": f"U{i}@EXAMPLE.COM", "legacy": True} for i in range(10)]
    new = [{"id": i, "email": f"u{i}@example.com"} for i in range(10)]
    assert reconcile(old, new, key="id", max_in_memory=limit).differing == 10
    seen: list[tuple[Any, Any]] = []

    def lower(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "email": row["email"].lower()}

    def compare(old: Any, new: Any) -> bool:
        seen.append((old, new))
        return bool(old == new)

    result = reconcile(old, new, key="id", normalize=lower, compare=compare,
                       max_in_memory=limit)
    assert (result.consistent, result.compared, result.differing) == (True, 10, 0)
    assert len(seen) == 10
    assert all("legacy" not in old_value for old_value, _ in seen)
    everything_differs = reconcile(old, new, key="id", normalize=lower,
                                   compare=lambda a, b: False, max_in_memory=limit)
    assert everything_differs.differing == 10
    assert everything_differs.diff_paths == {}  # normalized records are equal: no path


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_duplicate_keys_are_counted_and_the_first_record_is_compared(limit: int) -> None:
    """A key twice on a side: the first record is compared, the others counted; inconsistent."""
    old = [{"id": 1, "v": "first"}, {"id": 2, "v": "x"}, {"id": 1, "v": "second"}]
    new = [{"id": 2, "v": "x"}, {"id": 1, "v": "first"}, {"id": 2, "v": "y"}, {"id": 2}]
    result = reconcile(old, new, key="id", max_in_memory=limit)
    assert (result.duplicates_in_old, result.duplicates_in_new) == (1, 2)
    assert (result.compared, result.differing) == (2, 0)
    assert result.examples == {"duplicates_in_old": (1,), "duplicates_in_new": (2, 2)}
    assert result.consistent is False


@settings(max_examples=40, deadline=None)
@given(
    old=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 2)), max_size=30),
    new=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 2)), max_size=30),
    limit=st.sampled_from([1, 2, 5, 1_000]),
)
def test_counts_match_a_model_in_memory_and_spilled(
    old: list[tuple[int, int]], new: list[tuple[int, int]], limit: int
) -> None:
    """Any records, any limit: the counts are what a plain dict-based model says."""
    first_old: dict[int, int] = {}
    for key, value in old:
        first_old.setdefault(key, value)
    first_new: dict[int, int] = {}
    for key, value in new:
        first_new.setdefault(key, value)
    both = first_old.keys() & first_new.keys()
    result = reconcile([{"k": k, "v": v} for k, v in old], [{"k": k, "v": v} for k, v in new],
                       key="k", max_in_memory=limit, progress=False)
    assert result.old_rows == len(old)
    assert result.new_rows == len(new)
    assert result.compared == len(both)
    assert result.missing_in_new == len(first_old.keys() - first_new.keys())
    assert result.missing_in_old == len(first_new.keys() - first_old.keys())
    assert result.differing == sum(first_old[k] != first_new[k] for k in both)
    assert result.duplicates_in_old == len(old) - len(first_old)
    assert result.duplicates_in_new == len(new) - len(first_new)
    assert result.errors == 0
    assert result.spilled == (max(len(old), len(new)) > limit)
    assert result.consistent == (first_old == first_new and len(old) == len(first_old)
                                 and len(new) == len(first_new))


def test_a_partition_too_big_is_split_again(tmp_path: Path) -> None:
    """Past the limit, partitions split again; counts stay exact; the files are removed."""
    old = users(range(3000))
    new = users(range(1, 3001), **{"500": {"email": "changed"}})
    result = reconcile(old, new, key="id", max_in_memory=10, directory=tmp_path)
    assert result.spilled
    assert (result.compared, result.missing_in_new, result.missing_in_old) == (2999, 1, 1)
    assert (result.differing, result.diff_paths) == (1, {"email": 1})
    assert list(tmp_path.iterdir()) == []


def test_one_key_repeated_past_the_limit_still_ends() -> None:
    """A key that fills a partition however it is split is matched at the deepest level
    (600 records: more than one chunk of a partition's file)."""
    result = reconcile([{"id": 1}] * 600, [{"id": 1}] * 600, key="id", max_in_memory=4)
    assert (result.compared, result.duplicates_in_old, result.duplicates_in_new) == (1, 599, 599)


def test_distinct_diff_paths_are_bounded() -> None:
    """At most PATHS_LIMIT distinct paths are counted: list indices cannot grow it unbounded."""
    old = [{"id": i, "tags": [0] * 300} for i in range(30)]
    new = [{"id": i, "tags": [0] * (i * 10) + [1] * (300 - i * 10)} for i in range(30)]
    result = reconcile(old, new, key="id")
    assert result.differing == 30
    assert len(result.diff_paths) == PATHS_LIMIT


# -- user code that fails ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_failing_key_normalize_and_compare_become_errors(limit: int) -> None:
    """A key, normalize or compare that raises never reaches the caller: it is an error."""
    old = [{"id": i, "v": i} for i in range(10)] + [{"no id": True}]
    new = [{"id": i, "v": i} for i in range(10)]

    def normalize(row: dict[str, Any]) -> dict[str, Any]:
        if row["id"] == 3:
            raise HostileError("normalize")
        return row

    def compare(old: Any, new: Any) -> bool:
        if old["id"] == 4:
            raise ValueError("compare")
        return bool(old == new)

    result = reconcile(old, new, key="id", normalize=normalize, compare=compare,
                       max_in_memory=limit)
    assert result.errors == 3  # the record without a key, the pair of 3, the pair of 4
    assert result.error_types == {
        "compare: ValueError": 1, "new normalize: HostileError": 1, "old key: KeyError": 1,
        "old normalize: HostileError": 1,
    }
    assert sorted(result.examples["errors"]) == [3, 4]
    assert (result.compared, result.differing) == (10, 0)
    assert result.consistent is False


class Unpicklable:
    """A value that pickle refuses."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unpicklable) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")


class PicklesButNeverLoads:
    """A value that pickles, and raises when unpickled."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PicklesButNeverLoads)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (_refuse, ())


def _refuse() -> Any:
    raise HostileError("cannot load")


def test_records_that_cannot_be_spilled_are_errors_in_memory_they_compare() -> None:
    """Spilled, a record that pickle refuses is an error; in memory it is compared."""
    old = [{"id": i, "v": Unpicklable(i) if i == 7 else i} for i in range(20)]
    new = [{"id": i, "v": Unpicklable(i) if i == 7 else i} for i in range(20)]
    assert reconcile(old, new, key="id").consistent is True
    spilled = reconcile(old, new, key="id", max_in_memory=2)
    assert (spilled.errors, spilled.compared) == (1, 20)
    assert spilled.error_types == {"old store: TypeError": 1, "new store: TypeError": 1}
    assert spilled.examples["errors"] == (7,)
    unloadable = reconcile([{"id": 1, "v": PicklesButNeverLoads()}, *users(range(2, 5))],
                           users(range(1, 5)), key="id", max_in_memory=1)
    assert unloadable.error_types == {"old load: HostileError": 1}
    assert unloadable.errors >= 1
    assert unloadable.consistent is False


HOSTILE = [recipe for recipe in value_list() if "10 MB" not in recipe.label]


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("recipe", HOSTILE, ids=lambda recipe: recipe.label)
def test_hostile_values_and_keys_never_raise(recipe: Any, limit: int) -> None:
    """A hostile object as a value, or as the key, gives a result and an event; never raises."""
    def records() -> Iterator[dict[str, Any]]:
        for i in range(6):
            yield {"id": i, "v": recipe() if i == 2 else i}

    with capture_events() as captured:
        by_value = reconcile(records(), records(), key="id", max_in_memory=limit)
        by_key = reconcile(records(), records(), key=lambda row: row["v"], max_in_memory=limit)
    assert by_value.old_rows == by_key.old_rows == 6
    assert by_value.compared + by_value.errors >= 5
    assert [event["event"] for event in captured] == [RECONCILE_EVENT] * 2
    json.dumps(captured[0]["examples"])  # examples are shown safely, whatever the keys


class HostileKey:
    """A key whose __eq__ raises, with a hash shared by every instance."""

    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        raise HostileError("eq")


@pytest.mark.parametrize("limit", MODES.values(), ids=MODES.keys())
def test_keys_whose_eq_raises_are_errors(limit: int) -> None:
    """Keys that collide and cannot be compared are errors of their records."""
    keys = [HostileKey() for _ in range(3)]
    old = [{"k": keys[0]}, {"k": keys[1]}]
    new = [{"k": keys[0]}, {"k": keys[2]}]
    result = reconcile(old, new, key="k", max_in_memory=limit)
    assert result.errors >= 1
    assert any(kind.endswith("key: HostileError") for kind in result.error_types)


def test_an_input_that_raises_propagates_and_leaves_no_file(tmp_path: Path) -> None:
    """A failing source (a database error) is the caller's: it propagates, files removed."""
    def failing() -> Iterator[dict[str, Any]]:
        yield from users(range(50))
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        reconcile(users(range(50)), failing(), key="id", max_in_memory=5, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_propagates() -> None:
    """KeyboardInterrupt in user code is not an error of a record: it propagates."""
    def interrupt(row: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reconcile(users(range(3)), users(range(3)), key="id", normalize=interrupt)


# -- set-up mistakes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "error", "words"), [
    ({"key": 3}, ConfigurationTypeError, "'key' must be a field name"),
    ({"key": ""}, ConfigurationTypeError, "'key' must be a field name"),
    ({"key": dict}, ConfigurationTypeError, "'key' must be a field name"),
    ({"key": "id", "normalize": "lower"}, ConfigurationTypeError, "'normalize' must be"),
    ({"key": "id", "compare": 1}, ConfigurationTypeError, "'compare' must be"),
    ({"key": "id", "name": 5}, ConfigurationTypeError, "'name' must be"),
    ({"key": "id", "max_in_memory": 0}, ConfigurationError, "at least 1"),
    ({"key": "id", "max_in_memory": True}, ConfigurationTypeError, "an int"),
    ({"key": "id", "directory": 5}, ConfigurationTypeError, "'directory' must be a path"),
    ({"key": "id", "progress": "yes"}, ConfigurationTypeError, "'progress' must be"),
])
def test_mistakes_raise_configuration_errors(arguments: dict[str, Any], error: type,
                                             words: str) -> None:
    """A wrong argument raises at once, saying what was expected and how to fix it."""
    with pytest.raises(error, match=words) as raised:
        reconcile([], [], **arguments)
    assert "e.g." in str(raised.value)


@pytest.mark.parametrize(("rows", "words"), [
    ("abc", "an iterable of records"),
    ({1: {"id": 1}}, r"\.values\(\)"),
    (5, "an iterable of records"),
])
def test_rows_that_are_not_records_raise(rows: Any, words: str) -> None:
    """A string, a mapping or a number as rows is a mistake, said at once."""
    with pytest.raises(ConfigurationTypeError, match=words):
        reconcile(rows, [], key="id")
    with pytest.raises(ConfigurationTypeError, match="'new_rows'"):
        reconcile([], rows, key="id")


def test_one_iterator_for_both_sides_is_a_mistake() -> None:
    """The same iterator twice would be read once: a ConfigurationError says so."""
    rows = iter(users(range(3)))
    with pytest.raises(ConfigurationError, match="same iterator"):
        reconcile(rows, rows, key="id")


# -- the event ----------------------------------------------------------------------------------


def test_one_event_at_info_with_counts_and_keys_never_values() -> None:
    """migration.reconcile: info, the schema's fields, example keys; no value of a record."""
    old = users(range(20), **{"4": {"email": "SECRET-OLD"}})
    new = users(range(1, 21), **{"4": {"email": "SECRET-NEW"}})
    with capture_events() as captured:
        result = reconcile(old, new, key="id", name="users.copy")
    assert len(captured) == 1
    event = captured[0]
    assert (event["event"], event["log_level"]) == (RECONCILE_EVENT, "info")
    assert set(RECONCILE_FIELDS) <= set(event)
    assert event["migration"] == "users.copy"
    assert (event["missing_in_new"], event["missing_in_old"], event["differing"]) == (1, 1, 1)
    assert event["examples"] == {"missing_in_new": [0], "missing_in_old": [20],
                                 "differing": [4]}
    assert event["diff_paths"] == {"email": 1}
    assert "SECRET" not in json.dumps(event) + repr(result)
    assert reconciliation_fields(result) == {
        key: value for key, value in event.items() if key in RECONCILE_FIELDS
    }


def test_example_keys_in_the_event_are_bounded() -> None:
    """A huge or unprintable key is shown bounded in the event; the result keeps the key."""
    key = "k" * 10_000
    with capture_events() as captured:
        result = reconcile([{"id": key}], [], key="id")
    shown = captured[0]["examples"]["missing_in_new"][0]
    assert len(shown) < 200
    assert result.examples["missing_in_new"] == (key,)


class PipelineBroken(Exception):
    """What the broken processor raises."""


def test_a_log_pipeline_that_raises_is_counted_not_raised() -> None:
    """The event's failure is counted; the result is still returned."""
    def explode(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        raise PipelineBroken

    structlog.configure(processors=[explode], cache_logger_on_first_use=False)
    result = reconcile(users(range(3)), users(range(3)), key="id")
    assert result.consistent is True
    assert events.pipeline_failures() == {"PipelineBroken": 1}


def test_no_event_when_info_is_dropped() -> None:
    """A logger that drops info (a warning-level filtering logger) gets no event."""
    with capture_events() as captured:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
        reconcile(users(range(3)), [], key="id")
    assert captured == []


def test_the_result_is_frozen_and_public() -> None:
    """Reconciliation is a frozen dataclass exported by migratekit."""
    result = reconcile([], [], key="id")
    assert result.consistent is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.differing = 1  # type: ignore[misc]
    assert migratekit.Reconciliation is Reconciliation
    assert Reconciliation.__module__ == "migratekit"


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True counts rows on stderr, with their rate; stdout stays clean."""
    with capture_events():
        reconcile(users(range(30)), users(range(30)), key="id", progress=True, max_in_memory=5)
    out, err = capsys.readouterr()
    assert out == ""
    assert "old rows" in err
    assert "new rows" in err
    assert "matching" in err
    assert "rows/s" in err
    with capture_events():
        reconcile(users(range(30)), users(range(30)), key="id", progress=None)
    assert capsys.readouterr().err == ""  # not a terminal


# -- a million records ---------------------------------------------------------------------------

_MILLION = textwrap.dedent("""
    import json, os, random, resource, sys
    from array import array

    # The work runs in a fork of this interpreter: a process started by exec keeps, as its
    # ru_maxrss, the peak of the process it replaced (the forked copy of pytest, hundreds of
    # megabytes in the full suite); a fork starts its own count.
    worker = os.fork()
    if worker:
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(worker, 0)[1]))

    import structlog

    from migratekit import reconcile

    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    N = 1_000_000
    PLANTED = "PLANTED-VALUE-" + "q7x"

    def side(seed, new):
        order = array("l", range(N + (5 if new else 0)))
        random.Random(seed).shuffle(order)
        for i in order:
            if new and i % 100_000 == 7:
                continue  # ten missing in new
            email = PLANTED + "-changed" if new and i % 1000 == 0 else f"user{i}@example.com"
            yield {"id": i, "email": email, "secret": f"{PLANTED}-{i}", "n": i}
        if new:
            yield {"id": 3, "email": PLANTED, "secret": PLANTED, "n": 3}

    result = reconcile(side(1, False), side(2, True), key="id", name="users",
                       directory=sys.argv[1], progress=False)
    print(repr(result))
    high_water = [line.split()[1] for line in open("/proc/self/status")
                  if line.startswith("VmHWM:")]
    print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "high_water_kb": int(high_water[0]) if high_water else 0,
                      "left": os.listdir(sys.argv[1])}))
    sys.stdout.flush()
    os._exit(0)
""")


@pytest.mark.slow
def test_a_million_shuffled_records_in_bounded_memory(tmp_path: Path) -> None:
    """1,000,000 records a side, shuffled: exact counts, peak RSS under 200 MB, no value out."""
    done = subprocess.run(
        [sys.executable, "-c", _MILLION, str(tmp_path)], capture_output=True, text=True,
        timeout=300, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    event, shown, measured = json.loads(lines[0]), lines[1], json.loads(lines[2])
    assert event["event"] == RECONCILE_EVENT
    expected = {
        "migration": "users", "consistent": False, "old_rows": 1_000_000,
        "new_rows": 1_000_000 - 10 + 5 + 1, "compared": 1_000_000 - 10, "missing_in_new": 10,
        "missing_in_old": 5, "differing": 1000, "duplicates_in_old": 0, "duplicates_in_new": 1,
        "errors": 0, "error_types": {}, "diff_paths": {"email": 1000}, "spilled": True,
    }
    assert {key: event[key] for key in expected} == expected
    assert sorted(event["examples"]["missing_in_old"]) == list(range(1_000_000, 1_000_005))
    assert event["examples"]["duplicates_in_new"] == [3]
    assert all(key % 100_000 == 7 for key in event["examples"]["missing_in_new"])
    assert all(key % 1000 == 0 for key in event["examples"]["differing"])
    assert measured["rss_kb"] < 200 * 1024, f"peak RSS {measured['rss_kb'] // 1024} MB"
    assert measured["high_water_kb"] < 200 * 1024  # the kernel's own count agrees
    assert measured["left"] == []
    assert "PLANTED" not in done.stdout + done.stderr
    assert "PLANTED" not in shown
    assert "differing=1000" in shown


def test_unusable_marker_survives_pickling() -> None:
    """The marker of an unusable record is one object, in memory and read back from a file."""
    from migratekit._spill import UNUSABLE

    assert pickle.loads(pickle.dumps(UNUSABLE)) is UNUSABLE
    assert repr(UNUSABLE) == "UNUSABLE"


class PicklesOnlyAlone:
    """A value that pickles every second time: alone, but not again with its chunk."""

    calls = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PicklesOnlyAlone)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        PicklesOnlyAlone.calls += 1
        if PicklesOnlyAlone.calls % 2:
            raise HostileError("not this time")
        return (PicklesOnlyAlone, ())


def test_a_chunk_that_cannot_be_kept_at_all_is_counted_as_errors() -> None:
    """A value that pickles alone but not with its chunk: its chunk is lost, and counted."""
    old = [{"id": 0, "v": PicklesOnlyAlone()}, *users(range(1, 3))]
    result = reconcile(old, users(range(3)), key="id", max_in_memory=1)
    assert result.error_types["old store: HostileError"] == 1
    assert result.errors >= 1
    assert result.consistent is False


def test_progress_is_off_when_stderr_cannot_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stderr, or one whose isatty raises: no bar, and no failure."""
    from migratekit import _rows

    class Closed:
        def isatty(self) -> bool:
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(sys, "stderr", Closed())
    assert _rows.progress_enabled() is False
    assert _rows.check_progress("reconcile", None) is None
    monkeypatch.setattr(sys, "stderr", None)
    assert _rows.progress_enabled() is False
    assert reconcile(users(range(2)), users(range(2)), key="id").consistent is True


class BytesPath:
    """A path-like object whose path is bytes."""

    def __fspath__(self) -> bytes:
        return b"/tmp"


@pytest.mark.parametrize("directory", ["", BytesPath()], ids=["empty", "bytes"])
def test_a_directory_must_be_a_text_path(directory: Any) -> None:
    """An empty path, or a bytes one, is refused with the expected kind."""
    with pytest.raises(ConfigurationTypeError, match="'directory' must be a path"):
        reconcile([], [], key="id", directory=directory)


def test_a_class_is_a_normalize() -> None:
    """normalize=dict turns rows (sqlite3.Row, say) into mappings: a class is a callable."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",)])
    result = reconcile(db.execute("SELECT * FROM t"), [{"id": 1, "v": "a"}, {"id": 2, "v": "c"}],
                       key="id", normalize=dict)
    assert (result.compared, result.differing, result.diff_paths) == (2, 1, {"v": 1})
