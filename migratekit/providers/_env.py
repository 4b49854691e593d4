"""
The default provider: stages from environment variables.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from migratekit._text import SHOWN_LIMIT, shown_repr, shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationTypeError, StageError
from migratekit.providers._base import BoundedCache, Description, parse_stage

__all__ = ["EnvStageProvider"]


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
        if (
            len(_RAW_STAGES) < _RAW_STAGES_LIMIT
            and len(raw) <= SHOWN_LIMIT
            and environ is os.environ
        ):
            with contextlib.suppress(Exception):
                _RAW_STAGES[os.environ.encodevalue(raw)] = stage
        return stage

    def describe(self, name: str, context: Any = None) -> Description:
        """The stage set for *name*, and the variable that set it with its value."""
        stage = self.get_stage(name, context)
        variable, value = self._setting(name)
        # The value may be megabytes, or hold terminal escapes: shown bounded.
        return Description(stage, self, f"{variable}={shown_repr(value)}")

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
_RAW_STAGES_LIMIT = 256


def _raw_key(variable: str) -> Any:
    encode = getattr(os.environ, "encodekey", None)
    if encode is None:
        return None
    try:
        return encode(variable)
    except Exception:
        return None
