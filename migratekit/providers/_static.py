"""
A provider that answers fixed stages: for tests, demos, and a stage pinned in code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migratekit._types import Stage
from migratekit.providers._base import Description, per_migration, require_stage

__all__ = ["StaticStageProvider"]


class StaticStageProvider:
    """
    Answers a fixed stage: the same for every migration, or per name from a
    mapping (names it does not list get the default stage).

    ``StaticStageProvider("shadow")``,
    ``StaticStageProvider({"users.get": Stage.LIVE})``.
    """

    __slots__ = ("_all", "_stages")

    def __init__(self, stage_or_mapping: Stage | str | Mapping[str, Stage | str]) -> None:
        self._all, self._stages = per_migration(
            stage_or_mapping,
            lambda name, stage: require_stage(
                "stage_or_mapping" if name is None else f"stage for {name!r}", stage),
            "StaticStageProvider: mapping keys must be migration names as str",
        )

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The fixed stage, the one listed for *name*, or ``None``."""
        if self._all is not None:
            return self._all
        return self._stages.get(name)

    def describe(self, name: str, context: Any = None) -> Description:
        """The stage for *name*; the source is the provider itself, as its repr shows it."""
        return Description(self.get_stage(name, context), self, repr(self))

    def __repr__(self) -> str:
        if self._all is not None:
            return f"StaticStageProvider({self._all.value!r})"
        return f"StaticStageProvider({ {k: v.value for k, v in self._stages.items()} !r})"
