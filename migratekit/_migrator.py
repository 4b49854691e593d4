"""
``Migrator``: the engine under the decorator, for code that wants the result
types themselves, shaped like LaunchDarkly's ``ldclient.migrations.Migrator``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from migratekit._engine import Engine, FailedResult
from migratekit._events import SideRun, error_message
from migratekit._options import Options, SideFn, check_diff_key, check_hook
from migratekit._runners import run
from migratekit._text import type_name
from migratekit._types import (
    ExecutionOrder,
    MigrationConfig,
    MigratorFn,
    Operation,
    OperationResult,
    Result,
    WriteResult,
)
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError
from migratekit.providers._base import check_provider

__all__ = ["ENGINES_LIMIT", "Migrator"]

ENGINES_LIMIT = 1024
"""How many migration names a Migrator keeps the engines of, at most."""


def _side(fn: MigratorFn, takes_result: bool = False) -> SideFn:
    """
    The engine's side for *fn*, called with the payload (and, *takes_result*,
    the keyword ``result=`` when it runs second in a write with ``pass_result``).
    """
    if takes_result:
        def call(wrapped: Any, instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
            return _value(fn(args[0], **kwargs))

        return call

    def call_with_payload(wrapped: Any, instance: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Any:
        return _value(fn(args[0]))

    return call_with_payload


def _value(result: Any) -> Any:
    """What a side's ``Result`` holds; a failed one raises, as a side that raised does."""
    if isinstance(result, Result):
        if result.is_success():
            return result.value
        raise FailedResult(result.error or "failed", result.exception)
    raise TypeError(
        f"a Migrator side must return a migratekit.Result (got {type_name(result)}); "
        "return Result.success(value) or Result.fail(message)"
    )


def _operation_result(run: SideRun) -> OperationResult[Any]:
    if run.ok:
        return OperationResult(run.origin, Result.success(run.value))
    message = error_message(run.exception, run.error) or type_name(run.exception)
    return OperationResult(run.origin, Result.fail(message, run.exception))


class Migrator:
    """
    Runs reads and writes of a migration and returns :class:`~migratekit.Result`
    types instead of raising.

    *read* and *write* give the two sides of each operation as
    :class:`~migratekit.MigrationConfig` (sides take the payload and return a
    ``Result``; an exception they raise becomes a failed result). The stage of
    each call comes from *provider* (by default the process-wide one), asked
    with the migration's name and the call's context. Emits the same events
    as the decorator; *log_errors*, *shadow_ratio* (reads only: one read
    in N runs the other side), *normalize*, *ignore*, *diff_key* (reads
    only: how two reads are judged) and *pass_result* (writes only: the
    second side is called ``fn(payload, result=value)``, *value* the first
    side's ``Result.value``) are the decorator's options of those names.
    """

    def __init__(
        self,
        read: MigrationConfig | None = None,
        write: MigrationConfig | None = None,
        *,
        read_execution_order: ExecutionOrder = ExecutionOrder.SERIAL,
        provider: Any = None,
        check_ratio: int = 1,
        shadow_ratio: int = 1,
        log_errors: Callable[[BaseException], Any] | None = None,
        normalize: Callable[[Any], Any] | None = None,
        ignore: Callable[[Any, Any], bool] | None = None,
        diff_key: str | None = None,
        pass_result: bool = False,
    ) -> None:
        if read is None and write is None:
            raise ConfigurationError(
                "Migrator: give 'read', 'write' or both, each a "
                "MigrationConfig(old, new, comparison=None)"
            )
        for option, config in (("read", read), ("write", write)):
            if config is None:
                continue
            if not isinstance(config, MigrationConfig):
                raise ConfigurationTypeError(
                    f"Migrator: {option!r} must be a MigrationConfig (got {config!r} that is a "
                    f"{type(config).__name__}); use MigrationConfig(old_fn, new_fn)"
                )
            for side in ("old", "new"):
                if not callable(getattr(config, side)):
                    raise ConfigurationTypeError(
                        f"Migrator: {option}.{side} must be a callable taking the payload and "
                        f"returning a Result (got {getattr(config, side)!r})"
                    )
        if write is not None and write.comparison is not None:
            raise ConfigurationError(
                "Migrator: 'write' has a comparison, but only reads are compared; "
                "build it as MigrationConfig(old, new) without one"
            )
        if read is not None and read.comparison is not None and not callable(read.comparison):
            raise ConfigurationTypeError(
                f"Migrator: read.comparison must be a callable (got {read.comparison!r})"
            )
        if not isinstance(read_execution_order, ExecutionOrder):
            raise ConfigurationTypeError(
                "Migrator: 'read_execution_order' must be an ExecutionOrder (got "
                f"{read_execution_order!r}); e.g. ExecutionOrder.SERIAL"
            )
        if isinstance(check_ratio, bool) or not isinstance(check_ratio, int):
            raise ConfigurationTypeError(
                f"Migrator: 'check_ratio' must be an int >= 0 (got {check_ratio!r} that is a "
                f"{type(check_ratio).__name__}); 1 compares every read, N one read in N, 0 never"
            )
        if check_ratio < 0:
            raise ConfigurationError(
                f"Migrator: 'check_ratio' must be an int >= 0 (got {check_ratio!r}); "
                "1 compares every read, N one read in N, 0 never"
            )
        if isinstance(shadow_ratio, bool) or not isinstance(shadow_ratio, int):
            raise ConfigurationTypeError(
                f"Migrator: 'shadow_ratio' must be an int >= 1 (got {shadow_ratio!r} that is a "
                f"{type(shadow_ratio).__name__}); 1 shadows every read, N one read in N"
            )
        if shadow_ratio < 1:
            raise ConfigurationError(
                f"Migrator: 'shadow_ratio' must be an int >= 1 (got {shadow_ratio!r}); "
                "1 shadows every read, N one read in N"
            )
        if provider is not None:
            check_provider("Migrator: 'provider'", provider)
        if log_errors is not None and not callable(log_errors):
            raise ConfigurationTypeError(
                f"Migrator: 'log_errors' must be a callable taking an exception and returning "
                f"the text to log, or None (got a {type(log_errors).__name__}); e.g. "
                "log_errors=lambda exc: type(exc).__name__"
            )
        _judging(read, normalize, ignore, diff_key)
        if not isinstance(pass_result, bool):
            raise ConfigurationTypeError(
                f"Migrator: 'pass_result' must be True or False (got {pass_result!r} that is a "
                f"{type(pass_result).__name__}); True gives the write's second side "
                "result=<the first side's value>"
            )
        if pass_result and write is None:
            raise ConfigurationError(
                "Migrator: 'pass_result' applies to writes, but this Migrator has no 'write'; "
                "pass write=MigrationConfig(old, new), or remove pass_result"
            )
        self._normalize, self._ignore, self._diff_key = normalize, ignore, diff_key
        self._pass_result = pass_result
        self._read = read
        self._write = write
        self._order = read_execution_order
        self._provider = provider
        self._check_ratio = check_ratio
        self._shadow_ratio = shadow_ratio
        self._log_errors = log_errors
        self._engines: dict[tuple[str, Operation], Engine] = {}
        self._lock = threading.Lock()

    def _engine(self, name: str, operation: Operation) -> Engine:
        key = (name, operation)
        engine = self._engines.get(key)
        if engine is not None:
            return engine
        config = self._read if operation is Operation.READ else self._write
        if config is None:
            raise ConfigurationError(
                f"Migrator.{operation.value}({name!r}): this Migrator was built without "
                f"{operation.value!r}; pass {operation.value}=MigrationConfig(old, new)"
            )
        if not isinstance(name, str) or not name:
            raise ConfigurationTypeError(
                f"Migrator.{operation.value}: 'name' must be a non-empty str (got {name!r})"
            )
        reads = operation is Operation.READ
        passes = self._pass_result and not reads
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = Engine(Options(
                    name=name,
                    operation=operation,
                    old=_side(config.old, passes),
                    new=_side(config.new, passes),
                    old_awaits=False,
                    new_awaits=False,
                    compare=config.comparison,
                    provider=self._provider,
                    execution_order=self._order,
                    check_ratio=self._check_ratio,
                    shadow_ratio=self._shadow_ratio if reads else 1,
                    log_errors=self._log_errors,
                    normalize=self._normalize if reads else None,
                    ignore=self._ignore if reads else None,
                    diff_key=self._diff_key if reads else None,
                    pass_result=passes,
                ))
                if len(self._engines) >= ENGINES_LIMIT:
                    # Names may come from outside (one per tenant, per table):
                    # the oldest engine goes, and is built again if asked for.
                    del self._engines[next(iter(self._engines))]
                self._engines[key] = engine
        return engine

    def read(self, name: str, context: Any = None, payload: Any = None) -> OperationResult[Any]:
        """
        Read as the stage of migration *name* says; the authoritative side's result.

        Never raises for a failure of a side: a failed read comes back as a
        failed result carrying the exception.
        """
        engine = self._engine(name, Operation.READ)
        plan = engine.plan(None, None, (payload,), {}, context)
        auth, _ = run(engine, plan, None, None, (payload,), {})
        return _operation_result(auth)

    def write(self, name: str, context: Any = None, payload: Any = None) -> WriteResult:
        """
        Write as the stage of migration *name* says: the authoritative side
        first and, when it succeeded and the stage writes both, the other.
        """
        engine = self._engine(name, Operation.WRITE)
        plan = engine.plan(None, None, (payload,), {}, context)
        auth, other = run(engine, plan, None, None, (payload,), {})
        return WriteResult(
            _operation_result(auth), None if other is None else _operation_result(other)
        )

    def __repr__(self) -> str:
        return (
            f"Migrator(read={self._read!r}, write={self._write!r}, "
            f"read_execution_order={self._order}, check_ratio={self._check_ratio})"
        )


def _judging(read: MigrationConfig | None, normalize: Any, ignore: Any, diff_key: Any) -> None:
    """Check ``normalize``, ``ignore`` and ``diff_key``: options of reads."""
    if normalize is not None:
        check_hook("Migrator", "normalize", normalize,
                   "a callable normalize(value) returning what the comparison and diff_paths "
                   "see", "e.g. normalize=lambda user: {'id': user.id, 'bio': user.bio}")
    if ignore is not None:
        check_hook("Migrator", "ignore", ignore,
                   "a callable ignore(old_value, new_value) -> bool",
                   "e.g. ignore=lambda old, new: old['updated_at'] != new['updated_at']")
    check_diff_key("Migrator", diff_key)
    for option, value in (("normalize", normalize), ("ignore", ignore),
                          ("diff_key", diff_key)):
        if value is not None and read is None:
            raise ConfigurationError(
                f"Migrator: {option!r} applies to reads, but this Migrator has no 'read'; "
                f"pass read=MigrationConfig(old, new), or remove {option}"
            )
