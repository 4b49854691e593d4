"""
Where two results differ, as paths (``"address.zip"``, ``"tags[2]"``), never values.

Used for the ``diff_paths`` field of ``migration.op`` when a comparison finds
the two sides unequal. Only structure is reported: attribute names, and
mapping keys that look like field names (ASCII identifiers of at most 40
characters with at most two digits: ``zip``, ``address_line2``). A key that
could be data (a user id or handle, an e-mail address, a token, a number) is
shown as ``[?]`` so that no value leaks into logs.

A key can look like a name and still be data: ``{"ada_lovelace": {"plan":
...}}`` is an index of users by handle, not a record. So the keys of a
mapping whose every value is itself a record (a mapping, a dataclass
instance, a named tuple) are shown as ``[?]`` too: that is the shape of an
index, where a record mixes fields of several kinds (``{"name": "Ada",
"address": {...}}``). A record whose every field is a nested record is
hidden the same way; hiding a field name costs a less precise path, showing
a handle costs a leak.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["DIFF_PATHS_LIMIT", "diff_paths"]

DIFF_PATHS_LIMIT = 10
_MAX_DEPTH = 24
_MAX_NODES = 10_000
"""How many values a diff looks at, at most: it runs on the caller's path."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
_MAX_DIGITS = 2


def diff_paths(old: Any, new: Any, limit: int = DIFF_PATHS_LIMIT) -> list[str]:
    """
    The paths at which *old* and *new* differ, at most *limit* of them, in
    the order the structure of *old* lists them.

    Mappings, dataclass instances, named tuples, lists and tuples are walked;
    anything else is a leaf compared with ``==`` (strings and bytes-like
    values included). Two leaves that differ at the top give ``[]``: there is
    no structure to tell where. At most 10,000 values are looked at: two big
    sequences that differ only at their end give the paths found by then.
    """
    paths: list[str] = []
    for path in _walk(old, new, "", 0, [_MAX_NODES]):
        if path:
            paths.append(path)
            if len(paths) >= limit:
                break
    return paths


def _key_path(prefix: str, key: object) -> str:
    if (
        isinstance(key, str)
        and _NAME.match(key)
        and sum(c.isdigit() for c in key) <= _MAX_DIGITS
    ):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[?]"


def _walk(old: Any, new: Any, path: str, depth: int, budget: list[int]) -> Iterator[str]:
    budget[0] -= 1
    if old is new or budget[0] < 0:
        return
    if depth >= _MAX_DEPTH:
        if not _equal(old, new):
            yield path
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keyed_by_data = (old or new) and _is_index(old) and _is_index(new)
        yield from _walk_pairs(_mapping_pairs(old, new), path, depth, budget,
                               bool(keyed_by_data))
        return
    if (
        dataclasses.is_dataclass(old)
        and not isinstance(old, type)
        and type(old) is type(new)
    ):
        names = [field.name for field in dataclasses.fields(old)]
        pairs = [(name, getattr(old, name), getattr(new, name)) for name in names]
        yield from _walk_pairs(pairs, path, depth, budget)
        return
    fields = getattr(type(old), "_fields", None)
    if isinstance(old, tuple) and fields is not None and type(old) is type(new):
        yield from _walk_pairs(list(zip(fields, old, new, strict=False)), path, depth, budget)
        return
    if _is_sequence(old) and _is_sequence(new):
        for index in range(max(len(old), len(new))):
            where = f"{path}[{index}]"
            if index >= len(old) or index >= len(new):
                yield where
            else:
                yield from _walk(old[index], new[index], where, depth + 1, budget)
            if budget[0] < 0:
                return
        return
    if not _equal(old, new):
        yield path


_MISSING = object()


def _mapping_pairs(old: Mapping[Any, Any],
                   new: Mapping[Any, Any]) -> Iterator[tuple[Any, Any, Any]]:
    # Lazily: the walk's budget may stop it long before a big mapping's end.
    for key, value in old.items():
        yield key, value, new.get(key, _MISSING)
    for key, value in new.items():
        if key not in old:
            yield key, _MISSING, value


def _walk_pairs(pairs: Iterable[tuple[Any, Any, Any]], path: str, depth: int, budget: list[int],
                keyed_by_data: bool = False) -> Iterator[str]:
    for key, old_value, new_value in pairs:
        where = f"{path}[?]" if keyed_by_data else _key_path(path, key)
        if old_value is _MISSING or new_value is _MISSING:
            yield where
        else:
            yield from _walk(old_value, new_value, where, depth + 1, budget)
        if budget[0] < 0:
            return


def _is_index(mapping: Mapping[Any, Any]) -> bool:
    """Whether every value of *mapping* is a record: the shape of an index keyed by data."""
    return all(_is_record(value) for value in mapping.values())


def _is_record(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return True
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(
        value, (str, bytes, bytearray, memoryview, range)
    )


def _equal(old: Any, new: Any) -> bool:
    try:
        return bool(old == new)
    except Exception:
        return False
