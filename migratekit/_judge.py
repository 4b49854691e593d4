"""
How a migration judges two reads: the comparison, ``normalize``, ``ignore``,
``check_ratio``, and where the values differ (migratekit._diff).

:class:`Judge` is the part of a migration's engine (migratekit._engine) that
compares; what it says of two reads is a :class:`Comparison`. What a
migration did not ask for costs its calls nothing: a migration without
``normalize`` compares with :meth:`Judge.compare_plain` itself, chosen once.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

from migratekit._compat import PROPAGATES, is_numpy_bool
from migratekit._diff import diff_paths
from migratekit._events import SideRun
from migratekit._options import Options
from migratekit._text import type_name
from migratekit._types import Origin

__all__ = ["CONSISTENT", "NOT_COMPARED", "Comparison", "Judge", "not_a_coroutine"]

OLD = Origin.OLD


class Comparison(NamedTuple):
    """What comparing two reads said: consistent or not (``None``: not compared), and why."""

    consistent: bool | None
    error: str | None
    """The class of the exception the comparison (or ``normalize``, ``ignore``) raised."""
    paths: list[str] | None
    types: tuple[str, str] | None = None
    """The names of the two values' classes (old, new) when they differ; else ``None``."""
    ignored: bool = False
    """The reads differed and ``ignore`` accepted it: ``consistent`` is ``None``."""


NOT_COMPARED = Comparison(None, None, None)
CONSISTENT = Comparison(True, None, None)


class Judge:
    """
    The comparison of a migration's reads, decided once from its options.

    Two values are judged as ``normalize`` gives them (when given): by
    ``compare`` (``==`` by default); when they differ, ``ignore`` may accept
    it; their classes are named when they differ. Nothing here raises an
    ``Exception`` of the user's code: it becomes a comparison that raised.
    """

    __slots__ = ("_checks", "check_ratio", "compare", "compare_values", "diff_key", "ignore",
                 "normalize")

    def __init__(self, options: Options, reads: bool) -> None:
        self.compare = options.compare
        self.check_ratio = options.check_ratio
        self._checks = itertools.count()
        self.normalize = options.normalize if reads else None
        self.ignore = options.ignore if reads else None
        self.diff_key = options.diff_key if reads else None
        # compare_values(old_value, new_value): the two values judged, never raising.
        self.compare_values: Callable[[Any, Any], Comparison] = (
            self.compare_plain if self.normalize is None else self.compare_normalized)

    def sampled(self) -> bool:
        """Whether this call's two reads are compared (``check_ratio``)."""
        ratio = self.check_ratio
        if ratio == 1:
            return True
        if ratio == 0:
            return False
        return next(self._checks) % ratio == 0

    def compare_runs(self, runs: list[SideRun]) -> Comparison:
        """Compare two successful reads, in any order, never raising."""
        a, b = runs
        old, new = (a, b) if a.origin is OLD else (b, a)
        if not (old.ok and new.ok) or not self.sampled():
            return NOT_COMPARED
        return self.compare_values(old.value, new.value)

    def compare_plain(self, old_value: Any, new_value: Any) -> Comparison:
        """
        ``compare(old_value, new_value)`` as a :class:`Comparison`, never
        raising: ``compare_values`` of a migration without ``normalize``.
        """
        try:
            if self.compare is None:
                verdict: Any = old_value == new_value
            else:
                verdict = self.compare(old_value, new_value)
        except BaseException as exc:
            return self.compare_failed(exc)
        return self.judge(verdict, old_value, new_value)

    def compare_normalized(self, old_value: Any, new_value: Any) -> Comparison:
        """
        :meth:`compare_plain` of the two values as ``normalize`` gives them:
        ``compare_values`` of a migration with ``normalize``. A ``normalize``
        that raises is a comparison that raised.
        """
        normalize: Callable[[Any], Any] = self.normalize  # type: ignore[assignment]
        try:
            old_value = not_a_coroutine(normalize(old_value), "normalize")
            new_value = not_a_coroutine(normalize(new_value), "normalize")
        except BaseException as exc:
            return self.compare_failed(exc)
        return self.compare_plain(old_value, new_value)

    def compare_failed(self, exc: BaseException) -> Comparison:
        """A comparison that raised *exc*: not compared, and why."""
        if isinstance(exc, PROPAGATES):
            raise exc
        return Comparison(None, type_name(exc), None)

    def judge(self, verdict: Any, old_value: Any, new_value: Any) -> Comparison:
        """
        What the comparison's answer *verdict* on the two values says; when
        they differ, what ``ignore`` says of them.
        """
        try:
            if verdict is not True and verdict is not False:
                verdict = _verdict(verdict)
        except BaseException as exc:
            return self.compare_failed(exc)
        if verdict is None:
            # Truthiness of an arbitrary object (None from a comparator that
            # forgot to return) is no verdict: it counts as not compared.
            return Comparison(None, "TypeError", None)
        types = None if type(old_value) is type(new_value) else (
            type_name(old_value), type_name(new_value))
        if verdict:
            return CONSISTENT if types is None else Comparison(True, None, None, types)
        if self.ignore is not None:
            try:
                accepted = self.ignore(old_value, new_value)
                if accepted is not True and accepted is not False:
                    accepted = _verdict(accepted)
            except BaseException as exc:
                return self.compare_failed(exc)
            if accepted is None:  # as for compare: an answer that is not a bool
                return Comparison(None, "TypeError", None)
            if accepted:
                return Comparison(None, None, None, types, True)
        return Comparison(False, None, _paths(old_value, new_value, self.diff_key), types)


def not_a_coroutine(answer: Any, hook: str) -> Any:
    """*answer* of a sync hook; a coroutine (an ``async def`` hook) is closed, and a TypeError."""
    if inspect.iscoroutine(answer):
        answer.close()
        raise TypeError(f"{hook} returned a coroutine; hooks are called, never awaited")
    return answer


def _verdict(answer: Any) -> bool | None:
    """What a comparison's answer that is not ``True`` or ``False`` says; ``None``: nothing."""
    if is_numpy_bool(answer):
        return bool(answer)  # inside the caller's guard: a look-alike may raise
    if inspect.iscoroutine(answer):  # an async comparison: never awaited, so closed
        answer.close()
    return None


def _paths(old: Any, new: Any, key: str | None) -> list[str] | None:
    try:
        return diff_paths(old, new, key=key) or None
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return None
