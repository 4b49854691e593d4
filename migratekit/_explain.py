"""
Which stage a migration resolves to, and who said so: the walk behind ``migratekit stage NAME``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from migratekit import _events
from migratekit._config import settings
from migratekit._file_provider import FileStageProvider
from migratekit._provider_wrappers import (
    CachedStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
    answer_stage,
)
from migratekit._providers import (
    EnvStageProvider,
    StaticStageProvider,
    context_key,
    shown_repr,
    shown_value,
)
from migratekit._types import Stage

__all__ = ["Explanation", "explain_stage"]


@dataclass
class Explanation:
    """The stage a migration resolves to right now, and where it came from."""

    migration: str
    stage: Stage
    provider: str | None
    """The class of the provider that answered; ``None`` when the default stage was used."""
    source: str | None
    """Where that provider read it: a variable, a file and key, a Redis key, a flag."""
    context: str | None = None
    problems: list[str] = field(default_factory=list)
    """Failures met on the way (each also a ``migration.stage_error`` in a running app)."""

    @property
    def is_default(self) -> bool:
        """Whether no provider set the stage and the default stage was used."""
        return self.provider is None

    def as_dict(self) -> dict[str, Any]:
        """The explanation as a JSON-ready dictionary."""
        return {
            "migration": self.migration,
            "stage": self.stage.value,
            "provider": self.provider,
            "source": self.source,
            "default": self.is_default,
            "context": self.context,
            "problems": list(self.problems),
        }


class _Answer:
    __slots__ = ("provider", "source", "stage")

    def __init__(self, stage: Stage | None, provider: Any, source: str | None) -> None:
        self.stage = stage
        self.provider = provider
        self.source = source


def explain_stage(provider: Any, name: str, context: Any = None) -> Explanation:
    """
    Ask *provider* for the stage of *name* as a migration call would, and say
    which provider answered, from where, and what went wrong on the way.

    Wrappers are looked through (a fallback chain names the member that
    answered, a cache asks its provider afresh); a provider that migratekit
    does not know is named by its class.
    """
    problems: list[str] = []
    with _collect_stage_errors(problems):
        try:
            answer = _walk(provider, name, context, problems)
        except Exception as exc:
            problems.append(_message(exc))
            answer = _Answer(None, None, None)
    default = settings.default_stage
    return Explanation(
        migration=name,
        stage=default if answer.stage is None else answer.stage,
        provider=None if answer.stage is None else type(answer.provider).__name__,
        source=None if answer.stage is None else answer.source,
        context=context_key(context),
        problems=list(dict.fromkeys(problems)),
    )


def _walk(provider: Any, name: str, context: Any, problems: list[str]) -> _Answer:
    if isinstance(provider, CachedStageProvider):
        return _walk(provider.provider, name, context, problems)
    if isinstance(provider, FallbackStageProvider):
        for member in provider.providers:
            try:
                answer = _walk(member, name, context, problems)
            except Exception as exc:
                problems.append(_message(exc))
                continue
            if answer.stage is not None:
                return answer
        return _Answer(None, None, None)
    if isinstance(provider, PercentageRolloutProvider):
        base = _Answer(None, None, None)
        if provider.base is not None:
            try:
                base = _walk(provider.base, name, context, problems)
            except Exception as exc:
                problems.append(_message(exc))
        current = settings.default_stage if base.stage is None else base.stage
        if _later(provider.stage, current) and provider.in_rollout(name, context):
            where = f"{provider.percent_for(name):g}% rollout to {provider.stage.value}"
            key = context_key(context)
            if key is not None:
                where += f", context {shown_repr(key)} at {provider.point(name, key):.2f}"
            return _Answer(provider.stage, provider, where)
        return base
    stage = answer_stage(provider, name, provider.get_stage(name, context))
    return _Answer(stage, provider, _source(provider, name))


def _source(provider: Any, name: str) -> str | None:
    # Values read from outside (a variable, a file key, a Redis value) are
    # shown bounded: they may be megabytes, or hold terminal escapes.
    if isinstance(provider, EnvStageProvider):
        variable, value = provider._setting(name)
        return f"{variable}={shown_repr(value)}"
    if isinstance(provider, StaticStageProvider):
        return repr(provider)
    if isinstance(provider, FileStageProvider):
        key = provider.matched_key(name)
        return provider.path if key is None else f"{provider.path} [{shown_value(key, 255)}]"
    # Optional backends: looked up by duck typing, so that their packages
    # are not imported unless the provider is in use.
    key_for = getattr(provider, "key_for", None)
    where = getattr(provider, "where", None)
    if callable(key_for) and isinstance(where, str):  # RedisStageProvider
        key = key_for(name)
        try:
            raw = provider.raw_stage(name)
        except Exception:
            raw = None
        if raw is None or not raw.strip():
            key = provider.prefix + "*"
        return f"{where} {shown_value(key, 255)}"
    if callable(key_for):  # OpenFeatureStageProvider
        return f"flag {shown_repr(key_for(name), 255)}"
    return None


def _later(stage: Stage, than: Stage) -> bool:
    order = list(Stage)
    return order.index(stage) > order.index(than)


def _message(exc: Exception) -> str:
    try:
        text = str(exc) or type(exc).__name__
    except Exception:
        return type(exc).__name__
    return _events.error_message(None, text) or type(exc).__name__


@contextmanager
def _collect_stage_errors(problems: list[str]) -> Iterator[None]:
    """Gather the ``migration.stage_error`` events that providers report while asked."""
    with structlog.testing.capture_logs() as events:
        yield
    problems.extend(
        str(event.get("error") or event.get("exc_type"))
        for event in events
        if event.get("event") == _events.STAGE_ERROR_EVENT
    )
