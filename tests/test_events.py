"""Tests of migratekit._events: the structured events, their fields, levels and safety."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from migratekit import (
    MigrationConfig,
    Migrator,
    Result,
    Stage,
    _events,
    migration,
)
from migratekit.providers import StaticStageProvider
from tests.helpers import ops


def static(stage: Stage | str) -> StaticStageProvider:
    return StaticStageProvider(stage)


def read_with(stage: str, old: Any, new: Any, **options: Any) -> Any:
    """A read migration on a plain function: old is the function, new the given callable."""

    @migration(new=new, provider=static(stage), name="ev", **options)
    def get(*args: Any) -> Any:
        return old(*args)

    return get


def raiser(exc: BaseException) -> Any:
    def side(*args: Any) -> Any:
        raise exc

    return side


def results(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.result"]


# -- error messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [201, 500, 10_000])
def test_error_is_cut_to_200_characters(length: int) -> None:
    """A long exception message appears in the event cut to at most 200 characters."""
    message = "".join(chr(ord("a") + i % 26) for i in range(length))
    get = read_with("shadow", lambda: "v", raiser(ValueError(message)))
    with capture_logs() as logs:
        assert get() == "v"
    error = results(logs)[1]["error"]
    assert isinstance(error, str)
    assert len(error) <= 200
    assert len(error) >= 190
    assert error[:190] == message[:190]


@pytest.mark.parametrize("length", [0, 1, 199, 200])
def test_short_error_is_kept_whole(length: int) -> None:
    """A message of 200 characters or fewer is kept as it is."""
    message = "x" * length
    get = read_with("shadow", lambda: "v", raiser(ValueError(message)))
    with capture_logs() as logs:
        get()
    assert results(logs)[1]["error"] == message


def test_error_message_helper_limit() -> None:
    """error_message() cuts to ERROR_MESSAGE_LIMIT, which is 200."""
    assert _events.ERROR_MESSAGE_LIMIT == 200
    cut = _events.error_message(ValueError("y" * 1000))
    assert cut is not None
    assert len(cut) == 200


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def test_exception_whose_str_raises_non_authoritative() -> None:
    """A non-authoritative exception whose __str__ raises still becomes a warning result."""
    get = read_with("shadow", lambda: "v", raiser(UnprintableError()))
    with capture_logs() as logs:
        assert get() == "v"
    new = results(logs)[1]
    assert new["ok"] is False
    assert new["exc_type"] == "UnprintableError"
    assert isinstance(new["error"], str)
    assert "UnprintableError" in new["error"]
    assert new["log_level"] == "warning"


def test_exception_whose_str_raises_authoritative() -> None:
    """An authoritative exception whose __str__ raises reaches the caller as the same object."""
    exc = UnprintableError()
    get = read_with("live", lambda: "v", raiser(exc))
    with capture_logs() as logs, pytest.raises(UnprintableError) as info:
        get()
    assert info.value is exc
    assert [e["exc_type"] for e in results(logs)] == ["UnprintableError", None]


def test_exception_whose_str_raises_through_migrator() -> None:
    """Migrator turns an exception whose __str__ raises into a failed result with a message."""
    exc = UnprintableError()

    def old(payload: Any) -> Result[Any]:
        raise exc

    migrator = Migrator(
        read=MigrationConfig(old, lambda p: Result.success(1)), provider=static("off")
    )
    with capture_logs():
        result = migrator.read("m")
    assert result.exception is exc
    assert isinstance(result.error, str)


# -- levels ---------------------------------------------------------------------------------------


def test_levels_all_ok_consistent_are_info() -> None:
    """Successful results and a consistent op are logged at info."""
    get = read_with("shadow", lambda: 1, lambda: 1)
    with capture_logs() as logs:
        get()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("migration.result", "info"),
        ("migration.result", "info"),
        ("migration.op", "info"),
    ]
    assert ops(logs)[0]["consistent"] is True


def test_levels_failed_result_is_warning() -> None:
    """A failed result is a warning; its op (not compared) is info."""
    get = read_with("shadow", lambda: 1, raiser(KeyError("k")))
    with capture_logs() as logs:
        get()
    assert [(e["event"], e["log_level"], e.get("ok")) for e in logs] == [
        ("migration.result", "info", True),
        ("migration.result", "warning", False),
        ("migration.op", "info", None),
    ]
    assert ops(logs)[0]["consistent"] is None


def test_levels_inconsistent_op_is_warning() -> None:
    """An op whose sides disagree is a warning; the results stay info."""
    get = read_with("shadow", lambda: 1, lambda: 2)
    with capture_logs() as logs:
        get()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("migration.result", "info"),
        ("migration.result", "info"),
        ("migration.op", "warning"),
    ]
    assert ops(logs)[0]["consistent"] is False


def test_compare_error_op_is_info_with_class_name() -> None:
    """A comparison that raises: consistent None, compare_error the class name, level info."""

    class Incomparable(Exception):
        pass

    def compare(a: Any, b: Any) -> bool:
        raise Incomparable("x")

    get = read_with("shadow", lambda: 1, lambda: 1, compare=compare)
    with capture_logs() as logs:
        assert get() == 1
    op = ops(logs)[0]
    assert op["consistent"] is None
    assert op["compare_error"] == "Incomparable"
    assert op["log_level"] == "info"


def test_stage_error_is_warning() -> None:
    """migration.stage_error is a warning."""

    class Bad:
        def get_stage(self, name: str, context: Any = None) -> Any:
            raise RuntimeError("down")

    @migration(new=lambda: 2, provider=Bad())
    def get() -> int:
        return 1

    with capture_logs() as logs:
        assert get() == 1
    errors = [e for e in logs if e["event"] == "migration.stage_error"]
    assert len(errors) == 1
    assert errors[0]["log_level"] == "warning"


def test_result_fields_present_and_typed() -> None:
    """migration.result carries every documented field with the documented types."""
    get = read_with("shadow", lambda: 1, raiser(OSError("disk")))
    with capture_logs() as logs:
        get()
    ok, failed = results(logs)
    for event in (ok, failed):
        assert event["migration"] == "ev"
        assert event["operation"] == "read"
        assert event["stage"] == "shadow"
        assert isinstance(event["latency_ms"], float)
        assert isinstance(event["call_id"], str)
        assert isinstance(event["authoritative"], bool)
    assert (ok["origin"], ok["authoritative"], ok["ok"], ok["error"], ok["exc_type"]) == (
        "old",
        True,
        True,
        None,
        None,
    )
    assert (failed["origin"], failed["authoritative"], failed["ok"]) == ("new", False, False)
    assert (failed["error"], failed["exc_type"]) == ("disk", "OSError")


def test_diff_paths_name_paths_not_values() -> None:
    """An inconsistent op of two dicts names the differing path in diff_paths."""
    get = read_with(
        "shadow",
        lambda: {"address": {"zip": "1"}, "name": "a"},
        lambda: {"address": {"zip": "2"}, "name": "a"},
    )
    with capture_logs() as logs:
        get()
    op = ops(logs)[0]
    assert op["consistent"] is False
    assert op["diff_paths"] == ["address.zip"]


# -- call ids -------------------------------------------------------------------------------------


def test_call_id_shared_within_a_call_and_unique_across_calls() -> None:
    """Each call's events share one call_id; no two calls share one."""
    get = read_with("shadow", lambda: 1, lambda: 1)
    per_call: list[str] = []
    for _ in range(300):
        with capture_logs() as logs:
            get()
        ids = {e["call_id"] for e in logs}
        assert len(ids) == 1
        assert len(logs) == 3
        per_call.append(ids.pop())
    assert len(set(per_call)) == 300


def test_call_ids_unique_across_migrations_and_migrator() -> None:
    """call_ids are unique across different migrations and the Migrator alike."""
    a = read_with("off", lambda: 1, lambda: 1)
    migrator = Migrator(
        write=MigrationConfig(lambda p: Result.success(1), lambda p: Result.success(2)),
        provider=static("dualwrite"),
    )
    with capture_logs() as logs:
        for _ in range(50):
            a()
            migrator.write("w")
    op_ids = [e["call_id"] for e in ops(logs)]
    assert len(op_ids) == 100
    assert len(set(op_ids)) == 100


# -- cheap when dropped ---------------------------------------------------------------------------


@pytest.fixture
def warnings_only() -> list[tuple[str, dict[str, Any]]]:
    """structlog configured to drop info; a processor records what arrives."""
    arrived: list[tuple[str, dict[str, Any]]] = []

    def record(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        arrived.append((method, dict(event_dict)))
        raise structlog.DropEvent

    structlog.configure(
        processors=[record],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    return arrived


def test_dropped_info_builds_no_event(
    warnings_only: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With info dropped, only warnings arrive and no info event is even built."""
    built: list[int] = []
    original = _events._log

    def spy(log: Any, level: int, event: str, fields: dict[str, Any]) -> None:
        built.append(level)
        original(log, level, event, fields)

    monkeypatch.setattr(_events, "_log", spy)

    ok = read_with("shadow", lambda: 1, lambda: 1)
    for stage in ("off", "complete"):
        assert read_with(stage, lambda: 1, lambda: 1)() == 1
    assert ok() == 1
    assert warnings_only == []
    assert built == []

    failing = read_with("shadow", lambda: 1, raiser(ValueError("v")))
    assert failing() == 1
    differing = read_with("shadow", lambda: 1, lambda: 2)
    assert differing() == 1
    assert [m for m, _ in warnings_only] == ["warning", "warning"]
    assert [e["event"] for _, e in warnings_only] == ["migration.result", "migration.op"]
    assert warnings_only[0][1]["ok"] is False
    assert warnings_only[1][1]["consistent"] is False
    assert set(built) == {logging.WARNING}


def test_dropped_info_authoritative_failure_still_raises(
    warnings_only: list[tuple[str, dict[str, Any]]],
) -> None:
    """With info dropped, an authoritative failure still raises the same exception and warns."""
    boom = ValueError("auth")
    get = read_with("off", raiser(boom), lambda: 1)
    with pytest.raises(ValueError, match="auth") as info:
        get()
    assert info.value is boom
    assert [(m, e["event"]) for m, e in warnings_only] == [("warning", "migration.result")]


def test_everything_dropped_still_runs_sides() -> None:
    """With every level dropped, the sides still run and the caller still gets the value."""
    structlog.configure(
        processors=[],
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
    )
    calls: list[str] = []

    def new(v: int) -> None:
        calls.append("new")

    @migration.write(new=new, provider=static("dualwrite"))
    def save(v: int) -> str:
        calls.append("old")
        return "saved"

    assert save(1) == "saved"
    assert calls == ["old", "new"]


# -- a log pipeline that raises -------------------------------------------------------------------


class PipelineBroken(Exception):
    pass


@pytest.fixture
def broken_pipeline() -> None:
    def explode(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        raise PipelineBroken("processor failed")

    structlog.configure(processors=[explode], cache_logger_on_first_use=False)


@pytest.mark.usefixtures("broken_pipeline")
def test_raising_pipeline_never_reaches_read_caller() -> None:
    """A processor that raises: the read still returns the value; failures are counted."""
    get = read_with("shadow", lambda: "value", lambda: "value")
    assert get() == "value"
    assert _events.pipeline_failures() == {"PipelineBroken": 3}
    assert get() == "value"
    assert _events.pipeline_failures() == {"PipelineBroken": 6}


@pytest.mark.usefixtures("broken_pipeline")
def test_raising_pipeline_writes_still_happen_on_both_sides() -> None:
    """A processor that raises: both sides are still written, the value still returned."""
    calls: list[str] = []

    class Repo:
        def _new(self, v: int) -> str:
            calls.append(f"new {v}")
            return "n"

        @migration.write(new="_new", provider=static("dualwrite"))
        def save(self, v: int) -> str:
            calls.append(f"old {v}")
            return "o"

    assert Repo().save(1) == "o"
    assert calls == ["old 1", "new 1"]
    assert _events.pipeline_failures()["PipelineBroken"] == 3


@pytest.mark.usefixtures("broken_pipeline")
def test_raising_pipeline_with_migrator_and_stage_error() -> None:
    """A raising pipeline does not break the Migrator nor stage_error reporting."""

    class Bad:
        def get_stage(self, name: str, context: Any = None) -> Any:
            return "nonsense"

    migrator = Migrator(
        write=MigrationConfig(lambda p: Result.success(1), lambda p: Result.success(2)),
        provider=Bad(),
    )
    result = migrator.write("w", payload=3)
    assert result.authoritative.value == 1
    assert _events.pipeline_failures()["PipelineBroken"] >= 3


@pytest.mark.usefixtures("broken_pipeline")
def test_raising_pipeline_authoritative_exception_still_reaches_caller() -> None:
    """A raising pipeline does not replace the authoritative side's exception."""
    boom = LookupError("the real one")
    get = read_with("shadow", raiser(boom), lambda: 1)
    with pytest.raises(LookupError) as info:
        get()
    assert info.value is boom


@pytest.mark.usefixtures("broken_pipeline")
def test_raising_pipeline_reported_once_through_stdlib(caplog: pytest.LogCaptureFixture) -> None:
    """The first failure of each kind is reported through stdlib logging, not every one."""
    get = read_with("shadow", lambda: 1, lambda: 1)
    with caplog.at_level(logging.WARNING, logger="migratekit"):
        for _ in range(5):
            get()
    reports = [r for r in caplog.records if r.name == "migratekit"]
    assert len(reports) == 1
    assert "PipelineBroken" in reports[0].getMessage()


def test_pipeline_failures_start_empty() -> None:
    """pipeline_failures() is empty when nothing failed (the conftest resets it)."""
    get = read_with("shadow", lambda: 1, lambda: 1)
    with capture_logs():
        get()
    assert _events.pipeline_failures() == {}


# -- values are never logged ----------------------------------------------------------------------


SENTINEL = "SENTINEL-7f3a9c-SECRET"


def test_values_read_or_written_never_appear_in_events() -> None:
    """No event carries a value read or written (sentinel absent from every event's repr)."""

    class Repo:
        def _get_new(self, key: str) -> dict[str, Any]:
            return {"user": {"email": SENTINEL + "-new", "tags": [SENTINEL, "x"]}}

        @migration(new="_get_new", provider=static("shadow"), name="users.get")
        def get(self, key: str) -> dict[str, Any]:
            return {"user": {"email": SENTINEL + "-old", "tags": [SENTINEL, "y"]}}

        @migration(new="_get_new", provider=static("live"), name="users.get2")
        def get_live(self, key: str) -> dict[str, Any]:
            return {"user": {"email": SENTINEL}}

        def _save_new(self, user: str) -> str:
            return SENTINEL

        @migration.write(new="_save_new", provider=static("dualwrite"), name="users.save")
        def save(self, user: str) -> str:
            return SENTINEL

    migrator = Migrator(
        read=MigrationConfig(lambda p: Result.success([p, 1]), lambda p: Result.success([p, 2])),
        write=MigrationConfig(Result.success, Result.success),
        provider=static("shadow"),
    )
    repo = Repo()
    with capture_logs() as logs:
        repo.get(SENTINEL)
        repo.get_live(SENTINEL)
        repo.save(SENTINEL)
        migrator.read("m.read", context=None, payload=SENTINEL)
        migrator.write("m.write", payload=SENTINEL)
    assert len(logs) >= 12
    assert any(e.get("consistent") is False for e in logs)
    for event in logs:
        assert SENTINEL not in repr(event)


def test_data_used_as_mapping_keys_never_appears_in_events() -> None:
    """Values used as mapping keys (ids, handles) stay out of diff_paths and every event."""
    get = read_with(
        "shadow",
        lambda: {"users": {SENTINEL: {"age": 1}, "bob": {"age": 2}}},
        lambda: {"users": {SENTINEL: {"age": 3}, "bob": {"age": 2}}},
    )
    with capture_logs() as logs:
        get()
    assert ops(logs)[0]["consistent"] is False
    for event in logs:
        assert SENTINEL not in repr(event)


def test_library_never_configures_structlog() -> None:
    """Using migratekit leaves structlog unconfigured: the application decides."""
    structlog.reset_defaults()
    get = read_with("shadow", lambda: 1, lambda: 2)
    get()
    assert structlog.is_configured() is False


# -- structlog cannot even make a logger -----------------------------------------------------


class FactoryBroken(OSError):
    """A logger factory that opens a file, at EMFILE."""


@pytest.mark.parametrize("broken", ["factory", "wrapper"])
@pytest.mark.parametrize("stage", ["off", "shadow", "live"])
def test_a_logger_that_cannot_be_made_never_reaches_the_caller(
    broken: str, stage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A logger factory or wrapper class that raises: every call still returns the
    authoritative value, in every stage, OFF included; the failure is counted and said
    once through stdlib logging; stage errors go the same way."""

    def factory(*args: Any) -> Any:
        raise FactoryBroken(24, "Too many open files")

    class Wrapper(structlog.BoundLogger):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise FactoryBroken(24, "Too many open files")

    if broken == "factory":
        structlog.configure(logger_factory=factory, cache_logger_on_first_use=False)
    else:
        structlog.configure(wrapper_class=Wrapper, cache_logger_on_first_use=False)
    get = read_with(stage, lambda: "old", lambda: "new")
    with caplog.at_level(logging.WARNING, logger="migratekit"):
        for _ in range(3):
            assert get() == ("new" if stage == "live" else "old")

        class Bad:
            def get_stage(self, name: str, context: Any = None) -> Any:
                return "not-a-stage-at-all"

        @migration(new=lambda: "new", provider=Bad(), name="ev.bad")
        def bad() -> str:
            return "old"

        assert bad() == "old"
    assert _events.pipeline_failures() == {"FactoryBroken": 5}
    reports = [r for r in caplog.records if r.name == "migratekit"]
    assert len(reports) == 1
    assert "while making the logger" in reports[0].getMessage()


def test_a_processor_that_calls_migrated_code_does_not_recurse() -> None:
    """A structlog processor that calls a migration (to enrich every event): the call returns,
    the outer events are emitted once each, the inner call's events are dropped."""
    seen: list[str] = []
    get = read_with("shadow", lambda: "old", lambda: "new")

    def enrich(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        event_dict["enriched"] = get()  # migrated code, inside the pipeline
        seen.append(event_dict["event"])
        raise structlog.DropEvent

    structlog.configure(processors=[enrich], cache_logger_on_first_use=False)
    assert get() == "old"
    assert seen == ["migration.result", "migration.result", "migration.op"]
    assert _events.pipeline_failures() == {}


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
    log, debug, info, warning = _events.state()
    assert (debug, info, warning) == (False, False, True)
    assert _events.state()[0] is log


def test_levels_of_a_filtering_logger_come_from_its_class() -> None:
    """levels() answers a structlog filtering logger by its fixed level."""
    for level, expected in [(logging.DEBUG, (True, True, True)),
                            (logging.INFO, (False, True, True)),
                            (logging.WARNING, (False, False, True)),
                            (logging.ERROR, (False, False, False))]:
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
