"""Tests of the public test helpers (migratekit/testing.py)."""

from __future__ import annotations

import asyncio
import doctest
import io

import pytest
import structlog

import migratekit
import migratekit.testing
from migratekit import _config
from migratekit.providers import StaticStageProvider
from migratekit.testing import capture_events, force_stage


def _new(user_id: int) -> int:
    return user_id + 1


@migratekit.migration(new=_new, name="numbers.get")
def get_number(user_id: int) -> int:
    """A read whose sides disagree."""
    return user_id


@migratekit.migration(new=_new, name="numbers.other")
def other_number(user_id: int) -> int:
    """Another read, to show force_stage(name=...) leaves it alone."""
    return user_id


def test_capture_events_keeps_only_migratekit_events(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Only migration.* events are captured, with their level, and nothing is printed."""
    with force_stage("shadow"), capture_events() as events:
        get_number(1)
        structlog.get_logger("app").info("something else")
    assert [event["event"] for event in events] == [
        "migration.result", "migration.result", "migration.op"]
    op = events[-1]
    assert (op["consistent"], op["log_level"]) == (False, "warning")
    assert op["migration"] == "numbers.get"
    assert events[0]["log_level"] == "info"
    assert capsys.readouterr().out == ""


def test_capture_events_restores_the_configuration() -> None:
    """After the block, events reach the configured processors again."""
    out = io.StringIO()
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(out))
    with capture_events():
        get_number(1)
    assert out.getvalue() == ""
    get_number(2)
    assert "migration.op" in out.getvalue()


def test_capture_events_with_cached_loggers() -> None:
    """Loggers cached on first use capture too (the processors list is changed in place)."""
    # A logger of the test's own: caching migratekit's module-level logger would
    # outlive this test.
    structlog.configure(cache_logger_on_first_use=True,
                        logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    log = structlog.get_logger("mine")
    log.info("migration.warmup")
    with capture_events() as events:
        log.info("migration.custom", size=3)
    assert events == [{"event": "migration.custom", "size": 3, "log_level": "info"}]


def test_force_stage_for_all() -> None:
    """Without a name the stage is forced for every migration, and undone after."""
    with force_stage(migratekit.Stage.LIVE):
        assert get_number(1) == 2
        assert other_number(1) == 2
    assert get_number(1) == 1


def test_force_stage_for_one() -> None:
    """With a name only that migration is forced; the others ask the previous provider."""
    migratekit.configure(provider=StaticStageProvider({"numbers.other": "complete"}))
    with force_stage("rampdown", name="numbers.get"):
        assert get_number(1) == 2
        assert other_number(5) == 6
    with force_stage("live", name=get_number):
        assert get_number(1) == 2


def test_force_stage_restores_after_an_exception() -> None:
    """The previous provider is back even when the block raises."""
    previous = _config.settings.provider
    with pytest.raises(RuntimeError), force_stage("live"):
        raise RuntimeError("boom")
    assert _config.settings.provider is previous


def test_force_stage_nested() -> None:
    """Nested blocks unwind one at a time."""
    with force_stage("live"):
        with force_stage("off", name="numbers.get"):
            assert (get_number(1), other_number(1)) == (1, 2)
        assert get_number(1) == 2
    assert get_number(1) == 1


def test_force_stage_async() -> None:
    """Async migrations see the forced stage too."""

    async def new_side(value: int) -> int:
        return value * 10

    @migratekit.migration(new=new_side, name="numbers.async")
    async def get_async(value: int) -> int:
        return value

    with force_stage("complete", name="numbers.async"):
        assert asyncio.run(get_async(2)) == 20
    assert asyncio.run(get_async(2)) == 2


def test_force_stage_rejects_bad_arguments() -> None:
    """A stage that is not one, or a name of the wrong type, fails at once."""
    with pytest.raises(migratekit.ConfigurationError, match="must name a stage"), \
            force_stage("beta"):
        pass  # pragma: no cover
    with pytest.raises(TypeError, match="'name' must be"), force_stage("live", name=42):
        pass  # pragma: no cover


def test_docstring_examples_run() -> None:
    """The examples in migratekit.testing's docstrings pass as written."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    results = doctest.testmod(migratekit.testing, optionflags=doctest.ELLIPSIS)
    assert results.attempted >= 10
    assert results.failed == 0


def test_force_stage_reaches_a_migration_with_its_own_provider() -> None:
    """A forced stage wins over a migration's own provider=, and nests by name."""
    @migratekit.migration(new=lambda: "new", name="own.provider",
                          provider=StaticStageProvider("off"))
    def read() -> str:
        return "old"

    assert read() == "old"
    with force_stage("complete"):
        assert read() == "new"
        with force_stage("off", name="own.provider"):
            assert read() == "old"
        assert read() == "new"
    assert read() == "old"
