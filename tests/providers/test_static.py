"""Tests of StaticStageProvider: fixed stages, checked when built."""

from __future__ import annotations

from typing import Any

import pytest

import migratekit
from migratekit import ConfigurationError, Stage
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import StaticStageProvider
from tests.helpers import make, run, stage_errors, stage_of

# -- StaticStageProvider --------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(Stage))
def test_static_provider_with_a_stage(stage: Stage) -> None:
    """StaticStageProvider(stage) answers that stage for every name."""
    provider = StaticStageProvider(stage)
    assert provider.get_stage("a") is stage
    assert provider.get_stage("b", {"ctx": 1}) is stage
    assert stage_of(make("z", provider)) == stage.value


@pytest.mark.parametrize("text", ["live", "LIVE", " Live "])
def test_static_provider_with_a_str(text: str) -> None:
    """StaticStageProvider('live') (any case, blanks ignored) answers Stage.LIVE."""
    assert StaticStageProvider(text).get_stage("a") is Stage.LIVE


def test_static_provider_with_a_mapping() -> None:
    """StaticStageProvider({name: stage}) answers per name; other names get the default."""
    provider = StaticStageProvider({"users.get": Stage.LIVE, "users.save": "dualwrite"})
    assert provider.get_stage("users.get") is Stage.LIVE
    assert provider.get_stage("users.save") is Stage.DUALWRITE
    assert stage_of(make("users.get", provider)) == "live"
    assert stage_of(make("users.save", provider)) == "dualwrite"
    migratekit.configure(default_stage="shadow")
    stage, logs = run(make("other", provider))
    assert stage == "shadow"
    assert stage_errors(logs) == []


@pytest.mark.parametrize(
    ("bad", "exc_type", "words"),
    [
        ("nope", ConfigurationError, ["nope", "stage"]),
        ("", ConfigurationError, ["stage"]),
        (42, ConfigurationTypeError, ["42", "int", "Stage"]),
        (None, ConfigurationTypeError, ["None", "Stage"]),
        ({"a": "nope"}, ConfigurationError, ["'a'", "nope"]),
        ({"a": 3}, ConfigurationTypeError, ["'a'", "3"]),
        ({1: "live"}, ConfigurationTypeError, ["1", "str"]),
    ],
)
def test_static_provider_bad_stages_raise_at_construction(
    bad: Any, exc_type: type[Exception], words: list[str]
) -> None:
    """A bad stage (or mapping) raises a ConfigurationError when the provider is built."""
    with pytest.raises(exc_type) as info:
        StaticStageProvider(bad)
    assert isinstance(info.value, ConfigurationError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
