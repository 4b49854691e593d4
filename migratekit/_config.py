"""
Process-wide settings, and asking a provider for a stage without ever failing.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

from migratekit import _events, _pool
from migratekit._compat import PROPAGATES, propagates_async
from migratekit._text import shown_repr, shown_value, type_name
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import answer_stage, require_stage
from migratekit.providers._env import EnvStageProvider

__all__ = [
    "aresolve_stage",
    "configure",
    "forget_stage_problems",
    "report_stage_problem",
    "reset",
    "resolve_stage",
    "settings",
    "stage_failed",
]


class _Settings:
    """The process-wide defaults; read on every call, so kept to plain attributes."""

    __slots__ = ("default_stage", "forced", "log_errors", "provider")

    def __init__(self) -> None:
        self.provider: Any = EnvStageProvider()
        self.default_stage: Stage = Stage.OFF
        # Stages forced by migratekit.testing.force_stage: {name: Stage}, with
        # the key None for every migration. Asked before any provider, even a
        # migration's own, so tests can force any migration.
        self.forced: dict[str | None, Stage] | None = None
        # What the `error` field of events says of an exception: see configure().
        self.log_errors: Callable[[BaseException], Any] | None = None


settings = _Settings()

_UNSET: Any = object()


def configure(
    *,
    provider: Any = _UNSET,
    default_stage: Stage | str = _UNSET,
    shadow_workers: int = _UNSET,
    shadow_queue_size: int = _UNSET,
    log_errors: Callable[[BaseException], Any] | None = _UNSET,
) -> None:
    """
    Set the process-wide defaults.

    *provider* answers the stage of every migration that was not given a
    provider of its own (by default an :class:`~migratekit.providers.EnvStageProvider`).
    *default_stage* is used when a provider has no answer or fails (by
    default ``Stage.OFF``). *shadow_workers* (default 8) bounds the threads
    that run PARALLEL, timed and background shadow reads, and
    *shadow_queue_size* (default 1024) how many may be outstanding before
    background shadows are dropped. *log_errors* decides what the ``error``
    field of ``migration.result`` events says of a side's exception, for the
    migrations that have no ``log_errors`` of their own: it is called with the
    exception and returns the text to log, or ``None`` to leave the message
    out (``exc_type`` still names the class); by default the field holds
    ``str(exc)``, cut to 200 characters, which may carry data (a
    ``KeyError`` holds the key). Arguments left out keep their current value;
    :func:`reset` restores the defaults.
    """
    if provider is not _UNSET:
        check_provider("configure: 'provider'", provider)
    if default_stage is not _UNSET:
        default_stage = own_stage(require_stage("configure: 'default_stage'", default_stage))
    workers, queue_size = _pool.pool_workers(), _pool.pool_queue_size()
    if shadow_workers is not _UNSET:
        workers = _positive_int("shadow_workers", shadow_workers)
    if shadow_queue_size is not _UNSET:
        queue_size = _positive_int("shadow_queue_size", shadow_queue_size)
    if log_errors is not _UNSET and log_errors is not None and not callable(log_errors):
        raise ConfigurationTypeError(
            f"configure: 'log_errors' must be a callable taking an exception and returning the "
            f"text to log, or None (got {shown_repr(log_errors)} that is a "
            f"{type(log_errors).__name__}); e.g. log_errors=lambda exc: type(exc).__name__"
        )
    # Assigned only once every argument is known to be good: a bad call changes nothing.
    if provider is not _UNSET:
        settings.provider = provider
    if default_stage is not _UNSET:
        settings.default_stage = default_stage
    if log_errors is not _UNSET:
        settings.log_errors = log_errors
    _pool.resize(workers, queue_size)


def _positive_int(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationTypeError(
            f"configure: {option!r} must be an int >= 1 (got {value!r} that is a "
            f"{type(value).__name__}); e.g. {option}=8"
        )
    if value < 1:
        raise ConfigurationError(
            f"configure: {option!r} must be an int >= 1 (got {value!r}); e.g. {option}=8"
        )
    return value


def reset() -> None:
    """Restore the process-wide defaults: environment variables, and ``Stage.OFF``."""
    settings.provider = EnvStageProvider()
    settings.default_stage = Stage.OFF
    settings.forced = None
    settings.log_errors = None
    _pool.resize(_pool.DEFAULT_WORKERS, _pool.DEFAULT_QUEUE_SIZE)
    with _seen_lock:
        _seen.clear()


def check_provider(what: str, provider: Any) -> None:
    """Raise a ConfigurationTypeError unless *provider* has a callable ``get_stage``."""
    if not callable(getattr(provider, "get_stage", None)):
        raise ConfigurationTypeError(
            f"{what} must be a stage provider, an object with a get_stage(name, context) "
            f"method (got {provider!r} that is a {type(provider).__name__}); use "
            "migratekit.providers.StaticStageProvider('shadow') for a fixed stage, or "
            "write a class with that method"
        )


# Each distinct failure is reported once per process, not once per call: a
# provider that fails fails on every call, and one event says it as well as a
# million. The memory is bounded, since values come from outside.
_seen: set[tuple[Any, ...]] = set()
_seen_lock = threading.Lock()
_SEEN_LIMIT = 4096


def _after_fork() -> None:
    # A thread of the parent, which the child does not have, may have held it.
    global _seen_lock  # noqa: PLW0603
    _seen_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork)


def resolve_stage(provider: Any, name: str, context: Any) -> Stage:
    """
    Ask *provider* for the stage of *name*; never raises an ``Exception``.

    A provider that raises, or answers something that is not a stage, gives
    the default stage and one ``migration.stage_error`` event per distinct
    failure.
    """
    forced = forced_stage(name)
    if forced is not None:
        return forced
    try:
        answer = provider.get_stage(name, context)
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return stage_failed(provider, name, exc)
    return stage_from_answer(provider, name, answer)


async def aresolve_stage(provider: Any, name: str, context: Any) -> Stage:
    """
    :func:`resolve_stage` for async code: awaits ``provider.aget_stage`` when
    the provider has one, and calls ``get_stage`` otherwise (awaiting what it
    returns when that is awaitable: an ``async def get_stage``).
    """
    forced = forced_stage(name)
    if forced is not None:
        return forced
    try:
        aget_stage = getattr(provider, "aget_stage", None)
        if aget_stage is not None:
            answer = await aget_stage(name, context)
        else:
            answer = provider.get_stage(name, context)
            if inspect.isawaitable(answer):
                answer = await answer
    except BaseException as exc:
        if propagates_async(exc):
            raise
        return stage_failed(provider, name, exc)
    return stage_from_answer(provider, name, answer)


def forced_stage(name: str) -> Stage | None:
    """The stage :func:`migratekit.testing.force_stage` set for *name*, if any."""
    forced = settings.forced
    if forced is None:
        return None
    return forced.get(name) or forced.get(None)


_OWN_STAGES = {stage.value: stage for stage in Stage}


def own_stage(stage: Stage) -> Stage:
    """
    *stage* as a member of the ``Stage`` class this module was imported
    with, which the engine's plans are keyed by. They differ only after
    ``importlib.reload(migratekit._types)`` (IPython's autoreload), which
    makes a second ``Stage`` class whose members name the same stages.
    """
    if stage.__class__ is Stage:
        return stage
    return _OWN_STAGES[stage.value]


def stage_from_answer(provider: Any, name: str, answer: Any) -> Stage:
    """
    The stage a provider's *answer* stands for (read by
    :func:`migratekit.providers._base.answer_stage`); the default when it
    stands for none. Never raises an ``Exception``: an answer is untrusted
    (an ORM row returned by mistake, a string whose methods raise) and
    whatever it does while it is read becomes the stage error.
    """
    try:
        if type(answer) is Stage:
            return answer
        stage = answer_stage(provider, name, answer)
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return stage_failed(provider, name, exc)
    return settings.default_stage if stage is None else own_stage(stage)


def stage_failed(provider: Any, name: str, exc: BaseException) -> Stage:
    """Report *exc* from *provider* once, and return the default stage to use instead."""
    default = settings.default_stage
    report_stage_problem(provider, name, exc, default)
    return default


def report_stage_problem(provider: Any, name: str, exc: BaseException, stage: Stage) -> None:
    """
    Emit ``migration.stage_error`` for *exc*, once per distinct failure, saying
    that *stage* is used instead. Never raises an ``Exception``.

    For providers that can still answer after a failure (a Redis provider
    serving the last stage it knew): they report here and return that stage.
    The same variable, key or file holding the same bad value is one failure,
    whichever migration ran into it; without a ``source`` on the exception,
    the failure is the provider's for this migration and this message.
    """
    try:
        fields = _problem(provider, name, exc, stage)
    except BaseException as failure:  # the exception fought back: say what can be said safely
        if isinstance(failure, PROPAGATES):
            raise
        fields = {"migration": name, "provider": type_name(provider), "source": None,
                  "value": None, "error": None, "exc_type": type_name(exc),
                  "stage": stage.value}
    # Remembered by a bounded fingerprint: the fields hold no more than a few
    # hundred characters, whatever the exception carried.
    key = (fields["source"], fields["value"], fields["exc_type"]) if fields["source"] else (
        fields["provider"], name, fields["exc_type"], fields["error"])
    with _seen_lock:
        if key in _seen:
            return
        if len(_seen) >= _SEEN_LIMIT:
            _seen.clear()
        _seen.add(key)
    _events.emit_stage_error(fields)


def _problem(provider: Any, name: str, exc: BaseException, stage: Stage) -> dict[str, Any]:
    source = getattr(exc, "source", None)
    value = getattr(exc, "value", None)
    return {
        "migration": name,
        "provider": type_name(provider),
        "source": None if source is None else _text(source),
        "value": None if value is None else _text(value),
        "error": _events.error_message(exc),
        "exc_type": type_name(exc),
        "stage": stage.value,
    }


def _text(value: object) -> str:
    """*value* as an event may show it: a short, printable string."""
    shown = shown_value(value, 100)
    return str.__str__(shown) if isinstance(shown, str) else repr(shown)


def forget_stage_problems(source_prefix: str) -> None:
    """
    Forget the reported failures whose ``source`` starts with *source_prefix*,
    so that the same failure is reported again when it comes back: a
    provider calls it when its backend has recovered, and the next outage
    gets an event of its own.
    """
    with _seen_lock:
        stale = [key for key in _seen
                 if isinstance(key[0], str) and key[0].startswith(source_prefix)]
        for key in stale:
            _seen.discard(key)


