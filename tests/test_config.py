"""Tests of migratekit._config: configure(), reset(), forced stages, reported failures."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, Stage, _resolve
from migratekit._config import settings
from migratekit._resolve import aresolve_stage, resolve_stage
from migratekit.exceptions import ConfigurationTypeError, StageError
from migratekit.providers import EnvStageProvider, StaticStageProvider
from migratekit.testing import force_stage
from tests.helpers import make, stage_errors, stage_of


class AsyncOnly:
    """A provider whose async answer differs from its sync one, to tell which was used."""

    def get_stage(self, name: str, context: Any = None) -> Stage:
        return Stage.OFF

    async def aget_stage(self, name: str, context: Any = None) -> Stage:
        return Stage.RAMPDOWN


def test_stage_forced_for_one_name_leaves_others_to_the_provider() -> None:
    """A stage forced for one migration wins for it; another migration asks the provider."""
    provider = StaticStageProvider("shadow")
    with force_stage("complete", name="a"):
        assert resolve_stage(provider, "a", None) is Stage.COMPLETE
        assert resolve_stage(provider, "b", None) is Stage.SHADOW
    assert resolve_stage(provider, "a", None) is Stage.SHADOW


@pytest.mark.asyncio
async def test_async_stage_forced_for_one_name_leaves_others_to_the_provider() -> None:
    """aresolve_stage: the forced stage for its name, the provider's aget_stage for others."""
    with force_stage("live", name="a"):
        assert await aresolve_stage(AsyncOnly(), "a", None) is Stage.LIVE
        assert await aresolve_stage(AsyncOnly(), "b", None) is Stage.RAMPDOWN


def test_failure_whose_message_cannot_be_printed_is_reported() -> None:
    """A provider raising an exception whose str() raises: default stage, event names class."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class Broken:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            raise Unprintable

    with capture_logs() as logs:
        assert resolve_stage(Broken(), "m", None) is Stage.OFF
        assert resolve_stage(Broken(), "m", None) is Stage.OFF
    (event,) = stage_errors(logs)
    assert event["error"] == "<Unprintable whose str() raised>"
    assert event["exc_type"] == "Unprintable"


def test_memory_of_reported_failures_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit of remembered failures, memory starts over: an old one is told again."""
    monkeypatch.setattr(_resolve, "_SEEN_LIMIT", 3)

    class Bad:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            raise StageError("bad value", source=f"VAR_{name}", value="x")

    with capture_logs() as logs:
        for name in ("a", "a", "b", "c"):
            resolve_stage(Bad(), name, None)
        assert [e["source"] for e in stage_errors(logs)] == ["VAR_a", "VAR_b", "VAR_c"]
        resolve_stage(Bad(), "d", None)
        resolve_stage(Bad(), "a", None)
        resolve_stage(Bad(), "d", None)
    assert [e["source"] for e in stage_errors(logs)] == ["VAR_a", "VAR_b", "VAR_c", "VAR_d",
                                                           "VAR_a"]
    assert len(_resolve._seen) <= 3


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


def test_reset_forgets_reportedstage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
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
