"""
migratekit: move a live system from an old technology to a new one in stages,
safely, while it keeps serving.

Decorate the repository methods that touch the data with :data:`migration`,
drive the stage from a provider (environment variables by default), and read
the ``migration.*`` events to tell when the new side is ready.
"""

from migratekit._backfill import BackfillResult, backfill
from migratekit._config import configure, reset
from migratekit._decorator import MigrationProxy, migration
from migratekit._instrument import Instrumentation, instrument
from migratekit._migrator import Migrator
from migratekit._reconcile import Reconciliation, reconcile
from migratekit._summary import adrain, drain, flush
from migratekit._types import (
    ExecutionOrder,
    MigrationConfig,
    MigratorCompareFn,
    MigratorFn,
    Operation,
    OperationResult,
    Origin,
    Result,
    Stage,
    WriteResult,
)
from migratekit._version import __version__
from migratekit.exceptions import (
    ConfigurationError,
    MigrateKitError,
    ShadowTimeoutError,
    StageError,
)

__all__ = [
    "BackfillResult",
    "ConfigurationError",
    "ExecutionOrder",
    "Instrumentation",
    "MigrateKitError",
    "MigrationConfig",
    "MigrationProxy",
    "Migrator",
    "MigratorCompareFn",
    "MigratorFn",
    "Operation",
    "OperationResult",
    "Origin",
    "Reconciliation",
    "Result",
    "ShadowTimeoutError",
    "Stage",
    "StageError",
    "WriteResult",
    "__version__",
    "adrain",
    "backfill",
    "configure",
    "drain",
    "flush",
    "instrument",
    "migration",
    "reconcile",
    "reset",
]

# Tracebacks, reprs and docs name the public module, not the private one that
# defines the name (as httpx does). Exceptions name migratekit.exceptions, the
# module that holds them all; `migration` is an object, not a class.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        continue
    if isinstance(_value, type) or (callable(_value) and hasattr(_value, "__code__")):
        _value.__module__ = __name__
del _name, _value
