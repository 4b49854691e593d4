"""The shortcuts of the hot path answer exactly what the long way would."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from migratekit import Operation, Stage, StageError, configure, migration
from migratekit.providers import EnvStageProvider, StaticStageProvider

READ, WRITE = Operation.READ, Operation.WRITE

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


# -- the quiet path against the long way, whatever changes between calls ----------------------

CHANGES = st.one_of(
    st.tuples(st.just("own"), VALUES),
    st.tuples(st.just("everyone"), VALUES),
    st.tuples(st.just("default"), st.sampled_from(list(Stage))),
    st.tuples(st.just("provider"), st.sampled_from(["env", "static-live", "static-none"])),
    st.tuples(st.just("force"), st.sampled_from([None, *Stage])),
    st.tuples(st.just("environ"), st.sampled_from(["plain dict", "os"])),
)


def _quiet_logging() -> None:
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


@settings(max_examples=150, deadline=None)
@given(changes=st.lists(CHANGES, max_size=12))
def test_the_quiet_path_runs_the_stage_the_long_way_names(
    changes: list[tuple[str, Any]],
) -> None:
    """
    With events dropped, a call reads its stage from what the quiet path
    remembers (the provider's getter, the environment's store, the values it
    has seen, the default stage): after any change to variables, settings,
    forced stages or os.environ itself, it runs the stage that resolve_stage
    names, for reads and writes.
    """
    from contextlib import ExitStack

    from migratekit import _config
    from migratekit._resolve import resolve_stage
    from migratekit.testing import force_stage
    from tests.helpers import TABLE, fresh, planned

    _quiet_logging()
    ran: list[str] = []

    def side(origin: str) -> Any:
        def run() -> str:
            ran.append(origin)
            return origin

        return run

    @migration.read(old=side("old"), new=side("new"), name="quiet.path")
    def read() -> str:
        raise AssertionError("old= runs instead")  # pragma: no cover

    @migration.write(old=side("old"), new=side("new"), name="quiet.path")
    def write() -> str:
        raise AssertionError("old= runs instead")  # pragma: no cover

    def observed() -> tuple[tuple[str, ...], tuple[str, ...]]:
        ran.clear()
        read()
        reads = tuple(ran)
        ran.clear()
        write()
        return reads, tuple(ran)

    saved_environ = os.environ
    variables = {"own": "MIGRATEKIT_STAGE_QUIET_PATH", "everyone": "MIGRATEKIT_STAGE"}
    with ExitStack() as stack:
        try:
            for change, value in [("own", None), *changes]:
                if change in variables:
                    if value is None:
                        os.environ.pop(variables[change], None)
                    else:
                        os.environ[variables[change]] = value
                elif change == "default":
                    configure(default_stage=value)
                elif change == "provider":
                    configure(provider={"env": EnvStageProvider(),
                                        "static-live": StaticStageProvider("live"),
                                        "static-none": StaticStageProvider({})}[value])
                elif change == "force" and value is not None:
                    stack.enter_context(force_stage(value))
                elif change == "force":
                    stack.close()
                elif change == "environ":
                    # Replaced, as a test may: the quiet path must read the new one.
                    replacement: Any = dict(os.environ) if value == "plain dict" else saved_environ
                    os.environ = replacement  # noqa: B003
                for _ in range(2):  # the second call takes what the first one learned
                    stage = resolve_stage(_config.settings.provider, "quiet.path", None)
                    assert stage in TABLE
                    assert observed() == (planned(stage, READ), planned(stage, WRITE)), (
                        change, value, stage)
        finally:
            stack.close()
            os.environ = saved_environ  # noqa: B003
            for variable in variables.values():
                os.environ.pop(variable, None)
            fresh()
