"""
Stages kept in a JSON or TOML file, reloaded when the file changes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any

from migratekit._config import report_stage_problem, settings
from migratekit._errors import ConfigurationError, ConfigurationTypeError, StageError
from migratekit._providers import parse_stage
from migratekit._types import Stage

if sys.version_info >= (3, 11):
    import tomllib

__all__ = ["FileStageProvider"]

DEFAULT_KEY = "*"

_RECENT_NS = 2_000_000_000

_FORMATS = ("json", "toml")


class _Snapshot:
    """What the file said when last read well, and what is wrong with it now, if anything."""

    __slots__ = ("default", "entries", "problem")

    def __init__(
        self,
        entries: dict[str, Stage | StageError],
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

    Failures never reach the caller, and each is reported once as a
    ``migration.stage_error`` event:

    - a missing file gives the default stage for every migration;
    - a file that cannot be parsed (half-written, invalid) keeps the stages
      last read from it, and so does a file that disappears after a good
      read (editors that save by delete-and-rewrite would otherwise flip a
      fleet to the default stage for a moment);
    - a value that is not a stage gives the default stage for the migrations
      it sets.
    """

    __slots__ = (
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
        self.reload()

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
        # A StageError kept from the last read, raised again on every call:
        # reset its traceback so that it does not grow with each raise.
        raise entry.with_traceback(None)

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
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._signature = None
            self._fail(
                "does not exist",
                None,
                "create it with a mapping of migration names to stages, "
                'e.g. {"users.get": "shadow", "*": "off"}',
            )
            return
        except OSError as exc:
            self._signature = None
            reason = exc.strerror or str(exc)
            self._fail(f"cannot be read ({reason})", reason, "check its permissions")
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        # File times tick in steps of a few milliseconds: a file rewritten
        # in place, to the same size, within one step of the last read would
        # look unchanged. So a file modified in the last couple of seconds is
        # read again at the next check, whatever its signature says.
        recent = time.time_ns() - stat.st_mtime_ns < _RECENT_NS
        self._signature = None if recent else signature
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._fail(f"cannot be read ({reason})", reason, "check its permissions")
            return
        if not data.strip():
            self._fail("is empty", "", "write a mapping of migration names to stages into it")
            return
        try:
            content = self._loads(data)
        except Exception as exc:
            # A half-written file is the common case: writers should rename
            # a complete file into place instead.
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._fail(
                f"cannot be parsed ({error})", error, "write it whole, then rename it into place"
            )
            return
        if not isinstance(content, Mapping):
            self._fail(
                f"holds a {type(content).__name__}, not a mapping",
                type(content).__name__,
                'it must map migration names to stages, e.g. {"users.get": "shadow"}',
            )
            return
        self._snapshot = _Snapshot(self._entries(content))
        self._read_ok = True

    def _fail(self, what: str, value: object, fix: str) -> None:
        # *value* is what was found (None for no file, "" for an empty one,
        # the parser's message): one event per distinct state of the file.
        using = (
            "keeping the stages last read from it" if self._read_ok else "using the default stage"
        )
        problem = StageError(
            f"stage file {self.path} {what}; {using}; {fix}",
            source=self.path,
            value=value,
        )
        self._snapshot = _Snapshot(self._snapshot.entries, problem)

    def _entries(self, content: Mapping[Any, Any]) -> dict[str, Stage | StageError]:
        entries: dict[str, Stage | StageError] = {}
        for key, value in _flatten(content):
            stage = parse_stage(value) if isinstance(value, str) else None
            if stage is not None:
                entries[key] = stage
                continue
            entries[key] = StageError(
                f"stage file {self.path}: {key!r} is set to {value!r}, which is not a stage; "
                f"expected one of {', '.join(s.value for s in Stage)} (any case)",
                source=f"{self.path} [{key}]",
                value=value,
            )
        return entries

    def __repr__(self) -> str:
        return f"FileStageProvider({self.path!r})"


def _flatten(content: Mapping[Any, Any], prefix: str = "") -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for key, value in content.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(_flatten(value, name + "."))
        else:
            items.append((name, value))
    return items


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
    return lambda data: loads(data.decode("utf-8"))


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
