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
