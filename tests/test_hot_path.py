"""The shortcuts of the hot path answer exactly what the long way would."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from migratekit import Stage, StageError, configure, migration
from migratekit.providers import EnvStageProvider, StaticStageProvider

VALUES = st.one_of(
    st.none(),
    st.sampled_from(["off", "SHADOW", " live ", "Complete", "", "   ", "bogus", "dual write"]),
)


def _ask(provider: EnvStageProvider, ask: Any) -> Any:
    try:
        return ask()
    except StageError as error:
        return ("error", str(error))


@settings(max_examples=200, deadline=None)
@given(own=VALUES, everyone=VALUES)
def test_env_stage_getter_answers_like_get_stage(own: str | None, everyone: str | None) -> None:
    """For any per-migration and global value, the getter and get_stage agree."""
    provider = EnvStageProvider()
    get = provider.stage_getter("users.get")
    saved = dict(os.environ)
    try:
        for variable, value in (("MIGRATEKIT_STAGE_USERS_GET", own),
                                ("MIGRATEKIT_STAGE", everyone)):
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        for _ in range(2):  # the second time, known values come from the raw cache
            assert _ask(provider, get) == _ask(provider,
                                               lambda: provider.get_stage("users.get"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_env_stage_getter_reads_a_replaced_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """With os.environ replaced by a plain dict, the getter reads the dict."""
    get = EnvStageProvider().stage_getter("users.get")
    monkeypatch.setattr(os, "environ", {"MIGRATEKIT_STAGE_USERS_GET": "rampdown"})
    assert get() is Stage.RAMPDOWN


def test_switching_the_process_provider_reaches_the_next_call() -> None:
    """The wrapper keeps the last provider's getter, and drops it when the provider changes."""

    @migration(new=lambda: "new", name="switch.me")
    def read() -> str:
        return "old"

    configure(provider=StaticStageProvider("off"))
    assert read() == "old"
    configure(provider=StaticStageProvider("complete"))
    assert read() == "new"
    configure(provider=EnvStageProvider())
    assert read() == "old"


class BrokenGetter:
    """A provider whose fast getter cannot even be made."""

    def get_stage(self, name: str, context: Any = None) -> Stage:
        return Stage.LIVE

    def stage_getter(self, name: str) -> Any:
        raise RuntimeError("no getter today")


def test_a_provider_whose_getter_fails_never_fails_the_call() -> None:
    """A stage_getter that raises gives the default stage and one stage_error, not an error."""

    @migration(new=lambda: "new", name="broken.getter", provider=BrokenGetter())
    def read() -> str:
        return "old"

    with capture_logs() as logs:
        assert read() == "old"
        assert read() == "old"
    errors = [e for e in logs if e["event"] == "migration.stage_error"]
    assert len(errors) == 1
    assert errors[0]["exc_type"] == "RuntimeError"
