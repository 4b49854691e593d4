"""
Providers made of other providers: a TTL cache, a fallback chain, a percentage rollout.

Features are added by wrapping a provider rather than by growing options on
each one: ``CachedStageProvider(OpenFeatureStageProvider(...), ttl=5)``,
``FallbackStageProvider(FileStageProvider(path), EnvStageProvider())``.
Each wrapper has an ``aget_stage`` that awaits the wrapped provider's own
``aget_stage`` when it has one, so wrapping never makes an async provider block.
"""

from __future__ import annotations

import hashlib
import threading
import traceback
from collections.abc import Mapping
from time import monotonic
from typing import Any

from migratekit._resolve import answer_stage, report_stage_problem
from migratekit._settings import settings
from migratekit._text import SHOWN_LIMIT, shown_repr
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import (
    Description,
    check_provider,
    context_key,
    describe_provider,
    per_migration,
    require_stage,
    reset_after_fork,
)

__all__ = ["CachedStageProvider", "FallbackStageProvider", "PercentageRolloutProvider"]


async def _aask(provider: Any, name: str, context: Any) -> Stage | str | None:
    aget_stage = getattr(provider, "aget_stage", None)
    if aget_stage is None:
        answer: Stage | str | None = provider.get_stage(name, context)
        return answer
    answer = await aget_stage(name, context)
    return answer


class _Failure:
    """A cached exception, raised again on every hit until the entry expires."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        # The traceback's frames (finished by now) would keep every local
        # variable of the failed lookup alive as long as the entry: only
        # where it failed is kept.
        traceback.clear_frames(exc.__traceback__)
        self.exc = exc


def _bounded(provider: Any, name: str, answer: Any) -> Stage | str | None:
    """
    *answer* as the cache may keep it: a Stage, ``None`` or a short str as
    it is; anything else as the Stage it stands for, or a StageError raised
    with a bounded form of it.
    """
    if answer is None or type(answer) is Stage:
        return answer
    if type(answer) is str and len(answer) <= SHOWN_LIMIT:
        return answer
    return answer_stage(provider, name, answer)


# A context key longer than this is kept in the cache as its digest: keys
# come from callers' contexts and may be of any size.
_CONTEXT_KEY_LIMIT = 128


def _cache_key(name: str, context: Any) -> Any:
    key = context_key(context)
    if key is not None and len(key) > _CONTEXT_KEY_LIMIT:
        return (name, hashlib.blake2b(key.encode("utf-8", "surrogatepass")).digest())
    return (name, key)


class CachedStageProvider:
    """
    Remembers the answers of *provider* for *ttl* seconds.

    A fresh hit costs a dictionary lookup and a read of the monotonic clock,
    so a remote provider (an HTTP flag service, a database) is asked at most
    once per *ttl* per migration and context. Failures are remembered too:
    during *ttl* the same exception is raised again without asking, so a dead
    backend is not hammered (and is reported once, see :class:`StageProvider`).

    Answers are kept per migration name and, when *per_context* is true (the
    default), per :func:`~migratekit.providers.context_key` of the context;
    pass ``per_context=False`` for a provider that ignores the context, so
    that a million users share one entry. At most *maxsize* entries are kept;
    when full, expired entries go first, then the oldest.
    """

    __slots__ = ("__weakref__", "_cache", "_lock", "maxsize", "per_context", "provider", "ttl")

    def __init__(
        self,
        provider: Any,
        /,
        *,
        ttl: float = 1.0,
        maxsize: int = 4096,
        per_context: bool = True,
    ) -> None:
        check_provider("CachedStageProvider: 'provider'", provider)
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ConfigurationError(
                f"CachedStageProvider: 'ttl' must be a number of seconds above 0 (got {ttl!r}); "
                "use e.g. ttl=1.0 to ask the wrapped provider at most once a second"
            )
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(
                f"CachedStageProvider: 'maxsize' must be an int of at least 1 (got {maxsize!r}); "
                "it bounds how many (migration, context) answers are kept"
            )
        self.provider = provider
        self.ttl = float(ttl)
        self.maxsize = maxsize
        self.per_context = per_context
        # key -> (expiry on the monotonic clock, answer or _Failure); an
        # answer of any size is kept as no more than a short one (_bounded).
        self._cache: dict[Any, tuple[float, Any]] = {}
        # Taken to change the cache; renewed in a forked child (_after_fork).
        self._lock = threading.Lock()
        reset_after_fork(self)

    def _after_fork(self) -> None:
        # Held at the fork by another thread, the inherited lock would never
        # be released in the child, and its first cache miss would hang.
        self._lock = threading.Lock()

    def _key(self, name: str, context: Any) -> Any:
        if context is None or not self.per_context:
            return name
        return _cache_key(name, context)

    def get_stage(self, name: str, context: Any = None) -> Stage | str | None:
        """The wrapped provider's answer for *name*, from the cache while fresh."""
        key = name if context is None or not self.per_context else _cache_key(name, context)
        entry = self._cache.get(key)
        now = monotonic()
        if entry is not None and now < entry[0]:
            answer = entry[1]
            if answer.__class__ is _Failure:
                raise answer.exc.with_traceback(None)
            return answer  # type: ignore[no-any-return]
        provider = self.provider
        try:
            answer = _bounded(provider, name, provider.get_stage(name, context))
        except Exception as exc:
            self._store(key, now, _Failure(exc))
            raise
        self._store(key, now, answer)
        return answer

    async def aget_stage(self, name: str, context: Any = None) -> Stage | str | None:
        """:meth:`get_stage`, awaiting the wrapped provider's ``aget_stage`` on a miss."""
        key = self._key(name, context)
        entry = self._cache.get(key)
        now = monotonic()
        if entry is not None and now < entry[0]:
            return self._replay(entry[1])
        provider = self.provider
        try:
            answer = _bounded(provider, name, await _aask(provider, name, context))
        except Exception as exc:
            self._store(key, now, _Failure(exc))
            raise
        self._store(key, now, answer)
        return answer

    @staticmethod
    def _replay(answer: Any) -> Stage | str | None:
        if answer.__class__ is _Failure:
            # Without resetting the traceback, every raise of the same object
            # would add frames to it, and the cached exception would grow.
            raise answer.exc.with_traceback(None)
        return answer  # type: ignore[no-any-return]

    def _store(self, key: Any, now: float, answer: Any) -> None:
        cache = self._cache
        with self._lock:
            if key not in cache and len(cache) >= self.maxsize:
                expired = [k for k, (expiry, _) in cache.items() if expiry <= now]
                for k in expired:
                    del cache[k]
                if len(cache) >= self.maxsize:
                    # Dicts keep insertion order: the first key is the oldest.
                    del cache[next(iter(cache))]
            cache[key] = (now + self.ttl, answer)

    def describe(self, name: str, context: Any = None) -> Description:
        """The wrapped provider's description of *name*, asked afresh (the cache is not read)."""
        return describe_provider(self.provider, name, context)

    def clear(self) -> None:
        """Forget every cached answer: the next call of each migration asks again."""
        with self._lock:
            self._cache.clear()

    def __repr__(self) -> str:
        return f"CachedStageProvider({self.provider!r}, ttl={self.ttl!r})"


class FallbackStageProvider:
    """
    Asks *providers* in order; the first that answers a stage wins.

    A provider that answers ``None`` has no opinion and the next one is
    asked. One that raises, or answers something that is not a stage, is
    skipped too, and its failure is reported as a ``migration.stage_error``
    event (once per distinct failure) naming the stage finally used. When
    none answers, the default stage is used.

    ``FallbackStageProvider(RedisStageProvider(url), FileStageProvider(path))``
    keeps serving from a file when Redis has nothing to say.
    """

    __slots__ = ("providers",)

    def __init__(self, *providers: Any) -> None:
        if not providers:
            raise ConfigurationError(
                "FallbackStageProvider needs at least one provider (got none); pass them "
                "in the order they should be asked, e.g. "
                "FallbackStageProvider(FileStageProvider('stages.toml'), EnvStageProvider())"
            )
        for index, provider in enumerate(providers):
            check_provider(f"FallbackStageProvider: provider #{index + 1}", provider)
        self.providers: tuple[Any, ...] = providers

    # get_stage and aget_stage are twins that differ only where one calls and
    # the other awaits: change one, change the other.

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage of the first provider that answers one, or ``None``."""
        # Twin: aget_stage.
        failures: list[tuple[Any, Exception]] | None = None
        for provider in self.providers:
            try:
                stage = answer_stage(provider, name, provider.get_stage(name, context))
            except Exception as exc:
                if failures is None:
                    failures = []
                failures.append((provider, exc))
                continue
            if stage is not None:
                if failures:
                    _report_all(failures, name, stage)
                return stage
        if failures:
            _report_all(failures, name, settings.default_stage)
        return None

    async def aget_stage(self, name: str, context: Any = None) -> Stage | None:
        """:meth:`get_stage`, awaiting each provider's ``aget_stage`` when it has one."""
        # Twin: get_stage.
        failures: list[tuple[Any, Exception]] | None = None
        for provider in self.providers:
            try:
                stage = answer_stage(provider, name, await _aask(provider, name, context))
            except Exception as exc:
                if failures is None:
                    failures = []
                failures.append((provider, exc))
                continue
            if stage is not None:
                if failures:
                    _report_all(failures, name, stage)
                return stage
        if failures:
            _report_all(failures, name, settings.default_stage)
        return None

    def describe(self, name: str, context: Any = None) -> Description:
        """
        The description of the first provider that answers a stage (or no
        opinion), with the failures of the providers passed over on the way.
        """
        failures: list[Exception] = []
        for provider in self.providers:
            try:
                answer = describe_provider(provider, name, context)
            except Exception as exc:
                failures.append(exc)
                continue
            failures.extend(answer.failures)
            if answer.stage is not None:
                return answer._replace(failures=tuple(failures))
        return Description(None, None, None, tuple(failures))

    def __repr__(self) -> str:
        return f"FallbackStageProvider({', '.join(repr(p) for p in self.providers)})"


def _report_all(failures: list[tuple[Any, Exception]], name: str, stage: Stage) -> None:
    for provider, exc in failures:
        report_stage_problem(provider, name, exc, stage)


_ORDER = {stage: index for index, stage in enumerate(Stage)}
_BUCKETS = float(1 << 64)


class PercentageRolloutProvider:
    """
    Moves a stable *percent* of contexts (users, tenants) to a later *stage*.

    Each call's context key (:func:`~migratekit.providers.context_key`) is
    hashed with the migration's name (BLAKE2b, the same in every process and
    on every machine) into a point between 0 and 100; contexts below
    *percent* get *stage*, the others what *base* says (the default stage
    when *base* is ``None`` or has no opinion). So one user stays in one
    stage from call to call, and raising *percent* from 10 to 20 keeps the
    first 10% in and adds another 10%. Change *salt* to draw another set of
    contexts.

    A rollout only moves forward: a context whose base stage is already at or
    past *stage* keeps it. Calls without a context stay on the base stage,
    unless *percent* is 100.

    *percent* is one number for every migration, or a mapping from migration
    names (and ``"*"`` for the others) to numbers; names it does not list are
    not rolled out. A failure of *base* is reported (once per distinct
    failure) and the rollout still applies on top of the default stage.

    ``PercentageRolloutProvider(RedisStageProvider(url), stage="live", percent=5)``.
    """

    __slots__ = ("_all", "_percents", "_salt", "base", "stage")

    def __init__(
        self,
        base: Any = None,
        /,
        *,
        stage: Stage | str,
        percent: float | Mapping[str, float],
        salt: str = "",
    ) -> None:
        if base is not None:
            check_provider("PercentageRolloutProvider: 'base'", base)
        self.base = base
        self.stage = require_stage("PercentageRolloutProvider: 'stage'", stage)
        if not isinstance(salt, str):
            raise ConfigurationTypeError(
                f"PercentageRolloutProvider: 'salt' must be a str (got {salt!r} that is a "
                f"{type(salt).__name__}); any string, e.g. 'users-2024-06'"
            )
        self._salt = salt.encode("utf-8", "surrogatepass")
        self._all, self._percents = per_migration(
            percent,
            lambda key, value: _check_percent(
                "percent" if key is None else f"percent[{key!r}]", value),
            "PercentageRolloutProvider: 'percent' mapping keys must be migration names as str, "
            "or '*'",
        )

    def percent_for(self, name: str) -> float:
        """The percentage of contexts that migration *name* puts into :attr:`stage`."""
        if self._all is not None:
            return self._all
        percents = self._percents
        return percents.get(name, percents.get("*", 0.0))

    def point(self, name: str, key: str) -> float:
        """Where context *key* falls for migration *name*: a stable number in [0, 100)."""
        # surrogatepass: a key decoded with surrogateescape (a header, a file
        # name) has a point too; any other str encodes as plain UTF-8.
        digest = hashlib.blake2b(
            name.encode("utf-8", "surrogatepass") + b"\x00" + key.encode("utf-8", "surrogatepass"),
            digest_size=8,
            key=self._salt,
        ).digest()
        return int.from_bytes(digest, "big") / _BUCKETS * 100.0

    def in_rollout(self, name: str, context: Any) -> bool:
        """Whether *context* is among the contexts rolled out to :attr:`stage` for *name*."""
        percent = self.percent_for(name)
        if percent <= 0.0:
            return False
        if percent >= 100.0:
            return True
        key = context_key(context)
        if key is None:
            return False
        return self.point(name, key) < percent

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """:attr:`stage` for contexts in the rollout, the base stage for the others."""
        base = self.base
        if base is None:
            return self._decide(name, context, None, None)
        try:
            stage = answer_stage(base, name, base.get_stage(name, context))
        except Exception as exc:
            return self._decide(name, context, None, exc)
        return self._decide(name, context, stage, None)

    async def aget_stage(self, name: str, context: Any = None) -> Stage | None:
        """:meth:`get_stage`, awaiting the base provider's ``aget_stage`` when it has one."""
        base = self.base
        if base is None:
            return self._decide(name, context, None, None)
        try:
            stage = answer_stage(base, name, await _aask(base, name, context))
        except Exception as exc:
            return self._decide(name, context, None, exc)
        return self._decide(name, context, stage, None)

    def _decide(
        self, name: str, context: Any, base: Stage | None, failure: Exception | None
    ) -> Stage | None:
        current = settings.default_stage if base is None else base
        answer = base
        if _ORDER[self.stage] > _ORDER[current] and self.in_rollout(name, context):
            answer = self.stage
        if failure is not None:
            used = settings.default_stage if answer is None else answer
            report_stage_problem(self.base, name, failure, used)
        return answer

    def describe(self, name: str, context: Any = None) -> Description:
        """
        For a context in the rollout, :attr:`stage` and the rollout as its
        source (share, context key and its point); else the base provider's
        description, a failure of the base passed over as ``get_stage`` does.
        """
        base = Description(None, None, None)
        if self.base is not None:
            try:
                base = describe_provider(self.base, name, context)
            except Exception as exc:
                base = Description(None, None, None, (exc,))
        current = settings.default_stage if base.stage is None else base.stage
        if _ORDER[self.stage] > _ORDER[current] and self.in_rollout(name, context):
            where = f"{self.percent_for(name):g}% rollout to {self.stage.value}"
            key = context_key(context)
            if key is not None:
                where += f", context {shown_repr(key)} at {self.point(name, key):.2f}"
            return Description(self.stage, self, where, base.failures)
        return base

    def __repr__(self) -> str:
        percent = self._all if self._all is not None else self._percents
        return (
            f"PercentageRolloutProvider({self.base!r}, stage={self.stage.value!r}, "
            f"percent={percent!r})"
        )


def _check_percent(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ConfigurationError(
            f"PercentageRolloutProvider: {what!s} must be a number from 0 to 100 "
            f"(got {value!r}); e.g. percent=5 puts 5% of contexts into the later stage"
        )
    return float(value)
