"""Tests of @migration's less common spellings (migratekit/_decorator.py) and comparisons."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import migration
from migratekit.providers import StaticStageProvider


def test_operation_given_as_a_string() -> None:
    """operation='write' makes a write: in DUALWRITE both sides are written."""
    written: list[str] = []

    @migration(new=lambda v: written.append(f"new {v}"), operation="write",
               provider=StaticStageProvider("dualwrite"))
    def save(v: int) -> str:
        written.append(f"old {v}")
        return "saved"

    assert save(1) == "saved"
    assert written == ["old 1", "new 1"]


def test_read_called_with_the_function_directly() -> None:
    """migration.read(func, new=...) decorates at once, without a second call."""

    def old(v: int) -> int:
        return v

    get = migration.read(old, new=lambda v: v + 1, provider=StaticStageProvider("live"))
    assert get(1) == 2
    assert repr(migration) == "<migratekit.migration>"


def test_long_bad_option_is_cut_in_the_message() -> None:
    """A wrong option with a long repr is shown cut to 80 characters in the error."""
    with pytest.raises(TypeError) as info:

        @migration(new=list(range(100)))  # type: ignore[call-overload]
        def get() -> int:
            return 1

    message = str(info.value)
    assert "[0, 1, 2, 3" in message
    assert "... that is a list" in message
    assert "99]" not in message


def _ops(logs: list[Any]) -> list[Any]:
    return [e for e in logs if e["event"] == "migration.op"]


class Unwalkable(Mapping[str, int]):
    """A mapping that can be compared but not iterated."""

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("cannot iterate")

    def __len__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def test_mismatch_whose_paths_cannot_be_found_has_no_paths() -> None:
    """A mismatch between values that cannot be walked is reported without diff_paths."""

    @migration(new=Unwalkable, provider=StaticStageProvider("shadow"),
               compare=lambda a, b: False)
    def get() -> Any:
        return Unwalkable()

    with capture_logs() as logs:
        assert isinstance(get(), Unwalkable)
    (op,) = _ops(logs)
    assert op["consistent"] is False
    assert "diff_paths" not in op
