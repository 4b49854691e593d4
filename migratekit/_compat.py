"""
Every reliance on another project's internals, in one place, each with why.

tests/test_compat.py checks each of them against the real project, so that
an upgrade that changes one fails there, with its name, rather than somewhere
in the hot path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import structlog
import wrapt

__all__ = [
    "BOUND_FUNCTION_WRAPPER",
    "FILTERING_LEVELS",
    "PROPAGATES",
    "environ_store",
    "is_numpy_bool",
    "logger_is_finalized",
    "propagates_async",
    "proxy_attributes",
    "unfinalize_logger",
]


# -- structlog ---------------------------------------------------------------------------------


def logger_is_finalized(proxy: Any) -> bool:
    """
    Whether structlog finalized the lazy logger *proxy*.

    With ``cache_logger_on_first_use=True``, the first use of a
    ``BoundLoggerLazyProxy`` sets an instance attribute ``bind`` that returns
    the same bound logger from then on (structlog's ``_config.py``). While it
    is there, migratekit keeps that logger, and what it says about levels,
    and finds them again with one attribute lookup per call.
    """
    return "bind" in vars(proxy)


def proxy_attributes(proxy: Any) -> dict[str, Any]:
    """
    The instance dictionary of the lazy logger *proxy*, where structlog puts
    the ``bind`` it finalized (see :func:`logger_is_finalized`): reading
    ``bind`` from it costs a third of looking it up on the proxy, whose class
    has a ``bind`` of its own.
    """
    return vars(proxy)  # type: ignore[no-any-return]


def unfinalize_logger(proxy: Any) -> None:
    """Undo :func:`logger_is_finalized`'s state: the next use assembles a logger (for tests)."""
    vars(proxy).pop("bind", None)


def _filtering_levels() -> dict[type, tuple[bool, bool, bool]]:
    # structlog.make_filtering_bound_logger(level) builds one class per level,
    # once, and hands it out again (structlog's _native.py): a logger's class
    # then tells whether it emits debug, info and warning events, with no call.
    # Other loggers (stdlib's, whose level can change) are asked each time.
    levels = (logging.NOTSET, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
              logging.CRITICAL)
    return {
        structlog.make_filtering_bound_logger(level): (
            level <= logging.DEBUG, level <= logging.INFO, level <= logging.WARNING
        )
        for level in levels
    }


FILTERING_LEVELS = _filtering_levels()
"""structlog's filtering bound logger classes, and whether each emits debug, info and warning."""


# -- wrapt -------------------------------------------------------------------------------------

BOUND_FUNCTION_WRAPPER = wrapt.BoundFunctionWrapper
"""
What a subclass of ``wrapt.FunctionWrapper`` names as its class attribute
``__bound_function_wrapper__``. wrapt's C ``__get__`` looks that attribute
up on every attribute access of a subclass (``repo.get``), and when it is
missing, the ``AttributeError`` raised and caught there cost more than half
of a call in stage OFF. Naming it makes binding as cheap as for a plain
``FunctionWrapper``.
"""


# -- CPython: os.environ ----------------------------------------------------------------------


def environ_store(environ: Any) -> tuple[dict[Any, Any], Callable[[str], Any]] | None:
    """
    The dict *environ* keeps its variables in, names and values encoded, and
    the function that encodes a name: for the stdlib's ``os.environ``
    (``os._Environ._data`` and ``encodekey``). ``None`` for any other mapping.

    Reading ``os.environ`` through its Mapping interface encodes the name
    and decodes the value on every lookup, which was most of the cost of a
    call in stage OFF: the environment provider reads this dict instead, with
    the names encoded once and values mapped from their raw bytes.
    """
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    if type(data) is not dict or not callable(encode):
        return None
    return data, encode


# -- numpy -------------------------------------------------------------------------------------


def is_numpy_bool(value: Any) -> bool:
    """
    Whether *value* is numpy's boolean scalar (what a comparison of numpy
    scalars answers): told by its class's module and name (``bool_`` before
    numpy 2, ``bool`` from numpy 2 on), so that migratekit never imports
    numpy. Called inside the comparison's guard: a class whose name or
    ``bool()`` raises is a compare error there.
    """
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ in ("bool", "bool_")


# -- CPython: which exceptions go on -----------------------------------------------------------
#
# migratekit's rule, and the one reliance on CPython it needs: how close()
# throws GeneratorExit into a suspended coroutine.

PROPAGATES = (KeyboardInterrupt, SystemExit, asyncio.CancelledError)
"""
The exceptions that reach the caller from any side: they stop the
program or the task. Any other exception a side raises (``GeneratorExit``, a
library's own ``BaseException``) is that side's failure: raised to the caller
from the authoritative side, a failed result from the other.
"""



def propagates_async(exc: BaseException) -> bool:
    """
    Whether *exc*, caught in a coroutine around an ``await``, must go on:
    one of :data:`PROPAGATES`, or a ``GeneratorExit`` that ``close()`` threw
    into this coroutine to close it (a coroutine that swallowed that one
    would refuse to close). Such a ``GeneratorExit`` starts at the ``await``
    itself; one that the awaited code raised comes up from deeper frames,
    and is that code's failure like any other exception.
    """
    if isinstance(exc, PROPAGATES):
        return True
    if not isinstance(exc, GeneratorExit):
        return False
    where = exc.__traceback__
    return where is None or where.tb_next is None
