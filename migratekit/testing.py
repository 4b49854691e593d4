"""
Helpers for testing code that uses migratekit: capture its events, force a stage.

>>> import migratekit
>>> from migratekit.testing import capture_events, force_stage
>>> def new_side(user_id):
...     return {"id": user_id, "name": "Ada"}
>>> @migratekit.migration(new=new_side, name="users.get")
... def get_user(user_id):
...     return {"id": user_id, "name": "Ada"}
>>> with force_stage("shadow"), capture_events() as events:
...     get_user(1)
{'id': 1, 'name': 'Ada'}
>>> [event["event"] for event in events]
['migration.result', 'migration.result', 'migration.op']
>>> events[-1]["consistent"]
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

from migratekit import _config
from migratekit._providers import StaticStageProvider, require_stage
from migratekit._types import Stage

__all__ = ["capture_events", "force_stage"]

EVENT_PREFIX = "migration."
"""Events whose name starts with this are migratekit's."""


class _Capture:
    """A structlog processor that keeps migratekit's events and drops every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> Any:
        name = event_dict.get("event")
        if isinstance(name, str) and name.startswith(EVENT_PREFIX):
            event = dict(event_dict)
            event.setdefault("log_level", "warning" if method_name == "warn" else method_name)
            self.events.append(event)
        raise structlog.DropEvent


@contextlib.contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """
    Capture the events migratekit emits inside the ``with`` block.

    Yields a list that fills as events are emitted: one dict per event, with
    its ``event`` name, its fields and its ``log_level`` (``"info"`` or
    ``"warning"``). Only migratekit's events (named ``migration.*``) are kept;
    while the block runs, no event reaches the configured processors or the
    log output. The previous structlog configuration is back afterwards.

    Levels are filtered as configured (structlog's default lets every level
    through): under a logger filtering at ``warning``, only warnings are
    captured, as only they would be logged.

    >>> import migratekit
    >>> from migratekit.testing import capture_events, force_stage
    >>> def new_side(user_id):
    ...     return None
    >>> @migratekit.migration(new=new_side, name="users.find")
    ... def find_user(user_id):
    ...     return {"id": user_id}
    >>> with force_stage("shadow"), capture_events() as events:
    ...     find_user(7)
    {'id': 7}
    >>> op = events[-1]
    >>> op["event"], op["consistent"], op["log_level"]
    ('migration.op', False, 'warning')
    """
    capture = _Capture()
    # The processors list is changed in place, as structlog.testing.capture_logs
    # does, so that loggers already cached (cache_logger_on_first_use=True),
    # which hold this very list, capture too.
    processors = structlog.get_config()["processors"]
    saved = list(processors)
    processors.clear()
    processors.append(capture)
    structlog.configure(processors=processors)
    try:
        yield capture.events
    finally:
        processors.clear()
        processors.extend(saved)
        structlog.configure(processors=processors)


class _ForcedStage:
    """Answers *stage* for the migration *name*, and asks *fallback* for the others."""

    __slots__ = ("fallback", "name", "stage")

    def __init__(self, name: str, stage: Stage, fallback: Any) -> None:
        self.name = name
        self.stage = stage
        self.fallback = fallback

    def get_stage(self, name: str, context: Any = None) -> Any:
        """*stage* for the forced migration; the fallback's answer otherwise."""
        if name == self.name:
            return self.stage
        return self.fallback.get_stage(name, context)

    async def aget_stage(self, name: str, context: Any = None) -> Any:
        """:meth:`get_stage` for async migrations, awaiting the fallback's when it has one."""
        if name == self.name:
            return self.stage
        aget_stage = getattr(self.fallback, "aget_stage", None)
        if aget_stage is None:
            return self.fallback.get_stage(name, context)
        return await aget_stage(name, context)

    def __repr__(self) -> str:
        return f"force_stage({self.stage.value!r}, name={self.name!r}, over {self.fallback!r})"


@contextlib.contextmanager
def force_stage(stage: Stage | str, name: Any = None) -> Iterator[None]:
    """
    Run the ``with`` block (or the decorated test) with *stage* forced: for
    the migration called *name*, or for every migration when *name* is
    ``None``. The process-wide provider in place before is restored after,
    even when the block raises.

    *name* is a migration's name (``"users.get"``) or a decorated function,
    whose ``migration_name`` is used.

    It replaces the process-wide provider (``migratekit.configure``), so it
    does not reach a migration that was given ``provider=`` on its
    decorator; give that one a
    :class:`~migratekit.providers.StaticStageProvider` in tests instead. It
    applies to every thread while the block runs.

    >>> import migratekit
    >>> from migratekit.testing import force_stage
    >>> def new_side():
    ...     return "new"
    >>> @migratekit.migration(new=new_side, name="greeting")
    ... def greeting():
    ...     return "old"
    >>> greeting()
    'old'
    >>> with force_stage(migratekit.Stage.LIVE, name="greeting"):
    ...     greeting()
    'new'
    >>> greeting()
    'old'
    """
    forced = require_stage("force_stage(stage)", stage)
    if name is not None and not isinstance(name, str):
        found = getattr(name, "migration_name", None)
        if not isinstance(found, str):
            raise TypeError(
                "force_stage: 'name' must be a migration's name as a str or a function "
                f"decorated with @migration (got {name!r} that is a {type(name).__name__}); "
                "e.g. force_stage('shadow', name='users.get')"
            )
        name = found
    previous = _config.settings.provider
    provider: Any = (
        StaticStageProvider(forced) if name is None else _ForcedStage(name, forced, previous)
    )
    _config.configure(provider=provider)
    try:
        yield
    finally:
        _config.configure(provider=previous)
