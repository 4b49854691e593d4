"""Binding case: subclasses overriding the sides named by string."""

from __future__ import annotations

import pytest

from migratekit import configure, migration
from migratekit.providers import StaticStageProvider


class Base:
    def _old(self, key: str) -> str:
        return f"base-old:{key}"

    def _new(self, key: str) -> str:
        return f"base-new:{key}"

    @migration(old="_old", new="_new")
    def get(self, key: str) -> str:
        raise AssertionError("old is named, so the decorated body never runs")


class Child(Base):
    def _old(self, key: str) -> str:
        return f"child-old:{key}"

    def _new(self, key: str) -> str:
        return f"child-new:{key}"


@pytest.mark.parametrize(
    ("stage", "expected"),
    [("off", "child-old:k"), ("shadow", "child-old:k"), ("live", "child-new:k"),
     ("complete", "child-new:k")],
)
def test_subclass_overrides_are_called(stage: str, expected: str) -> None:
    """Sides named by string resolve on the instance at call time, so overrides apply."""
    configure(provider=StaticStageProvider(stage))
    assert Child().get("k") == expected
    assert Base().get("k") == expected.replace("child", "base")
