"""
The default provider: stages from environment variables.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from migratekit._compat import environ_store
from migratekit._resolve import parse_stage
from migratekit._text import SHOWN_LIMIT, shown_repr, shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationTypeError, StageError
from migratekit.providers._base import BoundedCache, Description

__all__ = ["EnvStageProvider", "RawLookup", "stage_of_raw"]


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
        variables of *name* worked out once (the optional fast path of
        providers: a decorated migration asks it for its getter once).
        """
        get = self._getters.get(name)
        if get is not None:
            return get
        variable = self.variable_for(name)
        from_mapping = self._from_mapping
        environ_given = self._environ
        lookup = self.raw_lookup(name)

        if lookup is None:

            def get() -> Stage | None:
                environ = os.environ if environ_given is None else environ_given
                return from_mapping(environ, variable)

        else:
            environ, store, key, fallback = lookup

            # migratekit._runners inlines these lookups: change both together.
            def get() -> Stage | None:
                if os.environ is not environ:  # replaced (by a test): read what is there now
                    return from_mapping(os.environ, variable)
                raw = store.get(key)
                if raw is None:
                    raw = store.get(fallback)
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

    def raw_lookup(self, name: str) -> RawLookup | None:
        """
        Where the stage of *name* is read, as plain dictionary lookups; the
        fast path of a decorated call. ``None`` when this provider reads a
        mapping of its own, or ``os.environ`` is not the stdlib's.

        While ``os.environ`` is ``lookup.environ``, the stage is: no opinion
        when neither ``store.get(key)`` nor ``store.get(fallback)`` holds a
        value; else the stage of the first value found, by
        :func:`stage_of_raw` when it has seen that value, by
        :meth:`get_stage` when not.
        """
        if self._environ is not None:
            return None
        environ = os.environ
        found = environ_store(environ)
        if found is None:
            return None
        store, encode = found
        try:
            key, fallback = encode(self.variable_for(name)), encode(self.prefix)
        except Exception:  # a name the platform cannot encode: read through the Mapping
            return None
        return RawLookup(environ, store, key, fallback)

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

# The provider reads the environment's own store (migratekit._compat.environ_store):
# the stages of the raw values it has seen, bounded since values come from
# outside. A value not seen yet is read through the Mapping interface.
_RAW_STAGES: dict[Any, Stage] = {}
_RAW_STAGES_LIMIT = 256


def stage_of_raw(raw: Any) -> Stage | None:
    """The stage that the raw (encoded) value *raw* of a variable names, if it was seen before."""
    return _RAW_STAGES.get(raw)


class RawLookup(NamedTuple):
    """Where :class:`EnvStageProvider` reads one migration's stage: see its ``raw_lookup``."""

    environ: Any
    """``os.environ`` when the lookup was made: it holds while that is still so."""
    store: dict[Any, Any]
    """The environment's own dict, names and values encoded."""
    key: Any
    """The migration's variable, encoded."""
    fallback: Any
    """The prefix variable (``MIGRATEKIT_STAGE``), encoded."""

