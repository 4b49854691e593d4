"""
The vocabulary of a migration: stages, origins, operations, execution orders
and the result types.

Names and values are those of LaunchDarkly's migration SDK
(``ldclient.migrations.types``) so that its users feel at home; the code and
the words are our own.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Generic, TypeVar

__all__ = [
    "ExecutionOrder",
    "MigrationConfig",
    "MigratorCompareFn",
    "MigratorFn",
    "Operation",
    "OperationResult",
    "Origin",
    "Result",
    "Stage",
    "WriteResult",
]

T = TypeVar("T")


class ExecutionOrder(Enum):
    """
    How the two reads of a stage that reads both origins are coordinated.

    Writes always run the authoritative origin first, whatever the order.
    """

    SERIAL = "serial"
    """The authoritative read finishes before the other one starts."""

    RANDOM = "random"
    """One read finishes before the other starts; which goes first is drawn at random."""

    PARALLEL = "parallel"
    """Both reads run at the same time; the call takes as long as the slower one."""

    @staticmethod
    def from_str(order: str) -> ExecutionOrder | None:
        """
        Return the member whose value is exactly *order*, or ``None``.

        Matching is exact (``"serial"``, not ``"Serial"``), as in LaunchDarkly's SDK.
        """
        return _ORDERS.get(order)


class Operation(Enum):
    """The kind of call a migration wraps."""

    READ = "read"
    """Reads data; both origins may be read and their answers compared."""

    WRITE = "write"
    """Changes data; the origins are written one after the other, never at once."""

    @staticmethod
    def from_str(operation: str) -> Operation | None:
        """Return the member whose value is exactly *operation*, or ``None``."""
        return _OPERATIONS.get(operation)


class Origin(Enum):
    """Which side of the migration a call went to."""

    OLD = "old"
    """The technology being migrated away from."""

    NEW = "new"
    """The technology being migrated to."""

    @staticmethod
    def from_str(origin: str) -> Origin | None:
        """Return the member whose value is exactly *origin*, or ``None``."""
        return _ORIGINS.get(origin)


class Stage(Enum):
    """
    The six stages of a migration, in the order it goes through them.

    ``OFF`` -> ``DUALWRITE`` -> ``SHADOW`` -> ``LIVE`` -> ``RAMPDOWN`` -> ``COMPLETE``
    """

    OFF = "off"
    """Not started: only the old side is read and written."""

    DUALWRITE = "dualwrite"
    """Writes go to old then new; reads come from old only."""

    SHADOW = "shadow"
    """Both sides are read and compared; the old side's answer is returned."""

    LIVE = "live"
    """Both sides are read and compared; the new side's answer is returned."""

    RAMPDOWN = "rampdown"
    """Reads come from new only; writes still go to new then old."""

    COMPLETE = "complete"
    """Finished: only the new side is read and written."""

    @staticmethod
    def from_str(stage: str) -> Stage | None:
        """
        Return the member whose value is exactly *stage*, or ``None``.

        Matching is exact: ``"shadow"`` is a stage, ``"SHADOW "`` is not. The
        environment provider folds case and strips blanks before asking.
        """
        return _STAGES.get(stage)


_ORDERS = {member.value: member for member in ExecutionOrder}
_OPERATIONS = {member.value: member for member in Operation}
_ORIGINS = {member.value: member for member in Origin}
_STAGES = {member.value: member for member in Stage}


class Result(Generic[T]):
    """
    The outcome of one call: a value on success, an error message (and maybe
    the exception behind it) on failure.
    """

    __slots__ = ("_error", "_exception", "_value")

    def __init__(
        self,
        value: T | None,
        error: str | None,
        exception: BaseException | None,
    ) -> None:
        self._value = value
        self._error = error
        self._exception = exception

    @staticmethod
    def success(value: T) -> Result[T]:
        """A successful result carrying *value*."""
        return Result(value, None, None)

    @staticmethod
    def fail(error: str, exception: BaseException | None = None) -> Result[Any]:
        """A failed result with the message *error* and, if known, its *exception*."""
        return Result(None, error, exception)

    def is_success(self) -> bool:
        """``True`` when the call succeeded (there is no error)."""
        return self._error is None

    @property
    def value(self) -> T | None:
        """The value of a successful call; ``None`` for a failed one."""
        return self._value

    @property
    def error(self) -> str | None:
        """The error message of a failed call; ``None`` for a successful one."""
        return self._error

    @property
    def exception(self) -> BaseException | None:
        """The exception behind a failure, when there was one."""
        return self._exception

    def __repr__(self) -> str:
        if self._error is None:
            return f"{type(self).__name__}.success({self._value!r})"
        return f"{type(self).__name__}.fail({self._error!r}, {self._exception!r})"


class OperationResult(Result[T]):
    """A :class:`Result` together with the :class:`Origin` that produced it."""

    __slots__ = ("_origin",)

    def __init__(self, origin: Origin, result: Result[T]) -> None:
        super().__init__(result.value, result.error, result.exception)
        self._origin = origin

    @property
    def origin(self) -> Origin:
        """The side of the migration this result came from."""
        return self._origin

    def __repr__(self) -> str:
        outcome = (
            f"value={self._value!r}"
            if self._error is None
            else f"error={self._error!r}, exception={self._exception!r}"
        )
        return f"OperationResult(origin={self._origin.value}, {outcome})"


class WriteResult:
    """
    The results of one write: the authoritative side's, and the other side's
    when it ran.

    The authoritative side is always written first. When it fails the other
    side is not written at all, so :attr:`nonauthoritative` is ``None``.
    """

    __slots__ = ("_authoritative", "_nonauthoritative")

    def __init__(
        self,
        authoritative: OperationResult[Any],
        nonauthoritative: OperationResult[Any] | None = None,
    ) -> None:
        self._authoritative = authoritative
        self._nonauthoritative = nonauthoritative

    @property
    def authoritative(self) -> OperationResult[Any]:
        """The result of the side written first."""
        return self._authoritative

    @property
    def nonauthoritative(self) -> OperationResult[Any] | None:
        """The result of the side written second, or ``None`` when it was not written."""
        return self._nonauthoritative

    def __repr__(self) -> str:
        return (
            f"WriteResult(authoritative={self._authoritative!r}, "
            f"nonauthoritative={self._nonauthoritative!r})"
        )


MigratorFn = Callable[[Any], Result[Any]]
"""
One side of a :class:`~migratekit.Migrator` operation: called with the
operation's payload (``None`` when there is none), it returns a
:class:`Result`. It may also raise: the exception becomes a failed result.
"""

MigratorCompareFn = Callable[[Any, Any], bool]
"""
Tells whether two successful reads agree: called as ``compare(old_value,
new_value)``, old first in every stage, it returns ``True`` when they match.
"""


class MigrationConfig:
    """
    The two sides of one :class:`~migratekit.Migrator` operation and, for
    reads, how to compare them.
    """

    __slots__ = ("_comparison", "_new", "_old")

    def __init__(
        self,
        old: MigratorFn,
        new: MigratorFn,
        comparison: MigratorCompareFn | None = None,
    ) -> None:
        self._old = old
        self._new = new
        self._comparison = comparison

    @property
    def old(self) -> MigratorFn:
        """Runs the operation against the old side: ``old(payload) -> Result``."""
        return self._old

    @property
    def new(self) -> MigratorFn:
        """Runs the operation against the new side: ``new(payload) -> Result``."""
        return self._new

    @property
    def comparison(self) -> MigratorCompareFn | None:
        """``comparison(old_value, new_value) -> bool`` for reads, or ``None`` for equality."""
        return self._comparison

    def __repr__(self) -> str:
        return (
            f"MigrationConfig(old={self._old!r}, new={self._new!r}, "
            f"comparison={self._comparison!r})"
        )
