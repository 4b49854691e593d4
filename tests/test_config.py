"""Tests of migratekit._config: forced stages when resolving; the memory of reported failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import Stage, _config
from migratekit._config import aresolve_stage, resolve_stage
from migratekit.exceptions import StageError
from migratekit.providers import StaticStageProvider
from migratekit.testing import force_stage


class AsyncOnly:
    """A provider whose async answer differs from its sync one, to tell which was used."""

    def get_stage(self, name: str, context: Any = None) -> Stage:
        return Stage.OFF

    async def aget_stage(self, name: str, context: Any = None) -> Stage:
        return Stage.RAMPDOWN


def _stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


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
    (event,) = _stage_errors(logs)
    assert event["error"] == "<Unprintable whose str() raised>"
    assert event["exc_type"] == "Unprintable"


def test_memory_of_reported_failures_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit of remembered failures, memory starts over: an old one is told again."""
    monkeypatch.setattr(_config, "_SEEN_LIMIT", 3)

    class Bad:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            raise StageError("bad value", source=f"VAR_{name}", value="x")

    with capture_logs() as logs:
        for name in ("a", "a", "b", "c"):
            resolve_stage(Bad(), name, None)
        assert [e["source"] for e in _stage_errors(logs)] == ["VAR_a", "VAR_b", "VAR_c"]
        resolve_stage(Bad(), "d", None)
        resolve_stage(Bad(), "a", None)
        resolve_stage(Bad(), "d", None)
    assert [e["source"] for e in _stage_errors(logs)] == ["VAR_a", "VAR_b", "VAR_c", "VAR_d",
                                                           "VAR_a"]
    assert len(_config._seen) <= 3
