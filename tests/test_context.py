"""context=: what providers see of a call, to decide per user or per tenant."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import Stage, configure, migration


class PerTenant:
    """Puts tenant 'beta' in LIVE and everyone else in OFF; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    def get_stage(self, name: str, context: Any = None) -> Stage:
        self.asked.append((name, context))
        return Stage.LIVE if context == "beta" else Stage.OFF


class Repo:
    def _new(self, tenant: str, key: str) -> str:
        return f"new:{tenant}:{key}"

    @migration(new=_new, name="docs.get", context=lambda self, tenant, key: tenant)
    def get(self, tenant: str, key: str) -> str:
        return f"old:{tenant}:{key}"


def test_context_callable_gets_the_call_arguments_and_reaches_the_provider() -> None:
    """The provider receives what context= returned for each call."""
    provider = PerTenant()
    configure(provider=provider)
    repo = Repo()
    assert repo.get("alpha", "k") == "old:alpha:k"
    assert repo.get("beta", "k") == "new:beta:k"
    assert provider.asked == [("docs.get", "alpha"), ("docs.get", "beta")]


def test_context_callable_that_raises_gives_no_context_and_an_event() -> None:
    """A failing context= never fails the call: the provider is asked with None, once reported."""
    provider = PerTenant()

    @migration(new=lambda key: "new", provider=provider, context=lambda key: 1 / 0,
               name="docs.ctx")
    def get(key: str) -> str:
        return "old"

    with capture_logs() as logs:
        assert get("k") == "old"
        assert get("k") == "old"
    assert provider.asked == [("docs.ctx", None), ("docs.ctx", None)]
    errors = [e for e in logs if e["event"] == "migration.stage_error"]
    assert len(errors) == 1
    assert errors[0]["exc_type"] == "ZeroDivisionError"
    assert errors[0]["provider"] == "context"  # what failed, in words: not a private class


def test_context_must_be_callable() -> None:
    """A context that is not callable fails at decoration time."""
    with pytest.raises(TypeError, match="'context' must be a callable"):
        migration(new=lambda: 1, context="tenant")(lambda: 1)  # type: ignore[call-overload]
