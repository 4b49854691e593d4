"""
Stage providers: where a migration's stage comes from.

A provider is any object with ``get_stage(name, context)`` answering a
:class:`~migratekit.Stage`, a stage name, or ``None`` for "no opinion, use the
default stage". It may raise: the caller of the migration never sees it (the
default stage is used and a ``migration.stage_error`` event says why). Raise
:class:`~migratekit.exceptions.StageError` with ``source`` and ``value`` to say
where the bad answer came from.

An ``async def aget_stage(name, context)`` is optional (see
:class:`AsyncStageProvider`): async migrations await it when the provider has
one, and call ``get_stage`` otherwise.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import reprlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, Protocol, TypeVar, overload, runtime_checkable

from migratekit._errors import ConfigurationError, ConfigurationTypeError, StageError
from migratekit._types import Stage

__all__ = [
    "AsyncStageProvider",
    "BoundedCache",
    "EnvStageProvider",
    "StageProvider",
    "StaticStageProvider",
    "context_key",
    "parse_stage",
    "plain_str",
    "require_stage",
    "reset_after_fork",
    "shown_repr",
    "shown_value",
    "type_name",
]


@runtime_checkable
class StageProvider(Protocol):
    """
    Tells which stage a migration is in.

    ``get_stage`` is called on every call of a migration, so it should be
    cheap: a dictionary lookup, not a network round trip (wrap a remote
    lookup in :class:`~migratekit.providers.CachedStageProvider`). *context*
    is what the migration's ``context=`` callable returned for this call
    (``None`` when there is none), for providers that decide per user or per
    tenant; :func:`context_key` turns it into a string the usual way.

    The answer is a :class:`~migratekit.Stage`, a stage name (any case), or
    ``None`` for "no opinion": the process-wide default stage is used
    (``migratekit.configure(default_stage=...)``, ``OFF`` unless set).

    Failing is allowed and never reaches the caller of the migration: an
    exception raised here, or an answer that is not a stage, gives the
    default stage and one ``migration.stage_error`` event per distinct
    failure. Raise :class:`~migratekit.exceptions.StageError` with a stable
    message, a ``source`` (where the stage was looked for: a variable, a
    file, a key; never a password) and the ``value`` found there: the same
    source and value failing a million times make one event. A provider that
    can still answer after a failure (a cache serving the last stage it knew)
    reports the failure itself with ``migratekit._config.report_stage_problem``
    and returns that stage.
    """

    def get_stage(self, name: str, context: Any = None) -> Stage | str | None:
        """The stage of migration *name*, a stage name, or ``None`` for the default."""
        ...  # pragma: no cover - protocol


@runtime_checkable
class AsyncStageProvider(StageProvider, Protocol):
    """
    A :class:`StageProvider` that can also answer without blocking an event loop.

    ``async def`` migrations await ``aget_stage`` when the provider has it and
    call ``get_stage`` otherwise, so a provider only needs this when its
    lookup does I/O that it can do asynchronously. Answers and failures mean
    what they mean for ``get_stage``.
    """

    async def aget_stage(self, name: str, context: Any = None) -> Stage | str | None:
        """The stage of migration *name*, a stage name, or ``None`` for the default."""
        ...  # pragma: no cover - protocol


_KEY_FIELDS = ("targeting_key", "targetingKey", "key", "id")


def context_key(context: Any) -> str | None:
    """
    The string that identifies a call's *context* (a user, a tenant), or
    ``None`` when there is no context.

    A ``str`` is used as it is; a mapping by its ``"targeting_key"``,
    ``"targetingKey"``, ``"key"`` or ``"id"`` entry, the first present; an
    object by its ``targeting_key``, ``key`` or ``id`` attribute; anything
    else by ``str(context)``. Rollouts hash this key and feature-flag
    services target by it, so it must be stable for one user or tenant.
    """
    if context is None or type(context) is str:
        return context
    # The key is always a plain str: a str subclass's methods (which rollouts
    # and caches would call) may do anything, and type() cannot be lied to.
    if issubclass(type(context), str):
        return plain_str(context)
    if isinstance(context, Mapping):
        for field in _KEY_FIELDS:
            value = context.get(field)
            if value is not None:
                return _as_str(value)
        return _as_str(context)
    for field in ("targeting_key", "key", "id"):
        value = getattr(context, field, None)
        if value is not None and not callable(value):
            return _as_str(value)
    return _as_str(context)


def _as_str(value: object) -> str:
    if issubclass(type(value), str):
        return plain_str(value)  # type: ignore[arg-type]
    text = str(value)
    return text if type(text) is str else plain_str(text)


# -- values from outside ----------------------------------------------------------------------
#
# Everything a provider reads (a variable, a file, a Redis key, a flag service's
# answer) may be huge, binary or hostile. What a provider keeps of such a value
# (in a cache, in an exception it raises again) and what it shows (in a message,
# an event) is bounded: the value itself when it is short and printable,
# otherwise an escaped prefix with the value's length and a hash, so that two
# different values are still told apart.

SHOWN_LIMIT = 64
"""The longest value kept and shown as it is; longer ones are shown by :func:`shown_value`."""

_PREFIX = 32
_LONGEST_STAGE = max(len(stage.value) for stage in Stage)


def shown_value(value: object, limit: int = SHOWN_LIMIT) -> object:
    """
    *value*, read from outside, as a provider may keep it and show it.

    ``None``, booleans, floats, short integers and short printable strings
    (of exactly those types) are returned as they are. Anything else becomes
    a plain ``str``: the value (its text, bytes decoded as UTF-8, other
    objects by a bounded ``repr``) with unprintable characters escaped; when
    longer than *limit*, cut to a prefix followed by its length and the start
    of its SHA-256, so that values that differ stay apart. The result is at
    most about *limit* characters (plus escapes). Never raises an
    ``Exception``, and runs no method of a ``str``, ``bytes`` or ``int``
    subclass.
    """
    try:
        return _shown_value(value, limit)
    except Exception:
        return f"<{type_name(value)}>"


def shown_repr(value: object, limit: int = SHOWN_LIMIT) -> str:
    """
    *value*, read from outside, written for a message: its ``repr`` when
    short; else the ``repr`` of a prefix, then its length and hash, as
    :func:`shown_value` does. Never raises an ``Exception``.
    """
    try:
        kind = type(value)
        if issubclass(kind, str):
            text = plain_str(value)  # type: ignore[arg-type]
            if len(text) <= limit:
                return repr(text)
            return repr(text[: _prefix(limit)]) + _fingerprint(
                _utf8(text), len(text), "characters"
            )
        if issubclass(kind, (bytes, bytearray, memoryview)):
            data = _plain_bytes(value)  # type: ignore[arg-type]
            if len(data) <= limit:
                return repr(data)
            return repr(data[: _prefix(limit)]) + _fingerprint(data, len(data), "bytes")
        shown = _shown_value(value, limit)
        # Only None, a bool, a float or an int of exactly those types come back as they were.
        return repr(shown) if shown is value else str(shown)
    except Exception:
        return f"<{type_name(value)}>"


def _shown_value(value: object, limit: int) -> object:
    kind = type(value)
    if value is None or kind is bool or kind is float:
        return value
    if issubclass(kind, str):
        text = plain_str(value)  # type: ignore[arg-type]
        if len(text) <= limit:
            if text.isprintable():
                return value if kind is str else text
            return _printable(text)
        return _printable(text[: _prefix(limit)]) + _fingerprint(
            _utf8(text), len(text), "characters"
        )
    if issubclass(kind, (bytes, bytearray, memoryview)):
        data = _plain_bytes(value)  # type: ignore[arg-type]
        if len(data) <= limit:
            return _shown_value(data.decode("utf-8", errors="replace"), limit)
        head = data[: _prefix(limit)].decode("utf-8", errors="replace")
        return _printable(head) + _fingerprint(data, len(data), "bytes")
    if issubclass(kind, int):
        try:
            text = int.__repr__(value)
        except ValueError:  # more digits than str() may make
            return f"<int of {int.bit_length(value)} bits>"  # type: ignore[arg-type]
        if len(text) <= limit:
            return value if kind is int else text
        return text[: _prefix(limit)] + _fingerprint(text.encode(), len(text), "digits")
    if issubclass(kind, float):
        return float.__repr__(value)
    text = _bounded_repr(value)
    if len(text) <= limit:
        return _printable(text)
    return _printable(text[: _prefix(limit)]) + _fingerprint(_utf8(text), len(text), "characters")


def plain_str(value: str) -> str:
    """*value* as a plain str, copied from its data: no method of a str subclass runs."""
    return value if type(value) is str else "".join((value,))


def _plain_bytes(value: bytes | bytearray | memoryview) -> bytes:
    return value if type(value) is bytes else b"".join((value,))


def type_name(value: object) -> str:
    """The name of *value*'s class, read so that it cannot raise (a metaclass may make it)."""
    name: str = _TYPE_NAME.__get__(type(value))
    return name


_TYPE_NAME: Any = type.__dict__["__name__"]

class _BoundedRepr(reprlib.Repr):
    """
    ``repr`` that stops at a few levels and elements (``repr`` of a container
    is as big and as deep as the container), and names an object whose
    ``repr`` raises by its class alone, without its address, so that the
    same failure reads the same each time.
    """

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = builtins.repr(x)
            if type(text) is not str:
                text = plain_str(text)
        except Exception:
            return f"<{type_name(x)} whose repr() raised>"
        if len(text) > self.maxother:
            return text[: self.maxother] + "…"
        return text


_REPR = _BoundedRepr()
_REPR.maxlevel = 3
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdict = 8
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxlong = 40
_REPR.maxother = 300

# Default reprs hold the object's address: two equal failures would read as two.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _bounded_repr(value: object) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:
        return f"<{type_name(value)} whose repr() raised>"
    if type(text) is not str:
        return f"<{type_name(value)}>"
    return _ADDRESS.sub("", text)


def _prefix(limit: int) -> int:
    # Room for the fingerprint, about 45 characters, within the limit.
    return max(_PREFIX, limit - 50)


def _fingerprint(data: bytes, count: int, unit: str) -> str:
    return f"… ({count} {unit}, sha256:{hashlib.sha256(data).hexdigest()[:16]})"


def _utf8(text: str) -> bytes:
    # surrogatepass: a value decoded with surrogateescape (os.environ) hashes too.
    return text.encode("utf-8", errors="surrogatepass")


def _printable(text: str) -> str:
    # repr() escapes control characters, lone surrogates and other unprintable
    # characters; the quotes it adds are taken off again.
    return text if text.isprintable() else repr(text)[1:-1]


_FOLDED: dict[str, Stage | None] = {}
_FOLDED_LIMIT = 256


def parse_stage(value: str) -> Stage | None:
    """
    The stage named by *value*, in any case and with surrounding blanks
    ignored, or ``None`` when it names no stage.

    ``Stage.from_str`` keeps the seed's exact matching; this is the forgiving
    reading that providers use for values people type.
    """
    if type(value) is not str:
        if not issubclass(type(value), str):
            return None
        value = plain_str(value)  # no method of a str subclass runs
    try:
        return _FOLDED[value]
    except KeyError:
        pass
    stripped = value.strip()
    if len(stripped) > _LONGEST_STAGE:
        return None
    stage = Stage.from_str(stripped.lower())
    # Remember what was seen, up to a bound in count and in size: the values
    # a process sees are few (the six names in a couple of spellings), but
    # they come from outside.
    if len(_FOLDED) < _FOLDED_LIMIT and len(value) <= SHOWN_LIMIT:
        _FOLDED[value] = stage
    return stage


# -- caches and fork ----------------------------------------------------------------------------
#
# A child process inherits every lock as it was at the fork, held by threads
# that do not exist in the child, and every "a refresh is in flight" flag set
# by them: such a lock would block the child forever, such a flag keep it on
# a stale stage forever. Objects with either register here, weakly (a
# registered provider can still be collected), and get a fresh lock in the
# child, as migratekit._pool does for the shadow pool.

_FORK_SENSITIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Have ``obj._after_fork()`` called in the child process after every ``os.fork()``."""
    _FORK_SENSITIVE.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_FORK_SENSITIVE):
        # One object failing must not keep the others inherited as they were.
        with contextlib.suppress(Exception):
            obj._after_fork()


if hasattr(os, "register_at_fork"):  # pragma: no branch
    os.register_at_fork(after_in_child=_after_fork_in_child)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_D = TypeVar("_D")


class BoundedCache(Generic[K, V]):
    """
    A mapping that keeps at most *maxsize* entries, forgetting the least
    recently used first: the per-name and per-value memory of providers,
    whose keys come from callers or from outside.

    Reads take no lock (each step is one atomic operation of the dict);
    writes do, and the lock is renewed in a forked child.
    """

    __slots__ = ("__weakref__", "_data", "_lock", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        reset_after_fork(self)

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: _D) -> V | _D: ...

    def get(self, key: K, default: Any = None) -> Any:
        """The value of *key*, now the most recently used, or *default*."""
        data = self._data
        try:
            value = data[key]
            data.move_to_end(key)
        except KeyError:
            # Missing, or dropped by another thread in between: a miss either way.
            return default
        return value

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            data = self._data
            data[key] = value
            data.move_to_end(key)
            while len(data) > self.maxsize:
                data.popitem(last=False)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Forget *key*; its value, or *default*."""
        with self._lock:
            return self._data.pop(key, default)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


_NOT_NAME = re.compile(r"[^A-Z0-9]+")


class EnvStageProvider:
    """
    Reads stages from environment variables, on every call.

    ``MIGRATEKIT_STAGE_<NAME>`` sets the stage of one migration, where
    ``<NAME>`` is its name upper-cased with every run of characters other
    than ``A-Z`` and ``0-9`` turned into one ``_`` (``users.get`` is
    ``MIGRATEKIT_STAGE_USERS_GET``); ``MIGRATEKIT_STAGE`` sets it for all the
    others. Values are stage names in any case; blanks around them are
    ignored, and a variable holding only blanks counts as unset.

    A value that names no stage raises :class:`StageError`: the migration
    falls back to the default stage (not to ``MIGRATEKIT_STAGE``) and a
    ``migration.stage_error`` event names the variable and its value.
    """

    __slots__ = ("__weakref__", "_environ", "_getters", "prefix")

    def __init__(
        self, prefix: str = "MIGRATEKIT_STAGE", *, environ: Mapping[str, str] | None = None
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationTypeError(
                f"EnvStageProvider: 'prefix' must be a non-empty str (got {prefix!r}); "
                "pass the name of the variable that sets every migration's stage, "
                "such as 'MIGRATEKIT_STAGE'"
            )
        self.prefix = prefix
        self._environ = environ
        # name -> its getter (see stage_getter), about 2 KB each: bounded,
        # since get_stage may be asked about any number of names. Decorated
        # migrations keep their own getter and never come back here.
        self._getters: BoundedCache[str, Callable[[], Stage | None]] = BoundedCache(
            _GETTERS_LIMIT
        )

    def variable_for(self, name: str) -> str:
        """The environment variable that sets the stage of migration *name*."""
        return f"{self.prefix}_{_NOT_NAME.sub('_', name.upper())}"

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage set for *name*, or ``None`` when no variable sets one."""
        get = self._getters.get(name)
        if get is None:
            get = self.stage_getter(name)
        return get()

    def stage_getter(self, name: str) -> Callable[[], Stage | None]:
        """
        ``get_stage(name, None)`` as a function of no arguments, with the
        variables of *name* worked out once: what the decorator calls per call
        when this is its provider (the optional fast path of providers).
        """
        get = self._getters.get(name)
        if get is not None:
            return get
        variable = self.variable_for(name)
        key, global_key = _raw_key(variable), _raw_key(self.prefix)
        from_mapping = self._from_mapping
        environ_given = self._environ

        if environ_given is not None or key is None or global_key is None:

            def get() -> Stage | None:
                environ = os.environ if environ_given is None else environ_given
                return from_mapping(environ, variable)

        else:

            def get() -> Stage | None:
                environ = os.environ
                try:
                    data = environ._data  # type: ignore[attr-defined]
                except AttributeError:
                    return from_mapping(environ, variable)
                raw = data.get(key)
                if raw is None:
                    raw = data.get(global_key)
                    if raw is None:
                        return None
                # The raw bytes of a value seen before map straight to its
                # stage; only a new value is decoded and parsed.
                stage = _RAW_STAGES.get(raw)
                if stage is not None:
                    return stage
                return from_mapping(environ, variable)

        self._getters[name] = get
        return get

    def _from_mapping(self, environ: Mapping[str, str], variable: str) -> Stage | None:
        raw = environ.get(variable)
        if raw is None or not raw.strip():
            variable = self.prefix
            raw = environ.get(variable)
            if raw is None:
                return None
        stage = parse_stage(raw)
        if stage is None:
            if not raw.strip():
                return None
            # The value may be megabytes: the error (which a cache around
            # this provider may keep) holds what shown_value keeps of it.
            shown = shown_value(raw)
            raise StageError(
                f"{variable}={shown_repr(raw)} is not a stage; expected one of "
                f"{', '.join(s.value for s in Stage)} (any case)",
                source=variable,
                value=shown,
            )
        if len(_RAW_STAGES) < _FOLDED_LIMIT and len(raw) <= SHOWN_LIMIT and environ is os.environ:
            with contextlib.suppress(Exception):
                _RAW_STAGES[os.environ.encodevalue(raw)] = stage
        return stage

    def _setting(self, name: str) -> tuple[str, str]:
        """The variable that decides *name*'s stage and its value ('' when unset)."""
        environ = os.environ if self._environ is None else self._environ
        variable = self.variable_for(name)
        value = environ.get(variable)
        if value is None or not value.strip():
            variable = self.prefix
            value = environ.get(variable)
        return variable, value or ""

    def __repr__(self) -> str:
        return f"EnvStageProvider(prefix={self.prefix!r})"


_GETTERS_LIMIT = 4096

# Reading os.environ through its Mapping interface encodes the key and decodes
# the value on every lookup, which was most of the cost of a call in stage
# OFF. The provider reads CPython's raw store instead, with keys encoded once
# and known values mapped from their raw bytes; it falls back to the Mapping
# interface when os.environ is not the stdlib's _Environ (replaced by a test,
# or another interpreter) and for every value it has not seen yet.
_RAW_STAGES: dict[Any, Stage] = {}


def _raw_key(variable: str) -> Any:
    encode = getattr(os.environ, "encodekey", None)
    if encode is None:
        return None
    try:
        return encode(variable)
    except Exception:
        return None


class StaticStageProvider:
    """
    Answers a fixed stage: the same for every migration, or per name from a
    mapping (names it does not list get the default stage).

    ``StaticStageProvider("shadow")``,
    ``StaticStageProvider({"users.get": Stage.LIVE})``.
    """

    __slots__ = ("_all", "_stages")

    def __init__(self, stage_or_mapping: Stage | str | Mapping[str, Stage | str]) -> None:
        self._all: Stage | None = None
        self._stages: dict[str, Stage] = {}
        if isinstance(stage_or_mapping, Mapping):
            for name, stage in stage_or_mapping.items():
                if not isinstance(name, str):
                    raise ConfigurationTypeError(
                        "StaticStageProvider: mapping keys must be migration names as str "
                        f"(got {name!r} that is a {type(name).__name__})"
                    )
                self._stages[name] = require_stage(f"stage for {name!r}", stage)
        else:
            self._all = require_stage("stage_or_mapping", stage_or_mapping)

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The fixed stage, the one listed for *name*, or ``None``."""
        if self._all is not None:
            return self._all
        return self._stages.get(name)

    def __repr__(self) -> str:
        if self._all is not None:
            return f"StaticStageProvider({self._all.value!r})"
        return f"StaticStageProvider({ {k: v.value for k, v in self._stages.items()} !r})"


def require_stage(what: str, value: object) -> Stage:
    """*value* as a Stage, or a ConfigurationError that names *what*."""
    if isinstance(value, Stage):
        return value
    if isinstance(value, str):
        stage = parse_stage(value)
        if stage is not None:
            return stage
        raise ConfigurationError(
            f"{what} must name a stage (got {shown_repr(value)}); use one of "
            f"{', '.join(repr(s.value) for s in Stage)}, in any case"
        )
    raise ConfigurationTypeError(
        f"{what} must be a Stage or a stage name (got {shown_repr(value)} that is a "
        f"{type(value).__name__}); use one of {', '.join(s.name for s in Stage)}, "
        "e.g. Stage.SHADOW or 'shadow'"
    )
