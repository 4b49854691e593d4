"""
Example calls: the ``call_id``s of a few calls per mismatch path and per
error type, so that a person can find the full events with ``grep``.

Only per-call events name calls (a summary counts them). The examples are
the last :data:`~migratekit.report._constants.EXAMPLES` distinct calls read
for each key, in the order read; memory is bounded by caps on the keys per
entry and on the keys of all entries together (:class:`Budget`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from migratekit.report._constants import (
    EXAMPLES,
    MAX_EXAMPLE_ERROR_TYPES,
    MAX_EXAMPLE_KEYS,
    MAX_EXAMPLE_PATHS,
)
from migratekit.report._strings import clean

NO_PATH = "(no path)"
"""The key of mismatches whose values had no structure to tell where they differ."""

_MAX_CALL_ID = 64


class Budget:
    """How many more keys (paths, error types) may keep examples, over all entries."""

    __slots__ = ("left",)

    def __init__(self, keys: int = MAX_EXAMPLE_KEYS) -> None:
        self.left = keys


class Examples:
    """The example calls of one migration, stage and operation."""

    __slots__ = ("_budget", "errors", "paths")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self.paths: dict[str, deque[str]] = {}
        self.errors: dict[str, dict[str, deque[str]]] = {"old": {}, "new": {}}

    def add_mismatch(self, call_id: object, paths: list[str]) -> None:
        """Remember *call_id* as an example of each of *paths* (of :data:`NO_PATH` if none)."""
        name = _call_id(call_id)
        if name is None:
            return
        for path in paths or (NO_PATH,):
            self._add(self.paths, path, MAX_EXAMPLE_PATHS, name)

    def add_error(self, origin: str, exc_type: str, call_id: object) -> None:
        """Remember *call_id* as an example of *origin* failing with *exc_type*."""
        name = _call_id(call_id)
        if name is not None:
            self._add(self.errors[origin], exc_type, MAX_EXAMPLE_ERROR_TYPES, name)

    def _add(self, into: dict[str, deque[str]], key: str, cap: int, call_id: str) -> None:
        found = into.get(key)
        if found is None:
            if len(into) >= cap or self._budget.left <= 0:
                return
            self._budget.left -= 1
            found = into[key] = deque(maxlen=EXAMPLES)
        if call_id not in found:
            found.append(call_id)

    def to_json(self) -> dict[str, Any]:
        """``{"diff_paths": {path: [call_id, ...]}, "errors": {side: {exc_type: [...]}}}``."""
        return {
            "diff_paths": {path: list(ids) for path, ids in self.paths.items()},
            "errors": {origin: {kind: list(ids) for kind, ids in sorted(kinds.items())}
                       for origin, kinds in self.errors.items()},
        }


def _call_id(value: object) -> str | None:
    """*value* as an example: a string of 1 to 64 characters (a longer one is no id to grep)."""
    if type(value) is not str or not 0 < len(value) <= _MAX_CALL_ID:
        return None
    return clean(value)
