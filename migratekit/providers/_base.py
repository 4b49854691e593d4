"""
What every stage provider shares: the protocols, reading a stage and a context
key, checking an answer, describing it, bounded memory and the after-fork hook.

A provider is any object with ``get_stage(name, context)`` answering a
:class:`~migratekit.Stage`, a stage name, or ``None`` for "no opinion, use the
default stage". It may raise: the caller of the migration never sees it (the
default stage is used and a ``migration.stage_error`` event says why). Raise
:class:`~migratekit.exceptions.StageError` with ``source`` and ``value`` to say
where the bad answer came from.

An ``async def aget_stage(name, context)`` is optional (see
:class:`AsyncStageProvider`): async migrations await it when the provider has
one, and call ``get_stage`` otherwise. ``describe(name, context)`` is optional
too: it tells ``migratekit stage NAME`` where the stage was read (see
:class:`Description`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, overload, runtime_checkable

from migratekit._events import ERROR_MESSAGE_LIMIT
from migratekit._resolve import answer_stage, parse_stage
from migratekit._text import plain_str, shown_repr, type_name
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError

__all__ = [
    "AsyncStageProvider",
    "BoundedCache",
    "Description",
    "StageProvider",
    "check_provider",
    "context_key",
    "describe_provider",
    "fit_message",
    "per_migration",
    "require_stage",
    "reset_after_fork",
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
    source and value failing a million times make one event. To keep serving
    through an outage, wrap the provider in
    :class:`~migratekit.providers.CachedStageProvider`: it answers the last
    stage it knew and reports the failure as that event.
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


def require_stage(what: str, value: object) -> Stage:
    """*value* as a Stage, or a ConfigurationError that names *what*."""
    # type(), not isinstance(): an object may claim to be a Stage by its
    # __class__, and the answer is used as one (parse_stage sees through a str).
    if type(value) is Stage:
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
        f"{type_name(value)}); use one of {', '.join(s.name for s in Stage)}, "
        "e.g. Stage.SHADOW or 'shadow'"
    )


# -- messages ----------------------------------------------------------------------------------
#
# A provider's message becomes a stage_error event's ``error``, cut to 200
# characters, and the warning `migratekit stage NAME` prints. Cut at the end,
# it loses the fix, which is what the reader needs most: "...; write it whole,
# then rename it into …". So the parts a message quotes (a path, a key, a
# parser's words) give way instead, cut in their middle.

_KEPT_OF_A_PART = 16


def fit_message(template: str, /, **parts: str) -> str:
    """
    *template* with its ``{name}`` fields filled from *parts*, the parts cut
    in their middle (``/srv/app/…/stages.json``) as much as needed for the
    whole message to fit in an event's ``error`` (200 characters), so that
    the template's own words (what went wrong, what is used instead, the
    fix) are never the ones cut. The longest parts give way first, and none
    is cut below 16 characters. Literal braces in *template* are doubled.
    """
    room = ERROR_MESSAGE_LIMIT - len(template.format_map(dict.fromkeys(parts, "")))
    lengths = sorted(len(part) for part in parts.values())
    if sum(lengths) <= room:
        return template.format_map(parts)
    # The longest parts are cut to one length, the most that lets the rest fit:
    # since they do not all fit, some part is longer than its share.
    level = room
    for index, length in enumerate(lengths):  # pragma: no branch
        share = room // (len(lengths) - index)
        if length > share:
            level = share
            break
        room -= length
    level = max(level, _KEPT_OF_A_PART)
    return template.format_map(
        {name: _elided(part, level) if len(part) > level else part for name, part in parts.items()}
    )


def _elided(text: str, length: int) -> str:
    """*text* in *length* characters: its start and its end, with "…" for the middle."""
    head = (length - 1) // 2
    tail = length - 1 - head
    return text[:head] + "…" + text[len(text) - tail :]


T = TypeVar("T")


def per_migration(
    given: object, check: Callable[[str | None, Any], T], keys: str
) -> tuple[T | None, dict[str, T]]:
    """
    A provider's setting, given once for every migration or as a mapping
    from migration names: ``(value, {})`` or ``(None, {name: value})``, each
    value as *check* (``check(name, value)``, ``name`` ``None`` for the one
    value) returns it. A key that is no ``str`` is refused with *keys*, which
    says what the keys must be.
    """
    if not isinstance(given, Mapping):
        return check(None, given), {}
    checked: dict[str, T] = {}
    for name, value in given.items():
        if not isinstance(name, str):
            raise ConfigurationTypeError(
                f"{keys} (got {shown_repr(name)} that is a {type_name(name)})"
            )
        checked[name] = check(name, value)
    return None, checked


def check_provider(what: str, provider: object) -> None:
    """A ConfigurationTypeError that names *what*, unless *provider* has a ``get_stage``."""
    if not callable(getattr(provider, "get_stage", None)):
        raise ConfigurationTypeError(
            f"{what} must be a stage provider, an object with a get_stage(name, context) "
            f"method (got {shown_repr(provider)} that is a {type_name(provider)}); use "
            "migratekit.providers.StaticStageProvider('shadow') for a fixed stage, or "
            "write a class with that method"
        )


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


# -- describing an answer -----------------------------------------------------------------------
#
# ``migratekit stage NAME`` says which provider decided a stage and where it
# read it. Each provider of migratekit knows that about itself, so each has a
# ``describe(name, context)``; a wrapper describes by asking what it wraps.


class Description(NamedTuple):
    """What a provider answers for one migration and where it read it (``provider.describe``)."""

    stage: Stage | None
    """The stage answered, or ``None`` for no opinion (the default stage is used)."""
    provider: Any
    """The provider that answered: a wrapper names the provider it asked, not itself."""
    source: str | None
    """Where that provider read the stage: a variable and its value, a file and key, a
    Redis key, a flag; ``None`` when it cannot say (a provider of the application's own)."""
    failures: tuple[Exception, ...] = ()
    """Failures met on the way and passed over (a fallback member that raised)."""


def describe_provider(provider: Any, name: str, context: Any = None) -> Description:
    """
    *provider*'s :class:`Description` of migration *name*: from its own
    ``describe(name, context)`` when that gives one, else from its checked
    answer, without a source. Raises what the provider raises when asked.
    """
    own = getattr(provider, "describe", None)
    if callable(own):
        description = own(name, context)
        # A provider of the application's own may have a describe() of
        # another kind: only a Description is taken as one.
        if isinstance(description, Description):
            return description
    stage = answer_stage(provider, name, provider.get_stage(name, context))
    return Description(stage, provider, None)
