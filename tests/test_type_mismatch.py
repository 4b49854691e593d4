"""
Reads whose values are of different classes: the ``types`` field of
``migration.op`` (even when the comparison said consistent) and of
``migration.summary`` (the pairs counted, at most eight a row, the most
frequent first; ``type_mismatches`` counts them all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import _summary, migration
from migratekit._summary import TYPES_LIMIT
from migratekit.providers import StaticStageProvider
from tests.helpers import logging_at, ops

SHADOW = StaticStageProvider("shadow")


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """Summaries on, call events at debug, a logger at info: the quiet path counts."""
    migratekit.reset()
    _summary.forget()
    yield logging_at(logging.INFO)
    migratekit.reset()


def summary_of(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    migratekit.flush()
    (found,) = [e for e in events if e["event"] == "migration.summary" and e["migration"] == name]
    return found


class Money:
    """A class of the application, named by its __name__ in events."""

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return getattr(other, "cents", other) == self.cents

    __hash__ = object.__hash__


def test_the_op_event_names_both_types_even_when_consistent() -> None:
    """A lenient comparison says consistent; the op event still says the classes differ."""

    @migration(new=lambda: 250, provider=SHADOW, name="types.money")
    def price() -> Money:
        return Money(250)

    with capture_logs() as logs:
        assert price().cents == 250
    (op,) = ops(logs)
    assert op["consistent"] is True
    assert op["types"] == {"old": "Money", "new": "int"}
    assert op["log_level"] == "info"  # a difference of type alone is no warning


def test_same_types_and_compare_errors_carry_no_types_field() -> None:
    """Equal classes: no field; a comparison that raised judged nothing, so no field either."""

    def broken(old: Any, new: Any) -> bool:
        raise ValueError("no")

    same = migration(new=lambda: 1, provider=SHADOW, name="types.same")(lambda: 2)
    raising = migration(new=lambda: "1", provider=SHADOW, name="types.raising",
                        compare=broken)(lambda: 1)
    with capture_logs() as logs:
        same()
        raising()
    assert [("types" in op, op.get("compare_error")) for op in ops(logs)] == [
        (False, None), (False, "ValueError")]


def test_the_summary_counts_each_pair_of_types(events: list[dict[str, Any]]) -> None:
    """Counted on the quiet path: consistent and inconsistent calls alike, by pair."""
    values = iter([1.0, 1.0, 1.0, "1", 1, 2.0])

    @migration(new=lambda: next(values), provider=SHADOW, name="types.pairs",
               compare=lambda old, new: str(old) == str(new) or old == new)
    def read() -> int:
        return 1

    for _ in range(6):
        read()
    summary = summary_of(events, "types.pairs")
    assert summary["consistency_checks"] == 6
    assert summary["type_mismatches"] == 5
    assert summary["types"] == [{"old": "int", "new": "float", "count": 4},
                                {"old": "int", "new": "str", "count": 1}]


def test_at_most_eight_pairs_a_row_the_rest_only_in_type_mismatches(
        events: list[dict[str, Any]]) -> None:
    """Twelve distinct pairs: eight listed, twelve counted."""
    classes = [type(f"Kind{i}", (), {}) for i in range(12)]
    values = iter([kind() for kind in classes])

    @migration(new=lambda: next(values), provider=SHADOW, name="types.many",
               compare=lambda old, new: True)
    def read() -> int:
        return 0

    for _ in classes:
        read()
    summary = summary_of(events, "types.many")
    assert summary["type_mismatches"] == 12
    assert len(summary["types"]) == TYPES_LIMIT
    assert sum(pair["count"] for pair in summary["types"]) == TYPES_LIMIT


def test_a_window_holds_only_its_own_pairs(events: list[dict[str, Any]]) -> None:
    """The second summary counts the pairs of its own window."""
    kinds = iter([1.0, 1.0, "x"])

    @migration(new=lambda: next(kinds), provider=SHADOW, name="types.window",
               compare=lambda old, new: True)
    def read() -> int:
        return 1

    read()
    read()
    first = summary_of(events, "types.window")
    events.clear()
    read()
    second = summary_of(events, "types.window")
    assert first["types"] == [{"old": "int", "new": "float", "count": 2}]
    assert second["types"] == [{"old": "int", "new": "str", "count": 1}]


def test_a_class_whose_name_a_metaclass_hides_is_still_named() -> None:
    """type.__name__ is read without the metaclass: a hostile class cannot break the event."""

    class Hiding(type):
        @property
        def __name__(cls) -> str:  # type: ignore[override]
            raise RuntimeError("no name")

    odd = Hiding("Odd", (), {})()
    get = migration(new=lambda: odd, provider=SHADOW, name="types.hostile",
                    compare=lambda old, new: True)(lambda: 1)
    with capture_logs() as logs:
        assert get() == 1
    (op,) = ops(logs)
    assert op["types"] == {"old": "int", "new": "Odd"}
