"""
The stage table of docs/design.md, through the Migrator and through the decorator.

The expected behaviour is computed by a tiny reference model written here from
docs/design.md's table, never imported from the engine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from migratekit import (
    ConfigurationError,
    ExecutionOrder,
    MigrationConfig,
    Migrator,
    Operation,
    Result,
    Stage,
    migration,
)
from migratekit.providers import StaticStageProvider
from tests.helpers import NEW, OLD, TABLE, Boom, CompareBoom, Value, authoritative

# -- the reference model: docs/design.md's table, written out in tests/helpers.py ------------


def planned_sides(stage: Stage, operation: Operation) -> tuple[str, ...]:
    """Every side the stage runs for the operation, authoritative first."""
    reads, _, writes = TABLE[stage]
    return reads if operation is Operation.READ else writes


def model_run(
    stage: Stage, operation: Operation, fails: set[str]
) -> tuple[tuple[str, ...], str | None]:
    """(sides that run in order, the side whose exception the caller gets or None)."""
    auth = authoritative(stage)
    sides = planned_sides(stage, operation)
    if operation is Operation.WRITE and auth in fails:
        sides = (auth,)  # a failed authoritative write never runs the other side
    return sides, (auth if auth in fails else None)


# -- the sides ---------------------------------------------------------------------


@dataclass
class Case:
    """One scenario: what each side and the comparison do, and what they recorded."""

    stage: Stage
    operation: Operation
    old_fails: bool = False
    new_fails: bool = False
    compare_mode: str = "true"  # "true", "false", "raise", or "eq" (default equality)
    values_equal: bool = True
    calls: list[str] = field(default_factory=list)
    compared: list[tuple[Any, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.old_value = Value("old")
        self.new_value = Value("new") if not self.values_equal else Value("old-equal")
        self.old_exc = Boom("old side failed")
        self.new_exc = Boom("new side failed")

    def side(self, origin: str, arg: Any) -> Any:
        self.calls.append(origin)
        if origin == OLD:
            if self.old_fails:
                raise self.old_exc
            return self.old_value
        if self.new_fails:
            raise self.new_exc
        return self.new_value

    def compare(self, a: Any, b: Any) -> bool:
        self.compared.append((a, b))
        if self.compare_mode == "raise":
            raise CompareBoom("cannot compare")
        if self.compare_mode == "false":
            return False
        if self.compare_mode == "eq":
            return bool(a.label.split("-")[0] == b.label.split("-")[0])
        return True

    @property
    def comparison(self) -> Callable[[Any, Any], bool] | None:
        return self.compare if self.operation is Operation.READ else None

    def value_of(self, origin: str) -> Value:
        return self.old_value if origin == OLD else self.new_value

    def exc_of(self, origin: str) -> Exception:
        return self.old_exc if origin == OLD else self.new_exc

    @property
    def fails(self) -> set[str]:
        return {o for o, f in ((OLD, self.old_fails), (NEW, self.new_fails)) if f}


# -- the three ways in ------------------------------------------------------------

ARG = object()


@dataclass
class Outcome:
    """What the caller got: a value, or an exception raised (or carried) to it."""

    value: Any = None
    exception: BaseException | None = None
    migrator_result: Any = None


def via_migrator(case: Case, **options: Any) -> Outcome:
    """Run the case through Migrator; its failed result stands for a raise."""

    def old(payload: Any) -> Result[Any]:
        assert payload is ARG
        return Result.success(case.side(OLD, payload))

    def new(payload: Any) -> Result[Any]:
        assert payload is ARG
        return Result.success(case.side(NEW, payload))

    config = MigrationConfig(old, new, case.comparison)
    provider = StaticStageProvider(case.stage)
    if case.operation is Operation.READ:
        migrator = Migrator(
            read=config,
            provider=provider,
            read_execution_order=options.pop("execution_order", ExecutionOrder.SERIAL),
            **options,
        )
        result: Any = migrator.read("m", context=None, payload=ARG)
        auth = result
    else:
        migrator = Migrator(write=config, provider=provider, **options)
        result = migrator.write("m", payload=ARG)
        auth = result.authoritative
    if auth.is_success():
        return Outcome(value=auth.value, migrator_result=result)
    return Outcome(exception=auth.exception, migrator_result=result)


def _decorate(case: Case, **options: Any) -> Callable[..., Any]:
    if case.operation is Operation.READ:
        return migration.read(
            old=options.pop("old"),
            new=options.pop("new"),
            compare=case.comparison,
            name="m",
            provider=StaticStageProvider(case.stage),
            **options,
        )
    return migration.write(
        old=options.pop("old"),
        new=options.pop("new"),
        name="m",
        provider=StaticStageProvider(case.stage),
        **options,
    )


def _call(fn: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=fn())
    except Exception as exc:
        return Outcome(exception=exc)


def via_method(case: Case, **options: Any) -> Outcome:
    """Run the case through @migration on an instance method with callable sides."""

    def old(self: Any, arg: Any) -> Any:
        assert isinstance(self, Repo)
        assert arg is ARG
        return case.side(OLD, arg)

    def new(self: Any, arg: Any) -> Any:
        assert isinstance(self, Repo)
        assert arg is ARG
        return case.side(NEW, arg)

    class Repo:
        @_decorate(case, old=old, new=new, **options)
        def op(self, arg: Any) -> Any:
            raise AssertionError("the decorated body is not a side here")

    repo = Repo()
    return _call(lambda: repo.op(ARG))


def via_named_method(case: Case, **options: Any) -> Outcome:
    """Run the case through @migration on an instance method with sides named by string."""

    class Repo:
        def _old(self, arg: Any) -> Any:
            assert arg is ARG
            return case.side(OLD, arg)

        def _new(self, arg: Any) -> Any:
            assert arg is ARG
            return case.side(NEW, arg)

        @_decorate(case, old="_old", new="_new", **options)
        def op(self, arg: Any) -> Any:
            raise AssertionError("the decorated body is not a side here")

    repo = Repo()
    return _call(lambda: repo.op(ARG))


def via_function(case: Case, **options: Any) -> Outcome:
    """Run the case through @migration on a plain function, old being the function itself."""

    def new(arg: Any) -> Any:
        assert arg is ARG
        return case.side(NEW, arg)

    @_decorate(case, old=None, new=new, **options)
    def op(arg: Any) -> Any:
        assert arg is ARG
        return case.side(OLD, arg)

    return _call(lambda: op(ARG))


DRIVERS = {
    "migrator": via_migrator,
    "method": via_method,
    "named_method": via_named_method,
    "function": via_function,
}


# -- the matrix ----------------------------------------------------------------------

READ_OUTCOMES = ["both_ok", "auth_raises", "nonauth_raises", "compare_false", "compare_raises"]
# A write is never compared: "compare false" for a write is two sides returning
# different values (still not compared); "compare raises" has no write analogue
# (a comparison on a write is refused at construction, see test_decorator.py).
WRITE_OUTCOMES = ["both_ok", "auth_raises", "nonauth_raises", "values_differ"]

MATRIX = [(stage, Operation.READ, outcome) for stage in Stage for outcome in READ_OUTCOMES] + [
    (stage, Operation.WRITE, outcome) for stage in Stage for outcome in WRITE_OUTCOMES
]


def make_case(stage: Stage, operation: Operation, outcome: str) -> Case:
    auth = authoritative(stage)
    other = NEW if auth == OLD else OLD
    failing = {"auth_raises": auth, "nonauth_raises": other}.get(outcome)
    return Case(
        stage,
        operation,
        old_fails=failing == OLD,
        new_fails=failing == NEW,
        compare_mode={"compare_false": "false", "compare_raises": "raise"}.get(outcome, "true"),
        values_equal=outcome != "values_differ",
    )


def expected_events(case: Case, sides: tuple[str, ...], name: str = "m") -> list[dict[str, Any]]:
    """The events docs/design.md promises for a case that ran *sides*."""
    auth = authoritative(case.stage)
    events: list[dict[str, Any]] = []
    for origin in sides:
        ok = origin not in case.fails
        events.append(
            {
                "event": "migration.result",
                "log_level": "info" if ok else "warning",
                "migration": name,
                "operation": case.operation.value,
                "stage": case.stage.value,
                "origin": origin,
                "authoritative": origin == auth,
                "ok": ok,
                "exc_type": None if ok else "Boom",
                "error": None if ok else f"{origin} side failed",
            }
        )
    compared = case.operation is Operation.READ and len(sides) == 2 and not case.fails
    consistent: bool | None = None
    if compared and case.compare_mode != "raise":
        consistent = case.compare_mode != "false"
    op: dict[str, Any] = {
        "event": "migration.op",
        "log_level": "warning" if consistent is False else "info",
        "migration": name,
        "operation": case.operation.value,
        "stage": case.stage.value,
        "invoked": list(sides),
        "consistent": consistent,
    }
    if compared and case.compare_mode == "raise":
        op["compare_error"] = "CompareBoom"
    events.append(op)
    return events


def project(event: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: event.get(k, "<absent>") for k in keys}


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize(
    ("stage", "operation", "outcome"),
    MATRIX,
    ids=[f"{s.value}-{o.value}-{c}" for s, o, c in MATRIX],
)
def test_stage_table(driver: str, stage: Stage, operation: Operation, outcome: str) -> None:
    """Caller's outcome, sides run and their order, comparison and events match the table."""
    case = make_case(stage, operation, outcome)
    with capture_logs() as logs:
        got = DRIVERS[driver](case)

    sides, raising = model_run(stage, operation, case.fails)
    auth = authoritative(stage)

    # What the caller gets: the same value object, or the very same exception object.
    if raising is None:
        assert got.exception is None, got.exception
        assert got.value is case.value_of(auth)
    else:
        assert got.exception is case.exc_of(raising)

    # Which sides ran, in which order.
    assert case.calls == list(sides)

    # Comparison: only for a read that ran both sides with both succeeding, old first.
    if operation is Operation.READ and len(sides) == 2 and not case.fails:
        assert len(case.compared) == 1
        assert case.compared[0][0] is case.old_value
        assert case.compared[0][1] is case.new_value
    else:
        assert case.compared == []

    # Events: one result per side that ran, then one op, all sharing a call_id.
    expected = expected_events(case, sides)
    keys = sorted({k for e in expected for k in e} | {"compare_error"})
    assert [project(e, keys) for e in logs] == [
        {k: e.get(k, "<absent>") for k in keys} for e in expected
    ]
    call_ids = {e["call_id"] for e in logs}
    assert len(call_ids) == 1
    assert None not in call_ids
    for event in logs:
        if event["event"] == "migration.result":
            assert isinstance(event["latency_ms"], float)
            assert event["latency_ms"] >= 0.0


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [(s, o) for s in Stage for o in ["both_ok", "auth_raises", "nonauth_raises"]],
)
def test_migrator_write_result_shape(stage: Stage, outcome: str) -> None:
    """Migrator.write: origins right; nonauthoritative is None iff the other side did not run."""
    case = make_case(stage, Operation.WRITE, outcome)
    with capture_logs():
        got = via_migrator(case)
    result = got.migrator_result
    sides, _ = model_run(stage, Operation.WRITE, case.fails)
    assert result.authoritative.origin.value == sides[0]
    assert result.authoritative.is_success() is (sides[0] not in case.fails)
    if len(sides) == 1:
        assert result.nonauthoritative is None
    else:
        other = result.nonauthoritative
        assert other is not None
        assert other.origin.value == sides[1]
        if sides[1] in case.fails:
            assert not other.is_success()
            assert other.exception is case.exc_of(sides[1])
            assert other.error  # a message, not None
        else:
            assert other.value is case.value_of(sides[1])


@pytest.mark.parametrize("stage", list(Stage))
def test_migrator_read_result_origin(stage: Stage) -> None:
    """Migrator.read returns the authoritative side's OperationResult, origin included."""
    case = make_case(stage, Operation.READ, "auth_raises")
    with capture_logs():
        got = via_migrator(case)
    result = got.migrator_result
    assert result.origin.value == authoritative(stage)
    assert not result.is_success()
    assert result.exception is case.exc_of(authoritative(stage))
    assert result.error


@pytest.mark.parametrize("stage", list(Stage))
def test_migrator_side_returning_result_fail(stage: Stage) -> None:
    """A Migrator side that returns Result.fail(msg, exc) is a failure of that side."""
    exc = Boom("returned, not raised")
    calls: list[str] = []

    def old(payload: Any) -> Result[Any]:
        calls.append(OLD)
        return Result.fail("old says no", exc)

    def new(payload: Any) -> Result[Any]:
        calls.append(NEW)
        return Result.fail("new says no", exc)

    migrator = Migrator(write=MigrationConfig(old, new), provider=StaticStageProvider(stage))
    with capture_logs() as logs:
        result = migrator.write("m")
    auth = authoritative(stage)
    assert calls == [auth]
    assert result.nonauthoritative is None
    assert result.authoritative.error == f"{auth} says no"
    assert result.authoritative.exception is exc
    assert [e["ok"] for e in logs if e["event"] == "migration.result"] == [False]


# -- a Hypothesis property over stages x operations x outcomes ----------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage=st.sampled_from(list(Stage)),
    operation=st.sampled_from(list(Operation)),
    old=st.sampled_from(["ok", "raises"]),
    new=st.sampled_from(["ok", "raises", "different"]),
    compare=st.sampled_from(["ok", "raises"]),
    driver=st.sampled_from(list(DRIVERS)),
)
def test_property_matches_reference_model(
    stage: Stage, operation: Operation, old: str, new: str, compare: str, driver: str
) -> None:
    """Any stage, operation and outcome: caller's outcome and sides run match the model."""
    case = Case(
        stage,
        operation,
        old_fails=old == "raises",
        new_fails=new == "raises",
        compare_mode="raise" if compare == "raises" else "eq",
        values_equal=new != "different",
    )
    with capture_logs() as logs:
        got = DRIVERS[driver](case)

    sides, raising = model_run(stage, operation, case.fails)
    if raising is None:
        assert got.exception is None
        assert got.value is case.value_of(authoritative(stage))
    else:
        assert got.exception is case.exc_of(raising)
    assert case.calls == list(sides)

    both_read = operation is Operation.READ and len(sides) == 2 and not case.fails
    assert case.compared == ([(case.old_value, case.new_value)] if both_read else [])
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 1
    assert ops[0]["invoked"] == list(sides)
    if not both_read or compare == "raises":
        assert ops[0]["consistent"] is None
    else:
        assert ops[0]["consistent"] is (new != "different")
    assert ("compare_error" in ops[0]) is (both_read and compare == "raises")
    results = [e for e in logs if e["event"] == "migration.result"]
    assert [e["origin"] for e in results] == list(sides)


# -- execution order RANDOM ---------------------------------------------------------------


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize("stage", [Stage.SHADOW, Stage.LIVE])
def test_random_order_reads_both_orders_compare_old_first(driver: str, stage: Stage) -> None:
    """RANDOM runs the two reads in both orders over many calls; compare stays old-first."""
    random.seed(1234)
    orders: set[tuple[str, ...]] = set()
    invoked: set[tuple[str, ...]] = set()
    for _ in range(200):
        case = make_case(stage, Operation.READ, "both_ok")
        with capture_logs() as logs:
            got = DRIVERS[driver](case, execution_order=ExecutionOrder.RANDOM)
        assert got.value is case.value_of(authoritative(stage))
        assert case.compared == [(case.old_value, case.new_value)]
        orders.add(tuple(case.calls))
        op = next(e for e in logs if e["event"] == "migration.op")
        invoked.add(tuple(op["invoked"]))
        assert op["invoked"] == case.calls
        assert op["consistent"] is True
        if len(orders) == 2:
            break
    assert orders == {(OLD, NEW), (NEW, OLD)}
    assert invoked == orders


@pytest.mark.parametrize("driver", ["method", "named_method", "function"])
@pytest.mark.parametrize("stage", [Stage.DUALWRITE, Stage.SHADOW, Stage.LIVE, Stage.RAMPDOWN])
def test_random_order_writes_stay_authoritative_first(driver: str, stage: Stage) -> None:
    """RANDOM never reorders a write: refused at decoration, or authoritative always first."""
    random.seed(99)
    for _ in range(40):
        case = make_case(stage, Operation.WRITE, "both_ok")
        refused: ConfigurationError | None = None
        try:
            with capture_logs():
                DRIVERS[driver](case, execution_order=ExecutionOrder.RANDOM)
        except ConfigurationError as exc:
            refused = exc
        if refused is not None:
            assert "execution_order" in str(refused)
            assert case.calls == []
            return
        assert case.calls == list(planned_sides(stage, Operation.WRITE))


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_random_order_authoritative_failure_still_runs_other_read(driver: str) -> None:
    """Under RANDOM a read runs both sides even when the one that went first raised."""
    random.seed(7)
    for _ in range(40):
        case = make_case(Stage.SHADOW, Operation.READ, "auth_raises")
        with capture_logs():
            got = DRIVERS[driver](case, execution_order=ExecutionOrder.RANDOM)
        assert got.exception is case.old_exc
        assert sorted(case.calls) == [NEW, OLD]


# -- check_ratio -----------------------------------------------------------------------------


def _run_sampled(driver: str, ratio: int, calls: int) -> tuple[list[Any], int]:
    """Run SHADOW reads with check_ratio; the op events' consistent and compare calls."""
    consistent: list[Any] = []
    case = make_case(Stage.SHADOW, Operation.READ, "both_ok")
    # One migration for all calls: sampling counts calls of the same migration.
    if driver == "migrator":

        def old(payload: Any) -> Result[Any]:
            return Result.success(case.side(OLD, payload))

        def new(payload: Any) -> Result[Any]:
            return Result.success(case.side(NEW, payload))

        migrator = Migrator(
            read=MigrationConfig(old, new, case.compare),
            provider=StaticStageProvider(Stage.SHADOW),
            check_ratio=ratio,
        )

        def call() -> Any:
            return migrator.read("m", payload=ARG).value

    else:

        def new_side(*args: Any) -> Any:
            return case.side(NEW, args[-1])

        @migration.read(
            new=new_side,
            compare=case.compare,
            provider=StaticStageProvider(Stage.SHADOW),
            check_ratio=ratio,
        )
        def fn(arg: Any) -> Any:
            return case.side(OLD, arg)

        def call() -> Any:
            return fn(ARG)

    for _ in range(calls):
        with capture_logs() as logs:
            assert call() is case.old_value
        op = next(e for e in logs if e["event"] == "migration.op")
        consistent.append(op["consistent"])
    compared = len(case.compared)
    assert case.calls.count(NEW) == calls  # sampling skips comparing, not reading
    return consistent, compared


@pytest.mark.parametrize("driver", ["migrator", "function"])
def test_check_ratio_one_compares_every_call(driver: str) -> None:
    """check_ratio=1: every call is compared."""
    consistent, compared = _run_sampled(driver, 1, 12)
    assert consistent == [True] * 12
    assert compared == 12


@pytest.mark.parametrize("driver", ["migrator", "function"])
def test_check_ratio_three_compares_one_call_in_three(driver: str) -> None:
    """check_ratio=3: exactly one call in every three is compared; the others are None."""
    consistent, compared = _run_sampled(driver, 3, 30)
    assert compared == 10
    for block in range(10):
        window = consistent[block * 3 : block * 3 + 3]
        assert window.count(True) == 1, consistent
        assert window.count(None) == 2, consistent


@pytest.mark.parametrize("driver", ["migrator", "function"])
def test_check_ratio_zero_never_compares(driver: str) -> None:
    """check_ratio=0: no call is compared and consistent is always None."""
    consistent, compared = _run_sampled(driver, 0, 12)
    assert consistent == [None] * 12
    assert compared == 0


# -- BaseExceptions that are not interrupts -----------------------------------------------
#
# KeyboardInterrupt, SystemExit and CancelledError reach the caller from any side
# (tests/stress/test_faults.py, test_interrupts_propagate). Any other BaseException is the
# failure of the side that raised it.


class Interrupt(BaseException):
    """A library's own BaseException that is not an Exception."""


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize("where", ["authoritative", "nonauthoritative", "compare"])
@pytest.mark.parametrize("kind", [Interrupt, GeneratorExit])
def test_other_base_exceptions_are_the_failure_of_their_side(
    driver: str, where: str, kind: type[BaseException]
) -> None:
    """A BaseException that is no interrupt: the caller gets it from the authoritative side
    (the Migrator a failed result), and from the other side or compare only an event."""
    case = make_case(Stage.SHADOW, Operation.READ, "both_ok")
    interrupt = kind()
    if where == "compare":

        def compare(a: Any, b: Any) -> bool:
            raise interrupt

        case.compare = compare  # type: ignore[method-assign]
    else:
        failing = OLD if where == "authoritative" else NEW
        original = case.side

        def side(origin: str, arg: Any) -> Any:
            value = original(origin, arg)
            if origin == failing:
                raise interrupt
            return value

        case.side = side  # type: ignore[method-assign]
    with capture_logs() as logs:
        if where == "authoritative" and driver != "migrator":
            with pytest.raises(kind) as info:
                DRIVERS[driver](case)
            assert info.value is interrupt
        else:
            outcome = DRIVERS[driver](case)
            if where == "authoritative":
                assert outcome.exception is interrupt
            else:
                assert outcome.value is case.old_value
    ops = [e for e in logs if e["event"] == "migration.op"]
    assert len(ops) == 1
    if where == "compare":
        assert ops[0]["consistent"] is None
        assert ops[0]["compare_error"] == kind.__name__
    else:
        failed = [e for e in logs if e["event"] == "migration.result" and not e["ok"]]
        assert [(e["origin"], e["exc_type"]) for e in failed] == [(failing, kind.__name__)]


# -- Migrator specifics ----------------------------------------------------------------------


def test_migrator_context_goes_to_provider() -> None:
    """Migrator.read/write pass (name, context) to the provider's get_stage."""
    asked: list[tuple[str, Any]] = []

    class Provider:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            asked.append((name, context))
            return Stage.OFF

    side = MigrationConfig(Result.success, Result.success)
    migrator = Migrator(read=side, write=side, provider=Provider())
    with capture_logs():
        migrator.read("r", context={"tenant": 1}, payload=2)
        migrator.write("w", {"tenant": 3}, 4)
    assert asked == [("r", {"tenant": 1}), ("w", {"tenant": 3})]


@pytest.mark.parametrize("stage", [Stage.SHADOW, Stage.LIVE])
def test_migrator_side_returning_a_non_result_is_a_failure(stage: Stage) -> None:
    """A Migrator side that returns a bare value (not a Result) fails with a TypeError."""
    migrator = Migrator(
        read=MigrationConfig(lambda p: 42, lambda p: 42),  # type: ignore[arg-type,return-value]
        provider=StaticStageProvider(stage),
    )
    with capture_logs() as logs:
        result = migrator.read("m")
    assert not result.is_success()
    assert isinstance(result.exception, TypeError)
    assert [e["exc_type"] for e in logs if e["event"] == "migration.result"] == [
        "TypeError",
        "TypeError",
    ]


def test_a_migrator_keeps_a_bounded_number_of_engines() -> None:
    """A Migrator asked for ever new names (one per tenant) keeps at most ENGINES_LIMIT
    engines, and a name whose engine went is served again."""
    from migratekit._migrator import ENGINES_LIMIT

    side = MigrationConfig(Result.success, Result.success)
    migrator = Migrator(read=side, provider=StaticStageProvider("shadow"))
    with capture_logs():
        for i in range(ENGINES_LIMIT + 50):
            assert migrator.read(f"tenant-{i}", payload=i).value == i
        assert migrator.read("tenant-0", payload=7).value == 7
    assert len(migrator._engines) <= ENGINES_LIMIT


class bool_:  # named like numpy.bool_, which comparisons may return
    """A look-alike of numpy.bool_ whose truth cannot be told."""

    def __bool__(self) -> bool:
        raise ValueError("the truth value is ambiguous")


class _NumpyLookAlike(bool_):
    """The same, claiming numpy's module: its bool() is asked, and raises."""


_NumpyLookAlike.__module__ = "numpy"
_NumpyLookAlike.__name__ = "bool_"


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize(("answer", "error"), [(bool_, "TypeError"),
                                               (_NumpyLookAlike, "ValueError")])
def test_a_compare_answer_whose_truth_raises_is_a_compare_error(
        driver: str, answer: type, error: str) -> None:
    """compare returning an object named bool_ whose __bool__ raises: not compared, a
    compare_error, and the caller gets the authoritative value (from numpy's module, its
    bool() is asked inside the guard; from elsewhere, it is no verdict at all)."""
    case = make_case(Stage.SHADOW, Operation.READ, "both_ok")
    case.compare = lambda a, b: answer()  # type: ignore[method-assign]
    with capture_logs() as logs:
        outcome = DRIVERS[driver](case)
    assert outcome.value is case.old_value
    (op,) = [e for e in logs if e["event"] == "migration.op"]
    assert op["consistent"] is None
    assert op["compare_error"] == error
