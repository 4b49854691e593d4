"""The exceptions migratekit raises, for code that wants to catch them by kind."""

from migratekit._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    MigrateKitError,
    ShadowTimeoutError,
    StageError,
)

__all__ = [
    "ConfigurationError",
    "ConfigurationTypeError",
    "MigrateKitError",
    "ShadowTimeoutError",
    "StageError",
]
