"""
The per-call cases: the floor (a bare method, a wrapt pass-through),
migratekit in every stage (events dropped; production logging, where a call
that went well writes no line and summaries carry the counts; every call's
events at info, for reference), structlog rendering the same events alone,
and the stage providers.

Every case calls a method looked up on the instance at every call
(``obj.get(1)``), for the baseline and for migratekit alike.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import structlog
import wrapt

import migratekit
from benchmarks._harness import Case
from benchmarks._logs import Logs, call_events
from migratekit import Stage, migration
from migratekit.providers import EnvStageProvider, StaticStageProvider

__all__ = [
    "BARE_ASYNC",
    "BARE_READ",
    "BARE_WRITE",
    "INFO_JSON",
    "PRODUCTION",
    "WRAPT_ASYNC",
    "WRAPT_READ",
    "WRAPT_WRITE",
    "baseline_cases",
    "clear_stage_environment",
    "migratekit_cases",
    "read_repo",
    "structlog_alone_cases",
    "variable",
]

BARE_READ = "bare read"
BARE_WRITE = "bare write"
BARE_ASYNC = "bare async read"
WRAPT_READ = "wrapt pass-through read"
WRAPT_WRITE = "wrapt pass-through write"
WRAPT_ASYNC = "wrapt pass-through async read"

PREFIX = "MIGRATEKIT_STAGE"


def variable(name: str) -> str:
    """The environment variable that sets the stage of migration *name*."""
    return EnvStageProvider(PREFIX).variable_for(name)


def clear_stage_environment() -> None:
    """Unset every ``MIGRATEKIT_STAGE*`` variable: the "nothing set" cases need it."""
    for key in [key for key in os.environ if key.startswith(PREFIX)]:
        del os.environ[key]


def same(old: Any, new: Any) -> bool:
    """The comparison of the SHADOW and LIVE reads."""
    return bool(old == new)


# -- the floor --------------------------------------------------------------------


@wrapt.decorator
def passthrough(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The cheapest wrapt decorator there is: it calls what it wraps."""
    return wrapped(*args, **kwargs)


def closure(function: Callable[..., Any]) -> Callable[..., Any]:
    """A plain closure decorator, for reference."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return call


class Bare:
    def get(self, key: Any) -> Any:
        return key

    def put(self, key: Any, value: Any) -> None:
        return None

    async def aget(self, key: Any) -> Any:
        return key


class Wrapped:
    @passthrough
    def get(self, key: Any) -> Any:
        return key

    @passthrough
    def put(self, key: Any, value: Any) -> None:
        return None

    @passthrough
    async def aget(self, key: Any) -> Any:
        return key


class _Subclass(wrapt.FunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A FunctionWrapper subclass, as ``MigrationProxy`` is."""


class _SubclassBound(wrapt.FunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """
    The same, naming its bound type: without ``__bound_function_wrapper__``
    wrapt's C ``__get__`` looks the attribute up on a subclass at every
    binding, and builds and discards an AttributeError each time.
    """

    __bound_function_wrapper__ = wrapt.BoundFunctionWrapper


def _pass(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return wrapped(*args, **kwargs)


class Subclassed:
    def get(self, key: Any) -> Any:
        return key

    get = _Subclass(get, _pass)


class SubclassedBound:
    def get(self, key: Any) -> Any:
        return key

    get = _SubclassBound(get, _pass)


class Closure:
    @closure
    def get(self, key: Any) -> Any:
        return key


def baseline_cases() -> list[Case]:
    bare, wrapped = Bare(), Wrapped()
    group = "floor"
    return [
        Case(BARE_READ, group, "obj.get(1)", {"obj": bare}, logging="none"),
        Case(BARE_WRITE, group, "obj.put(1, 2)", {"obj": bare}, logging="none",
             bare=BARE_WRITE, wrapt=WRAPT_WRITE),
        Case(BARE_ASYNC, group, "await obj.aget(1)", {"obj": bare}, logging="none",
             is_async=True, bare=BARE_ASYNC, wrapt=WRAPT_ASYNC),
        Case("closure decorator read", group, "obj.get(1)", {"obj": Closure()}, logging="none",
             note="functools.wraps closure"),
        Case(WRAPT_READ, group, "obj.get(1)", {"obj": wrapped}, logging="none"),
        Case("wrapt FunctionWrapper subclass read", group, "obj.get(1)", {"obj": Subclassed()},
             logging="none", note="as MigrationProxy is"),
        Case("wrapt subclass with __bound_function_wrapper__ read", group, "obj.get(1)",
             {"obj": SubclassedBound()}, logging="none"),
        Case(WRAPT_WRITE, group, "obj.put(1, 2)", {"obj": wrapped}, logging="none",
             bare=BARE_WRITE, wrapt=WRAPT_WRITE),
        Case(WRAPT_ASYNC, group, "await obj.aget(1)", {"obj": wrapped}, logging="none",
             is_async=True, bare=BARE_ASYNC, wrapt=WRAPT_ASYNC),
    ]


# -- migratekit -----------------------------------------------------------------------


def read_repo(name: str, **options: Any) -> Any:
    """An object whose ``get`` is a migrated read named *name* (compared with ``same``)."""

    class Repo:
        def _get_new(self, key: Any) -> Any:
            return key

        @migration(new=_get_new, compare=same, name=name, **options)
        def get(self, key: Any) -> Any:
            return key

    return Repo()


def write_repo(name: str, **options: Any) -> Any:
    """An object whose ``put`` is a migrated write named *name*."""

    class Repo:
        def _put_new(self, key: Any, value: Any) -> None:
            return None

        @migration.write(new=_put_new, name=name, **options)
        def put(self, key: Any, value: Any) -> None:
            return None

    return Repo()


def async_read_repo(name: str) -> Any:
    class Repo:
        async def _get_new(self, key: Any) -> Any:
            return key

        @migration(new=_get_new, compare=same, name=name)
        async def aget(self, key: Any) -> Any:
            return key

    return Repo()


def _stage_label(stage: Stage | None) -> str:
    return "OFF, nothing set" if stage is None else stage.name


PRODUCTION = ", production logging (JSON at info, summaries)"
"""The suffix of the cases that run as the README's production logging, migratekit's defaults."""
INFO_JSON = ", call events at info, as JSON"
"""The suffix of the reference cases whose calls each write their events (call_events="info")."""
PRODUCTION_GROUP = "migratekit, production logging (JSON at info, summaries)"
INFO_JSON_GROUP = "migratekit, call events at info, as JSON (reference)"
INFO_JSON_STAGES = (Stage.OFF, Stage.SHADOW, Stage.DUALWRITE)


def migratekit_cases(logs: Logs, *, quick: bool) -> list[Case]:
    """
    Reads and writes in every stage (the stage set through its own variable,
    and OFF with nothing set), with events dropped and with the production
    logging (JSON at info into a file, migratekit's defaults: a call that went
    well writes nothing, summaries carry the counts); with every call's events
    at info, as JSON, for reference, in OFF, SHADOW and DUALWRITE; async
    reads; reads through a static provider.
    """
    cases: list[Case] = []
    stages: list[Stage | None] = [*Stage, None]
    info_before, info_finish = call_events("info")

    def info_json_before() -> None:
        info_before()
        logs.start_clean()

    for operation in ("read", "write"):
        for stage in stages:
            name = f"bench.{operation}.{'unset' if stage is None else stage.value}"
            if stage is not None:
                os.environ[variable(name)] = stage.value
            if operation == "read":
                obj, stmt, refs = read_repo(name), "obj.get(1)", (BARE_READ, WRAPT_READ)
            else:
                obj, stmt, refs = write_repo(name), "obj.put(1, 2)", (BARE_WRITE, WRAPT_WRITE)
            label = f"{operation} {_stage_label(stage)}"
            cases.append(Case(f"{label}, events dropped", "migratekit, events dropped", stmt,
                              {"obj": obj}, bare=refs[0], wrapt=refs[1]))
            if quick and stage not in (Stage.OFF, Stage.SHADOW, Stage.DUALWRITE):
                continue
            production = label + PRODUCTION
            cases.append(Case(production, PRODUCTION_GROUP, stmt, {"obj": obj}, logging="json",
                              bare=refs[0], wrapt=refs[1], before=logs.start_clean,
                              after=logs.volume_checker(production, name)))
            if stage not in INFO_JSON_STAGES:
                continue
            json_name = label + INFO_JSON
            cases.append(Case(json_name, INFO_JSON_GROUP, stmt, {"obj": obj}, logging="json",
                              bare=refs[0], wrapt=refs[1], before=info_json_before,
                              finish=info_finish, after=logs.checker(json_name)))
    os.environ[variable("bench.noop.shadow")] = "shadow"
    cases.append(Case(SHADOW_NOOP, "migratekit, events to a no-op pipeline", "obj.get(1)",
                      {"obj": read_repo("bench.noop.shadow")}, logging="noop",
                      before=info_before, finish=info_finish, note="call events at info"))
    for stage in (Stage.OFF, Stage.SHADOW):
        name = f"bench.async.{stage.value}"
        os.environ[variable(name)] = stage.value
        cases.append(Case(f"async read {stage.name}, events dropped", "migratekit, async",
                          "await obj.aget(1)", {"obj": async_read_repo(name)}, is_async=True,
                          bare=BARE_ASYNC, wrapt=WRAPT_ASYNC))
    for stage in (Stage.OFF, Stage.SHADOW):
        obj = read_repo(f"bench.static.{stage.value}", provider=StaticStageProvider(stage))
        cases.append(Case(f"read {stage.name}, StaticStageProvider, events dropped",
                          "migratekit, events dropped", "obj.get(1)", {"obj": obj}))
    return cases


# -- structlog alone ----------------------------------------------------------------------

_alone = structlog.get_logger("migratekit")


def _shadow_read_events() -> None:
    # The three events of a SHADOW read, as an application would log them by
    # hand: the same names and fields, values already at hand.
    log = _alone.bind()
    log.info("migration.result", migration="bench.read.shadow", operation="read",
             stage="shadow", origin="old", authoritative=True, ok=True, latency_ms=0.0004,
             error=None, exc_type=None, call_id="1a2b3c4d-1")
    log.info("migration.result", migration="bench.read.shadow", operation="read",
             stage="shadow", origin="new", authoritative=False, ok=True, latency_ms=0.0003,
             error=None, exc_type=None, call_id="1a2b3c4d-1")
    log.info("migration.op", migration="bench.read.shadow", operation="read", stage="shadow",
             invoked=["old", "new"], consistent=True, call_id="1a2b3c4d-1")


def _one_event() -> None:
    _alone.bind().info("migration.result", migration="bench.read.off", operation="read",
                       stage="off", origin="old", authoritative=True, ok=True,
                       latency_ms=0.0004, error=None, exc_type=None, call_id="1a2b3c4d-1")


STRUCTLOG_SHADOW = "structlog alone: the 3 events of a SHADOW read"
STRUCTLOG_SHADOW_NOOP = "structlog alone: the 3 events, no-op pipeline"
SHADOW_NOOP = "read SHADOW, events to a no-op pipeline"


def structlog_alone_cases(logs: Logs) -> list[Case]:
    group = "structlog alone, JSON"
    return [
        Case(STRUCTLOG_SHADOW, group, "emit()", {"emit": _shadow_read_events}, logging="json",
             before=logs.truncate, after=logs.checker(STRUCTLOG_SHADOW)),
        Case(STRUCTLOG_SHADOW_NOOP, "structlog alone, no-op pipeline", "emit()",
             {"emit": _shadow_read_events}, logging="noop"),
        Case("structlog alone: one event", group, "emit()", {"emit": _one_event},
             logging="json", before=logs.truncate,
             after=logs.checker("structlog alone: one event")),
    ]


def reset_migratekit() -> None:
    migratekit.reset()
