"""
``--migration NAME`` and ``build_report(migrations=[...])``: which
migrations the report reads, by name or shell glob (:mod:`fnmatch`, case
sensitive: ``users.*``, ``orders.[gs]et``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from migratekit.report._constants import MAX_NAME_CHARS
from migratekit.report._strings import clean

_CACHE = 4096  # names whose answer is remembered: a log names few migrations


def patterns_from(value: object) -> tuple[str, ...] | None:
    """
    *value* (``None``, or an iterable of non-empty strings) as the patterns
    to select by; raises ``TypeError`` or ``ValueError`` saying what was
    expected when it is neither.
    """
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"migrations must be a list of names or shell globs (got the string "
                        f"{value!r:.60}); write migrations=[{value!r:.60}] for one")
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise TypeError("migrations must be a list of names or shell globs such as "
                        f"['users.*'] (got a {type(value).__name__})")
    patterns = tuple(value)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"each of migrations must be a name or a shell glob such as "
                            f"'users.*' (got a {type(pattern).__name__}: {pattern!r:.60})")
        if not pattern:
            raise ValueError("a migration pattern is empty: give a name or a shell glob such "
                             "as 'users.*'")
    if not patterns:
        raise ValueError("migrations is empty, so no migration would be read: give at least "
                         "one name or shell glob, or None for all")
    return patterns


class Selection:
    """The migrations to read: all when *patterns* is ``None``, else those matching one."""

    __slots__ = ("_known", "_match", "patterns")

    def __init__(self, patterns: Iterable[str] | None = None) -> None:
        self.patterns = patterns_from(patterns)
        self._match = None if self.patterns is None else re.compile(
            "|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in self.patterns)).match
        self._known: dict[str, bool] = {}

    def rejects(self, name: object) -> bool:
        """Whether *name*, a line's ``migration`` as read, names a migration not selected."""
        if self._match is None or type(name) is not str or not 0 < len(name) <= MAX_NAME_CHARS:
            return False  # all selected, or no name: the reader says what is wrong with it
        return clean(name) not in self

    def __contains__(self, name: str) -> bool:
        match = self._match
        if match is None:
            return True
        known = self._known.get(name)
        if known is None:
            known = match(name) is not None
            if len(self._known) < _CACHE:
                self._known[name] = known
        return known
