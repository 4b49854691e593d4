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
from migratekit._schema import STAGE_ERROR_EVENT
from migratekit._settings import settings
from migratekit._types import Stage
from migratekit.providers._base import Description, context_key, describe_provider

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


def explain_stage(provider: Any, name: str, context: Any = None) -> Explanation:
    """
    Ask *provider* for the stage of *name* as a migration call would, and say
    which provider answered, from where, and what went wrong on the way.

    Each provider says it with its ``describe(name, context)``: wrappers look
    through to what they wrap (a fallback chain names the member that
    answered, a cache asks its provider afresh); a provider that migratekit
    does not know is named by its class, without a source.
    """
    problems: list[str] = []
    with _collect_stage_errors(problems):
        try:
            answer = describe_provider(provider, name, context)
        except Exception as exc:
            answer = Description(None, None, None, (exc,))
        problems.extend(_message(exc) for exc in answer.failures)
    default = settings.default_stage
    return Explanation(
        migration=name,
        stage=default if answer.stage is None else answer.stage,
        provider=None if answer.stage is None else type(answer.provider).__name__,
        source=None if answer.stage is None else answer.source,
        context=context_key(context),
        problems=list(dict.fromkeys(problems)),
    )


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
        if event.get("event") == STAGE_ERROR_EVENT
    )
