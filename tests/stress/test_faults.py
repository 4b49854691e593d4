"""
The fault matrix: every stage against every fault a side, a comparison, a
provider, the log pipeline, a slow shadow, a full queue or an interrupt can
bring, sync and async.

For each cell: what the caller sees (the authoritative side's value or very
exception object, nothing else), which events are emitted, and that no write
reached the second side after the first one failed. The expected sides come
from docs/design.md's table, written out here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import migratekit
from migratekit import Operation, Stage, _events, _resolve, configure, migration
from migratekit import _pool as pool_module
from migratekit.providers import StaticStageProvider
from tests.helpers import (
    NEW,
    OLD,
    READ,
    WRITE,
    Boom,
    CompareBoom,
    Value,
    authoritative,
    other,
    planned,
)

STAGES = list(Stage)
MODES = ["sync", "async"]


def model_sides(stage: Stage, operation: Operation, failing: set[str]) -> list[str]:
    """The sides that run, in order: a write stops after a failed authoritative side."""
    sides = planned(stage, operation)
    if operation is WRITE and authoritative(stage) in failing:
        return [authoritative(stage)]
    return list(sides)


class World:
    """
    Two sides over two dict stores, each told what to do: ``ok``, ``raises``,
    ``hang`` (until released), or a BaseException instance to raise.
    """

    def __init__(self, stage: Stage, operation: Operation, mode: str,
                 behaviour: dict[str, Any] | None = None) -> None:
        self.stage = stage
        self.operation = operation
        self.mode = mode
        self.behaviour: dict[str, Any] = {OLD: "ok", NEW: "ok", **(behaviour or {})}
        self.calls: list[str] = []
        self.finished: list[str] = []
        self.stores: dict[str, dict[str, Any]] = {OLD: {}, NEW: {}}
        self.values = {OLD: Value("old"), NEW: Value("new")}
        self.errors = {OLD: Boom("old failed"), NEW: Boom("new failed")}
        self.release = threading.Event()
        self.started = threading.Event()
        self.astarted: asyncio.Event | None = None
        self.arelease: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return f"faults.{self.operation.value}"

    def _effect(self, origin: str, key: str, value: Any) -> Any:
        behaviour = self.behaviour[origin]
        if isinstance(behaviour, BaseException):
            raise behaviour
        if behaviour == "raises":
            raise self.errors[origin]
        if self.operation is WRITE:
            self.stores[origin][key] = value
        self.finished.append(origin)
        return self.values[origin]

    def side(self, origin: str, key: str, value: Any = None) -> Any:
        self.calls.append(origin)
        if self.behaviour[origin] == "hang":
            self.started.set()
            assert self.release.wait(10), "never released"
            self.behaviour[origin] = "ok"
        return self._effect(origin, key, value)

    async def aside(self, origin: str, key: str, value: Any = None) -> Any:
        self.calls.append(origin)
        await asyncio.sleep(0)
        if self.behaviour[origin] == "hang":
            assert self.astarted is not None
            assert self.arelease is not None
            self.astarted.set()
            await asyncio.wait_for(self.arelease.wait(), 10)
            self.behaviour[origin] = "ok"
        return self._effect(origin, key, value)

    def build(self, **options: Any) -> Callable[..., Any]:
        """The decorated function; old is the function itself, new a callable."""
        world = self
        decorate = migration.read if self.operation is READ else migration.write
        options.setdefault("provider", StaticStageProvider(self.stage))
        if self.mode == "async":

            async def anew(key: str, value: Any = None) -> Any:
                return await world.aside(NEW, key, value)

            async def aold(key: str, value: Any = None) -> Any:
                return await world.aside(OLD, key, value)

            return decorate(new=anew, name=self.name, **options)(aold)

        def new(key: str, value: Any = None) -> Any:
            return world.side(NEW, key, value)

        def old(key: str, value: Any = None) -> Any:
            return world.side(OLD, key, value)

        return decorate(new=new, name=self.name, **options)(old)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call *fn* the way its mode wants (awaited on a fresh loop for async)."""
        if self.mode == "async":

            async def main() -> Any:
                self.astarted, self.arelease = asyncio.Event(), asyncio.Event()
                return await fn(*args)

            return asyncio.run(main())
        return fn(*args)

    def outcome(self, fn: Callable[..., Any], *args: Any) -> tuple[Any, Exception | None]:
        try:
            return self.call(fn, *args), None
        except Exception as exc:
            return None, exc


def migration_events(logs: list[Any]) -> list[Any]:
    return [e for e in logs if e["event"] in ("migration.result", "migration.op")]


def assert_events(logs: list[Any], world: World, sides: list[str],
                  ok: dict[str, bool], consistent: Any = "default",
                  compare_error: str | None = None, stage: Stage | None = None,
                  exc_types: dict[str, str] | None = None) -> None:
    """One result per side in run order, then one op; all with one call_id."""
    stage = stage or world.stage
    auth = authoritative(stage)
    if consistent == "default":
        # The two Values differ and the default comparison is ==.
        both_ok = len(sides) == 2 and all(ok[o] for o in sides)
        consistent = False if world.operation is READ and both_ok else None
    events = migration_events(logs)
    got = [
        (e["event"], e.get("origin"), e.get("authoritative"), e.get("ok"), e["stage"])
        for e in events
    ]
    want: list[tuple[Any, ...]] = [
        ("migration.result", o, o == auth, ok[o], stage.value) for o in sides
    ]
    want.append(("migration.op", None, None, None, stage.value))
    assert got == want
    op = events[-1]
    assert op["invoked"] == sides
    assert op["consistent"] is consistent
    assert op["migration"] == world.name
    assert op["operation"] == world.operation.value
    assert op.get("compare_error") == compare_error
    for event in events[:-1]:
        expected_type = None if event["ok"] else (exc_types or {}).get(event["origin"], "Boom")
        assert event["exc_type"] == expected_type
        assert event["log_level"] == ("info" if event["ok"] else "warning")
    assert len({e["call_id"] for e in events}) == 1


def assert_caller_got(world: World, value: Any, error: BaseException | None,
                      failing: set[str], stage: Stage | None = None) -> None:
    auth = authoritative(stage or world.stage)
    if auth in failing:
        assert error is world.errors[auth]
    else:
        assert error is None, error
        assert value is world.values[auth]


def assert_stores(world: World, sides: list[str], failing: set[str]) -> None:
    """Writes landed exactly on the sides that ran and succeeded; reads wrote nothing."""
    for origin in (OLD, NEW):
        written = world.operation is WRITE and origin in sides and origin not in failing
        assert world.stores[origin] == ({"k": "v"} if written else {}), origin


# -- sides that raise ------------------------------------------------------------------

SIDE_FAULTS = {"old_raises": {OLD}, "new_raises": {NEW}, "both_raise": {OLD, NEW}}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("fault", list(SIDE_FAULTS))
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_side_raises(stage: Stage, fault: str, operation: Operation, mode: str) -> None:
    """A raising side: the caller sees only the authoritative outcome; no write after a failure."""
    failing = SIDE_FAULTS[fault]
    world = World(stage, operation, mode, dict.fromkeys(failing, "raises"))
    fn = world.build()
    with capture_logs() as logs:
        value, error = world.outcome(fn, "k", "v")
    sides = model_sides(stage, operation, failing)
    assert_caller_got(world, value, error, failing)
    assert world.calls == sides
    assert_stores(world, sides, failing)
    assert_events(logs, world, sides, {o: o not in failing for o in (OLD, NEW)})


# -- comparisons that raise or answer something that is not a bool ----------------------

COMPARE_FAULTS: dict[str, Any] = {"raises": CompareBoom("no"), "None": None, "yes": "yes",
                                  "one": 1}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", list(COMPARE_FAULTS))
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_compare_faults(stage: Stage, fault: str, mode: str) -> None:
    """A comparison that raises or gives a non-bool: the caller is unaffected, not compared."""
    world = World(stage, READ, mode)
    compared: list[tuple[Any, Any]] = []
    answer = COMPARE_FAULTS[fault]

    def compare(old: Any, new: Any) -> Any:
        compared.append((old, new))
        if isinstance(answer, BaseException):
            raise answer
        return answer

    fn = world.build(compare=compare)
    with capture_logs() as logs:
        value, error = world.outcome(fn, "k")
    sides = model_sides(stage, READ, set())
    assert_caller_got(world, value, error, set())
    assert world.calls == sides
    both = len(sides) == 2
    assert compared == ([(world.values[OLD], world.values[NEW])] if both else [])
    # Not a verdict either way: the op says "not compared" and why.
    expected_error = None
    if both:
        expected_error = "CompareBoom" if fault == "raises" else "TypeError"
    assert_events(logs, world, sides, {OLD: True, NEW: True}, None, expected_error)


# -- providers that raise or answer garbage ----------------------------------------------


class RaisingProvider:
    def get_stage(self, name: str, context: Any = None) -> Any:
        raise RuntimeError("stage store down")


class GarbageProvider:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_stage(self, name: str, context: Any = None) -> Any:
        return self.answer


class AsyncRaisingProvider:
    def get_stage(self, name: str, context: Any = None) -> Any:
        raise AssertionError("async migrations should await aget_stage")

    async def aget_stage(self, name: str, context: Any = None) -> Any:
        raise RuntimeError("stage store down (async)")


PROVIDERS: dict[str, Callable[[], Any]] = {
    "raises": RaisingProvider,
    "garbage_str": lambda: GarbageProvider("almost-live"),
    "garbage_int": lambda: GarbageProvider(42),
    "garbage_enum": lambda: GarbageProvider(Operation.READ),
    "garbage_object": lambda: GarbageProvider(object()),
    "async_raises": AsyncRaisingProvider,
}


PROVIDER_CELLS = [(p, m) for p in PROVIDERS for m in MODES if not (p == "async_raises"
                                                                    and m == "sync")]


@pytest.mark.parametrize("operation", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize(("provider", "mode"), PROVIDER_CELLS)
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_provider_faults(stage: Stage, provider: str, mode: str, operation: Operation) -> None:
    """A failing provider: the default stage is used, one stage_error for two calls."""
    configure(default_stage=stage)
    world = World(stage, operation, mode)
    fn = world.build(provider=PROVIDERS[provider]())
    for call in range(2):
        world.calls.clear()
        with capture_logs() as logs:
            value, error = world.outcome(fn, "k", "v")
        sides = model_sides(stage, operation, set())
        assert_caller_got(world, value, error, set())
        assert world.calls == sides
        assert_events(logs, world, sides, {OLD: True, NEW: True})
        errors = [e for e in logs if e["event"] == "migration.stage_error"]
        if call == 0:
            assert len(errors) == 1
            assert errors[0]["stage"] == stage.value
            assert errors[0]["migration"] == world.name
            assert errors[0]["log_level"] == "warning"
            assert logs[0] is errors[0], "the stage error comes before the call's events"
        else:
            assert errors == [], "the same failure is reported once, not once per call"
    assert_stores(world, list(planned(stage, operation)), set())


# -- a log pipeline that raises ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("outcome", ["ok", "auth_raises"])
@pytest.mark.parametrize("operation", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_log_processor_raises(stage: Stage, operation: Operation, outcome: str,
                              mode: str) -> None:
    """A structlog processor that raises: every event is attempted, the caller never sees it."""
    seen: list[dict[str, Any]] = []

    def collect(logger: Any, method: str, event: Any) -> Any:
        seen.append(dict(event))
        return event

    def explode(logger: Any, method: str, event: Any) -> Any:
        raise RuntimeError("the log shipper is down")

    structlog.configure(processors=[collect, explode])
    auth = authoritative(stage)
    failing = {auth} if outcome == "auth_raises" else set()
    world = World(stage, operation, mode, dict.fromkeys(failing, "raises"))
    fn = world.build()
    value, error = world.outcome(fn, "k", "v")
    sides = model_sides(stage, operation, failing)
    assert_caller_got(world, value, error, failing)
    assert world.calls == sides
    assert_stores(world, sides, failing)
    for event in seen:
        event["log_level"] = "warning" if event["event"] == "migration.result" and not event[
            "ok"] else "info"
        if event["event"] == "migration.op" and event["consistent"] is False:
            event["log_level"] = "warning"
    assert_events(seen, world, sides, {o: o not in failing for o in (OLD, NEW)},
                  consistent=False if (operation is READ and len(sides) == 2
                                       and not failing) else None)
    assert _events.pipeline_failures() == {"RuntimeError": len(sides) + 1}


# -- a shadow that hangs past shadow_timeout --------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", ["serial", "parallel"])
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_shadow_hangs_past_timeout(stage: Stage, order: str, mode: str) -> None:
    """The non-authoritative read hangs: the caller gets its value, the shadow a timeout."""
    auth = authoritative(stage)
    shadow = other(auth)
    world = World(stage, READ, mode, {shadow: "hang"})
    fn = world.build(shadow_timeout=0.05, execution_order=order)
    try:
        with capture_logs() as logs:
            value, error = world.outcome(fn, "k")
    finally:
        world.release.set()
    assert migratekit.drain(10)
    sides = model_sides(stage, READ, set())
    assert_caller_got(world, value, error, set())
    if len(sides) == 2:
        assert world.calls in (sides, sides[::-1])
        assert shadow not in world.finished or mode == "sync"  # async: cancelled at the timeout
        assert_events(logs, world, sides, {auth: True, shadow: False},
                      exc_types={shadow: "ShadowTimeoutError"})
    else:
        assert world.calls == sides
        assert_events(logs, world, sides, {OLD: True, NEW: True})


# -- background shadows with the queue full -----------------------------------------------


@pytest.fixture
def _fresh_drops() -> Iterator[None]:
    _events.reset_dropped_shadows()
    yield
    _events.reset_dropped_shadows()


@pytest.mark.usefixtures("_fresh_drops")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_background_queue_full(stage: Stage, mode: str) -> None:
    """One worker, a queue of one, its shadow blocked: the next shadow is dropped, not waited."""
    configure(shadow_workers=1, shadow_queue_size=1)
    auth = authoritative(stage)
    shadow = other(auth)
    two_sides = len(planned(stage, READ)) == 2
    world = World(stage, READ, mode, {shadow: "hang"})
    fn = world.build(shadow="background")
    results: list[Any] = []

    with capture_logs() as logs:
        if mode == "sync":
            try:
                results.append(fn("k"))
                if two_sides:
                    assert world.started.wait(10)
                results.append(fn("k"))  # must not block on the busy worker
            finally:
                world.release.set()
            assert migratekit.drain(10)
        else:

            async def main() -> None:
                world.astarted, world.arelease = asyncio.Event(), asyncio.Event()
                results.append(await fn("k"))
                results.append(await fn("k"))
                world.arelease.set()
                assert await migratekit.adrain(10)

            asyncio.run(main())

    assert results == [world.values[auth]] * 2
    assert results[0] is world.values[auth]
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 2, "one op per call, dropped or not"
    if two_sides:
        # sync: the shadow started before the second call; async: the task may start later
        assert world.calls == [auth, shadow, auth] if mode == "sync" else sorted(
            world.calls) == sorted([auth, shadow, auth])
        by_call = {e["call_id"] for e in ops}
        assert len(by_call) == 2
        dropped = [e for e in ops if e.get("shadow_dropped")]
        assert len(dropped) == 1
        assert dropped[0]["invoked"] == [auth]
        full = next(e for e in ops if not e.get("shadow_dropped"))
        assert full["invoked"] == [auth, shadow]
        assert _events.dropped_shadows() == {world.name: 1}
        notices = [e for e in logs if e["event"] == "migration.shadow_dropped"]
        assert [n["migration"] for n in notices] == [world.name]
    else:
        assert world.calls == [auth, auth]
        assert all(e["invoked"] == [auth] for e in ops)
        assert not any(e.get("shadow_dropped") for e in ops)
        assert _events.dropped_shadows() == {}


# -- BaseExceptions: KeyboardInterrupt, SystemExit, CancelledError ------------------------

INTERRUPTS: dict[str, Callable[[], BaseException]] = {
    "KeyboardInterrupt": KeyboardInterrupt,
    "SystemExit": lambda: SystemExit(3),
    "CancelledError": asyncio.CancelledError,
}


def _call_expecting_interrupt(world: World, fn: Callable[..., Any], interrupt: BaseException,
                              runs: bool) -> None:
    if not runs:
        value, error = world.outcome(fn, "k", "v")
        assert error is None
        assert value is world.values[authoritative(world.stage)]
        return
    with pytest.raises(type(interrupt)) as caught:
        world.call(fn, "k", "v")
    if not isinstance(interrupt, asyncio.CancelledError):
        # asyncio may hand on a CancelledError of its own making; the others are the side's.
        assert caught.value is interrupt


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(INTERRUPTS))
@pytest.mark.parametrize("origin", [OLD, NEW])
@pytest.mark.parametrize("operation", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_interrupts_propagate(stage: Stage, operation: Operation, origin: str, kind: str,
                              mode: str) -> None:
    """A BaseException from a side that runs reaches the caller; no write after it."""
    interrupt = INTERRUPTS[kind]()
    world = World(stage, operation, mode, {origin: interrupt})
    fn = world.build()
    runs = origin in planned(stage, operation)
    with capture_logs() as logs:
        _call_expecting_interrupt(world, fn, interrupt, runs)
    auth = authoritative(stage)
    if runs and origin == auth:
        assert world.calls[0] == auth
        if operation is WRITE:
            assert world.calls == [auth], "no write after the authoritative side was interrupted"
            assert world.stores == {OLD: {}, NEW: {}}
    # No event ever claims the interrupted side succeeded.
    assert not [e for e in logs if e.get("origin") == origin and e.get("ok") and runs]


OFFLOADED: dict[str, dict[str, Any]] = {
    "parallel": {"execution_order": "parallel"},
    "timeout": {"shadow_timeout": 5},
    "random": {"execution_order": "random"},
}


def _offloaded_cells() -> list[Any]:
    cells = []
    for stage in (Stage.SHADOW, Stage.LIVE):
        for origin in (OLD, NEW):
            for option in OFFLOADED:
                for kind in INTERRUPTS:
                    for mode in MODES:
                        # CPython 3.11's asyncio.wait_for, when the task it waits for raises
                        # KeyboardInterrupt or SystemExit, leaves the thread's recursion
                        # depth off (a later ast.parse fails with "AST constructor
                        # recursion depth mismatch"; reproduced without migratekit). Those
                        # cells would break the test process, not test migratekit.
                        if (mode == "async" and option == "timeout" and kind != "CancelledError"
                                and origin != authoritative(stage)):
                            continue
                        cells.append(pytest.param(stage, origin, option, kind, mode, id="-".join(
                            [stage.value, origin, option, kind, mode])))
    return cells


@pytest.mark.parametrize(("stage", "origin", "option", "kind", "mode"), _offloaded_cells())
def test_interrupts_propagate_from_offloaded_reads(stage: Stage, origin: str, option: str,
                                                   kind: str, mode: str) -> None:
    """A BaseException from a side run on the pool or as a task still reaches the caller."""
    options = OFFLOADED[option]
    interrupt = INTERRUPTS[kind]()
    world = World(stage, READ, mode, {origin: interrupt})
    fn = world.build(**options)
    with capture_logs():
        _call_expecting_interrupt(world, fn, interrupt, True)
    assert migratekit.drain(10)


# -- cancelling an async write between or during its sides ----------------------------------

WRITE_BOTH = [Stage.DUALWRITE, Stage.SHADOW, Stage.LIVE, Stage.RAMPDOWN]


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_cancel_during_second_write_side_lets_it_finish(stage: Stage) -> None:
    """Cancelling the caller while the second side writes: the caller gets CancelledError,
    the second side runs to completion and its events still come."""
    auth = authoritative(stage)
    second = other(auth)
    world = World(stage, WRITE, "async", {second: "hang"})
    fn = world.build()

    async def main() -> None:
        world.astarted, world.arelease = asyncio.Event(), asyncio.Event()
        task = asyncio.get_running_loop().create_task(fn("k", "v"))
        await asyncio.wait_for(world.astarted.wait(), 10)
        assert world.stores[auth] == {"k": "v"}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert world.stores[second] == {}, "the second side is still waiting to write"
        world.arelease.set()
        assert await migratekit.adrain(10)

    with capture_logs() as logs:
        asyncio.run(main())
    assert world.calls == [auth, second]
    assert world.finished == [auth, second]
    assert world.stores == {OLD: {"k": "v"}, NEW: {"k": "v"}}
    assert_events(logs, world, [auth, second], {OLD: True, NEW: True})


async def _cancel_once_started(world: World, fn: Callable[..., Any]) -> None:
    """Call fn("k", "v"), cancel the caller once a side has started, expect CancelledError."""
    world.astarted, world.arelease = asyncio.Event(), asyncio.Event()
    task = asyncio.get_running_loop().create_task(fn("k", "v"))
    await asyncio.wait_for(world.astarted.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_a_write_cut_by_asyncio_run_shutdown_is_reported(stage: Stage) -> None:
    """The caller is cancelled during the second side, then main() returns without adrain():
    asyncio.run cancels the side, and its failure and the op are still reported."""
    auth = authoritative(stage)
    second = other(auth)
    world = World(stage, WRITE, "async", {second: "hang"})
    fn = world.build()

    with capture_logs() as logs:
        asyncio.run(_cancel_once_started(world, fn))
    assert world.stores[auth] == {"k": "v"}
    assert world.stores[second] == {}
    assert_events(logs, world, [auth, second], {auth: True, second: False},
                  exc_types={second: "CancelledError"})


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_a_write_whose_loop_closes_under_it_is_reported(stage: Stage) -> None:
    """The caller is cancelled twice during the second side (the second cancel ends its
    wait), then the loop is closed with the side pending: the side is reported as
    WriteIncompleteError once migratekit sees the loop closed."""
    auth = authoritative(stage)
    second = other(auth)
    world = World(stage, WRITE, "async", {second: "hang"})
    fn = world.build()

    loop = asyncio.new_event_loop()
    with capture_logs() as logs:
        loop.run_until_complete(_cancel_once_started(world, fn))
        loop.close()
        assert not [e for e in logs if e["event"] == "migration.op"], "the side is pending"
        pool_module.prune()  # what the next loop that shadows, or interpreter exit, does
    assert world.stores[second] == {}
    assert_events(logs, world, [auth, second], {auth: True, second: False},
                  exc_types={second: "WriteIncompleteError"})
    failed = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert "adrain" in failed[0]["error"]


@pytest.mark.parametrize("operation", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_cancel_during_first_side_reports_the_call(stage: Stage, operation: Operation) -> None:
    """Cancelling the caller during the authoritative side: that side's result (failed,
    CancelledError) and the op are emitted; the other side never runs."""
    auth = authoritative(stage)
    world = World(stage, operation, "async", {auth: "hang"})
    fn = world.build()

    with capture_logs() as logs:
        asyncio.run(_cancel_once_started(world, fn))
    assert world.calls == [auth]
    assert_events(logs, world, [auth], {auth: False}, exc_types={auth: "CancelledError"})


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_cancel_during_first_write_side_never_starts_the_second(stage: Stage) -> None:
    """Cancelling the caller while the authoritative side writes: the other side never runs."""
    auth = authoritative(stage)
    world = World(stage, WRITE, "async", {auth: "hang"})
    fn = world.build()

    async def main() -> None:
        world.astarted, world.arelease = asyncio.Event(), asyncio.Event()
        task = asyncio.get_running_loop().create_task(fn("k", "v"))
        await asyncio.wait_for(world.astarted.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        world.arelease.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert await migratekit.adrain(10)

    with capture_logs() as logs:
        asyncio.run(main())
    assert world.calls == [auth]
    assert world.stores == {OLD: {}, NEW: {}}
    assert not [e for e in logs if e.get("ok")]


# -- what a stage provider answers or raises is untrusted ----------------------------------


class _RaisingRepr:
    """An ORM row returned by mistake: its repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("detached instance")


class _HostileStr(str):
    """A str subclass whose own methods raise."""

    def __hash__(self) -> int:
        raise TypeError("no hash")

    def strip(self, chars: Any = None) -> str:
        raise RuntimeError("no strip")

    def lower(self) -> str:
        raise RuntimeError("no lower")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __ne__ = __eq__


class _Sourced(Exception):
    def __init__(self, source: Any, value: Any = None) -> None:
        super().__init__("bad")
        self.source = source
        self.value = value


class _StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _answers() -> dict[str, Callable[[], Any]]:
    def raising(exc: BaseException) -> Callable[[], Any]:
        def answer() -> Any:
            raise exc

        return answer

    return {
        "repr-raises": _RaisingRepr,
        "hostile-str": lambda: _HostileStr("shadow"),
        "hostile-str-garbage": lambda: _HostileStr("nonsense"),
        "huge-str": lambda: "x" * 3_000_000,
        "surrogate": lambda: "\ud800",
        "list": lambda: ["shadow"],
        "coroutine": _coroutine,
        "stage-error-bad-value": raising(migratekit.StageError("bad", value=_RaisingRepr())),
        "source-list": raising(_Sourced(["a", "b"])),
        "source-dict": raising(_Sourced({"a": 1})),
        "source-raising-repr": raising(_Sourced(_RaisingRepr(), _RaisingRepr())),
        "str-raises": raising(_StrRaises()),
        "huge-message": raising(RuntimeError("m" * 3_000_000)),
    }


async def _coroutine() -> str:
    return "shadow"


@pytest.mark.parametrize("quiet", [False, True], ids=["events", "quiet"])
@pytest.mark.parametrize("mode", ["sync", "async", "migrator"])
@pytest.mark.parametrize("answer", list(_answers()))
def test_a_hostile_provider_answer_never_reaches_the_caller(answer: str, mode: str,
                                                             quiet: bool) -> None:
    """Whatever a provider answers or raises, the call runs in a stage (the default one
    when the answer is no stage) and returns the authoritative value; a stage_error says so."""
    make = _answers()[answer]

    class Provider:
        def get_stage(self, name: str, context: Any = None) -> Any:
            return make()

    configure(provider=Provider())
    if quiet:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    @migration(new=lambda x: x, name="hostile.answer")
    def read(x: int) -> int:
        return x

    @migration(new=lambda x: x, name="hostile.answer")
    async def aread(x: int) -> int:
        return x

    migrator = migratekit.Migrator(read=migratekit.MigrationConfig(
        migratekit.Result.success, migratekit.Result.success))
    with capture_logs() as logs:
        for _ in range(2):
            if mode == "sync":
                assert read(3) == 3
            elif mode == "async":
                assert asyncio.run(aread(3)) == 3
            else:
                assert migrator.read("hostile.answer", payload=3).value == 3
    errors = [e for e in logs if e["event"] == "migration.stage_error"]
    if not quiet and answer != "hostile-str" and not (answer == "coroutine" and mode == "async"):
        assert len(errors) == 1, "one event per distinct failure"
        assert errors[0]["stage"] == "off"
        assert all(len(str(v)) < 400 for v in errors[0].values())


def test_stage_members_of_a_reloaded_types_module_still_work() -> None:
    """After importlib.reload(migratekit._types) (IPython autoreload), stages named by a
    provider or given to configure() resolve to the stage they name."""
    import importlib

    from migratekit import _types

    before = _types.Stage
    saved = dict(vars(_types))
    try:
        importlib.reload(_types)
        assert _types.Stage is not before
        configure(provider=StaticStageProvider("live"), default_stage="shadow")

        @migration(new=lambda x: -x, name="reloaded")
        def read(x: int) -> int:
            return x

        assert read(2) == -2

        class Foreign:
            def get_stage(self, name: str, context: Any = None) -> Any:
                return _types.Stage.COMPLETE

        configure(provider=Foreign())
        assert read(2) == -2

        class Nothing:
            def get_stage(self, name: str, context: Any = None) -> Any:
                return None

        configure(provider=Nothing())
        assert read(2) == 2  # the default stage: SHADOW, old authoritative
    finally:  # the module as it was: the rest of the suite holds its classes
        vars(_types).clear()
        vars(_types).update(saved)
    assert migratekit.Stage.from_str("off") is migratekit.Stage.OFF


# -- the rest of the code that is not the authoritative side ------------------------------


class _LibraryExit(BaseException):
    """A library's own BaseException, neither an interrupt nor an Exception."""


@pytest.mark.parametrize("where", ["provider", "context", "log_values", "log_arguments",
                                   "log_errors", "pipeline"])
def test_a_base_exception_from_non_authoritative_code_never_reaches_the_caller(
        where: str) -> None:
    """A provider, a hook or the log pipeline raising a BaseException that is no interrupt:
    the call returns the authoritative value, and the failure is reported, not raised."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise _LibraryExit()

    class Provider:
        def get_stage(self, name: str, context: Any = None) -> Any:
            return boom() if where == "provider" else Stage.SHADOW

    options: dict[str, Any] = {where: boom} if where.startswith(("context", "log_")) else {}
    if where == "pipeline":
        structlog.configure(processors=[boom], cache_logger_on_first_use=False)

    @migration(new=lambda x: 1 / 0, provider=Provider(), name=f"nonauth.{where}", **options)
    def read(x: int) -> int:
        return x

    assert read(5) == 5
    assert asyncio.run(_async_twin(options, Provider())(5)) == 5


def _async_twin(options: dict[str, Any], provider: Any) -> Callable[[int], Any]:
    async def new(x: int) -> int:
        raise ZeroDivisionError

    @migration(new=new, provider=provider, name="nonauth.async", **options)
    async def read(x: int) -> int:
        return x

    return read


@pytest.mark.parametrize("hook", ["log_values", "log_arguments", "context"])
def test_an_async_hook_is_closed_not_left_unawaited(hook: str) -> None:
    """A hook written as `async def` returns a coroutine, which is closed (no 'never
    awaited' warning) and stands as that hook's failure."""

    async def hook_fn(*args: Any) -> Any:
        return "never"

    @migration(new=lambda x: x, name=f"async.{hook}", **{hook: hook_fn})  # type: ignore[call-overload]
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert read(1) == 1
    if hook == "log_values":
        assert {e.get("value") for e in logs if e["event"] == "migration.result"} == {
            "<log_values raised TypeError>"}
    elif hook == "log_arguments":
        (op,) = [e for e in logs if e["event"] == "migration.op"]
        assert op["arguments"] == "<log_arguments raised TypeError>"
    else:
        (error,) = [e for e in logs if e["event"] == "migration.stage_error"]
        assert error["exc_type"] == "TypeError"


def test_a_fork_while_a_thread_holds_migratekit_locks_leaves_the_child_working() -> None:
    """Fork while another thread holds the locks of stage-error reporting and event
    counting: the child still reports and counts (new locks after fork), and returns."""
    import os
    import warnings


    class Bad:
        def get_stage(self, name: str, context: Any = None) -> Any:
            return "no such stage"

    @migration(new=lambda x: x, provider=Bad(), name="fork.locks")
    def read(x: int) -> int:
        return x

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _resolve._seen_lock, _events._pipeline_failures_lock, _events._drops_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        with warnings.catch_warnings():  # 3.12+ warns that forking with threads may deadlock
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: a watchdog, then the call
            import signal

            signal.alarm(10)
            code = 0 if read(4) == 4 else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join(10)
    assert os.WIFEXITED(status), "the child hung or died"
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("option", ["parallel", "timeout", "background"])
def test_cancel_during_the_first_side_of_an_offloaded_read_reports_the_call(
        option: str) -> None:
    """PARALLEL, timed and background reads cancelled during the authoritative side: that
    side is reported cancelled, with the op (the shadow, if it started, too)."""
    options = {"background": {"shadow": "background"}, **OFFLOADED}[option]
    world = World(Stage.SHADOW, READ, "async", {OLD: "hang"})
    fn = world.build(**options)

    async def main() -> None:
        await _cancel_once_started(world, fn)
        assert await migratekit.adrain(10)

    with capture_logs() as logs:
        asyncio.run(main())
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 1
    old = [e for e in logs if e["event"] == "migration.result" and e["origin"] == OLD]
    assert [(e["ok"], e["exc_type"]) for e in old] == [(False, "CancelledError")]


def test_a_background_shadow_cut_by_asyncio_run_shutdown_closes_its_call() -> None:
    """main() returns with an async background shadow still running: asyncio.run cancels
    it, and the call still gets its shadow's result (cancelled) and its one op."""
    world = World(Stage.SHADOW, READ, "async", {NEW: "hang"})
    fn = world.build(shadow="background")

    async def main() -> None:
        world.astarted, world.arelease = asyncio.Event(), asyncio.Event()
        assert await fn("k", "v") == world.values[OLD]
        await asyncio.wait_for(world.astarted.wait(), 10)

    with capture_logs() as logs:
        asyncio.run(main())
    assert_events(logs, world, [OLD, NEW], {OLD: True, NEW: False},
                  exc_types={NEW: "CancelledError"})


@pytest.mark.parametrize("where", ["authoritative", "other"])
def test_a_generator_exit_raised_by_an_async_side_is_its_failure(where: str) -> None:
    """In async code a GeneratorExit that a side raises itself is that side's failure (the
    caller's exception when authoritative); one thrown in to close the coroutine closes it."""
    boom = GeneratorExit()

    async def raises(x: int) -> int:
        await asyncio.sleep(0)
        raise boom

    async def fine(x: int) -> int:
        return x

    @migration(old=raises if where == "authoritative" else fine,
               new=fine if where == "authoritative" else raises,
               provider=StaticStageProvider("shadow"), name="async.genexit")
    async def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        if where == "authoritative":
            with pytest.raises(GeneratorExit) as caught:
                asyncio.run(read(1))
            assert caught.value is boom
        else:
            assert asyncio.run(read(1)) == 1
    failed = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
    assert [e["exc_type"] for e in failed] == ["GeneratorExit"]

    async def hangs(x: int) -> int:
        await asyncio.sleep(3600)
        return x

    async def yields(x: int) -> int:
        await asyncio.sleep(0)
        return x

    @migration(old=hangs, new=yields, provider=StaticStageProvider("shadow"),
               name="async.closed")
    async def slow(x: int) -> int:
        return x

    loop = asyncio.new_event_loop()
    task = loop.create_task(slow(1))
    with capture_logs():
        loop.run_until_complete(asyncio.sleep(0.01))  # the task now waits in the new side
    coroutine: Any = task.get_coro()
    loop.close()
    # As a pending task's coroutine is closed when it is collected: it closes cleanly.
    coroutine.close()
    assert coroutine.cr_frame is None
