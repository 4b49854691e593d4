"""
``normalize=`` and ``diff_key=``: the values two reads are judged by.

``normalize`` is applied to each side's value before ``compare`` and
``diff_paths`` (and before the two values' classes are named); the caller
still gets the authoritative side's raw value. One that raises is a
comparison that raised, never the caller's problem. ``diff_key`` names the
field that matches records in two lists.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from structlog.testing import capture_logs

import migratekit
from migratekit import (
    ConfigurationError,
    ExecutionOrder,
    MigrationConfig,
    Migrator,
    Result,
    migration,
)
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import StaticStageProvider
from tests.helpers import ops
from tests.hostile import value_recipes

SHADOW = StaticStageProvider("shadow")


class OrmUser:
    """What an ORM's read returns: an instance with loaded columns and private state."""

    def __init__(self, user_id: int, name: str, bio: str | None) -> None:
        self._sa_instance_state = object()
        self.id = user_id
        self.name = name
        self.bio = bio


def as_dict(value: Any) -> Any:
    """The normalize of these tests: an ORM instance as the dict of its columns."""
    if isinstance(value, OrmUser):
        return {"id": value.id, "name": value.name, "bio": value.bio}
    return value


def user_read(new: Any, **options: Any) -> Any:
    @migration(new=new, provider=SHADOW, name="users.get", **options)
    def get(user_id: int) -> OrmUser:
        return OrmUser(user_id, "Ada", "old bio")

    return get


def test_normalize_makes_an_orm_instance_and_a_dict_comparable() -> None:
    """Equal after normalize: consistent, no types field; the caller gets the ORM instance."""
    get = user_read(lambda user_id: {"id": user_id, "name": "Ada", "bio": "old bio"},
                    normalize=as_dict)
    with capture_logs() as logs:
        user = get(7)
    assert isinstance(user, OrmUser)
    assert user.id == 7
    (op,) = ops(logs)
    assert op["consistent"] is True
    assert "types" not in op
    assert "diff_paths" not in op


def test_an_orm_instance_and_a_dict_that_differ_give_the_field() -> None:
    """ORM-like object against a dict, with normalize: diff_paths == ["bio"], a warning."""
    get = user_read(lambda user_id: {"id": user_id, "name": "Ada", "bio": "new bio"},
                    normalize=as_dict)
    with capture_logs() as logs:
        assert get(7).bio == "old bio"
    (op,) = ops(logs)
    assert op["consistent"] is False
    assert op["diff_paths"] == ["bio"]
    assert op["log_level"] == "warning"
    assert "types" not in op  # both are dicts once normalized


def test_without_normalize_the_same_values_differ_in_type() -> None:
    """The same sides, no normalize: == says they differ, and the op event names both types;
    their fields agree, so no path says where."""
    get = user_read(lambda user_id: {"id": user_id, "name": "Ada", "bio": "old bio"})
    with capture_logs() as logs:
        get(7)
    (op,) = ops(logs)
    assert op["consistent"] is False
    assert op["types"] == {"old": "OrmUser", "new": "dict"}
    assert "diff_paths" not in op


def test_compare_sees_the_normalized_values() -> None:
    """compare gets what normalize returned, old first."""
    seen: list[tuple[Any, Any]] = []

    def compare(old: Any, new: Any) -> bool:
        seen.append((old, new))
        return True

    get = user_read(lambda user_id: {"id": user_id, "name": "Ada", "bio": "b"},
                    normalize=as_dict, compare=compare)
    get(1)
    assert seen == [({"id": 1, "name": "Ada", "bio": "old bio"},
                     {"id": 1, "name": "Ada", "bio": "b"})]


@pytest.mark.parametrize("fails_on", ["old", "new"])
def test_a_normalize_that_raises_is_a_compare_error(fails_on: str) -> None:
    """normalize raising on either value: consistent null, compare_error names the class;
    the caller gets the raw value all the same."""

    def normalize(value: Any) -> Any:
        if (fails_on == "old") == isinstance(value, OrmUser):
            raise LookupError("cannot normalize")
        return as_dict(value)

    get = user_read(lambda user_id: {"id": user_id}, normalize=normalize)
    with capture_logs() as logs:
        assert get(3).id == 3
    (op,) = ops(logs)
    assert op["consistent"] is None
    assert op["compare_error"] == "LookupError"


def test_a_normalize_that_returns_a_coroutine_is_a_compare_error() -> None:
    """A lambda around an async function: the coroutine is closed (no never-awaited warning),
    and the comparison counts as one that raised TypeError."""

    async def convert(value: Any) -> Any:
        return value

    get = user_read(lambda user_id: {"id": user_id},
                    normalize=lambda value: convert(value))  # noqa: PLW0108 - sync, on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with capture_logs() as logs:
            get(1)
    (op,) = ops(logs)
    assert op["compare_error"] == "TypeError"


@settings(max_examples=60, deadline=None)
@given(recipe=value_recipes())
def test_a_normalize_that_returns_anything_never_reaches_the_caller(recipe: Any) -> None:
    """Whatever normalize returns (hostile objects, huge or recursive values), the caller
    gets the raw authoritative value and the call emits its op event."""
    migratekit.configure(max_warnings_per_second=None)
    raw = object()

    @migration(new=lambda: 1, provider=SHADOW, name="users.hostile",
               normalize=lambda value: recipe())
    def get() -> Any:
        return raw

    with capture_logs() as logs:
        assert get() is raw
    assert len(ops(logs)) == 1


def test_diff_key_matches_records_by_the_field_given() -> None:
    """Records keyed by user_id: a list in another order with one bio changed gives [*].bio."""
    old = [{"user_id": i, "bio": "b"} for i in range(10)]
    new = [{"user_id": i, "bio": "b" if i != 4 else "c"} for i in reversed(range(10))]

    @migration(new=lambda: new, provider=SHADOW, name="users.list", diff_key="user_id")
    def everyone() -> list[dict[str, Any]]:
        return old

    with capture_logs() as logs:
        everyone()
    (op,) = ops(logs)
    assert op["diff_paths"] == ["[*].bio"]


def test_normalize_applies_in_every_execution_order_and_in_async_code() -> None:
    """PARALLEL, a background shadow, and an async migration judge normalized values too."""
    new = lambda user_id: {"id": user_id, "name": "Ada", "bio": "old bio"}  # noqa: E731
    for options in ({"execution_order": ExecutionOrder.PARALLEL}, {"shadow": "background"},
                    {"execution_order": ExecutionOrder.RANDOM}):
        get = user_read(new, normalize=as_dict, **options)
        with capture_logs() as logs:
            get(1)
            migratekit.drain(10)
        assert [op["consistent"] for op in ops(logs)] == [True], options

    async def anew(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "name": "Ada", "bio": "changed"}

    @migration(new=anew, provider=SHADOW, name="users.aget", normalize=as_dict)
    async def aget(user_id: int) -> OrmUser:
        return OrmUser(user_id, "Ada", "old bio")

    with capture_logs() as logs:
        assert isinstance(asyncio.run(aget(2)), OrmUser)
    (op,) = ops(logs)
    assert (op["consistent"], op["diff_paths"]) == (False, ["bio"])


def test_the_migrator_takes_normalize_and_diff_key() -> None:
    """Migrator(normalize=..., diff_key=...) judges its reads as the decorator does."""
    migrator = Migrator(
        read=MigrationConfig(old=lambda user_id: Result.success(OrmUser(user_id, "Ada", "x")),
                             new=lambda user_id: Result.success(
                                 {"id": user_id, "name": "Ada", "bio": "y"})),
        provider=SHADOW, normalize=as_dict, diff_key="id",
    )
    with capture_logs() as logs:
        result = migrator.read("users.get", payload=5)
    assert isinstance(result.value, OrmUser)
    (op,) = ops(logs)
    assert (op["consistent"], op["diff_paths"]) == (False, ["bio"])


# -- decoration-time checks --------------------------------------------------------------------


async def _async_hook(*values: Any) -> Any:
    return values


@pytest.mark.parametrize(("option", "value", "error", "words"), [
    ("normalize", "lower", ConfigurationTypeError, "must be a callable normalize"),
    ("normalize", _async_hook, ConfigurationTypeError, "must be a sync callable"),
    ("ignore", 1, ConfigurationTypeError, "must be a callable ignore"),
    ("ignore", _async_hook, ConfigurationTypeError, "must be a sync callable"),
    ("diff_key", 5, ConfigurationTypeError, "non-empty str"),
    ("diff_key", "", ConfigurationTypeError, "non-empty str"),
])
def test_bad_options_fail_at_decoration(option: str, value: Any, error: type[Exception],
                                        words: str) -> None:
    """A wrong normalize, ignore or diff_key fails at once, on the decorator and the Migrator,
    saying what was expected."""
    with pytest.raises(error, match=words):
        migration(new=lambda: 1, **{option: value})(lambda: 1)
    with pytest.raises(error, match=words):
        Migrator(read=MigrationConfig(Result.success, Result.success), **{option: value})


@pytest.mark.parametrize(("option", "value"), [
    ("normalize", as_dict), ("ignore", lambda old, new: True), ("diff_key", "id"),
])
def test_judging_options_are_for_reads(option: str, value: Any) -> None:
    """normalize, ignore and diff_key on a write fail at decoration: writes are not compared."""
    with pytest.raises(ConfigurationError, match=f"'{option}' was given for a write"):
        migration.write(new=lambda: 1, **{option: value})(lambda: 1)
    with pytest.raises(ConfigurationError, match=f"'{option}' applies to reads"):
        Migrator(write=MigrationConfig(Result.success, Result.success), **{option: value})
