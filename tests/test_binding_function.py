"""Binding case: a plain module-level function."""

from __future__ import annotations

import inspect

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider

calls: list[tuple[str, tuple[object, ...]]] = []


def _new(user_id: int, *, detail: bool = False) -> tuple[int, bool]:
    calls.append(("new", (user_id, detail)))
    return (user_id, detail)


@migration(new=_new, name="users.get")
def get(user_id: int, *, detail: bool = False) -> tuple[int, bool]:
    """Read a user."""
    calls.append(("old", (user_id, detail)))
    return (user_id, detail)


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("off", ["old"]),
        ("dualwrite", ["old"]),
        ("shadow", ["old", "new"]),
        ("live", ["new", "old"]),
        ("rampdown", ["new"]),
        ("complete", ["new"]),
    ],
)
def test_function_runs_the_sides_of_each_stage_with_the_callers_arguments(
    stage: str, expected: list[str]
) -> None:
    """A decorated function passes positional and keyword arguments unchanged to each side."""
    configure(provider=StaticStageProvider(stage))
    assert get(7, detail=True) == (7, True)
    assert calls == [(side, (7, True)) for side in expected]


def test_function_keeps_its_identity() -> None:
    """Name, docstring, signature and __wrapped__ are those of the decorated function."""
    assert get.__name__ == "get"
    assert get.__doc__ == "Read a user."
    signature = inspect.signature(get)
    assert list(signature.parameters) == ["user_id", "detail"]
    assert signature.return_annotation == "tuple[int, bool]"
    assert get.__wrapped__.__name__ == "get"  # type: ignore[attr-defined]
    assert get.migration_name == "users.get"  # type: ignore[attr-defined]


def test_string_side_on_a_plain_function_fails_as_that_side() -> None:
    """A side named by string needs an instance: on a plain function that side fails."""

    @migration(new="_missing")
    def lookup(key: str) -> str:
        return key.upper()

    configure(provider=StaticStageProvider("shadow"))
    assert lookup("a") == "A"
    configure(provider=StaticStageProvider("live"))
    with pytest.raises(AttributeError):
        lookup("a")
