"""Tests of configure() and reset(): the process-wide provider and default stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, Stage, migration
from migratekit._config import settings
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import EnvStageProvider, StaticStageProvider


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def make(name: str, provider: Any = None) -> Any:
    """A migration called *name* whose caller learns which side was authoritative."""
    options: dict[str, Any] = {"name": name}
    if provider is not None:
        options["provider"] = provider

    @migration.write(new=lambda: "new", **options)
    def op() -> str:
        return "old"

    return op


def run(fn: Any) -> tuple[str, list[Any]]:
    """Call a migration once: the stage it ran in (as its op event says), and its events."""
    with capture_logs() as logs:
        fn()
    return next(e for e in logs if e["event"] == "migration.op")["stage"], logs


def stage_of(fn: Any) -> str:
    """The stage a migration ran in, as its op event says."""
    return run(fn)[0]



# -- configure / reset ----------------------------------------------------------------------------


def test_configure_provider_and_default_stage() -> None:
    """configure(provider=...) is used by migrations without their own provider."""
    migratekit.configure(provider=StaticStageProvider("live"))
    assert stage_of(make("m")) == "live"
    assert make("m")() == "new"


def test_configure_default_stage_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure(default_stage=...) keeps the env provider and changes the fallback."""
    migratekit.configure(default_stage="COMPLETE")
    assert stage_of(make("m")) == "complete"
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "off")
    assert stage_of(make("m")) == "off"


def test_configure_applies_to_already_decorated_migrations() -> None:
    """The process-wide provider is read per call, so configure() after decoration applies."""
    op = make("m")
    assert op() == "old"
    migratekit.configure(provider=StaticStageProvider(Stage.COMPLETE))
    assert op() == "new"


def test_reset_restores_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """reset() brings back the env provider and OFF."""
    migratekit.configure(provider=StaticStageProvider("live"), default_stage=Stage.SHADOW)
    migratekit.reset()
    assert isinstance(settings.provider, EnvStageProvider)
    assert settings.default_stage is Stage.OFF
    assert stage_of(make("m")) == "off"
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "rampdown")
    assert stage_of(make("m")) == "rampdown"


def test_reset_forgets_reported_stage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """After reset(), a bad value already reported is reported again."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "bad")
    with capture_logs() as logs:
        make("m")()
        make("m")()
        migratekit.reset()
        make("m")()
    assert len(stage_errors(logs)) == 2


@pytest.mark.parametrize(
    ("kwargs", "exc_type"),
    [
        ({"provider": object()}, ConfigurationTypeError),
        ({"default_stage": "nope"}, ConfigurationError),
        ({"default_stage": 3}, ConfigurationTypeError),
        ({"provider": StaticStageProvider("live"), "default_stage": "nope"}, ConfigurationError),
    ],
)
def test_configure_rejects_bad_values_and_changes_nothing(
    kwargs: dict[str, Any], exc_type: type[Exception]
) -> None:
    """configure() with a bad argument raises and leaves the settings as they were."""
    before = (settings.provider, settings.default_stage)
    with pytest.raises(exc_type):
        migratekit.configure(**kwargs)
    assert (settings.provider, settings.default_stage) == before
