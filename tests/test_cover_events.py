"""Tests of migratekit._events: loggers whose levels are asked, cached loggers, call ids, drops."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from migratekit import Stage, _events, migration
from migratekit.providers import StaticStageProvider


class _Recorder:
    """A structlog processor that records (method, event) and drops the event."""

    def __init__(self) -> None:
        self.arrived: list[tuple[str, str]] = []

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        self.arrived.append((method, str(event_dict["event"])))
        raise structlog.DropEvent


class LevelledLogger(structlog.BoundLoggerBase):
    """A bound logger whose level can change between calls, like the stdlib's."""

    level = logging.WARNING

    def is_enabled_for(self, level: int) -> bool:
        return level >= LevelledLogger.level

    def info(self, event: str, **kw: Any) -> Any:
        return self._proxy_to_logger("info", event, **kw)

    def warning(self, event: str, **kw: Any) -> Any:
        return self._proxy_to_logger("warning", event, **kw)


class UnaskableLogger(structlog.BoundLoggerBase):
    """A bound logger with no is_enabled_for at all."""

    def info(self, event: str, **kw: Any) -> Any:
        return self._proxy_to_logger("info", event, **kw)

    def warning(self, event: str, **kw: Any) -> Any:
        return self._proxy_to_logger("warning", event, **kw)


class BrokenLevelLogger(UnaskableLogger):
    """A bound logger whose is_enabled_for raises."""

    def is_enabled_for(self, level: int) -> bool:
        raise RuntimeError("level unknown")


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    """A recorder, with LevelledLogger's level put back afterwards."""
    yield _Recorder()
    LevelledLogger.level = logging.WARNING


def _agreeing_read() -> Any:
    @migration(new=lambda: 1, provider=StaticStageProvider(Stage.SHADOW), name="cover.events")
    def get() -> int:
        return 1

    return get


def _events_of(recorder: _Recorder) -> list[str]:
    return [event for _, event in recorder.arrived]


@pytest.mark.parametrize("cached", [False, True])
def test_changing_level_is_asked_on_every_call(recorder: _Recorder, cached: bool) -> None:
    """A logger whose level can change is asked per call, even when structlog caches it."""
    structlog.configure(processors=[recorder], wrapper_class=LevelledLogger,
                        cache_logger_on_first_use=cached)
    get = _agreeing_read()
    assert get() == 1
    assert get() == 1
    assert recorder.arrived == []
    LevelledLogger.level = logging.INFO
    assert get() == 1
    assert _events_of(recorder).count("migration.result") == 2
    assert "migration.op" in _events_of(recorder)


@pytest.mark.parametrize("wrapper", [UnaskableLogger, BrokenLevelLogger])
def test_logger_that_cannot_say_its_level_gets_everything(recorder: _Recorder,
                                                          wrapper: type) -> None:
    """A logger without a working is_enabled_for is sent info events too; calls still return."""
    structlog.configure(processors=[recorder], wrapper_class=wrapper,
                        cache_logger_on_first_use=False)
    assert _agreeing_read()() == 1
    assert ("info", "migration.result") in recorder.arrived
    assert ("info", "migration.op") in recorder.arrived


def test_cached_filtering_logger_keeps_dropping_info(recorder: _Recorder) -> None:
    """A cached warning-level logger keeps dropping info and keeps sending warnings."""
    structlog.configure(processors=[recorder],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        cache_logger_on_first_use=True)
    get = _agreeing_read()
    for _ in range(3):
        assert get() == 1
    assert recorder.arrived == []

    @migration(new=lambda: 2, provider=StaticStageProvider(Stage.SHADOW), name="cover.differ")
    def differ() -> int:
        return 1

    for _ in range(2):
        assert differ() == 1
    assert recorder.arrived == [("warning", "migration.op")] * 2
    log, info, warning = _events.state()
    assert (info, warning) == (False, True)
    assert _events.state()[0] is log


def test_levels_of_a_filtering_logger_come_from_its_class() -> None:
    """levels() answers a structlog filtering logger by its fixed level."""
    for level, expected in [(logging.DEBUG, (True, True)), (logging.INFO, (True, True)),
                            (logging.WARNING, (False, True)), (logging.ERROR, (False, False))]:
        wrapper: Any = structlog.make_filtering_bound_logger(level)
        log = wrapper(None, [], {})
        assert _events.levels(log) == expected


def test_after_fork_call_ids_get_a_new_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a forked child, call ids start again from 1 under a new random prefix."""
    monkeypatch.setattr(_events, "_prefix", _events._prefix)
    monkeypatch.setattr(_events, "_counter", _events._counter)
    before = _events.new_call_id()
    _events.new_call_id()
    _events._after_fork()
    after = _events.new_call_id()
    prefix, number = after.rsplit("-", 1)
    assert number == "1"
    assert prefix != before.rsplit("-", 1)[0]
    assert _events.new_call_id() == f"{prefix}-2"


def test_error_message_of_nothing_is_none() -> None:
    """error_message without an exception or a message is None; a message is used as given."""
    assert _events.error_message(None) is None
    assert _events.error_message(None, "given") == "given"


def test_error_message_of_exception_whose_str_raises() -> None:
    """An exception whose str() raises is described by its class, not propagated."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert _events.error_message(Unprintable()) == "<Unprintable whose str() raised>"


def test_dropped_shadows_counted_without_warning() -> None:
    """A dropped shadow is counted even when warnings are off, and no event is sent."""

    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"log.{name} used")

    _events.reset_dropped_shadows()
    try:
        _events.shadow_dropped(NoCalls(), False, "cover.dropped")
        _events.shadow_dropped(NoCalls(), False, "cover.dropped")
        assert _events.dropped_shadows() == {"cover.dropped": 2}
    finally:
        _events.reset_dropped_shadows()
