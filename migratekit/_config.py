"""
Process-wide settings: ``configure`` and ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migratekit import _pool, _resolve
from migratekit._settings import own_stage, settings
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
    _resolve.forget_all()
