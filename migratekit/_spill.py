"""
Where :func:`migratekit.reconcile` keeps records that do not fit in memory:
temporary files, one per side and partition of the keys' hashes.

A record is kept as ``(key, value)``, pickled in chunks of a few hundred. All
records of one key land in the same partition of each side, so a partition
is matched on its own, with the old side's records of that partition in
memory. A partition still too big is split again, by another hash of the
same keys.

The files live in a private temporary directory (mode 0700, made by
:mod:`tempfile`) and are read back only by the process that wrote them,
which is why unpickling them is safe. Values exist only there: nothing read
back leaves :mod:`migratekit._reconcile` but keys and counts.
"""

from __future__ import annotations

import itertools
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["FANOUT", "UNUSABLE", "Partitions"]

FANOUT = 64
"""Partitions per side, at each level."""

_CHUNK = 512
"""Records pickled together: one ``pickle.dumps`` call for many records is much faster."""

_numbers = itertools.count()
_HEADER = struct.Struct("<QI")  # the chunk's length in bytes, and its number of records
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class _Unusable:
    """A record's value that cannot be compared: its normalize raised, or it cannot be kept."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "UNUSABLE"  # unpickled as this module's UNUSABLE: the same object

    def __repr__(self) -> str:
        return "UNUSABLE"


UNUSABLE = _Unusable()
"""Stands for the value of a record that cannot be compared."""

Failed = Callable[[int, str, BaseException, int], None]
"""How a partition reports records it could not keep: ``(side, where, exception, count)``."""


class Partitions:
    """
    Records of both sides (0: old, 1: new), partitioned by the hash of their
    key into :data:`FANOUT` files per side in *directory*. *level* 0 hashes
    the key; each deeper level hashes it with the level, so that a partition
    split again spreads out.
    """

    def __init__(self, directory: str, level: int, failed: Failed) -> None:
        self.directory = directory
        self.level = level
        self._failed = failed
        self._number = next(_numbers)
        self.counts = [[0] * FANOUT, [0] * FANOUT]
        self._buffers: list[list[list[tuple[Any, Any]]]] = [
            [[] for _ in range(FANOUT)], [[] for _ in range(FANOUT)]
        ]
        self._files = [
            [open(self._path(side, index), "wb") for index in range(FANOUT)]  # noqa: SIM115
            for side in (0, 1)
        ]

    def _path(self, side: int, index: int) -> str:
        return os.path.join(self.directory, f"{self._number}-{side}-{index}")

    def add(self, side: int, key: Any, value: Any) -> None:
        """Keep one record of *side*; *key* hashes (reconcile checked it)."""
        level = self.level
        index = (hash(key) if level == 0 else hash((level, key))) % FANOUT
        buffer = self._buffers[side][index]
        buffer.append((key, value))
        if len(buffer) >= _CHUNK:
            self._flush(side, index)

    def _flush(self, side: int, index: int) -> None:
        buffer = self._buffers[side][index]
        self._buffers[side][index] = []
        try:
            data = pickle.dumps(buffer, _PROTOCOL)
        except Exception:
            buffer = self._keepable(side, buffer)
            try:
                data = pickle.dumps(buffer, _PROTOCOL)
            except Exception as exc:  # each pickled alone, not together: none is kept
                self._failed(side, "store", exc, len(buffer))
                return
        file = self._files[side][index]
        file.write(_HEADER.pack(len(data), len(buffer)))
        file.write(data)
        self.counts[side][index] += len(buffer)

    def _keepable(self, side: int, buffer: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """*buffer* with what cannot be pickled left out (a key) or marked unusable (a value)."""
        kept = []
        for key, value in buffer:
            try:
                pickle.dumps(key, _PROTOCOL)
            except Exception as exc:
                self._failed(side, "store key", exc, 1)
                continue
            try:
                pickle.dumps(value, _PROTOCOL)
            except Exception as exc:
                self._failed(side, "store", exc, 0)
                kept.append((key, UNUSABLE))
            else:
                kept.append((key, value))
        return kept

    def close(self) -> None:
        """Write what is still buffered and close the files (before reading)."""
        for side in (0, 1):
            for index in range(FANOUT):
                if self._buffers[side][index]:
                    self._flush(side, index)
                self._files[side][index].close()

    def release(self) -> None:
        """Close the files without writing what is buffered (on the way out of a failed run)."""
        for files in self._files:
            for file in files:
                file.close()

    def read(self, side: int, index: int) -> Iterator[tuple[Any, Any]]:
        """The records of one partition of *side*, in the order kept; the file goes after."""
        path = self._path(side, index)
        with open(path, "rb") as file:
            while header := file.read(_HEADER.size):
                length, count = _HEADER.unpack(header)
                data = file.read(length)
                try:
                    chunk = pickle.loads(data)  # our own file, in our own private directory
                except Exception as exc:  # a value that pickles but does not unpickle
                    self._failed(side, "load", exc, count)
                    continue
                yield from chunk
        os.remove(path)
