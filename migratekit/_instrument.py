"""
``instrument()``: put a migration on a method of code you cannot edit.

The same proxy as ``@migration``, applied with wrapt's patching tools to an
attribute of an existing class, module or object, and taken off again with
:meth:`Instrumentation.undo` (or at the end of a ``with`` block).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import wrapt

from migratekit._decorator import MigrationProxy, build
from migratekit._types import Operation
from migratekit.exceptions import ConfigurationTypeError, MigrateKitError

__all__ = ["Instrumentation", "instrument"]

_MISSING = object()


class Instrumentation:
    """
    A migration that :func:`instrument` put on an attribute; :meth:`undo`
    puts the original back. Also a context manager that undoes on exit.
    """

    __slots__ = ("_lock", "attribute", "original", "owned", "parent", "proxy")

    def __init__(self, parent: Any, attribute: str, original: Any, owned: Any,
                 proxy: MigrationProxy) -> None:
        self.parent = parent
        self.attribute = attribute
        self.original = original
        self.owned = owned
        self.proxy = proxy
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether the migration is still in place."""
        return _own_attribute(self.parent, self.attribute) is self.proxy

    def undo(self) -> None:
        """
        Put back what was there before. Raises :class:`~migratekit.MigrateKitError`
        when something else replaced the attribute since (undoing would throw
        that away); undoing twice is harmless.
        """
        with self._lock:
            current = _own_attribute(self.parent, self.attribute)
            if current is _MISSING or (current is self.owned and current is not self.proxy):
                return  # already undone
            if current is not self.proxy:
                raise MigrateKitError(
                    f"cannot undo the migration on {self.parent!r}.{self.attribute}: the "
                    f"attribute was replaced since by {current!r}; undo that change first"
                )
            if self.owned is _MISSING:
                delattr(self.parent, self.attribute)
            else:
                setattr(self.parent, self.attribute, self.owned)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.undo()

    def __repr__(self) -> str:
        state = "active" if self.active else "undone"
        return f"<Instrumentation {self.proxy.migration_name!r} on {self.attribute} ({state})>"


def _own_attribute(parent: Any, attribute: str) -> Any:
    """The attribute as stored on *parent* itself, without binding; _MISSING if not there."""
    try:
        return vars(parent).get(attribute, _MISSING)
    except TypeError:  # no __dict__ (slots): ask normally
        return getattr(parent, attribute, _MISSING)


def instrument(target: Any, name: str, /, **options: Any) -> Instrumentation:
    """
    Put a migration on ``target.name`` and return a handle to undo it.

    *target* is a class, a module, an object, or a module's import name;
    *name* the attribute, dotted for nested ones (``"UserRepo.get"`` on a
    module). *options* are those of ``@migration`` (``new=`` is required;
    ``operation=Operation.WRITE`` for a write); ``old`` defaults to the
    original method. The migration is named after the original
    (``module.qualname``) unless ``name=`` is given.

    >>> handle = instrument(UserRepo, "get", new=read_from_kv)   # doctest: +SKIP
    >>> handle.undo()                                              # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationTypeError(
            f"instrument: the attribute name must be a non-empty str (got {name!r}); "
            "e.g. instrument(UserRepo, 'get', new=...)"
        )
    try:
        parent, attribute, original = wrapt.resolve_path(target, name)
    except Exception as exc:
        raise ConfigurationTypeError(
            f"instrument: cannot find {name!r} on {target!r} ({exc}); give the class, module "
            "or object that holds the method, and its attribute name"
        ) from exc
    if isinstance(original, MigrationProxy):
        raise MigrateKitError(
            f"instrument: {target!r}.{name} already runs a migration "
            f"({original.migration_name!r}); undo that one first"
        )
    owned = _own_attribute(parent, attribute)
    proxy = build(original, Operation.READ, dict(options))
    if isinstance(parent, type) and proxy._self_on_class is not None:
        # The class exists already: its sides named by string are checked now,
        # as a class body's would be when the class is created.
        proxy._self_on_class(parent, attribute)
    wrapt.apply_patch(parent, attribute, proxy)
    return Instrumentation(parent, attribute, original, owned, proxy)
