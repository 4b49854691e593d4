"""
The structured events migratekit emits, through ``structlog.get_logger("migratekit")``.

The library never configures structlog: the application decides where events
go and in which format. Two things keep the hot path cheap when events are
dropped: the level is asked once per call (``is_enabled_for``), and no event
dictionary is built for a level the logger drops. A log pipeline that raises
never reaches the caller of a migration (see :func:`_log`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from migratekit._compat import (
    FILTERING_LEVELS,
    PROPAGATES,
    logger_is_finalized,
    proxy_attributes,
)
from migratekit._schema import (
    OP_EVENT,
    RESULT_EVENT,
    SHADOW_DROPPED_EVENT,
    STAGE_ERROR_EVENT,
    SUMMARY_EVENT,
)
from migratekit._text import type_name
from migratekit._types import Origin

__all__ = [
    "OP_EVENT",
    "RESULT_EVENT",
    "SHADOW_DROPPED_EVENT",
    "STAGE_ERROR_EVENT",
    "SideRun",
    "current",
    "emit_op",
    "emit_result",
    "emit_stage_error",
    "error_message",
    "new_call_id",
    "pipeline_failed",
    "pipeline_failures",
    "shadow_dropped",
    "state",
]

_OLD = Origin.OLD

DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING


ERROR_MESSAGE_LIMIT = 200

UNLOGGED: Any = object()
"""Stands for "no value in this event": values are logged only through a hook."""

logger = structlog.get_logger("migratekit")

# The stdlib logger is the channel of last resort: it reports a structlog
# pipeline that raises, which by then cannot report on itself.
_fallback = logging.getLogger("migratekit")

_pipeline_failures_lock = threading.Lock()
_pipeline_failures: dict[str, int] = {}


def _new_process_prefix() -> str:
    return secrets.token_hex(4)


# call_ids must be unique across the processes whose logs are read together by
# ``migratekit report``, so each process draws a random prefix (again after a
# fork) and counts from there.
_prefix = _new_process_prefix()
_counter = itertools.count(1)


def _after_fork() -> None:
    # A new prefix for the child's call ids; and new locks, since a thread
    # of the parent (which the child does not have) may have held one.
    global _prefix, _counter, _pipeline_failures_lock, _drops_lock, _allowance_lock  # noqa: PLW0603
    _prefix = _new_process_prefix()
    _counter = itertools.count(1)
    _pipeline_failures_lock = threading.Lock()
    _drops_lock = threading.Lock()
    _allowance_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork)


def new_call_id() -> str:
    """A call id unique in this process, and with high probability across processes."""
    return f"{_prefix}-{next(_counter)}"


_finalized: tuple[Any, Any] = (None, None)


def current() -> Any:
    """
    The bound logger to use for this call.

    Without ``cache_logger_on_first_use`` structlog assembles a new logger for
    every call, as it would for any other log call. With it, structlog
    replaces the proxy's ``bind`` by one that always returns the same
    logger; that logger is remembered here, so that finding it costs an
    attribute lookup instead of a call.
    """
    global _finalized  # noqa: PLW0603 - a one-entry cache, replaced whole
    bind = logger.bind
    if bind is _finalized[0]:
        return _finalized[1]
    log = bind()
    if logger_is_finalized(logger):  # bind() answers `log` from now on
        _finalized = (bind, log)
    return log


logger_attribute = proxy_attributes(logger).get
"""
An attribute of the proxy's own, or ``None``: ``logger_attribute("bind")``
is the ``bind`` structlog finalized (see migratekit._compat.proxy_attributes).
"""

_NOT_FINALIZED: Any = object()

fixed_state: tuple[Any, Any, bool, bool, bool] = (_NOT_FINALIZED, None, False, False, False)
"""
structlog's finalized ``bind``, and what :func:`state` answers while the
proxy has it: ``bind, log, debug, info, warning = fixed_state``, one flat tuple that
the quiet path (migratekit._runners) unpacks at once.
"""
_fixed_answer: tuple[Any, bool, bool, bool] = (None, False, False, False)


def state() -> tuple[Any, bool, bool, bool]:
    """
    The logger for this call, and whether it emits ``debug``, ``info`` and
    ``warning`` events.

    A logger that structlog finalized and whose levels are fixed (a
    filtering bound logger) gives the same answer on every call, so that
    answer is kept, and found again by one attribute lookup.
    """
    global fixed_state, _fixed_answer  # noqa: PLW0603 - a one-entry cache, replaced whole
    if logger_attribute("bind") is fixed_state[0]:
        return _fixed_answer
    try:
        log = current()
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        # structlog could not make a logger (a logger factory that opens a
        # file at EMFILE, a wrapper class that raises): this call emits
        # nothing, the failure is counted and said once, the call goes on.
        pipeline_failed(None, exc)
        return _MUTE
    known = FILTERING_LEVELS.get(type(log))
    if known is None:
        return (log, *levels(log))
    answer = (log, known[0], known[1], known[2])
    bind = logger_attribute("bind")
    if bind is not None:  # finalized: structlog keeps this logger from now on
        _fixed_answer = answer
        fixed_state = (bind, *answer)
    return answer


_MUTE: tuple[Any, bool, bool, bool] = (None, False, False, False)


def levels(log: Any) -> tuple[bool, bool, bool]:
    """Whether *log* would emit ``debug``, ``info`` and ``warning`` events right now."""
    known = FILTERING_LEVELS.get(type(log))
    if known is not None:
        return known
    try:
        enabled: Callable[[int], bool] | None = getattr(log, "is_enabled_for", None)
        if enabled is None:
            return True, True, True
        return bool(enabled(DEBUG)), bool(enabled(INFO)), bool(enabled(WARNING))
    except BaseException as exc:  # a logger that cannot say is asked to log everything
        if isinstance(exc, PROPAGATES):
            raise
        return True, True, True


# The thread that is inside structlog's pipeline for a migratekit event. A
# processor of the application's may call migrated code (to add the user to
# every event, say): the events of those calls are dropped, or each would
# run the processor again, which calls migrated code again, without end.
_emitting = threading.local()


def _log(log: Any, level: int, event: str, fields: dict[str, Any]) -> None:
    """Emit one event; a pipeline that raises is reported, never propagated."""
    if getattr(_emitting, "active", False):
        return
    _emitting.active = True
    try:
        if level >= WARNING:
            log.warning(event, **fields)
        elif level >= INFO:
            log.info(event, **fields)
        else:
            log.debug(event, **fields)
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        pipeline_failed(event, exc)
    finally:
        _emitting.active = False


def pipeline_failed(event: str | None, exc: BaseException) -> None:
    """
    Count a failure of the log pipeline while emitting *event* (``None``:
    while structlog made the logger), and say so through the stdlib
    ``logging`` module the first time each kind of failure happens.
    """
    kind = type_name(exc)
    with _pipeline_failures_lock:
        seen = _pipeline_failures.get(kind, 0)
        _pipeline_failures[kind] = seen + 1
    if not seen:
        with contextlib.suppress(Exception):  # nothing is left to report through
            _fallback.warning(
                "migration.log_error: the structlog pipeline raised %s %s; migratekit events "
                "of this kind are being lost (reported once per kind)",
                kind,
                "while making the logger" if event is None else f"while emitting {event}",
            )


def pipeline_failures() -> dict[str, int]:
    """How many events the log pipeline failed to take, by exception class."""
    with _pipeline_failures_lock:
        return dict(_pipeline_failures)


def reset_pipeline_failures() -> None:
    """Forget counted pipeline failures (for tests)."""
    with _pipeline_failures_lock:
        _pipeline_failures.clear()


def error_message(
    exc: BaseException | None,
    message: str | None = None,
    describe: Callable[[BaseException], Any] | None = None,
) -> str | None:
    """
    What an event's ``error`` field says of a failure: *message* when there
    is one (the words of a ``Result.fail``), else what *describe* (the
    ``log_errors`` hook) says of *exc*, else ``str(exc)``; cut to
    :data:`ERROR_MESSAGE_LIMIT` characters. ``None`` when there is nothing
    to say or the hook said ``None``. Never raises an ``Exception``: the
    message of an exception is the exception's own code.
    """
    if message is None:
        if exc is None:
            return None
        if describe is not None:
            try:
                said = describe(exc)
            except BaseException as hook_failure:
                if isinstance(hook_failure, PROPAGATES):
                    raise
                return f"<log_errors raised {type_name(hook_failure)}>"
            if said is None:
                return None
            message = _text_of(said)
        else:
            message = _text_of(exc)
    try:
        message = str.__str__(message)  # a str subclass's own methods are not called
    except Exception:  # not a str at all: a hook or a caller broke the contract
        message = _text_of(message)
    if len(message) > ERROR_MESSAGE_LIMIT:
        return message[: ERROR_MESSAGE_LIMIT - 1] + "…"
    return message


def _text_of(value: object) -> str:
    """``str(value)`` as an exact ``str``, or a stand-in when it raises."""
    try:
        return str.__str__(str(value))
    except BaseException as exc:
        if isinstance(exc, PROPAGATES):
            raise
        return f"<{type_name(value)} whose str() raised>"


class SideRun:
    """What one side did in one call: its value or exception, and how long it took."""

    __slots__ = ("error", "exception", "latency", "ok", "origin", "value")

    def __init__(
        self,
        origin: Origin,
        ok: bool,
        value: Any,
        exception: BaseException | None,
        latency: float,
        error: str | None = None,
    ) -> None:
        self.origin = origin
        self.ok = ok
        self.value = value
        self.exception = exception
        self.latency = latency
        # An explicit message, for failures that carry one without an exception
        # (a Migrator side that returned ``Result.fail("...")``).
        self.error = error


def emit_result(
    log: Any,
    call_id: str,
    migration: str,
    operation: str,
    stage: str,
    run: SideRun,
    authoritative: bool,
    value: Any = UNLOGGED,
    describe: Callable[[BaseException], Any] | None = None,
    level: int = INFO,
) -> None:
    """
    Emit ``migration.result`` for one side of one call: at *level* when the
    side succeeded, ``warning`` when it failed. *value* is what the
    migration's ``log_values`` hook let through, or :data:`UNLOGGED`;
    *describe* is its ``log_errors`` hook (see :func:`error_message`).
    """
    exc = run.exception
    fields = {
        "migration": migration,
        "operation": operation,
        "stage": stage,
        "origin": "old" if run.origin is _OLD else "new",  # not Enum's slow .value
        "authoritative": authoritative,
        "ok": run.ok,
        "latency_ms": round(run.latency * 1000.0, 4),
        "error": None if run.ok else error_message(exc, run.error, describe),
        "exc_type": None if exc is None else type_name(exc),
        "call_id": call_id,
    }
    if value is not UNLOGGED:
        fields["value"] = value
    _log(log, level if run.ok else WARNING, RESULT_EVENT, fields)


def emit_op(
    log: Any,
    call_id: str,
    migration: str,
    operation: str,
    stage: str,
    invoked: Sequence[Origin],
    consistent: bool | None,
    compare_error: str | None = None,
    diff_paths: list[str] | None = None,
    level: int = INFO,
    types: tuple[str, str] | None = None,
    ignored: bool = False,
    **extra: Any,
) -> None:
    """
    Emit ``migration.op`` for one call: at *level*, ``warning`` when the reads
    differ. *types* are the names of the two values' classes (old, new) when
    they differ; *ignored* says that ``ignore`` accepted the reads' difference.
    """
    fields: dict[str, Any] = {
        "migration": migration,
        "operation": operation,
        "stage": stage,
        "invoked": ["old" if origin is _OLD else "new" for origin in invoked],
        "consistent": consistent,
        "call_id": call_id,
    }
    if compare_error is not None:
        fields["compare_error"] = compare_error
    if diff_paths:
        fields["diff_paths"] = diff_paths
    if types is not None:
        fields["types"] = {"old": types[0], "new": types[1]}
    if ignored:
        fields["ignored"] = True
    if extra:
        fields.update(extra)
    _log(log, WARNING if consistent is False else level, OP_EVENT, fields)


_drops_lock = threading.Lock()
_drops: dict[str, list[float]] = {}  # migration -> [dropped since last event, total, last time]
_DROP_EVENT_INTERVAL = 1.0
_DROPS_LIMIT = 4096


def shadow_dropped(log: Any, warning: bool, migration: str) -> None:
    """
    Count a background shadow dropped because the queue was full, and emit
    ``migration.shadow_dropped`` (warning) at most once a second per
    migration, with how many were dropped since the last one: under overload
    one event a second says it, where one per call would add to the load.
    """
    now = time.monotonic()
    with _drops_lock:
        counts = _drops.get(migration)
        if counts is None:
            if len(_drops) >= _DROPS_LIMIT:  # names may come from outside: the oldest goes
                del _drops[next(iter(_drops))]
            counts = _drops[migration] = [0, 0, -_DROP_EVENT_INTERVAL]
        counts[0] += 1
        counts[1] += 1
        if now - counts[2] < _DROP_EVENT_INTERVAL:
            return
        dropped, total = int(counts[0]), int(counts[1])
        counts[0] = 0
        counts[2] = now
    if warning:
        _log(log, WARNING, SHADOW_DROPPED_EVENT,
             {"migration": migration, "dropped": dropped, "total": total})


def dropped_shadows() -> dict[str, int]:
    """How many background shadows each migration dropped in this process."""
    with _drops_lock:
        return {name: int(counts[1]) for name, counts in _drops.items()}


def reset_dropped_shadows() -> None:
    """Forget dropped-shadow counts (for tests)."""
    with _drops_lock:
        _drops.clear()


def emit_stage_error(fields: dict[str, Any]) -> None:
    """Emit ``migration.stage_error`` (level ``warning``)."""
    log, _, _, warning = state()
    if warning:
        _log(log, WARNING, STAGE_ERROR_EVENT, fields)


def emit_summary(fields: dict[str, Any]) -> None:
    """Emit ``migration.summary`` (level ``info``)."""
    log, _, info, _ = state()
    if info:
        _log(log, INFO, SUMMARY_EVENT, fields)


def process_id() -> str:
    """
    The random id of this process (new after a fork): what its summaries call
    their ``process``, and the prefix of its call ids.
    """
    return _prefix


# -- warnings, at most so many a second per migration ---------------------------------------

_allowance_lock = threading.Lock()
_allowance: dict[str, list[float]] = {}  # migration -> [tokens, last time]
_ALLOWANCE_LIMIT = 4096


def warning_allowed(migration: str, per_second: float | None) -> bool:
    """
    Whether *migration* may emit one more call's warnings now: at most
    *per_second* a second (a token bucket that holds a second's worth).
    """
    if per_second is None:
        return True
    now = time.monotonic()
    with _allowance_lock:
        bucket = _allowance.get(migration)
        if bucket is None:
            if len(_allowance) >= _ALLOWANCE_LIMIT:
                _allowance.clear()
            bucket = _allowance[migration] = [per_second, now]
        tokens = min(per_second, bucket[0] + (now - bucket[1]) * per_second)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True


def reset_warning_allowance() -> None:
    """Give every migration its full allowance of warnings again (reset(), tests)."""
    with _allowance_lock:
        _allowance.clear()
