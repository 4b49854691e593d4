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
instance, a named tuple, an object) are shown as ``[?]`` too: that is the
shape of an index, where a record mixes fields of several kinds (``{"name":
"Ada", "address": {...}}``). A record whose every field is a nested record is
hidden the same way; hiding a field name costs a less precise path, showing
a handle costs a leak.

Records are mappings, dataclass instances, named tuples, and objects of
other classes than the standard library's (an ORM instance, a plain class),
walked by their public attributes: those of the instance's ``__dict__`` and
``__slots__``, read without running the object's code (no property, no
``__getattr__``, no lazy load). Two records of different kinds (an ORM
instance and the dict it should equal) are walked field by field.

Two lists (or tuples) whose every element is a record with a common key
field (``id``, ``key`` or ``pk``, the first that all have; or the
``diff_key`` given) are lists of records: their elements are matched by that
key, wherever they stand, and a difference inside a record reads
``users[*].bio``, never the key's value. A record whose key is on one side
only reads ``users[*]``. Lists of records too long to match within the
budget below are paired by position, their paths still named ``[*]``. Other
lists are compared position by position (``tags[2]``).

Each path is given once, however many records differ there.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Any

__all__ = ["DEFAULT_KEYS", "DIFF_PATHS_LIMIT", "diff_paths"]

DIFF_PATHS_LIMIT = 10
DEFAULT_KEYS = ("id", "key", "pk")
"""The key fields that match records in two lists, tried in this order."""
_MAX_DEPTH = 24
_MAX_NODES = 10_000
"""How many values a diff looks at, at most: it runs on the caller's path."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
_MAX_DIGITS = 2
_SCAN = 64
_INDEX_SCAN = 1_000
"""How many entries of an object's ``__dict__`` are looked at to find a public attribute."""


def diff_paths(old: Any, new: Any, limit: int = DIFF_PATHS_LIMIT,
               key: str | None = None) -> list[str]:
    """
    The distinct paths at which *old* and *new* differ, at most *limit* of
    them, in the order the structure of *old* lists them.

    Records (mappings, dataclass instances, named tuples, objects with public
    attributes), lists and tuples are walked; anything else is a leaf
    compared with ``==`` (strings and bytes-like values included). Two leaves
    that differ at the top give ``[]``: there is no structure to tell where.
    Records in two lists are matched by *key* (by default the first of
    :data:`DEFAULT_KEYS` they all have). At most 10,000 values are looked
    at: two big sequences that differ only at their end give the paths found
    by then.
    """
    paths: list[str] = []
    seen: set[str] = set()
    walk = _Walk((key,) if key is not None else DEFAULT_KEYS)
    for path in walk.values(old, new, "", 0):
        if path and path not in seen:
            seen.add(path)
            paths.append(path)
            if len(paths) >= limit:
                break
    return paths


def _key_path(prefix: str, key: object) -> str:
    if issubclass(type(key), str):
        name = str.__str__(key)  # a subclass's own methods never run
        if _NAME.match(name) and sum(c.isdigit() for c in name) <= _MAX_DIGITS:
            return f"{prefix}.{name}" if prefix else name
    return f"{prefix}[?]"


_MISSING: Any = object()


class _Walk:
    """One diff: the key fields that match records, and what is left of the budget."""

    __slots__ = ("budget", "keys")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.budget = _MAX_NODES

    def values(self, old: Any, new: Any, path: str, depth: int) -> Iterator[str]:
        self.budget -= 1
        if old is new or self.budget < 0:
            return
        if depth >= _MAX_DEPTH:
            if not _equal(old, new):
                yield path
            return
        if _is_mapping(old) and _is_mapping(new):
            keyed_by_data = (old or new) and _is_index(old) and _is_index(new)
            yield from self.pairs(_mapping_pairs(old, new), path, depth, bool(keyed_by_data))
            return
        old_fields, new_fields = _record(old), _record(new)
        if old_fields is not None and new_fields is not None:
            yield from self.pairs(_mapping_pairs(old_fields, new_fields), path, depth)
            return
        if _is_sequence(old) and _is_sequence(new):
            yield from self.sequences(old, new, path, depth)
            return
        if not _equal(old, new):
            yield path

    def pairs(self, pairs: Iterator[tuple[Any, Any, Any]], path: str, depth: int,
              keyed_by_data: bool = False) -> Iterator[str]:
        for key, old_value, new_value in pairs:
            where = f"{path}[?]" if keyed_by_data else _key_path(path, key)
            if old_value is _MISSING or new_value is _MISSING:
                self.budget -= 1  # a path said many times (``[?]``) counts towards the end
                yield where
            else:
                yield from self.values(old_value, new_value, where, depth + 1)
            if self.budget < 0:
                return

    def sequences(self, old: Any, new: Any, path: str, depth: int) -> Iterator[str]:
        matched = self.match(old, new)
        if type(matched) is tuple:
            where = f"{path}[*]"
            old_records, new_records = matched
            for key, record in old_records.items():
                other = new_records.get(key, _MISSING)
                if other is _MISSING:
                    self.budget -= 1
                    yield where
                else:
                    yield from self.values(record, other, where, depth + 1)
                if self.budget < 0:
                    return
            if any(key not in old_records for key in new_records):
                yield where
            return
        for index in range(max(len(old), len(new))):
            # Records too many to match by key are paired by position, and
            # still named [*]: a path reads the same whatever the lists' length.
            where = f"{path}[*]" if matched else f"{path}[{index}]"
            if index >= len(old) or index >= len(new):
                self.budget -= 1
                yield where
            else:
                yield from self.values(old[index], new[index], where, depth + 1)
            if self.budget < 0:
                return

    def match(self, old: Any, new: Any) -> tuple[dict[Any, Any], dict[Any, Any]] | bool:
        """
        The records of *old* and *new* by their key, when both are lists of
        records with a common key field; else ``False`` (compared by
        position); ``True`` when they look like such lists (their first
        elements are) but are too long to match within the budget.
        """
        count = len(old) + len(new)
        if not count:
            return False
        try:
            firsts = [_record(elements[0]) for elements in (old, new) if elements]
            if any(fields is None for fields in firsts):
                return False  # a list of values, not of records: at no cost
            if count > self.budget:
                return any(all(field in fields for fields in firsts) for field in self.keys)
            old_fields = _records(old)
            new_fields = _records(new)
            if old_fields is None or new_fields is None:
                return False
            for field in self.keys:
                old_records = _by_key(old, old_fields, field)
                if old_records is None:
                    continue
                new_records = _by_key(new, new_fields, field)
                if new_records is not None:
                    self.budget -= count  # every element was looked at
                    return old_records, new_records
        except Exception:  # a key that cannot be hashed or compared: by position
            return False
        return False


def _records(elements: Any) -> list[Any] | None:
    """The fields of each of *elements*; ``None`` as soon as one is not a record."""
    found = []
    for element in elements:
        fields = _record(element)
        if fields is None:
            return None
        found.append(fields)
    return found


def _by_key(elements: Any, fields: list[Any], field: str) -> dict[Any, Any] | None:
    """*elements* by the value of their *field*; ``None`` when one lacks it or two share it."""
    records: dict[Any, Any] = {}
    for element, found in zip(elements, fields, strict=True):
        key = found.get(field, _MISSING)
        if key is _MISSING or key in records:
            return None
        records[key] = element
    return records


def _mapping_pairs(old: Any, new: Any) -> Iterator[tuple[Any, Any, Any]]:
    # Lazily: the walk's budget may stop it long before a big mapping's end.
    for key, value in old.items():
        yield key, value, new.get(key, _MISSING)
    for key, value in new.items():
        if key not in old:
            yield key, _MISSING, value


# -- records -------------------------------------------------------------------------------------

_PLAIN = frozenset({int, float, complex, str, bytes, bytearray, bool, type(None), list, tuple,
                    set, frozenset, range, memoryview})
"""Classes whose instances are never records: the common leaves and containers, at once."""


def _record(value: Any) -> Any:
    """
    *value*'s fields as a mapping (``items``, ``get``, ``in``), or ``None``
    when it is not a record.
    """
    kind = type(value)
    if kind in _PLAIN:
        return None
    if issubclass(kind, Mapping):
        return value
    if _is_dataclass(kind):
        return {field.name: _field(value, field.name) for field in dataclasses.fields(kind)}
    if issubclass(kind, tuple):
        fields = getattr(kind, "_fields", None)
        if type(fields) is tuple:
            return dict(zip(fields, value, strict=False))
        return None
    return _Attributes.of(value)


# Whether a value is a mapping, a sequence, a dataclass instance is asked of
# its class, never of the value: isinstance() reads the value's __class__,
# which an object may make lie or raise.


def _is_mapping(value: Any) -> bool:
    return issubclass(type(value), Mapping)


def _is_dataclass(kind: type) -> bool:
    return not issubclass(kind, type) and hasattr(kind, "__dataclass_fields__")


def _field(value: Any, name: str) -> Any:
    try:
        return object.__getattribute__(value, name)
    except AttributeError:
        return _MISSING


_NOT_OBJECTS = (type, enum.Enum, Sequence, Set, types.ModuleType, types.FunctionType,
                types.BuiltinFunctionType, types.MethodType)
_CLASS_DICT: Any = type.__dict__["__dict__"]
_CLASS_MODULE: Any = type.__dict__["__module__"]
_CLASS_MRO: Any = type.__dict__["__mro__"]


class _Attributes:
    """
    The public attributes of an object, as a read-only mapping: those in its
    ``__dict__`` (read from the dict, lazily) and its ``__slots__`` (read
    through the slots' own descriptors). Nothing of the object's code runs.
    """

    __slots__ = ("instance", "slots")

    def __init__(self, instance: dict[str, Any], slots: dict[str, Any]) -> None:
        self.instance = instance
        self.slots = slots

    @classmethod
    def of(cls, value: Any) -> _Attributes | None:
        """*value*'s public attributes; ``None`` for a value the standard library defines,
        a class, a function, a module, a collection, or an object with no public attribute."""
        kind = type(value)
        try:
            module = _CLASS_MODULE.__get__(kind)
            if type(module) is not str or module.partition(".")[0] in sys.stdlib_module_names:
                return None
            if issubclass(kind, _NOT_OBJECTS):
                return None
            instance = _instance_dict(value, kind)
            slots = _slot_values(value, kind)
        except Exception:
            return None
        if slots or any(_public(name) for name in _first(instance)):
            return cls(instance, slots)
        return None

    def items(self) -> Iterator[tuple[str, Any]]:
        for name, value in self.instance.items():
            if _public(name):
                yield name, value
        yield from self.slots.items()

    def get(self, name: Any, default: Any = None) -> Any:
        if not _public(name):
            return default
        found = self.slots.get(name, _MISSING)
        if found is _MISSING:
            found = self.instance.get(name, _MISSING)
        return default if found is _MISSING else found

    def __contains__(self, name: Any) -> bool:
        return self.get(name, _MISSING) is not _MISSING


def _public(name: Any) -> bool:
    return type(name) is str and not name.startswith("_")


def _first(instance: dict[str, Any]) -> Iterator[Any]:
    for count, name in enumerate(instance):
        if count >= _SCAN:
            return
        yield name


def _instance_dict(value: Any, kind: type) -> dict[str, Any]:
    """
    *value*'s own ``__dict__``, read through the descriptor Python gives its
    class; ``{}`` when it has none, or when a class defines ``__dict__`` itself
    (a property, which would run the object's code).
    """
    for klass in _CLASS_MRO.__get__(kind):
        descriptor = _CLASS_DICT.__get__(klass).get("__dict__")
        if descriptor is None:
            continue
        if type(descriptor) is not types.GetSetDescriptorType:
            return {}
        found = descriptor.__get__(value, kind)
        return found if type(found) is dict else {}
    return {}


def _slot_values(value: Any, kind: type) -> dict[str, Any]:
    """The public slots of *value* that are set, read through the slots' descriptors."""
    values: dict[str, Any] = {}
    for klass in _CLASS_MRO.__get__(kind):
        declared = _CLASS_DICT.__get__(klass).get("__slots__", ())
        for name in (declared,) if type(declared) is str else declared:
            if not _public(name) or name in values:
                continue
            descriptor = _CLASS_DICT.__get__(klass).get(name)
            if type(descriptor) is not types.MemberDescriptorType:
                continue
            try:
                values[name] = descriptor.__get__(value, kind)
            except AttributeError:  # declared, never set
                continue
    return values


def _is_index(mapping: Mapping[Any, Any]) -> bool:
    """
    Whether every value of *mapping* is a record: the shape of an index keyed
    by data. Of a big mapping, the first :data:`_INDEX_SCAN` values tell (a
    wrong guess hides keys, never shows data).
    """
    return all(_is_record(value) for value in itertools.islice(mapping.values(), _INDEX_SCAN))


def _is_record(value: Any) -> bool:
    kind = type(value)
    if issubclass(kind, Mapping) or _is_dataclass(kind):
        return True
    if issubclass(kind, tuple):
        return hasattr(kind, "_fields")
    return kind not in _PLAIN and _Attributes.of(value) is not None


def _is_sequence(value: Any) -> bool:
    kind = type(value)
    return issubclass(kind, Sequence) and not issubclass(
        kind, (str, bytes, bytearray, memoryview, range)
    )


def _equal(old: Any, new: Any) -> bool:
    try:
        return bool(old == new)
    except Exception:
        return False
