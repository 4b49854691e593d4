"""Tests of migratekit._decorator: @migration on functions and methods, and its mistakes."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import (
    ConfigurationError,
    ExecutionOrder,
    MigrationProxy,
    Operation,
    Stage,
    migration,
)
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import StaticStageProvider
from tests.helpers import ops


def static(stage: Stage | str) -> StaticStageProvider:
    return StaticStageProvider(stage)


def results(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.result"]


# -- plain functions, old omitted ----------------------------------------------------


def test_function_old_omitted_is_the_decorated_function() -> None:
    """With old left out, the decorated function is the old side (OFF runs it)."""
    calls: list[tuple[str, Any]] = []

    def new(key: int) -> str:
        calls.append(("new", key))
        return "from new"

    @migration(new=new, provider=static("off"))
    def get(key: int) -> str:
        calls.append(("old", key))
        return "from old"

    assert get(7) == "from old"
    assert calls == [("old", 7)]


def test_function_old_omitted_complete_runs_new_only() -> None:
    """With old left out, COMPLETE runs only new, with the caller's arguments."""
    calls: list[tuple[str, Any]] = []

    def new(key: int, *, flag: bool = False) -> str:
        calls.append(("new", (key, flag)))
        return "from new"

    @migration(new=new, provider=static(Stage.COMPLETE))
    def get(key: int, *, flag: bool = False) -> str:
        calls.append(("old", (key, flag)))
        return "from old"

    assert get(3, flag=True) == "from new"
    assert calls == [("new", (3, True))]


def test_function_shadow_runs_both_with_same_arguments() -> None:
    """SHADOW on a function runs old then new with the same args and kwargs, returns old's."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def new(*args: Any, **kwargs: Any) -> int:
        calls.append(("new", args, kwargs))
        return 2

    @migration(new=new, compare=lambda a, b: True, provider=static("shadow"))
    def get(*args: Any, **kwargs: Any) -> int:
        calls.append(("old", args, kwargs))
        return 1

    assert get(1, 2, x=3) == 1
    assert calls == [("old", (1, 2), {"x": 3}), ("new", (1, 2), {"x": 3})]


def test_function_with_explicit_old_does_not_run_the_body() -> None:
    """With old given, the decorated function's body is not a side."""

    @migration(old=lambda k: "old", new=lambda k: "new", provider=static("live"))
    def get(k: int) -> str:
        raise AssertionError("body must not run")

    assert get(1) == "new"


# -- instance methods ------------------------------------------------------------------


def test_method_callable_sides_receive_self() -> None:
    """Callable sides of a method are called with the instance first, like the method."""
    seen: list[tuple[str, Any, Any]] = []

    def old(self: Any, key: int) -> str:
        seen.append(("old", self, key))
        return "o"

    def new(self: Any, key: int) -> str:
        seen.append(("new", self, key))
        return "n"

    class Repo:
        @migration(old=old, new=new, provider=static("shadow"), compare=lambda a, b: True)
        def get(self, key: int) -> str:
            raise AssertionError("not a side")

    repo = Repo()
    assert repo.get(5) == "o"
    assert seen == [("old", repo, 5), ("new", repo, 5)]


def test_method_old_omitted_is_the_method() -> None:
    """On a method with old left out, the method itself is the old side, bound to self."""

    class Repo:
        def __init__(self) -> None:
            self.data = {1: "one"}

        def _get_new(self, key: int) -> str:
            return self.data[key].upper()

        @migration(new=_get_new, provider=static("live"), compare=lambda a, b: True)
        def get(self, key: int) -> str:
            return self.data[key]

    assert Repo().get(1) == "ONE"
    migratekit.configure(provider=static("off"))
    # a per-decorator provider is not overridden by the process-wide one
    assert Repo().get(1) == "ONE"


def test_method_called_through_the_class() -> None:
    """Repo.get(repo, k) behaves like repo.get(k)."""

    class Repo:
        def _new(self, key: int) -> tuple[str, Any, int]:
            return ("new", self, key)

        @migration(new="_new", provider=static("complete"))
        def get(self, key: int) -> tuple[str, Any, int]:
            return ("old", self, key)

    repo = Repo()
    assert Repo.get(repo, 4) == ("new", repo, 4)
    assert repo.get(4) == ("new", repo, 4)


def test_method_string_sides_are_looked_up_on_the_instance() -> None:
    """old/new given as method names call those methods, bound to the instance."""

    class Repo:
        def _old(self, key: int) -> tuple[str, Any, int]:
            return ("old", self, key)

        def _new(self, key: int) -> tuple[str, Any, int]:
            return ("new", self, key)

        @migration(old="_old", new="_new", provider=static("off"))
        def get(self, key: int) -> Any:
            raise AssertionError("not a side")

        @migration(old="_old", new="_new", provider=static("complete"))
        def get_new(self, key: int) -> Any:
            raise AssertionError("not a side")

    repo = Repo()
    assert repo.get(2) == ("old", repo, 2)
    assert repo.get_new(2) == ("new", repo, 2)


def test_subclass_override_of_string_named_side_is_used() -> None:
    """A subclass overriding a side named by string gets its override called."""

    class Repo:
        def _new(self, key: int) -> str:
            return "base"

        @migration(new="_new", provider=static("complete"))
        def get(self, key: int) -> str:
            return "old"

    class Sub(Repo):
        def _new(self, key: int) -> str:
            return "sub"

    assert Repo().get(1) == "base"
    assert Sub().get(1) == "sub"


def test_instance_attribute_named_side_is_used() -> None:
    """A side named by string is looked up on the instance per call (instance attributes too)."""

    class Repo:
        @migration(new="_new", provider=static("complete"))
        def get(self, key: int) -> str:
            return "old"

    repo = Repo()
    repo._new = lambda key: f"instance {key}"  # type: ignore[attr-defined]
    assert repo.get(9) == "instance 9"


@pytest.mark.parametrize("stage", [Stage.LIVE, Stage.RAMPDOWN, Stage.COMPLETE])
def test_missing_string_side_authoritative_raises_attribute_error(stage: Stage) -> None:
    """A string side the instance lacks raises AttributeError to the caller when authoritative."""

    class Repo:
        @migration(new="_missing", provider=static(stage))
        def get(self) -> str:
            return "old"

    with capture_logs() as logs, pytest.raises(AttributeError, match="_missing"):
        Repo().get()
    new_results = [e for e in results(logs) if e["origin"] == "new"]
    assert len(new_results) == 1
    assert new_results[0]["ok"] is False
    assert new_results[0]["authoritative"] is True
    assert new_results[0]["exc_type"] == "AttributeError"


def test_missing_string_side_not_authoritative_is_an_error_result() -> None:
    """A missing string side, not authoritative: the caller gets old; a warning result."""

    class Repo:
        @migration(new="_missing", provider=static("shadow"))
        def get(self) -> str:
            return "old"

    with capture_logs() as logs:
        assert Repo().get() == "old"
    new_result = next(e for e in results(logs) if e["origin"] == "new")
    assert new_result["ok"] is False
    assert new_result["authoritative"] is False
    assert new_result["exc_type"] == "AttributeError"
    assert new_result["log_level"] == "warning"
    assert ops(logs)[0]["consistent"] is None


def test_missing_string_side_on_write_dualwrite() -> None:
    """A write whose non-authoritative side is a missing method: the old write still counts."""
    written: list[int] = []

    class Repo:
        @migration.write(new="_missing", provider=static("dualwrite"))
        def save(self, v: int) -> str:
            written.append(v)
            return "saved"

    with capture_logs() as logs:
        assert Repo().save(1) == "saved"
    assert written == [1]
    assert [(e["origin"], e["ok"]) for e in results(logs)] == [("old", True), ("new", False)]


def test_async_method_named_on_sync_function_is_a_side_failure() -> None:
    """A sync migration whose string side names an async method: a TypeError side failure."""

    class Repo:
        async def _new(self) -> str:
            return "new"

        @migration(new="_new", provider=static("shadow"))
        def get(self) -> str:
            return "old"

        @migration(new="_new", provider=static("complete"), name="complete")
        def get_complete(self) -> str:
            return "old"

    with capture_logs() as logs:
        assert Repo().get() == "old"
    new_result = next(e for e in results(logs) if e["origin"] == "new")
    assert new_result["ok"] is False
    assert new_result["exc_type"] == "TypeError"
    with pytest.raises(TypeError, match="async"):
        Repo().get_complete()


# -- keeping the function's identity -------------------------------------------------------


def _plain(user_id: int, *, verbose: bool = False) -> str:
    """Fetch a user."""
    return str(user_id)


class _Repo:
    def _new(self, user_id: int, *, verbose: bool = False) -> str:
        return str(user_id)

    @migration(new="_new")
    def get(self, user_id: int, *, verbose: bool = False) -> str:
        """Get a user from the repository."""
        return str(user_id)


def test_function_keeps_name_doc_qualname_signature_wrapped() -> None:
    """A decorated function keeps __name__, __doc__, __qualname__, signature and __wrapped__."""
    decorated: Any = migration(new=lambda user_id, *, verbose=False: "")(_plain)
    assert decorated.__name__ == "_plain"
    assert decorated.__doc__ == "Fetch a user."
    assert decorated.__qualname__ == "_plain"
    assert decorated.__module__ == __name__
    assert inspect.signature(decorated) == inspect.signature(_plain)
    assert decorated.__wrapped__ is _plain
    assert isinstance(decorated, MigrationProxy)


def test_method_keeps_name_doc_qualname_signature_wrapped() -> None:
    """A decorated method keeps its metadata, on the class and bound to an instance."""
    for obj in (_Repo.get, _Repo().get):
        assert obj.__name__ == "get"
        assert obj.__doc__ == "Get a user from the repository."
        assert obj.__qualname__ == "_Repo.get"
    wrapped = _Repo.__dict__["get"].__wrapped__
    assert inspect.signature(_Repo.get) == inspect.signature(wrapped)
    assert list(inspect.signature(_Repo().get).parameters) == ["user_id", "verbose"]
    assert wrapped.__qualname__ == "_Repo.get"
    assert inspect.isfunction(wrapped)
    assert _Repo.get.__wrapped__ is wrapped  # type: ignore[attr-defined]


def test_default_name_is_module_qualname() -> None:
    """Without name=, the migration is called module.qualname, in events too."""
    assert _Repo.__dict__["get"].migration_name == f"{__name__}._Repo.get"
    decorated: Any = migration(new=lambda user_id, *, verbose=False: "")(_plain)
    assert decorated.migration_name == f"{__name__}._plain"
    with capture_logs() as logs:
        _Repo().get(1)
    assert {e["migration"] for e in logs} == {f"{__name__}._Repo.get"}


def test_explicit_name_is_used_in_events() -> None:
    """name= sets the migration name that events carry."""

    @migration(new=lambda: 1, name="users.get", provider=static("shadow"))
    def get() -> int:
        return 1

    assert get.migration_name == "users.get"  # type: ignore[attr-defined]
    with capture_logs() as logs:
        get()
    assert [e["migration"] for e in logs] == ["users.get"] * 3


def test_default_name_drives_the_env_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default provider reads MIGRATEKIT_STAGE_<MODULE_QUALNAME> for an unnamed migration."""
    # "tests.test_decorator._Repo.get": the run "._" becomes one "_"
    variable = "MIGRATEKIT_STAGE_" + re.sub(r"[^A-Z0-9]+", "_", f"{__name__}._Repo.get".upper())
    assert variable.endswith("TEST_DECORATOR_REPO_GET")
    monkeypatch.setenv(variable, "complete")

    class R(_Repo):
        def _new(self, user_id: int, *, verbose: bool = False) -> str:
            return "new!"

    assert R().get(1) == "new!"


# -- read and write ----------------------------------------------------------------------------


def test_migration_read_is_a_read() -> None:
    """@migration.read and @migration (no operation) are reads: both sides read and compared."""
    compared: list[tuple[Any, Any]] = []

    def compare(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return bool(a == b)

    @migration.read(new=lambda: "n", compare=compare, provider=static("shadow"))
    def read1() -> str:
        return "o"

    @migration(new=lambda: "n", compare=compare, provider=static("shadow"))
    def read2() -> str:
        return "o"

    assert read1.migration_operation is Operation.READ  # type: ignore[attr-defined]
    assert read2.migration_operation is Operation.READ  # type: ignore[attr-defined]
    with capture_logs() as logs:
        assert read1() == "o"
        assert read2() == "o"
    assert compared == [("o", "n"), ("o", "n")]
    assert {e["operation"] for e in logs} == {"read"}


def test_migration_write_is_a_write() -> None:
    """@migration.write writes old then new in DUALWRITE, events say 'write', no comparison."""
    calls: list[str] = []

    def new(v: int) -> str:
        calls.append("new")
        return "n"

    @migration.write(new=new, provider=static("dualwrite"))
    def save(v: int) -> str:
        calls.append("old")
        return "o"

    assert save.migration_operation is Operation.WRITE  # type: ignore[attr-defined]
    with capture_logs() as logs:
        assert save(1) == "o"
    assert calls == ["old", "new"]
    assert {e["operation"] for e in logs} == {"write"}
    assert ops(logs)[0]["consistent"] is None


def test_operation_option_write() -> None:
    """@migration(operation=Operation.WRITE) is a write (DUALWRITE runs both)."""
    calls: list[str] = []

    @migration(
        new=lambda: calls.append("new"), operation=Operation.WRITE, provider=static("dualwrite")
    )
    def save() -> None:
        calls.append("old")

    save()
    assert calls == ["old", "new"]


def test_read_write_refuse_operation_option() -> None:
    """@migration.read(operation=...) is a ConfigurationError naming 'operation'."""
    with pytest.raises(ConfigurationError, match="operation"):
        migration.read(new=lambda: 1, operation=Operation.WRITE)(lambda: 1)  # type: ignore[call-overload]


# -- providers and context ------------------------------------------------------------------------


class RecordingProvider:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.asked: list[tuple[str, Any]] = []

    def get_stage(self, name: str, context: Any = None) -> Stage:
        self.asked.append((name, context))
        return self.stage


def test_per_decorator_provider_wins_over_configure() -> None:
    """provider= on the decorator is asked, not the process-wide one."""
    own = RecordingProvider(Stage.COMPLETE)
    process = RecordingProvider(Stage.OFF)
    migratekit.configure(provider=process)

    @migration(new=lambda: "new", provider=own, name="x")
    def get() -> str:
        return "old"

    @migration(new=lambda: "new", name="y")
    def other() -> str:
        return "old"

    assert get() == "new"
    assert other() == "old"
    assert own.asked == [("x", None)]
    assert process.asked == [("y", None)]


def test_provider_is_asked_on_every_call() -> None:
    """The stage is asked per call: changing the provider's answer changes the next call."""
    provider = RecordingProvider(Stage.OFF)

    @migration(new=lambda: "new", provider=provider, name="p")
    def get() -> str:
        return "old"

    assert get() == "old"
    provider.stage = Stage.COMPLETE
    assert get() == "new"
    assert len(provider.asked) == 2


def test_context_callable_result_is_passed_to_provider() -> None:
    """context= is called with the call's arguments; its answer goes to get_stage."""
    provider = RecordingProvider(Stage.OFF)

    class Repo:
        @migration(
            new="_n",
            provider=provider,
            name="ctx",
            context=lambda self, user_id: {"tenant": self.tenant, "user": user_id},
        )
        def get(self, user_id: int) -> int:
            return user_id

        def _n(self, user_id: int) -> int:
            return -user_id

        tenant = "acme"

    assert Repo().get(42) == 42
    assert provider.asked == [("ctx", {"tenant": "acme", "user": 42})]


def test_context_on_function() -> None:
    """context= on a plain function receives the function's arguments."""
    provider = RecordingProvider(Stage.OFF)

    @migration(new=lambda a, b=0: 0, provider=provider, context=lambda a, b=0: a + b)
    def f(a: int, b: int = 0) -> int:
        return a

    f(2, b=3)
    assert provider.asked[0][1] == 5


def test_context_that_raises_does_not_fail_the_call() -> None:
    """A context callable that raises never reaches the caller; a stage_error says so."""
    provider = RecordingProvider(Stage.OFF)

    def context(a: int) -> Any:
        raise RuntimeError("no context")

    @migration(new=lambda a: 0, provider=provider, context=context)
    def f(a: int) -> int:
        return a

    with capture_logs() as logs:
        assert f(1) == 1
    assert [e["event"] for e in logs].count("migration.stage_error") == 1


# -- decoration-time errors -----------------------------------------------------------------------


def _new(*args: Any) -> None:
    return None


async def _async_new(*args: Any) -> None:
    return None


def _gen(*args: Any) -> Any:
    yield 1


class _NoGetStage:
    def stage(self, name: str) -> Stage:
        return Stage.OFF

    def __repr__(self) -> str:
        return "<_NoGetStage>"


def _decorate_sync(**options: Any) -> Any:
    def target(*args: Any) -> None:
        return None

    return migration(**options)(target)


DECORATION_ERRORS: list[tuple[str, Any, type[Exception], list[str]]] = [
    # (id, how to decorate, exception, words the message must contain)
    ("no_new", _decorate_sync, ConfigurationError, ["'new'", "callable"]),
    ("new_none", lambda: _decorate_sync(new=None), ConfigurationError, ["'new'", "callable"]),
    (
        "compare_on_write",
        lambda: migration.write(new=_new, compare=_new)(lambda *a: None),  # type: ignore[call-overload]
        ConfigurationError,
        ["'compare'", "write", "read", "_new"],
    ),
    (
        "non_callable_new",
        lambda: _decorate_sync(new=42),
        ConfigurationTypeError,
        ["'new'", "callable", "42", "int"],
    ),
    (
        "non_callable_old",
        lambda: _decorate_sync(new=_new, old=3.5),
        ConfigurationTypeError,
        ["'old'", "callable", "3.5", "float"],
    ),
    (
        "async_new_on_sync",
        lambda: _decorate_sync(new=_async_new),
        ConfigurationError,
        ["'new'", "async", "_async_new", "sync"],
    ),
    (
        "async_old_on_sync",
        lambda: _decorate_sync(new=_new, old=_async_new),
        ConfigurationError,
        ["'old'", "async", "_async_new", "sync"],
    ),
    (
        "unknown_option",
        lambda: _decorate_sync(new=_new, comapre=_new),
        ConfigurationError,
        ["'comapre'", "did you mean 'compare'"],
    ),
    (
        "bad_execution_order_str",
        lambda: _decorate_sync(new=_new, execution_order="sideways"),
        ConfigurationError,
        ["'execution_order'", "ExecutionOrder", "sideways"],
    ),
    (
        "bad_execution_order_type",
        lambda: _decorate_sync(new=_new, execution_order=2),
        ConfigurationTypeError,
        ["'execution_order'", "ExecutionOrder", "2", "int"],
    ),
    (
        "check_ratio_negative",
        lambda: _decorate_sync(new=_new, check_ratio=-1),
        ConfigurationError,
        ["'check_ratio'", "int >= 0", "-1"],
    ),
    (
        "check_ratio_float",
        lambda: _decorate_sync(new=_new, check_ratio=0.5),
        ConfigurationTypeError,
        ["'check_ratio'", "int", "0.5", "float"],
    ),
    (
        "check_ratio_bool",
        lambda: _decorate_sync(new=_new, check_ratio=True),
        ConfigurationTypeError,
        ["'check_ratio'", "int", "True", "bool"],
    ),
    (
        "empty_name",
        lambda: _decorate_sync(new=_new, name=""),
        ConfigurationError,
        ["'name'", "non-empty str", "''"],
    ),
    (
        "name_not_str",
        lambda: _decorate_sync(new=_new, name=7),
        ConfigurationTypeError,
        ["'name'", "str", "7", "int"],
    ),
    (
        "provider_without_get_stage",
        lambda: _decorate_sync(new=_new, provider=_NoGetStage()),
        ConfigurationTypeError,
        ["'provider'", "get_stage", "_NoGetStage"],
    ),
    (
        "generator_function",
        lambda: migration(new=_new)(_gen),
        ConfigurationError,
        ["generator", "_gen"],
    ),
    (
        "compare_not_callable",
        lambda: _decorate_sync(new=_new, compare="eq"),
        ConfigurationTypeError,
        ["'compare'", "callable", "'eq'", "str"],
    ),
]


@pytest.mark.parametrize(
    ("make", "exc_type", "words"),
    [d[1:] for d in DECORATION_ERRORS],
    ids=[d[0] for d in DECORATION_ERRORS],
)
def test_decoration_time_errors(make: Any, exc_type: type[Exception], words: list[str]) -> None:
    """Each mistake raises its ConfigurationError, naming argument, expectation and value."""
    with pytest.raises(exc_type) as info:
        make()
    exc = info.value
    assert isinstance(exc, ConfigurationError)
    assert isinstance(exc, ValueError)
    if exc_type is ConfigurationTypeError:
        assert isinstance(exc, TypeError)
    message = str(exc)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_decoration_errors_happen_before_any_call() -> None:
    """A decoration mistake raises at class creation, before any instance exists."""
    with pytest.raises(ConfigurationError):

        class Repo:  # pragma: no cover - never completed
            @migration(new=_new, nope=1)  # type: ignore[call-overload]
            def get(self) -> None: ...


def test_execution_order_as_enum_and_str_accepted() -> None:
    """execution_order accepts the enum members (and their exact values) at decoration."""
    for order in (ExecutionOrder.SERIAL, ExecutionOrder.RANDOM, "serial", "random"):
        proxy = _decorate_sync(new=_new, execution_order=order)
        assert callable(proxy)


# -- async basics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(Stage))
def test_async_method_is_awaited_in_every_stage(stage: Stage) -> None:
    """An async def method with async sides returns the awaited value, never a coroutine."""
    calls: list[str] = []

    class Repo:
        async def _new(self, key: int) -> str:
            await asyncio.sleep(0)
            calls.append("new")
            return f"new {key}"

        @migration(new="_new", compare=lambda a, b: True, provider=static(stage))
        async def get(self, key: int) -> str:
            await asyncio.sleep(0)
            calls.append("old")
            return f"old {key}"

    async def main() -> Any:
        return await Repo().get(3)

    with capture_logs() as logs:
        value = asyncio.run(main())
    auth = "new" if stage in (Stage.LIVE, Stage.RAMPDOWN, Stage.COMPLETE) else "old"
    assert value == f"{auth} {3}"
    assert not inspect.iscoroutine(value)
    expected_calls = {
        Stage.SHADOW: ["old", "new"],
        Stage.LIVE: ["new", "old"],
    }.get(stage, [auth])
    assert calls == expected_calls
    assert ops(logs)[0]["invoked"] == expected_calls


@pytest.mark.parametrize("stage", list(Stage))
def test_async_callable_sides_write_in_every_stage(stage: Stage) -> None:
    """An async write with async sides writes the table's sides; the caller gets the value."""
    calls: list[str] = []

    async def old(self: Any, v: int) -> str:
        calls.append("old")
        return "o"

    async def new(self: Any, v: int) -> str:
        calls.append("new")
        return "n"

    class Repo:
        @migration.write(old=old, new=new, provider=static(stage))
        async def save(self, v: int) -> str:
            raise AssertionError("not a side")

    value = asyncio.run(Repo().save(1))
    writes = {
        Stage.OFF: ["old"],
        Stage.DUALWRITE: ["old", "new"],
        Stage.SHADOW: ["old", "new"],
        Stage.LIVE: ["new", "old"],
        Stage.RAMPDOWN: ["new", "old"],
        Stage.COMPLETE: ["new"],
    }[stage]
    assert value == ("o" if writes[0] == "old" else "n")
    assert calls == writes


def test_async_authoritative_exception_is_the_same_object() -> None:
    """An async authoritative side's exception reaches the awaiting caller as the same object."""
    boom = LookupError("async boom")

    async def new(k: int) -> None:
        await asyncio.sleep(0)

    @migration(new=new, provider=static("shadow"))
    async def get(k: int) -> None:
        raise boom

    async def main() -> None:
        await get(1)

    with pytest.raises(LookupError) as info:
        asyncio.run(main())
    assert info.value is boom


def test_async_decorated_function_is_a_coroutine_function() -> None:
    """A decorated async def still looks like a coroutine function and its call is awaitable."""

    async def new(k: int) -> int:
        return k

    @migration(new=new, provider=static("off"))
    async def get(k: int) -> int:
        return k + 1

    assert inspect.iscoroutinefunction(get)
    coro = get(1)
    assert inspect.isawaitable(coro)

    async def main() -> int:
        return await coro

    assert asyncio.run(main()) == 2


def test_operation_given_as_a_string() -> None:
    """operation='write' makes a write: in DUALWRITE both sides are written."""
    written: list[str] = []

    @migration(new=lambda v: written.append(f"new {v}"), operation="write",
               provider=StaticStageProvider("dualwrite"))
    def save(v: int) -> str:
        written.append(f"old {v}")
        return "saved"

    assert save(1) == "saved"
    assert written == ["old 1", "new 1"]


def test_read_called_with_the_function_directly() -> None:
    """migration.read(func, new=...) decorates at once, without a second call."""

    def old(v: int) -> int:
        return v

    get = migration.read(old, new=lambda v: v + 1, provider=StaticStageProvider("live"))
    assert get(1) == 2
    assert repr(migration) == "<migratekit.migration>"


def test_long_bad_option_is_cut_in_the_message() -> None:
    """A wrong option with a long repr is shown cut to 80 characters in the error."""
    with pytest.raises(TypeError) as info:

        @migration(new=list(range(100)))  # type: ignore[call-overload]
        def get() -> int:
            return 1

    message = str(info.value)
    assert "[0, 1, 2, 3" in message
    assert "... that is a list" in message
    assert "99]" not in message


def _ops(logs: list[Any]) -> list[Any]:
    return [e for e in logs if e["event"] == "migration.op"]


class Unwalkable(Mapping[str, int]):
    """A mapping that can be compared but not iterated."""

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("cannot iterate")

    def __len__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def test_mismatch_whose_paths_cannot_be_found_has_no_paths() -> None:
    """A mismatch between values that cannot be walked is reported without diff_paths."""

    @migration(new=Unwalkable, provider=StaticStageProvider("shadow"),
               compare=lambda a, b: False)
    def get() -> Any:
        return Unwalkable()

    with capture_logs() as logs:
        assert isinstance(get(), Unwalkable)
    (op,) = _ops(logs)
    assert op["consistent"] is False
    assert "diff_paths" not in op
