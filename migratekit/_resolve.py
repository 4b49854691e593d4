"""
From a migration's name to its stage: a stage forced by a test, else the
provider's answer read as a :class:`~migratekit.Stage`; and the report of a
provider that cannot answer. Never raises an ``Exception``: whatever goes
wrong gives the default stage and one ``migration.stage_error`` event.

The engine's plans and its fast path (migratekit._runners) ask here; this
module is the one place that turns an answer into a stage, and the providers
read their values and report their failures here too: it imports no provider.
"""

from __future__ import annotations

import inspect
import os
import threading
from enum import Enum
from typing import Any

from migratekit import _events
from migratekit._compat import PROPAGATES, propagates_async
from migratekit._settings import own_stage, settings
from migratekit._text import SHOWN_LIMIT, plain_str, shown_repr, shown_value, type_name
from migratekit._types import Stage
from migratekit.exceptions import StageError

__all__ = [
    "CONTEXT",
    "answer_stage",
    "aresolve_stage",
    "forced_stage",
    "forget_all",
    "forget_stage_problems",
    "parse_stage",
    "report_stage_problem",
    "resolve_stage",
    "stage_failed",
    "stage_from_answer",
]

CONTEXT = "context"
"""The ``provider`` that ``migration.stage_error`` names when a migration's ``context=`` fails."""


def forced_stage(name: str) -> Stage | None:
    """The stage :func:`migratekit.testing.force_stage` set for *name*, if any."""
    forced = settings.forced
    if forced is None:
        return None
    return forced.get(name) or forced.get(None)


def resolve_stage(provider: Any, name: str, context: Any) -> Stage:
    """
    The stage of migration *name* for a call with *context*: a forced one,
    else *provider*'s answer. Never raises an ``Exception``.
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


def stage_from_answer(provider: Any, name: str, answer: Any) -> Stage:
    """
    The stage a provider's *answer* stands for (read by
    :func:`answer_stage`); the default when it
    stands for none. An answer is untrusted (an ORM row returned by mistake,
    a string whose methods raise): whatever it does while it is read becomes
    the stage error.
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


# -- reading an answer -----------------------------------------------------------------------

_LONGEST_STAGE = max(len(stage.value) for stage in Stage)
_FOLDED: dict[str, Stage | None] = {}
_FOLDED_LIMIT = 256


def parse_stage(value: str) -> Stage | None:
    """
    The stage named by *value*, in any case and with surrounding blanks
    ignored, or ``None`` when it names no stage.

    ``Stage.from_str`` keeps the seed's exact matching; this is the forgiving
    reading that providers use for values people type.
    """
    if type(value) is not str:
        if not issubclass(type(value), str):
            return None
        value = plain_str(value)  # no method of a str subclass runs
    try:
        return _FOLDED[value]
    except KeyError:
        pass
    stripped = value.strip()
    if len(stripped) > _LONGEST_STAGE:
        return None
    stage = Stage.from_str(stripped.lower())
    # Remember what was seen, up to a bound in count and in size: the values
    # a process sees are few (the six names in a couple of spellings), but
    # they come from outside.
    if len(_FOLDED) < _FOLDED_LIMIT and len(value) <= SHOWN_LIMIT:
        _FOLDED[value] = stage
    return stage


def answer_stage(provider: Any, name: str, answer: object) -> Stage | None:
    """
    *answer* from *provider* as a Stage, ``None`` for no opinion, or a
    :class:`StageError` raised when it stands for neither: the one reading
    of a provider's answer, for the wrappers here and for every call
    (``migratekit._resolve.stage_from_answer`` wraps it in its guard).

    A stage name is read in any case, blanks ignored, with no method of a
    ``str`` subclass run; an ``Enum`` member by its value (a ``Stage`` of a
    reloaded ``migratekit._types``, or the application's own enum). A
    coroutine (an ``async def get_stage`` called from sync code) is closed.
    """
    # type(), not isinstance(): an answer may lie about its __class__.
    kind = type(answer)
    if kind is Stage:
        return answer  # type: ignore[return-value]
    if answer is None:
        return None
    stage: Stage | None = None
    if issubclass(kind, str):
        stage = parse_stage(answer)  # type: ignore[arg-type]
    elif issubclass(kind, Enum):
        value = answer.value  # type: ignore[attr-defined]
        if issubclass(type(value), str):
            stage = parse_stage(value)
    elif inspect.iscoroutine(answer):
        answer.close()
        raise StageError(
            f"{type_name(provider)}.get_stage returned a coroutine, which sync code cannot "
            "await; give the provider a sync get_stage (and an async aget_stage for async code)"
        )
    if stage is not None:
        return stage
    # A text or a number is shown, cut to what shown_value keeps (an error may
    # be kept by a cache); of any other object only its type: its repr may
    # hold data (an ORM row), and may differ from call to call.
    plain = issubclass(kind, (str, bytes, int, float))
    shown = shown_repr(answer) if plain else f"a {type_name(answer)}"
    raise StageError(
        f"{type_name(provider)}.get_stage({shown_repr(name)}) answered {shown}, which is not a "
        f"stage; expected a Stage, one of {', '.join(s.value for s in Stage)}, or None",
        value=shown_value(answer) if plain else f"<{type_name(answer)}>",
    )


def stage_failed(provider: Any, name: str, exc: BaseException) -> Stage:
    """Report *exc* from *provider* once, and return the default stage to use instead."""
    default = settings.default_stage
    report_stage_problem(provider, name, exc, default)
    return default


# -- reporting, once per distinct failure ----------------------------------------------------
#
# A provider that fails fails on every call, and one event says it as well as a
# million. The memory is bounded, since values come from outside.

_seen: set[tuple[Any, ...]] = set()
_seen_lock = threading.Lock()
_SEEN_LIMIT = 4096


def report_stage_problem(provider: Any, name: str, exc: BaseException, stage: Stage) -> None:
    """
    Emit ``migration.stage_error`` for *exc*, once per distinct failure, saying
    that *stage* is used instead. Never raises an ``Exception``.

    For providers that can still answer after a failure (a Redis provider
    serving the last stage it knew): they report here and return that stage.
    The same variable, key or file holding the same bad value is one failure,
    whichever migration ran into it; without a ``source`` on the exception,
    the failure is the provider's for this migration and this message.
    *provider* may be the text :data:`CONTEXT`, for a ``context=`` that failed.
    """
    try:
        fields = _problem(provider, name, exc, stage)
    except BaseException as failure:  # the exception fought back: say what can be said safely
        if isinstance(failure, PROPAGATES):
            raise
        fields = {"migration": name, "provider": _provider_name(provider), "source": None,
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


def _provider_name(provider: Any) -> str:
    return CONTEXT if provider is CONTEXT else type_name(provider)


def _problem(provider: Any, name: str, exc: BaseException, stage: Stage) -> dict[str, Any]:
    source = getattr(exc, "source", None)
    value = getattr(exc, "value", None)
    return {
        "migration": name,
        "provider": _provider_name(provider),
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


def forget_all() -> None:
    """Forget every reported failure (:func:`migratekit.reset`)."""
    with _seen_lock:
        _seen.clear()


def _after_fork() -> None:
    # A thread of the parent, which the child does not have, may have held it.
    global _seen_lock  # noqa: PLW0603
    _seen_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork)
