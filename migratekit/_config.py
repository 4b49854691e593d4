"""
Process-wide settings: ``configure`` and ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migratekit import _pool, _resolve, _summary
from migratekit._settings import (
    CALL_EVENTS,
    DEFAULT_MAX_WARNINGS,
    DEFAULT_SUMMARY_INTERVAL,
    own_stage,
    settings,
)
from migratekit._text import shown_repr
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import check_provider, require_stage
from migratekit.providers._env import EnvStageProvider

__all__ = ["configure", "own_stage", "reset", "settings"]

settings.provider = EnvStageProvider()


_UNSET: Any = object()


def configure(
    *,
    provider: Any = _UNSET,
    default_stage: Stage | str = _UNSET,
    shadow_workers: int = _UNSET,
    shadow_queue_size: int = _UNSET,
    log_errors: Callable[[BaseException], Any] | None = _UNSET,
    summary_interval: float | None = _UNSET,
    call_events: str = _UNSET,
    max_warnings_per_second: float | None = _UNSET,
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
    ``KeyError`` holds the key).

    *summary_interval* (default 10 seconds; ``None``: never) is how often a
    ``migration.summary`` event carries what the calls of each (migration,
    operation, stage) added up to; calls are counted while the logger emits
    ``info`` events (or a metrics collector reads the counts). *call_events*
    is the level of the per-call events of a call that went well (a success,
    reads that agree or were not compared): ``"debug"`` (the default),
    ``"info"`` or ``"off"``. Failures and inconsistencies are per-call
    ``warning`` events, at most *max_warnings_per_second* a second per
    migration (default 10; ``None``: all); the summary counts the rest.

    Arguments left out keep their current value; :func:`reset` restores the
    defaults.
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
    if summary_interval is not _UNSET and summary_interval is not None:
        summary_interval = _positive_seconds("summary_interval", summary_interval)
    if max_warnings_per_second is not _UNSET and max_warnings_per_second is not None:
        max_warnings_per_second = _positive_seconds("max_warnings_per_second",
                                                    max_warnings_per_second)
    if call_events is not _UNSET and call_events not in CALL_EVENTS:
        raise ConfigurationError(
            f"configure: 'call_events' must be one of {', '.join(map(repr, CALL_EVENTS))} "
            f"(got {shown_repr(call_events)}); 'debug' keeps a successful call's events out of "
            "production logs, 'info' puts them in, 'off' never builds them"
        )
    # Assigned only once every argument is known to be good: a bad call changes nothing.
    if provider is not _UNSET:
        settings.provider = provider
    if default_stage is not _UNSET:
        settings.default_stage = default_stage
    if log_errors is not _UNSET:
        settings.log_errors = log_errors
    if call_events is not _UNSET:
        settings.call_events = call_events
    if max_warnings_per_second is not _UNSET:
        settings.max_warnings_per_second = max_warnings_per_second
    if summary_interval is not _UNSET:
        settings.summary_interval = summary_interval
        _summary.restart(summary_interval)
    _pool.resize(workers, queue_size)


def _positive_seconds(option: str, value: Any) -> float:
    fix = f"e.g. {option}=10"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationTypeError(
            f"configure: {option!r} must be a number > 0, or None (got {shown_repr(value)} "
            f"that is a {type(value).__name__}); {fix}"
        )
    if not (0 < value < float("inf")):
        raise ConfigurationError(
            f"configure: {option!r} must be a number > 0, or None (got {value!r}); {fix}"
        )
    return float(value)


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
    """
    Restore the process-wide defaults: environment variables, and
    ``Stage.OFF``. What the calls added up to is emitted first (a last
    ``migration.summary``), then forgotten.
    """
    _summary.flush()
    _summary.forget()
    settings.summary_interval = DEFAULT_SUMMARY_INTERVAL
    settings.call_events = "debug"
    settings.max_warnings_per_second = DEFAULT_MAX_WARNINGS
    _summary.stop()  # the next counted call starts it again
    settings.provider = EnvStageProvider()
    settings.default_stage = Stage.OFF
    settings.forced = None
    settings.log_errors = None
    _pool.resize(_pool.DEFAULT_WORKERS, _pool.DEFAULT_QUEUE_SIZE)
    _resolve.forget_all()
