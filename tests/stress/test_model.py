"""
A model-based property test of the stage table, sync and async.

Hypothesis drives a state machine through random sequences of stage changes
(good answers, stage names in odd spellings, garbage, a provider that raises,
a new default stage), reads and writes. Each side of each call succeeds,
returns a different value, raises or is slow, and the stores are dicts, so
writes are checked too. After every step the call's outcome, the sides that
ran and their order, the two stores and the events emitted must equal what a
reference model says. The model is written here, from docs/design.md's table, and
never imported from the engine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from structlog.testing import capture_logs

import migratekit
from migratekit import Stage, migration
from tests.helpers import fresh

# -- the reference model: docs/design.md's stage table ------------------------------------

OLD, NEW = "old", "new"

#            stage              read runs     read returns  write runs, in order
TABLE: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "off":       ((OLD,),       OLD,          (OLD,)),
    "dualwrite": ((OLD,),       OLD,          (OLD, NEW)),
    "shadow":    ((OLD, NEW),   OLD,          (OLD, NEW)),
    "live":      ((NEW, OLD),   NEW,          (NEW, OLD)),
    "rampdown":  ((NEW,),       NEW,          (NEW, OLD)),
    "complete":  ((NEW,),       NEW,          (NEW,)),
}  # fmt: skip

STAGE_NAMES = list(TABLE)
GARBAGE: list[Any] = ["bogus", "", "   ", 42, 3.5, "of f", b"shadow"]
BEHAVIOURS = ["ok", "other", "raises", "slow"]
COMPARES = ["eq", "false", "raises"]
KEYS = ["a", "b", "c"]

READ, TIMED_READ, WRITE = "model.read", "model.read_timed", "model.write"


def model_stage(answer: Any) -> str | None:
    """The stage a provider's answer names, or None for 'not a stage' (the test's own parse)."""
    if isinstance(answer, Stage):
        return str(answer.value)
    if isinstance(answer, str):
        folded = answer.strip().lower()
        if folded in TABLE:
            return folded
    return None


class Box:
    """A value with identity, compared by content: the caller must get the very object."""

    def __init__(self, content: str) -> None:
        self.content = content

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.content == self.content

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Box({self.content!r})"


class SideFailed(Exception):
    """Raised by a side told to raise."""


class CompareFailed(Exception):
    """Raised by a comparison told to raise."""


class CompareIsWrong(Exception):
    """The comparison was called in a way the contract forbids."""


class SwappableProvider:
    """A provider whose answer (or failure) the machine swaps between steps."""

    def __init__(self) -> None:
        self.answer: Any = Stage.OFF
        self.raises = False

    def get_stage(self, name: str, context: Any = None) -> Any:
        if self.raises:
            raise RuntimeError("the stage store is down")
        return self.answer


# -- the machine --------------------------------------------------------------------------


class StageTableMachine(RuleBasedStateMachine):
    """Sync sides; the async machine below overrides how sides and calls run."""

    is_async = False

    def __init__(self) -> None:
        super().__init__()
        fresh()  # forget stage errors already reported by earlier examples
        self.provider = SwappableProvider()
        self.default = "off"
        self.reported: set[tuple[str, str]] = set()
        self.stores: dict[str, dict[str, Any]] = {OLD: {}, NEW: {}}
        self.call_ids: set[str] = set()
        self.steps = 0
        # what the current step's sides do, and what they did
        self.behaviour: dict[str, str] = {OLD: "ok", NEW: "ok"}
        self.compare_mode = "eq"
        self.calls: list[str] = []
        self.compared: list[tuple[Any, Any]] = []
        self.values: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.read, self.read_timed, self.write = self.build()

    # -- sides ------------------------------------------------------------------------

    def act_read(self, origin: str, key: str) -> Any:
        self.calls.append(origin)
        behaviour = self.behaviour[origin]
        if behaviour == "raises":
            raise self.errors[origin]
        value: Any
        if behaviour == "other":
            value = Box(f"{origin}-other-{self.steps}")
        else:
            value = self.stores[origin].get(key)
        self.values[origin] = value
        return value

    def act_write(self, origin: str, key: str, content: str) -> Any:
        self.calls.append(origin)
        behaviour = self.behaviour[origin]
        if behaviour == "raises":
            raise self.errors[origin]
        self.stores[origin][key] = Box(content + "!" if behaviour == "other" else content)
        receipt = Box(f"receipt-{origin}-{self.steps}")
        self.values[origin] = receipt
        return receipt

    def compare(self, old: Any, new: Any) -> bool:
        self.compared.append((old, new))
        if self.compare_mode == "raises":
            raise CompareFailed("cannot compare")
        if self.compare_mode == "false":
            return False
        return bool(old == new)

    def build(self) -> tuple[Any, Any, Any]:
        machine = self

        def slow(origin: str) -> None:
            if machine.behaviour[origin] == "slow":
                time.sleep(0.001)

        def new_read(key: str) -> Any:
            slow(NEW)
            return machine.act_read(NEW, key)

        class Repo:
            def _old_read(self, key: str) -> Any:
                slow(OLD)
                return machine.act_read(OLD, key)

            def _new_read(self, key: str) -> Any:
                return new_read(key)

            @migration.read(old="_old_read", new="_new_read", compare=machine.compare,
                            name=READ, provider=machine.provider)
            def read(self, key: str) -> Any:
                raise AssertionError("not a side")

        @migration.read(new=new_read, compare=self.compare, name=TIMED_READ,
                        provider=self.provider, shadow_timeout=30)
        def read_timed(key: str) -> Any:
            slow(OLD)
            return machine.act_read(OLD, key)

        def new_write(key: str, content: str) -> Any:
            slow(NEW)
            return machine.act_write(NEW, key, content)

        @migration.write(new=new_write, name=WRITE, provider=self.provider)
        def write(key: str, content: str) -> Any:
            slow(OLD)
            return machine.act_write(OLD, key, content)

        return Repo().read, read_timed, write

    def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def outcome(self, fn: Any, *args: Any) -> tuple[Any, BaseException | None]:
        try:
            return self.call(fn, *args), None
        except Exception as exc:
            return None, exc

    # -- the model ----------------------------------------------------------------------

    def resolve(self, name: str) -> tuple[str, bool]:
        """The stage the call runs in, and whether a stage_error event is due now."""
        if self.provider.raises:
            key = (name, "raises")
        else:
            answer = self.provider.answer
            if answer is None:
                return self.default, False
            stage = model_stage(answer)
            if stage is not None:
                return stage, False
            key = (name, repr(answer))
        due = key not in self.reported
        self.reported.add(key)
        return self.default, due

    def check_events(self, logs: list[Any], name: str, operation: str, stage: str,
                     error_due: bool, sides: list[str], ok: dict[str, bool],
                     consistent: bool | None, compare_error: str | None) -> None:
        auth = TABLE[stage][1]
        if error_due:
            assert logs, "a stage_error event was due"
            error = logs.pop(0)
            assert error["event"] == "migration.stage_error", error
            assert error["migration"] == name
            assert error["stage"] == self.default
            assert error["log_level"] == "warning"
        expected: list[dict[str, Any]] = [
            {
                "event": "migration.result",
                "migration": name,
                "operation": operation,
                "stage": stage,
                "origin": origin,
                "authoritative": origin == auth,
                "ok": ok[origin],
                "log_level": "info" if ok[origin] else "warning",
            }
            for origin in sides
        ]
        op: dict[str, Any] = {
            "event": "migration.op",
            "migration": name,
            "operation": operation,
            "stage": stage,
            "invoked": sides,
            "consistent": consistent,
            "log_level": "warning" if consistent is False else "info",
        }
        if compare_error is not None:
            op["compare_error"] = compare_error
        expected.append(op)
        pairs = zip(logs, expected, strict=False)
        projected = [{k: e.get(k, "<absent>") for k in x} for e, x in pairs]
        assert projected == expected
        assert len(logs) == len(expected), logs
        assert ("compare_error" in logs[-1]) is (compare_error is not None)
        ids = {e["call_id"] for e in logs}
        assert len(ids) == 1, ids
        (call_id,) = ids
        assert isinstance(call_id, str)
        assert call_id not in self.call_ids, "call_id reused"
        self.call_ids.add(call_id)

    def prepare(self, old: str, new: str) -> None:
        self.steps += 1
        self.behaviour = {OLD: old, NEW: new}
        self.calls, self.compared, self.values = [], [], {}
        self.errors = {o: SideFailed(f"{o} failed at step {self.steps}") for o in (OLD, NEW)}

    # -- rules: the stage ------------------------------------------------------------------

    @rule(stage=st.sampled_from(list(Stage)))
    def answer_a_stage(self, stage: Stage) -> None:
        self.provider.raises = False
        self.provider.answer = stage

    @rule(name=st.sampled_from(STAGE_NAMES), spelling=st.sampled_from(["lower", "upper", "pad"]))
    def answer_a_stage_name(self, name: str, spelling: str) -> None:
        self.provider.raises = False
        self.provider.answer = {"lower": name, "upper": name.upper(),
                                "pad": f"  {name.title()}\t"}[spelling]

    @rule(answer=st.sampled_from([*GARBAGE, None]))
    def answer_garbage_or_none(self, answer: Any) -> None:
        self.provider.raises = False
        self.provider.answer = answer

    @rule()
    def provider_raises(self) -> None:
        self.provider.raises = True

    @rule(stage=st.sampled_from(list(Stage)))
    def change_default_stage(self, stage: Stage) -> None:
        migratekit.configure(default_stage=stage)
        self.default = str(stage.value)

    # -- rules: calls ----------------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS), old=st.sampled_from(BEHAVIOURS),
          new=st.sampled_from(BEHAVIOURS), compare=st.sampled_from(COMPARES),
          timed=st.booleans())
    def read_one(self, key: str, old: str, new: str, compare: str, timed: bool) -> None:
        self.prepare(old, new)
        self.compare_mode = compare
        name = TIMED_READ if timed else READ
        before = {o: dict(s) for o, s in self.stores.items()}
        with capture_logs() as logs:
            stage, error_due = self.resolve(name)
            value, error = self.outcome(self.read_timed if timed else self.read, key)
        runs, auth, _ = TABLE[stage]
        ok = {o: self.behaviour[o] != "raises" for o in (OLD, NEW)}

        if ok[auth]:
            assert error is None, error
            assert value is self.values[auth]
        else:
            assert error is self.errors[auth]
        assert self.calls == list(runs)
        assert self.stores == before, "a read wrote"

        consistent: bool | None = None
        compare_error = None
        if len(runs) == 2 and ok[OLD] and ok[NEW]:
            assert self.compared == [(self.values[OLD], self.values[NEW])]
            assert self.compared[0][0] is self.values[OLD]
            if compare == "raises":
                compare_error = "CompareFailed"
            elif compare == "false":
                consistent = False
            else:
                consistent = self.values[OLD] == self.values[NEW]
        else:
            assert self.compared == []
        self.check_events(list(logs), name, "read", stage, error_due, list(runs), ok,
                          consistent, compare_error)

    @rule(key=st.sampled_from(KEYS), old=st.sampled_from(BEHAVIOURS),
          new=st.sampled_from(BEHAVIOURS))
    def write_one(self, key: str, old: str, new: str) -> None:
        self.prepare(old, new)
        content = f"v{self.steps}"
        expected = {o: dict(s) for o, s in self.stores.items()}
        with capture_logs() as logs:
            stage, error_due = self.resolve(WRITE)
            value, error = self.outcome(self.write, key, content)
        _, auth, order = TABLE[stage]
        ok = {o: self.behaviour[o] != "raises" for o in (OLD, NEW)}

        sides = list(order) if ok[auth] else [auth]
        for origin in sides:
            if ok[origin]:
                written = content + "!" if self.behaviour[origin] == "other" else content
                expected[origin][key] = Box(written)
        if ok[auth]:
            assert error is None, error
            assert value is self.values[auth]
        else:
            assert error is self.errors[auth]
        assert self.calls == sides
        assert self.stores == expected
        self.check_events(list(logs), WRITE, "write", stage, error_due, sides, ok, None, None)

    @precondition(lambda self: self.steps > 0)
    @invariant()
    def nothing_pending_on_the_pool(self) -> None:
        """Every side of the last call finished inside it (SERIAL, even when timed)."""
        assert migratekit.drain(10)


class AsyncStageTableMachine(StageTableMachine):
    """The same model, with async def sides run on one event loop per example."""

    is_async = True

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        super().__init__()

    def teardown(self) -> None:
        self.loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        return self.loop.run_until_complete(fn(*args))

    def build(self) -> tuple[Any, Any, Any]:
        machine = self

        async def slow(origin: str) -> None:
            if machine.behaviour[origin] == "slow":
                await asyncio.sleep(0.001)
            else:
                await asyncio.sleep(0)

        async def new_read(key: str) -> Any:
            await slow(NEW)
            return machine.act_read(NEW, key)

        class Repo:
            async def _old_read(self, key: str) -> Any:
                await slow(OLD)
                return machine.act_read(OLD, key)

            async def _new_read(self, key: str) -> Any:
                return await new_read(key)

            @migration.read(old="_old_read", new="_new_read", compare=machine.compare,
                            name=READ, provider=machine.provider)
            async def read(self, key: str) -> Any:
                raise AssertionError("not a side")

        @migration.read(new=new_read, compare=self.compare, name=TIMED_READ,
                        provider=self.provider, shadow_timeout=30)
        async def read_timed(key: str) -> Any:
            await slow(OLD)
            return machine.act_read(OLD, key)

        async def new_write(key: str, content: str) -> Any:
            await slow(NEW)
            return machine.act_write(NEW, key, content)

        @migration.write(new=new_write, name=WRITE, provider=self.provider)
        async def write(key: str, content: str) -> Any:
            await slow(OLD)
            return machine.act_write(OLD, key, content)

        return Repo().read, read_timed, write


_SETTINGS = settings(max_examples=60, stateful_step_count=25, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

TestStageTableModel = StageTableMachine.TestCase
TestStageTableModel.settings = _SETTINGS
TestStageTableModel.__doc__ = "Sync: random stage changes, reads and writes match the model."

TestAsyncStageTableModel = AsyncStageTableMachine.TestCase
TestAsyncStageTableModel.settings = _SETTINGS
TestAsyncStageTableModel.__doc__ = "Async: random stage changes, reads and writes match the model."
