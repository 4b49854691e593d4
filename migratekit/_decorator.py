"""
``@migration``: put a migration in front of a repository method.

The decorator checks what it is given once, at decoration time
(migratekit._options, then migratekit._checks for what the sides can take),
builds the migration's :class:`~migratekit._engine.Engine` from it, and
returns a wrapt ``FunctionWrapper`` whose wrapper is the call the engine built
for itself (migratekit._runners): per call, only what depends on the call is
done. What can only be checked once a class holds the method (the sides it
names by string) is checked in the proxy's ``__set_name__``, when Python
creates that class.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import wrapt

from migratekit._checks import ClassCheck, decoration_checks
from migratekit._compat import BOUND_FUNCTION_WRAPPER
from migratekit._engine import Engine
from migratekit._options import MigrationOptions, ReadOptions, WriteOptions, options_for
from migratekit._quiet import call_for
from migratekit._types import Operation
from migratekit.exceptions import ConfigurationError

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["MigrationProxy", "build", "migration"]

P = ParamSpec("P")
R = TypeVar("R")


if TYPE_CHECKING:
    _FunctionWrapper = wrapt.FunctionWrapper[Any, Any]
else:  # wrapt's classes are subscriptable only from wrapt 2.5 on
    _FunctionWrapper = wrapt.FunctionWrapper


class MigrationProxy(_FunctionWrapper):
    """
    What ``@migration`` puts in place of the function it decorates: a wrapt
    ``FunctionWrapper`` that looks like the function (name, docstring,
    signature, ``__wrapped__``) and runs the migration on each call.
    """

    # Binding as cheap as for a plain FunctionWrapper: see migratekit._compat.
    __bound_function_wrapper__ = BOUND_FUNCTION_WRAPPER

    def __init__(self, wrapped: Any, engine: Engine, on_class: ClassCheck | None = None) -> None:
        super().__init__(wrapped, call_for(engine))
        self._self_engine = engine
        self._self_on_class = on_class

    def __set_name__(self, owner: type, name: str) -> None:
        """
        Python calls this when it creates the class whose body assigns the
        proxy to *name*: the sides named by string are checked against that
        class here (see migratekit._checks), after the wrapped object's own
        ``__set_name__``, if any, which wrapt passes on. A failure raises
        :class:`~migratekit.exceptions.ConfigurationError`, which Python 3.11
        and earlier deliver as the ``__cause__`` of a ``RuntimeError``
        ("Error calling __set_name__ ..."); from 3.12 on, as it is.
        """
        super().__set_name__(owner, name)  # type: ignore[misc]  # wrapt's stubs lack it
        if self._self_on_class is not None:
            self._self_on_class(owner, name)

    @property
    def migration_name(self) -> str:
        """The name of the migration, as it appears in events and environment variables."""
        return self._self_engine.name

    @property
    def migration_operation(self) -> Operation:
        """Whether the migration wraps a read or a write."""
        return self._self_engine.operation


def build(func: Any, operation: Operation, options: dict[str, Any]) -> MigrationProxy:
    """Check *options* and put a migration in front of *func*; the proxy."""
    checked = options_for(func, operation, options)
    on_class = decoration_checks(func, options)
    return MigrationProxy(func, Engine(checked), on_class)


def _no_operation(kind: str, options: dict[str, Any]) -> None:
    if "operation" in options:
        raise ConfigurationError(
            f"@migration.{kind}: 'operation' is already {kind.upper()} here (got "
            f"operation={options['operation']!r}); remove it, or use @migration(operation=...)"
        )


class _Migration:
    """
    The ``migration`` decorator: ``@migration(new=...)``, ``@migration.read(new=...)``,
    ``@migration.write(new=...)``. The options are listed once, in
    :class:`~migratekit._options.MigrationOptions` and the classes it extends.
    """

    @overload
    def __call__(self, func: Callable[P, R], /,
                 **options: Unpack[MigrationOptions]) -> Callable[P, R]: ...

    @overload
    def __call__(
        self, func: None = None, /, **options: Unpack[MigrationOptions]
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def __call__(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a read (by default) or a write (``operation=Operation.WRITE``);
        see :meth:`read` and :meth:`write`.
        """
        return self._decorate(func, Operation.READ, options)

    @overload
    def read(self, func: Callable[P, R], /, **options: Unpack[ReadOptions]) -> Callable[P, R]: ...

    @overload
    def read(
        self, func: None = None, /, **options: Unpack[ReadOptions]
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def read(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a read: in stages that read both sides, both run and their
        answers are compared with ``compare(old_value, new_value)`` (``==`` by
        default); the caller gets the authoritative side's answer.

        *new* (required) and *old* (default: the decorated function itself)
        are callables with the decorated function's own signature, ``self``
        included, or names of methods of the instance. *name* defaults to
        ``module.qualname``; *provider* to the process-wide provider;
        *context* gives the provider what it decides by (a user, a tenant).
        *execution_order*, *check_ratio*, *shadow_ratio*, *shadow* and
        *shadow_timeout* say how the two reads run and how often they are
        compared; *normalize* prepares each value for the comparison and
        ``diff_paths``, *ignore* accepts known differences, *diff_key* names
        the field that matches records in lists. *log_values*,
        *log_arguments* and *log_errors* decide what events say of values,
        arguments and exception messages (see :func:`migratekit.configure`
        for ``log_errors``).
        """
        _no_operation("read", options)
        return self._decorate(func, Operation.READ, options)

    @overload
    def write(self, func: Callable[P, R], /,
              **options: Unpack[WriteOptions]) -> Callable[P, R]: ...

    @overload
    def write(
        self, func: None = None, /, **options: Unpack[WriteOptions]
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def write(self, func: Any = None, /, **options: Any) -> Any:
        """
        Decorate a write: the authoritative side is written first and, only
        when it succeeded, the other side (in stages that write both). The
        caller gets the authoritative side's answer or exception. The options
        are a read's, less those that are about comparing two reads, plus
        *pass_result*: the side written second also gets ``result=`` what the
        first returned (an id the first store generated).
        """
        _no_operation("write", options)
        return self._decorate(func, Operation.WRITE, options)

    @staticmethod
    def _decorate(func: Any, operation: Operation, options: dict[str, Any]) -> Any:
        if func is None:
            def decorator(f: Any) -> Any:
                return build(f, operation, options)

            return decorator
        return build(func, operation, options)

    def __repr__(self) -> str:
        return "<migratekit.migration>"


migration = _Migration()
"""
Decorate a repository method with a migration: ``@migration(new=...)`` for a
read, ``@migration.write(new=...)`` for a write.
"""
