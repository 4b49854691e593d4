"""
The process-wide settings, read on every call: a leaf module that everything
may import. ``configure`` and ``reset`` (migratekit._config) change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migratekit._types import Stage

__all__ = ["CALL_EVENTS", "DEFAULT_MAX_WARNINGS", "DEFAULT_SUMMARY_INTERVAL", "own_stage",
           "settings"]

DEFAULT_SUMMARY_INTERVAL = 10.0
DEFAULT_MAX_WARNINGS = 10.0
CALL_EVENTS = ("debug", "info", "off")
"""The levels a successful call's own events can go at (``off``: not at all)."""


class _Settings:
    """The process-wide defaults; read on every call, so kept to plain attributes."""

    __slots__ = (
        "call_events", "default_stage", "forced", "generation", "log_errors",
        "max_warnings_per_second", "provider", "readers", "summary_interval",
    )  # fmt: skip

    def __init__(self) -> None:
        self.generation: object = object()
        # migratekit._config puts the default provider here when it is imported.
        self.provider: Any = None
        self.default_stage: Stage = Stage.OFF
        # Stages forced by migratekit.testing.force_stage: {name: Stage}, with
        # the key None for every migration. Asked before any provider, even a
        # migration's own, so tests can force any migration.
        self.forced: dict[str | None, Stage] | None = None
        # What the `error` field of events says of an exception: see configure().
        self.log_errors: Callable[[BaseException], Any] | None = None
        # Summaries and per-call events: see configure().
        self.summary_interval: float | None = DEFAULT_SUMMARY_INTERVAL
        self.call_events: str = "debug"
        self.max_warnings_per_second: float | None = DEFAULT_MAX_WARNINGS
        # Metrics collectors that read the process's counts (migratekit.metrics):
        # while there is one, calls are counted whatever the logger emits.
        self.readers = 0

    def __setattr__(self, name: str, value: Any) -> None:
        # Every change makes a new generation: a call's quiet path keeps what
        # it worked out from the settings until the generation it saw is gone.
        object.__setattr__(self, name, value)
        object.__setattr__(self, "generation", object())


settings = _Settings()


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


