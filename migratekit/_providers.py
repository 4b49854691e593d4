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

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from migratekit._errors import ConfigurationError, ConfigurationTypeError, StageError
from migratekit._types import Stage

__all__ = [
    "AsyncStageProvider",
    "EnvStageProvider",
    "StageProvider",
    "StaticStageProvider",
    "context_key",
    "parse_stage",
    "require_stage",
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
    if context is None or context.__class__ is str:
        return context
    if isinstance(context, str):
        return str(context)
    if isinstance(context, Mapping):
        for field in _KEY_FIELDS:
            value = context.get(field)
            if value is not None:
                return str(value)
        return str(context)
    for field in ("targeting_key", "key", "id"):
        value = getattr(context, field, None)
        if value is not None and not callable(value):
            return str(value)
    return str(context)


_FOLDED: dict[str, Stage | None] = {}
_FOLDED_LIMIT = 256


def parse_stage(value: str) -> Stage | None:
    """
    The stage named by *value*, in any case and with surrounding blanks
    ignored, or ``None`` when it names no stage.

    ``Stage.from_str`` keeps the seed's exact matching; this is the forgiving
    reading that providers use for values people type.
    """
    try:
        return _FOLDED[value]
    except KeyError:
        pass
    stage = Stage.from_str(value.strip().lower())
    # Remember what was seen, up to a bound: the values a process sees are
    # few (the six names in a couple of spellings), but they come from outside.
    if len(_FOLDED) < _FOLDED_LIMIT:
        _FOLDED[value] = stage
    return stage


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

    __slots__ = ("_environ", "_getters", "prefix")

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
        # name -> (variable, its key in os.environ's raw store, global key)
        # name -> its getter (see stage_getter); as many as there are migrations
        self._getters: dict[str, Callable[[], Stage | None]] = {}

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
                return from_mapping(environ_given or os.environ, variable)

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
            raise StageError(
                f"{variable}={raw!r} is not a stage; expected one of "
                f"{', '.join(s.value for s in Stage)} (any case)",
                source=variable,
                value=raw,
            )
        if len(_RAW_STAGES) < _FOLDED_LIMIT and environ is os.environ:
            with contextlib.suppress(Exception):
                _RAW_STAGES[os.environ.encodevalue(raw)] = stage
        return stage

    def __repr__(self) -> str:
        return f"EnvStageProvider(prefix={self.prefix!r})"


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
            f"{what} must name a stage (got {value!r}); use one of "
            f"{', '.join(repr(s.value) for s in Stage)}, in any case"
        )
    raise ConfigurationTypeError(
        f"{what} must be a Stage or a stage name (got {value!r} that is a "
        f"{type(value).__name__}); use one of {', '.join(s.name for s in Stage)}, "
        "e.g. Stage.SHADOW or 'shadow'"
    )
