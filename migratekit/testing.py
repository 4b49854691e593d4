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
from migratekit._types import Stage
from migratekit.providers._base import require_stage

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


@contextlib.contextmanager
def force_stage(stage: Stage | str, name: Any = None) -> Iterator[None]:
    """
    Run the ``with`` block (or the decorated test) with *stage* forced: for
    the migration called *name*, or for every migration when *name* is
    ``None``. The process-wide provider in place before is restored after,
    even when the block raises.

    *name* is a migration's name (``"users.get"``) or a decorated function,
    whose ``migration_name`` is used.

    The forced stage comes before every provider, the process-wide one and
    a migration's own ``provider=`` alike, and applies to every thread while
    the block runs. Blocks nest: a stage forced for one name wins over one
    forced for all.

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
    forced = _config.own_stage(require_stage("force_stage(stage)", stage))
    if name is not None and not isinstance(name, str):
        found = getattr(name, "migration_name", None)
        if not isinstance(found, str):
            raise TypeError(
                "force_stage: 'name' must be a migration's name as a str or a function "
                f"decorated with @migration (got {name!r} that is a {type(name).__name__}); "
                "e.g. force_stage('shadow', name='users.get')"
            )
        name = found
    previous = _config.settings.forced
    # Blocks nest: an inner block adds to what the outer one forced, and
    # leaving it puts the outer one's back.
    _config.settings.forced = {**(previous or {}), name: forced}
    try:
        yield
    finally:
        _config.settings.forced = previous
