"""
Stages kept in a JSON or TOML file, reloaded when the file changes.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from time import monotonic
from typing import Any

from migratekit._resolve import parse_stage, report_stage_problem
from migratekit._settings import settings
from migratekit._text import shown_repr, shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError, StageError
from migratekit.providers._base import Description, fit_message, reset_after_fork

if sys.version_info >= (3, 11):
    import tomllib

__all__ = ["FileStageProvider"]

DEFAULT_KEY = "*"

_RECENT_NS = 2_000_000_000

_FORMATS = ("json", "toml")

MAX_FILE_SIZE = 1 << 20
"""The largest stage file read (1 MiB); a larger one is a stage error, the last stages kept."""

MAX_ENTRIES = 10_000
"""The most migrations a stage file may name; more is a stage error, the last stages kept."""

MAX_NAME_LENGTH = 1024
"""The longest migration name (nested tables joined) a stage file may hold."""

# Opened without blocking (a FIFO put in the file's place would otherwise wait
# for a writer forever) and without becoming the controlling terminal.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _Invalid:
    """A file entry that is not a stage: what is kept of its value, and its key."""

    __slots__ = ("key", "shown")

    def __init__(self, key: str, shown: object) -> None:
        self.key = key
        self.shown = shown


class _Snapshot:
    """What the file said when last read well, and what is wrong with it now, if anything."""

    __slots__ = ("default", "entries", "problem")

    def __init__(
        self,
        entries: dict[str, Stage | _Invalid],
        problem: StageError | None = None,
    ) -> None:
        self.entries = entries
        self.default = entries.get(DEFAULT_KEY)
        self.problem = problem


class FileStageProvider:
    """
    Reads stages from a JSON or TOML file mapping migration names to stages.

    ``"*"`` sets the stage of the migrations the file does not name::

        # stages.toml
        "*" = "off"
        "users.get" = "shadow"

        [orders]            # nested tables join with dots: orders.save
        save = "dualwrite"

    The format comes from the suffix (``.json``, ``.toml``) or from *format*;
    TOML needs Python 3.11+ (or ``tomli`` installed).

    The file is checked for changes at most once every *check_interval*
    seconds, by the call that finds the interval over: one ``stat()`` then,
    and a read only when the file's size, modification time or inode
    changed. In between, a call costs a clock read and a dictionary lookup.
    Write the file atomically (write a temporary file, then rename it over)
    so that no process ever reads half of it.

    Only a regular file (or a link to one) of at most 1 MiB is read; a FIFO,
    a device or a directory in its place is never read, so a call never
    waits on it.

    Failures never reach the caller, and each is reported once as a
    ``migration.stage_error`` event:

    - a missing file gives the default stage for every migration;
    - a file that cannot be parsed (half-written, invalid) or used (not a
      regular file, over 1 MiB, naming more than 10,000 migrations, a key
      longer than 1,024 characters) keeps the stages last read from it, and
      so does a file that disappears after a good read (editors that save by
      delete-and-rewrite would otherwise flip a fleet to the default stage
      for a moment);
    - a value that is not a stage gives the default stage for the migrations
      it sets.
    """

    __slots__ = (
        "__weakref__",
        "_loads",
        "_next_check",
        "_read_ok",
        "_signature",
        "_snapshot",
        "check_interval",
        "path",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = 1.0,
        format: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationTypeError(
                f"FileStageProvider: 'path' must be a str or a path (got {path!r} that is a "
                f"{type(path).__name__}); e.g. FileStageProvider('/etc/myapp/stages.toml')"
            )
        if (
            isinstance(check_interval, bool)
            or not isinstance(check_interval, (int, float))
            or check_interval < 0
        ):
            raise ConfigurationError(
                "FileStageProvider: 'check_interval' must be a number of seconds, 0 or more "
                f"(got {check_interval!r}); e.g. check_interval=1.0 checks the file for "
                "changes at most once a second"
            )
        self.path = os.path.abspath(os.fspath(path))
        self.check_interval = float(check_interval)
        self._loads = _loader(self.path, format)
        self._signature: tuple[int, int, int] | None = None
        self._snapshot = _Snapshot({})
        self._next_check = 0.0
        self._read_ok = False
        reset_after_fork(self)
        self.reload()

    def _after_fork(self) -> None:
        # A thread of the parent may have been reading the file at the fork:
        # the child has the old stages, the new file's signature (taken
        # before the read) and a next check up to check_interval away, so it
        # would never read the file until it changes again. It reads the
        # file at its first call instead.
        self._signature = None
        self._next_check = 0.0

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage the file sets for *name*, or for ``"*"``, or ``None``."""
        if monotonic() >= self._next_check:
            self.reload()
        snapshot = self._snapshot
        entry = snapshot.entries.get(name, snapshot.default)
        if snapshot.problem is not None:
            used = entry if isinstance(entry, Stage) else settings.default_stage
            report_stage_problem(self, name, snapshot.problem, used)
        if entry is None or isinstance(entry, Stage):
            return entry
        raise self._invalid(entry)

    def describe(self, name: str, context: Any = None) -> Description:
        """The stage for *name*, and the file with the key that set it."""
        stage = self.get_stage(name, context)
        key = self.matched_key(name)
        # A key is read from the file: shown bounded, without terminal escapes.
        where = self.path if key is None else f"{self.path} [{shown_value(key, 255)}]"
        return Description(stage, self, where)

    def matched_key(self, name: str) -> str | None:
        """The key of the file that sets *name*'s stage: *name*, ``"*"``, or ``None``."""
        entries = self._snapshot.entries
        if name in entries:
            return name
        return DEFAULT_KEY if DEFAULT_KEY in entries else None

    def reload(self) -> None:
        """Check the file now, and read it again if it changed since the last read."""
        self._next_check = monotonic() + self.check_interval
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._signature = None
            self._fail(
                "does not exist",
                None,
                'create it with a mapping of names to stages, e.g. {{"users.get": "shadow"}}',
            )
            return
        except OSError as exc:
            self._unreadable(exc)
            return
        kind = _kind(info.st_mode)
        if kind is not None:
            self._not_regular(kind)
            return
        signature = (info.st_mtime_ns, info.st_size, info.st_ino)
        if signature == self._signature:
            return
        if info.st_size > MAX_FILE_SIZE:
            # Remembered: the same file is not reported again at each check.
            self._signature = signature
            self._too_large(info.st_size)
            return
        # File times tick in steps of a few milliseconds: a file rewritten
        # in place, to the same size, within one step of the last read would
        # look unchanged. So a file modified in the last couple of seconds is
        # read again at the next check, whatever its signature says.
        recent = time.time_ns() - info.st_mtime_ns < _RECENT_NS
        self._signature = None if recent else signature
        try:
            data = _read_regular_file(self.path)
        except _NotRegular as exc:
            self._not_regular(exc.kind)
            return
        except OSError as exc:
            self._unreadable(exc)
            return
        if data is None:
            self._too_large(None)
            return
        if not data.strip():
            self._fail("is empty", "", "write a mapping of migration names to stages into it")
            return
        try:
            content = self._loads(data)
        except Exception as exc:
            # A half-written file is the common case: writers should rename
            # a complete file into place instead.
            error = _first_line(exc)
            self._fail(
                "cannot be parsed ({detail})",
                error,
                "write it whole, then rename it into place",
                detail=error,
            )
            return
        if not isinstance(content, Mapping):
            self._fail(
                f"holds a {type(content).__name__}, not a mapping",
                type(content).__name__,
                'it must map migration names to stages, e.g. {{"users.get": "shadow"}}',
            )
            return
        try:
            entries = _entries(content)
        except _Unusable as exc:
            self._fail(exc.what, exc.value, exc.fix, **exc.parts)
            return
        self._snapshot = _Snapshot(entries)
        self._read_ok = True

    def _unreadable(self, exc: OSError) -> None:
        # Tried again at the next check, even if the file does not change.
        self._signature = None
        reason = exc.strerror or str(exc)
        self._fail("cannot be read ({detail})", reason, "check its permissions", detail=reason)

    def _not_regular(self, kind: str) -> None:
        self._signature = None
        self._fail(f"is {kind}, not a regular file", kind, "point it at a regular file")

    def _too_large(self, size: int | None) -> None:
        self._fail(
            f"is larger than {MAX_FILE_SIZE} bytes"
            + ("" if size is None else f" ({size} bytes)")
            + ", so it is not read",
            "too large",
            "a stage file only maps migration names to stages: keep it under 1 MiB",
        )

    def _fail(self, what: str, value: object, fix: str, **parts: str) -> None:
        # *value* is what was found (None for no file, "" for an empty one,
        # the parser's message): one event per distinct state of the file.
        # *what* and *fix* are templates of fit_message, filled from *parts*.
        using = (
            "keeping the stages last read from it" if self._read_ok else "using the default stage"
        )
        problem = StageError(
            fit_message(f"stage file {{path}} {what}; {using}; {fix}", path=self.path, **parts),
            source=self.path,
            value=value,
        )
        self._snapshot = _Snapshot(self._snapshot.entries, problem)

    def _invalid(self, entry: _Invalid) -> StageError:
        # Made on each call that meets the entry rather than kept per entry:
        # a file may name thousands of keys, and an error weighs hundreds of bytes.
        key = entry.key
        return StageError(
            fit_message(
                "stage file {path}: {key} is set to {value}, which is not a stage; expected "
                f"one of {', '.join(s.value for s in Stage)} (any case)",
                path=self.path,
                key=shown_repr(key),
                value=shown_repr(entry.shown),
            ),
            source=f"{self.path} [{shown_value(key, 255)}]",
            value=entry.shown,
        )

    def __repr__(self) -> str:
        return f"FileStageProvider({self.path!r})"


class _Unusable(Exception):
    """
    The file parsed, but cannot be used: *what* it does, and the *value*
    reported; *what* and *fix* are templates of fit_message, filled from *parts*.
    """

    def __init__(self, what: str, value: str, fix: str, **parts: str) -> None:
        super().__init__(what)
        self.what, self.value, self.fix, self.parts = what, value, fix, parts


def _entries(content: Mapping[Any, Any]) -> dict[str, Stage | _Invalid]:
    """The stages *content* sets, by migration name (nested tables join with dots)."""
    entries: dict[str, Stage | _Invalid] = {}
    for key, value in _flatten(content):
        if len(entries) >= MAX_ENTRIES and key not in entries:
            raise _Unusable(
                f"names more than {MAX_ENTRIES} migrations",
                "too many entries",
                "name only the migrations whose stage it sets, and '*' for the others",
            )
        stage = parse_stage(value) if isinstance(value, str) else None
        entries[key] = _Invalid(key, shown_value(value)) if stage is None else stage
    return entries


def _flatten(content: Mapping[Any, Any]) -> Iterator[tuple[str, object]]:
    # Iterative, and every name bounded: a TOML file of dotted keys can nest
    # deeper than the recursion limit, and a long table name repeated in
    # front of each of its keys would make a small file fill the memory.
    stack: list[tuple[str, Iterator[tuple[Any, Any]]]] = [("", iter(content.items()))]
    while stack:
        prefix, items = stack[-1]
        for key, value in items:
            name = f"{prefix}{key}"
            if len(name) > MAX_NAME_LENGTH:
                raise _Unusable(
                    f"has a key longer than {MAX_NAME_LENGTH} characters ({{key}})",
                    "key too long",
                    "keys are migration names",
                    key=shown_repr(name),
                )
            if isinstance(value, Mapping):
                stack.append((name + ".", iter(value.items())))
                break
            yield name, value
        else:
            stack.pop()


def _kind(mode: int) -> str | None:
    """What a file of *mode* is when it is not a regular file, else ``None``."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


class _NotRegular(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _read_regular_file(path: str) -> bytes | None:
    """
    The bytes of the regular file at *path*, or ``None`` when it holds more
    than :data:`MAX_FILE_SIZE`; raises _NotRegular for anything else (a FIFO
    or a device put in its place since it was checked), OSError when it
    cannot be read. Never blocks on a FIFO, never reads more than the cap.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _NotRegular(kind)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_SIZE:
            chunk = os.read(fd, MAX_FILE_SIZE + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_SIZE:
        return None
    return b"".join(chunks)


def _first_line(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:
        return type(exc).__name__
    line = text.splitlines()[0] if text.strip() else type(exc).__name__
    shown = shown_value(line, 200)
    return shown if isinstance(shown, str) else type(exc).__name__


def _loader(path: str, format: str | None) -> Callable[[bytes], object]:
    if format is None:
        format = os.path.splitext(path)[1].lstrip(".").lower()
        if format not in _FORMATS:
            raise ConfigurationError(
                f"FileStageProvider: cannot tell the format of {path!r} from its suffix; "
                "expected a name ending in .json or .toml; name the file so, or pass "
                "format='json' or format='toml'"
            )
    elif format not in _FORMATS:
        raise ConfigurationError(
            f"FileStageProvider: 'format' must be 'json' or 'toml' (got {format!r})"
        )
    if format == "json":
        return json.loads
    loads = _toml_loads()

    def load_toml(data: bytes) -> object:
        _check_toml_depth(data)
        return loads(data.decode("utf-8"))

    return load_toml


MAX_TOML_DOTS = 64
"""The most dots a line of a TOML stage file may hold (comment lines aside)."""


def _check_toml_depth(data: bytes) -> None:
    # The TOML parser's time grows with the square of a dotted key's depth: a
    # 1 MiB line of "a.a.a..." would take it hours. Keys nested that deep are
    # no migration names, so such a file is refused before it is parsed.
    for line in data.splitlines():
        if line.count(b".") > MAX_TOML_DOTS and not line.lstrip().startswith(b"#"):
            raise ValueError(
                f"a line holds more than {MAX_TOML_DOTS} dots"
            )


def _toml_loads() -> Callable[[str], dict[str, Any]]:
    if sys.version_info >= (3, 11):
        return tomllib.loads
    try:  # pragma: no cover - Python 3.10 only
        # Imported only when a TOML file is asked for: an optional package.
        import tomli  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:  # pragma: no cover - Python 3.10 only
        raise ConfigurationError(
            "FileStageProvider: reading a TOML file needs Python 3.11 or later, or the "
            "'tomli' package on Python 3.10; run `pip install tomli`, or use a .json file"
        ) from None
    return tomli.loads  # type: ignore[no-any-return,unused-ignore]  # pragma: no cover
