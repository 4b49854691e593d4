"""
migratekit.testing.record_events: migratekit's events recorded while the
application's structlog configuration writes what it would have written anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

import migratekit
from migratekit.testing import capture_events, force_stage, record_events


def _new(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": "Bob"}


@migratekit.migration(new=_new, name="records.get")
def get_record(user_id: int) -> dict[str, Any]:
    """A read whose sides disagree on the name."""
    return {"id": user_id, "name": "Ada"}


@pytest.fixture
def output() -> list[tuple[str, str]]:
    """structlog configured to keep (level, event) of every event it writes."""
    lines: list[tuple[str, str]] = []

    def keep(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        lines.append((method_name, event_dict["event"]))
        return ""

    structlog.configure(processors=[keep], logger_factory=structlog.ReturnLoggerFactory())
    return lines


def test_records_migratekit_events_and_lets_everything_through(
        output: list[tuple[str, str]]) -> None:
    """Only migration.* events are recorded, with their level; the output gets every event."""
    with force_stage("shadow"), record_events() as events:
        get_record(1)
        structlog.get_logger("app").info("user.login")
    assert [(event["event"], event["log_level"]) for event in events] == [
        ("migration.result", "info"), ("migration.result", "info"), ("migration.op", "warning")]
    assert events[-1]["diff_paths"] == ["name"]
    assert output == [("info", "migration.result"), ("info", "migration.result"),
                      ("warning", "migration.op"), ("info", "user.login")]


def test_the_processors_are_as_they_were_after(output: list[tuple[str, str]]) -> None:
    """The very list structlog holds is used, and the recorder leaves it, even on an error."""
    processors = structlog.get_config()["processors"]
    before = list(processors)
    def fail_inside() -> None:
        with record_events():
            assert len(processors) == len(before) + 1
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fail_inside()
    assert structlog.get_config()["processors"] is processors
    assert processors == before


def test_events_are_copies(output: list[tuple[str, str]]) -> None:
    """A processor after the recorder that changes the event changes no recorded event."""
    def stamp(logger: Any, method_name: str,
              event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict["stamped"] = True
        return event_dict

    structlog.get_config()["processors"].insert(0, stamp)
    with force_stage("shadow"), record_events() as events:
        get_record(2)
    assert events
    assert all("stamped" not in event for event in events)


def test_loggers_cached_on_first_use_record_too() -> None:
    """A logger cached before the block holds the same processors list: it records."""
    structlog.configure(cache_logger_on_first_use=True,
                        logger_factory=structlog.ReturnLoggerFactory())
    log = structlog.get_logger("mine")
    log.info("migration.warmup")
    with record_events() as events:
        log.warning("migration.custom", size=3)
    assert events == [{"event": "migration.custom", "size": 3, "log_level": "warning"}]


def test_levels_are_filtered_as_configured() -> None:
    """A logger that drops info: only warnings are recorded, as only they are written."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.ReturnLoggerFactory())
    with force_stage("shadow"), record_events() as events:
        get_record(3)
    assert [(event["event"], event["log_level"]) for event in events] == [
        ("migration.op", "warning")]


def test_capture_events_inside_records_and_captures(output: list[tuple[str, str]]) -> None:
    """A capture_events block inside: it captures (and mutes), the recorder still records."""
    with force_stage("shadow"), record_events() as recorded:
        with capture_events() as captured:
            get_record(4)
        get_record(5)
    assert [event["event"] for event in captured] == [
        "migration.result", "migration.result", "migration.op"]
    assert len(recorded) == 6
    assert output == [("info", "migration.result"), ("info", "migration.result"),
                      ("warning", "migration.op")]


def test_a_configuration_of_a_tuple() -> None:
    """Processors configured as a tuple: a list for the block, the tuple itself back after."""
    def render(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        return str(event_dict["event"])

    processors = (render,)
    structlog.configure(processors=processors, logger_factory=structlog.ReturnLoggerFactory())
    with force_stage("shadow"), record_events() as events:
        get_record(6)
    assert len(events) == 3
    assert structlog.get_config()["processors"] is processors


def test_a_configuration_replaced_inside_the_block() -> None:
    """structlog.configure() inside the block: the new processors are left alone, and the
    recorder leaves the old list; events after the change are not recorded."""
    processors = structlog.get_config()["processors"]
    replaced = [structlog.processors.KeyValueRenderer()]
    with record_events() as events:
        structlog.configure(processors=replaced, logger_factory=structlog.ReturnLoggerFactory())
        structlog.get_logger().info("migration.after")
    assert events == []
    assert structlog.get_config()["processors"] is replaced
    assert len(replaced) == 1
    assert not any(type(p).__name__ == "_Recorder" for p in processors)

    as_tuple = (structlog.processors.KeyValueRenderer(),)
    with record_events():
        structlog.configure(processors=as_tuple)
    assert structlog.get_config()["processors"] is as_tuple
    assert len(replaced) == 1

    structlog.configure(processors=as_tuple)
    with record_events():
        structlog.configure(processors=replaced)
    assert structlog.get_config()["processors"] is replaced
    assert len(replaced) == 1


class _HostileProcessor:
    """A processor that cannot be compared or hashed."""

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return event_dict

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no __eq__")

    def __hash__(self) -> int:
        raise RuntimeError("no __hash__")


class _HostileMapping(MutableMapping[str, Any]):
    """An event dict that names a migratekit event and cannot be copied."""

    def __getitem__(self, key: str) -> Any:
        if key == "event":
            return "migration.op"
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        return "migration.op" if key == "event" else default

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        raise RuntimeError("no len")

    def __setitem__(self, key: str, value: Any) -> None:
        raise RuntimeError("read-only")

    def __delitem__(self, key: str) -> None:
        raise RuntimeError("read-only")


class _Name(str):
    """An event name whose own methods raise."""

    def startswith(self, *args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("no startswith")


def test_hostile_processors_and_events(output: list[tuple[str, str]]) -> None:
    """Processors that cannot be compared, events that cannot be copied: nothing raises."""
    structlog.get_config()["processors"].insert(0, _HostileProcessor())
    with record_events() as events:
        recorder = structlog.get_config()["processors"][0]
        hostile = _HostileMapping()
        assert recorder(None, "info", hostile) is hostile
        structlog.get_logger().info(_Name("migration.named"))
        structlog.get_logger().info(42)
    assert [event["event"] for event in events] == ["migration.named"]
    assert len(structlog.get_config()["processors"]) == 2
    assert output[-2:] == [("info", "migration.named"), ("info", 42)]


def test_background_shadows_are_recorded_once_drained(output: list[tuple[str, str]]) -> None:
    """The events of a background shadow arrive when it ends; drain() waits for them."""
    @migratekit.migration(new=_new, shadow="background", name="records.background")
    def background(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "name": "Ada"}

    with force_stage("shadow"), record_events() as events:
        background(7)
        assert migratekit.drain(10)
    assert events[-1]["event"] == "migration.op"
    assert events[-1]["consistent"] is False
