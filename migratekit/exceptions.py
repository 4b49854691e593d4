"""
The exceptions migratekit raises, for code that wants to catch them by kind.

``MigrateKitError`` is the base of them all; each subclass also inherits the
builtin it refines (a ``ConfigurationError`` is a ``ValueError``).
"""

from __future__ import annotations

__all__ = [
    "BackfillError",
    "ConfigurationError",
    "ConfigurationTypeError",
    "MigrateKitError",
    "ShadowTimeoutError",
    "StageError",
    "WriteIncompleteError",
]


class MigrateKitError(Exception):
    """Base class of every exception migratekit raises on its own account."""


class ConfigurationError(MigrateKitError, ValueError):
    """
    A migration or a setting was set up wrongly.

    Raised at once, when the decorator is applied or the setting is made,
    never in the middle of serving a call. The message names the argument,
    what was expected, what was given and how to fix it. An argument of the
    wrong type raises :class:`ConfigurationTypeError`, which is also a
    :class:`TypeError`.
    """


class ConfigurationTypeError(ConfigurationError, TypeError):
    """A :class:`ConfigurationError` for an argument of the wrong type."""


class StageError(MigrateKitError):
    """
    A stage provider could not tell the stage.

    Providers raise it (or anything else) from ``get_stage``; migratekit never
    lets it reach the caller of a migration: the default stage is used and a
    ``migration.stage_error`` event says why. *source* says where the stage
    was looked for (an environment variable, a file, a Redis key) and *value*
    what was found there, if anything.
    """

    def __init__(self, message: str, *, source: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.source = source
        self.value = value


class ShadowTimeoutError(MigrateKitError, TimeoutError):
    """
    The non-authoritative side of a read did not answer within the
    migration's ``shadow_timeout`` (or could not start: every shadow worker
    was busy). It is never raised to the caller: it is the error of that
    side's result, and the ``exc_type`` of its ``migration.result`` event.
    """


class WriteIncompleteError(MigrateKitError):
    """
    The second side of an async write could not finish: its caller was
    cancelled twice (the second time ends the wait for it) and then its event
    loop closed before the side was done. Never raised to a caller: it is the
    error of that side's result, so that the half-done write is on record.
    Await :func:`migratekit.adrain` before an event loop ends.
    """


class BackfillError(MigrateKitError):
    """
    :func:`migratekit.backfill` stopped: a batch still failed after its
    retries (the last failure is the ``__cause__``), or its checkpoint cannot
    be used. *first_key* and *last_key* are the keys of the failed batch's
    first and last rows; *rows_written* counts the rows this run wrote
    before it stopped, all of them recorded in the checkpoint.
    """

    def __init__(self, message: str, *, first_key: object = None, last_key: object = None,
                 rows_written: int = 0) -> None:
        super().__init__(message)
        self.first_key = first_key
        self.last_key = last_key
        self.rows_written = rows_written


# Tracebacks and reprs name the public module that holds them all
# (migratekit.exceptions.StageError), not a private one.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
