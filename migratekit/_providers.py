"""
Stage providers: where a migration's stage comes from.

A provider is any object with ``get_stage(name, context)`` answering a
:class:`~migratekit.Stage`, a stage name, or ``None`` for "no opinion, use the
default stage". It may raise: the caller of the migration never sees it (the
default stage is used and a ``migration.stage_error`` event says why). Raise
:class:`~migratekit.exceptions.StageError` with ``source`` and ``value`` to say
where the bad answer came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from migratekit._errors import ConfigurationError, ConfigurationTypeError, StageError
from migratekit._types import Stage

__all__ = [
    "EnvStageProvider",
    "StageProvider",
    "StaticStageProvider",
    "parse_stage",
    "require_stage",
]


@runtime_checkable
class StageProvider(Protocol):
    """
    Tells which stage a migration is in.

    ``get_stage`` is called on every call of a migration, so it should be
    cheap; wrap a remote lookup in a cache. *context* is what the
    migration's ``context=`` callable returned for this call (``None`` when
    there is none), for providers that decide per user or per tenant.
    """

    def get_stage(self, name: str, context: Any = None) -> Stage | str | None:
        """The stage of migration *name*, a stage name, or ``None`` for the default."""
        ...  # pragma: no cover - protocol


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

    __slots__ = ("_environ", "_names", "prefix")

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
        self._names: dict[str, tuple[str, Any, Any]] = {}

    def variable_for(self, name: str) -> str:
        """The environment variable that sets the stage of migration *name*."""
        return f"{self.prefix}_{_NOT_NAME.sub('_', name.upper())}"

    def _keys(self, name: str) -> tuple[str, Any, Any]:
        keys = self._names.get(name)
        if keys is None:
            variable = self.variable_for(name)
            keys = (variable, _raw_key(variable), _raw_key(self.prefix))
            self._names[name] = keys
        return keys

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage set for *name*, or ``None`` when no variable sets one."""
        variable, key, global_key = self._keys(name)
        environ = self._environ
        if environ is None:
            raw = _read_environ(key, variable)
            if raw is None or not raw.strip():
                variable = self.prefix
                raw = _read_environ(global_key, variable)
        else:
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
        return stage

    def __repr__(self) -> str:
        return f"EnvStageProvider(prefix={self.prefix!r})"


# Reading os.environ through its Mapping interface encodes the key and decodes
# the value on every lookup, which is most of the cost of a call in stage OFF.
# The provider reads CPython's raw store with the key encoded once instead,
# and falls back to the Mapping interface when os.environ is not the stdlib's
# _Environ (replaced by a test, or another interpreter).


def _raw_key(variable: str) -> Any:
    encode = getattr(os.environ, "encodekey", None)
    if encode is None:
        return None
    try:
        return encode(variable)
    except Exception:
        return None


def _read_environ(key: Any, variable: str) -> str | None:
    environ = os.environ
    data = getattr(environ, "_data", None)
    if data is None or key is None:
        return environ.get(variable)
    raw = data.get(key)
    if raw is None:
        return None
    return environ.decodevalue(raw)


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
