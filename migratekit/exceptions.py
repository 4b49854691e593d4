"""The exceptions migratekit raises, for code that wants to catch them by kind."""

from migratekit._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    MigrateKitError,
    ShadowTimeoutError,
    StageError,
    WriteIncompleteError,
)

__all__ = [
    "ConfigurationError",
    "ConfigurationTypeError",
    "MigrateKitError",
    "ShadowTimeoutError",
    "StageError",
    "WriteIncompleteError",
]

# Tracebacks and reprs name the public module that holds them all
# (migratekit.exceptions.StageError), not the private one that defines them.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
