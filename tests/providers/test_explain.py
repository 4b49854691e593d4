"""Tests of explain_stage (`migratekit stage NAME`): who decided a stage, through each provider."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from migratekit import Stage
from migratekit.exceptions import StageError
from migratekit.providers import (
    EnvStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
    StaticStageProvider,
)
from migratekit.providers._explain import explain_stage


class Failing:
    """A provider that always raises StageError."""

    def get_stage(self, name: str, context: Any = None) -> Stage | str | None:
        raise StageError("flag service down", source="flags", value="timeout")


class Custom:
    """A provider migratekit does not know."""

    def get_stage(self, name: str, context: Any = None) -> Stage | str | None:
        return "dualwrite"


def test_fallback_member_failure_is_a_problem_and_the_next_answers() -> None:
    """A member that raises is listed as a problem; the member after it decides."""
    chain = FallbackStageProvider(Failing(), StaticStageProvider("live"))
    explanation = explain_stage(chain, "m")
    assert (explanation.stage, explanation.provider) == (Stage.LIVE, "StaticStageProvider")
    assert explanation.source == "StaticStageProvider('live')"
    assert explanation.problems == ["flag service down"]


def test_fallback_where_no_member_answers_gives_the_default() -> None:
    """When every member fails or has no opinion, the default stage is named, with problems."""
    chain = FallbackStageProvider(Failing(), StaticStageProvider({"other": "live"}))
    explanation = explain_stage(chain, "m")
    assert explanation.is_default
    assert (explanation.stage, explanation.provider, explanation.source) == (Stage.OFF, None,
                                                                             None)
    assert explanation.problems == ["flag service down"]
    assert explanation.as_dict()["default"] is True


def test_rollout_without_base_or_context() -> None:
    """A 100% rollout with no base and no context says so, without naming a context."""
    explanation = explain_stage(PercentageRolloutProvider(stage="shadow", percent=100), "m")
    assert (explanation.stage, explanation.provider) == (Stage.SHADOW,
                                                         "PercentageRolloutProvider")
    assert explanation.source == "100% rollout to shadow"
    assert explanation.context is None


def test_rollout_over_a_failing_base() -> None:
    """A base that fails is a problem; the rollout still applies on the default stage."""
    rollout = PercentageRolloutProvider(Failing(), stage="live", percent=100)
    explanation = explain_stage(rollout, "m", "user-7")
    assert explanation.stage is Stage.LIVE
    assert explanation.problems == ["flag service down"]
    outside = explain_stage(PercentageRolloutProvider(Failing(), stage="live", percent=0), "m")
    assert outside.is_default
    assert outside.problems == ["flag service down"]


def test_unknown_provider_is_named_by_class_without_source() -> None:
    """A provider of the application's own is named by its class; where it read is unknown."""
    explanation = explain_stage(Custom(), "m")
    assert (explanation.stage, explanation.provider, explanation.source) == (
        Stage.DUALWRITE, "Custom", None)
    assert explanation.problems == []


def test_exception_whose_str_raises_is_named_by_class() -> None:
    """A provider raising an exception that cannot be printed: the problem is its class name."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class Broken:
        def get_stage(self, name: str, context: Any = None) -> Stage | None:
            raise Unprintable

    explanation = explain_stage(Broken(), "m")
    assert explanation.is_default
    assert explanation.problems == ["Unprintable"]


@pytest.fixture
def openfeature_api() -> Iterator[Any]:
    """The OpenFeature API, with its providers cleared after the test."""
    api = pytest.importorskip("openfeature.api")
    yield api
    api.clear_providers()


def test_openfeature_flag_is_named(openfeature_api: Any) -> None:
    """An OpenFeature provider is explained by its flag key."""
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    from migratekit.providers import OpenFeatureStageProvider

    domain = f"explain-{uuid.uuid4().hex}"
    openfeature_api.set_provider(
        InMemoryProvider({"migration-m": InMemoryFlag("a", {"a": "rampdown"})}), domain)
    provider = OpenFeatureStageProvider(openfeature_api.get_client(domain),
                                        flag_key="migration-{name}")
    explanation = explain_stage(provider, "m")
    assert (explanation.stage, explanation.provider) == (Stage.RAMPDOWN,
                                                         "OpenFeatureStageProvider")
    assert explanation.source == "flag 'migration-m'"


def test_env_source_of_a_huge_value_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source of a variable holding megabytes names it with a short fingerprint."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "live" + " " * 3_000_000)
    explanation = explain_stage(EnvStageProvider(), "m")
    assert explanation.stage is Stage.LIVE
    assert explanation.source is not None
    assert len(explanation.source) < 200
    assert explanation.source.startswith("MIGRATEKIT_STAGE_M='live ")


def test_env_source_reads_the_providers_own_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EnvStageProvider given environ= is explained from that mapping, not os.environ."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "off")
    provider = EnvStageProvider(environ={"MIGRATEKIT_STAGE_M": "shadow"})
    explanation = explain_stage(provider, "m")
    assert (explanation.stage, explanation.source) == (Stage.SHADOW, "MIGRATEKIT_STAGE_M='shadow'")


def test_long_problem_messages_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider raising a huge message gives a problem line of at most 200 characters."""

    class Loud:
        def get_stage(self, name: str, context: Any = None) -> Any:
            raise RuntimeError("x" * 100_000)

    explanation = explain_stage(FallbackStageProvider(Loud(), StaticStageProvider("live")), "m")
    assert explanation.stage is Stage.LIVE
    assert explanation.problems
    assert all(len(problem) <= 200 for problem in explanation.problems)
