"""
Helpers for testing code that uses migratekit: capture or record its events,
force a stage. The pytest plugin (migratekit.pytest_plugin) is built on them.

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

__all__ = ["capture_events", "force_stage", "record_events"]

EVENT_PREFIX = "migration."
"""Events whose name starts with this are migratekit's."""


def _level(method_name: str) -> str:
    return "warning" if method_name == "warn" else method_name


def _is_migratekit_event(event_dict: MutableMapping[str, Any]) -> bool:
    name = event_dict.get("event")
    return isinstance(name, str) and str.startswith(name, EVENT_PREFIX)


class _Capture:
    """A structlog processor that keeps migratekit's events and drops every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> Any:
        if _is_migratekit_event(event_dict):
            event = dict(event_dict)
            event.setdefault("log_level", _level(method_name))
            self.events.append(event)
        raise structlog.DropEvent


class _Recorder:
    """
    A structlog processor that keeps a copy of each migratekit event and
    passes every event on, unchanged, to the processors after it.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> Any:
        # Recording is never a reason to lose the event: an event dict whose
        # copy fails (an application's own context_class) goes on unrecorded.
        with contextlib.suppress(Exception):
            if _is_migratekit_event(event_dict):
                event = dict(event_dict)
                event.setdefault("log_level", _level(method_name))
                self.events.append(event)
        return event_dict


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
    # record_events() blocks around this one keep recording what it captures.
    processors.extend(p for p in saved if isinstance(p, _Recorder))
    processors.append(capture)
    structlog.configure(processors=processors)
    try:
        yield capture.events
    finally:
        processors.clear()
        processors.extend(saved)
        structlog.configure(processors=processors)


@contextlib.contextmanager
def record_events() -> Iterator[list[dict[str, Any]]]:
    """
    Record the events migratekit emits inside the ``with`` block, and let
    them through to the configured processors and the log output as usual.

    Yields a list that fills as events are emitted: a copy of each
    migratekit event (named ``migration.*``) as it enters the processors,
    with its ``event`` name, its fields and its ``log_level``. Unlike
    :func:`capture_events`, nothing else changes: what the application's
    configuration writes is what it would write without the block. Levels
    are filtered as configured: a logger that drops ``debug`` records no
    ``debug`` event. Events of background shadows arrive when those end
    (:func:`migratekit.drain` waits for them).

    The recorder is the first processor of the list that
    ``structlog.get_config()["processors"]`` holds when the block starts:
    a ``structlog.configure(processors=...)`` or ``structlog.reset_defaults()``
    inside the block puts a new list in place, whose events are not
    recorded. A :func:`capture_events` block inside it records and captures.

    >>> import io
    >>> import migratekit, structlog
    >>> from migratekit.testing import force_stage, record_events
    >>> saved, out = structlog.get_config(), io.StringIO()
    >>> def render(logger, method_name, event_dict):
    ...     return f"{method_name}: {event_dict['event']}"
    >>> structlog.configure(processors=[render], logger_factory=structlog.PrintLoggerFactory(out))
    >>> @migratekit.migration(new=lambda user_id: None, name="users.lookup")
    ... def lookup(user_id):
    ...     return {"id": user_id}
    >>> with force_stage("shadow"), record_events() as events:
    ...     lookup(3)
    {'id': 3}
    >>> events[-1]["event"], events[-1]["consistent"], events[-1]["log_level"]
    ('migration.op', False, 'warning')
    >>> out.getvalue().splitlines()[-1]  # and the configured output is as it was
    'warning: migration.op'
    >>> structlog.configure(**saved)
    """
    recorder = _Recorder()
    processors = structlog.get_config()["processors"]
    if isinstance(processors, list):
        # In place, as capture_events does: loggers cached on first use hold this list.
        processors.insert(0, recorder)
        try:
            yield recorder.events
        finally:
            _remove(processors, recorder)
            _remove(structlog.get_config()["processors"], recorder)
        return
    # An application that configured a tuple (or any other iterable): a list
    # for the block, and its own object back after, unless it was replaced meanwhile.
    structlog.configure(processors=[recorder, *processors])
    mine = structlog.get_config()["processors"]
    try:
        yield recorder.events
    finally:
        if structlog.get_config()["processors"] is mine:
            structlog.configure(processors=processors)
        else:
            _remove(structlog.get_config()["processors"], recorder)


def _remove(processors: Any, recorder: _Recorder) -> None:
    """Take *recorder* out of *processors* (found by identity: a processor's ``==`` may raise)."""
    if not isinstance(processors, list):
        return
    for index, processor in enumerate(processors):
        if processor is recorder:
            del processors[index]
            return


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
