"""
A stage file as a store: its stages as they are on disk, changed on the
record, atomically and one writer at a time (``migratekit stage set|unset --file``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import stat
from datetime import date, datetime, time
from typing import Any

from migratekit._text import shown_value, type_name
from migratekit.exceptions import ConfigurationTypeError, StageError
from migratekit.providers import _file
from migratekit.providers._audit import (
    ANY,
    HISTORY_LIMIT,
    StageChange,
    StageStore,
    append_to_journal,
    kept,
    locked_journal,
    read_journal,
)
from migratekit.providers._base import fit_message

__all__ = ["StageFile"]

JOURNAL_SUFFIX = ".audit.jsonl"


class StageFile(StageStore):
    """
    A JSON or TOML stage file, as :class:`~migratekit.providers.FileStageProvider`
    reads it, to read and change stages in.

    :meth:`change_stage` takes the lock of the journal beside the file,
    ``<file>.audit.jsonl``, then reads the file, writes its new content to a
    temporary file in the same folder (with the same permissions), appends
    the change to the journal (flushed and fsynced), and renames the
    temporary file over the stage file. Processes reading the file see the
    old one or the new one, never half of one; two writers take turns, so
    each records the stage the other left. (An edit by hand does not take
    the lock: it is neither serialized nor recorded.) Should the rename
    fail, the journal's line is taken back.

    The file is written back flat, one key per migration in the order they
    were, new ones last: nested tables become dotted keys, which name the
    same migrations. A TOML file is written back only when it holds no
    ``#`` (comments would be lost) and only strings, numbers, booleans and
    dates; a file that cannot be parsed is not written at all.
    """

    __slots__ = ("_loads", "format", "journal", "path")

    def __init__(self, path: str | os.PathLike[str], *, format: str | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationTypeError(
                f"StageFile: 'path' must be a str or a path (got a {type_name(path)}); "
                "e.g. StageFile('/etc/myapp/stages.json')"
            )
        self.path = os.path.abspath(os.fspath(path))
        self._loads = _file._loader(self.path, format)
        self.format = format or os.path.splitext(self.path)[1].lstrip(".").lower()
        self.journal = self.path + JOURNAL_SUFFIX
        """The audit trail: ``<file>.audit.jsonl``, one JSON object per change."""

    def source_of(self, name: str) -> str:
        """The file and the key of migration *name*'s stage."""
        return f"{self.path} [{shown_value(name, 255)}]"

    def raw_stage(self, name: str) -> str | None:
        """What the file holds for *name* right now (not ``*``), unparsed; ``None`` when unset."""
        entries = self._entries(os.path.realpath(self.path))
        return None if entries is None or name not in entries else _text(entries[name])

    def stages(self) -> dict[str, str]:
        """Every migration the file names, and its value unparsed, sorted by name."""
        entries = self._entries(os.path.realpath(self.path)) or {}
        return {name: _text(entries[name]) for name in sorted(entries)}

    def stage_history(
        self, name: str | None = None, limit: int | None = HISTORY_LIMIT
    ) -> list[StageChange]:
        """
        The changes the journal records for migration *name* (``None``:
        every migration), the newest last; at most the *limit* newest
        (``None``: all of them).
        """
        return read_journal(self.journal, name, limit)

    def _commit(self, change: StageChange, expect: Any) -> tuple[bool, str | None]:
        # A link is followed: the file it points to is the one replaced.
        target = os.path.realpath(self.path)
        with locked_journal(self.journal) as journal:
            entries = self._entries(target, to_write=True)
            name = change.migration
            held = None if entries is None or name not in entries else entries[name]
            old = None if held is None else _text(held)
            if expect is not ANY and old != expect:
                return False, kept(old)
            record = dataclasses.replace(change, old=kept(old))
            if change.new is None and held is None:
                append_to_journal(journal, record)  # nothing to remove: on record all the same
                return True, record.old
            changed = dict(entries or {})
            if change.new is None:
                del changed[name]
            else:
                changed[name] = change.new
            temporary = _write_beside(target, self._dumps(changed))
            renamed = False
            try:
                size = append_to_journal(journal, record)
                try:
                    os.replace(temporary, target)
                except BaseException:
                    os.ftruncate(journal, size)
                    raise
                renamed = True
            finally:
                if not renamed:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary)
            _sync_folder(os.path.dirname(target))
        return True, record.old

    def _entries(self, target: str, *, to_write: bool = False) -> dict[str, object] | None:
        """
        What the file maps each name to, nested tables joined; ``None``: no
        file. *to_write*: refuse a file that cannot be written back whole.
        """
        try:
            data = _file._read_regular_file(target)
        except FileNotFoundError:
            return None
        except _file._NotRegular as exc:
            raise self._cannot("is {kind}, not a regular file", kind=exc.kind) from None
        except OSError as exc:
            raise self._cannot("cannot be read ({reason})", reason=exc.strerror or "") from None
        if data is None:
            raise self._cannot(f"is larger than {_file.MAX_FILE_SIZE} bytes")
        if not data.strip():
            return {}
        if to_write and self.format == "toml" and b"#" in data:
            raise self._cannot(
                "holds a '#': a comment, which writing it back would lose; edit it by hand, "
                "or take the comments out"
            )
        try:
            content = self._loads(data)
        except Exception as exc:
            raise self._cannot(
                "cannot be parsed ({error}); fix it by hand", error=_file._first_line(exc)
            ) from None
        if not isinstance(content, dict):
            raise self._cannot(
                "holds a {kind}, not a mapping of migration names to stages",
                kind=type_name(content),
            )
        try:
            return dict(_file._flatten(content))
        except _file._Unusable as exc:
            raise self._cannot(exc.what, **exc.parts) from None

    def _dumps(self, entries: dict[str, object]) -> bytes:
        if len(entries) > _file.MAX_ENTRIES:
            raise self._cannot(f"would name more than {_file.MAX_ENTRIES} migrations; not changed")
        if self.format == "json":
            text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate, read from a \\ud800 escape
                data = (json.dumps(entries, indent=2) + "\n").encode("ascii")
        else:
            lines = [f"{_toml_text(name)} = {self._toml_value(value)}"
                     for name, value in entries.items()]
            data = "".join(line + "\n" for line in lines).encode("utf-8")
        if len(data) > _file.MAX_FILE_SIZE:
            raise self._cannot(f"would be larger than {_file.MAX_FILE_SIZE} bytes; not changed")
        return data

    def _toml_value(self, value: object) -> str:
        if isinstance(value, str):
            return _toml_text(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        raise self._cannot(
            "holds a {kind}, which migratekit does not write back in TOML; edit it by hand",
            kind=type_name(value),
        )

    def _cannot(self, what: str, **parts: str) -> StageError:
        return StageError(
            fit_message(f"stage file {{path}} {what}", path=self.path, **parts),
            source=self.path,
        )

    def __repr__(self) -> str:
        return f"StageFile({self.path!r})"


def _text(value: object) -> str:
    """A value of the file as text: a string as it is, anything else as JSON would write it."""
    # Values come from the JSON or TOML parser: numbers, booleans, lists, dates.
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _toml_text(text: str) -> str:
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _write_beside(target: str, data: bytes) -> str:
    """A new file beside *target* holding *data*, on disk, with *target*'s permissions."""
    folder, base = os.path.split(target)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    temporary = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temporary, flags, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.chmod(temporary, mode)  # the umask may have taken bits off
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    os.close(fd)
    return temporary


def _sync_folder(folder: str) -> None:
    """Put the rename on disk: fsync the folder, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

