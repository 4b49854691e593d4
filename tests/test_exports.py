"""The public face: each public module's __all__ is exactly what it exports, sorted."""

from __future__ import annotations
import __future__

import types
from typing import Any

import pytest

import migratekit
import migratekit.exceptions
import migratekit.metrics
import migratekit.providers

# migratekit's public names, frozen: adding or removing one is a decision, made here.
MIGRATEKIT_ALL = [
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

# migratekit.providers' public names, frozen as migratekit's are.
PROVIDERS_ALL = [
    "AsyncStageProvider",
    "CachedStageProvider",
    "EnvStageProvider",
    "FallbackStageProvider",
    "FileStageProvider",
    "OpenFeatureStageProvider",
    "PercentageRolloutProvider",
    "RedisStageProvider",
    "StageChange",
    "StageFile",
    "StageProvider",
    "StaticStageProvider",
    "context_key",
]

# Names promised by docs/design.md and issue 2: they must stay exported.
FOUNDATION = {
    migratekit: {
        "ConfigurationError",
        "ExecutionOrder",
        "MigrateKitError",
        "MigrationConfig",
        "Migrator",
        "MigratorCompareFn",
        "MigratorFn",
        "Operation",
        "OperationResult",
        "Origin",
        "Result",
        "Stage",
        "WriteResult",
        "configure",
        "migration",
        "reset",
    },
    migratekit.providers: {"EnvStageProvider", "StaticStageProvider"},
    migratekit.exceptions: {
        "ConfigurationError",
        "ConfigurationTypeError",
        "MigrateKitError",
        "StageError",
    },
    migratekit.metrics: {"PrometheusCollector", "instrument_opentelemetry"},
}

PUBLIC_MODULES = [migratekit, migratekit.providers, migratekit.exceptions, migratekit.metrics]
INCLUDED_PRIVATE = {"__version__"}


def public_members(module: types.ModuleType) -> list[str]:
    """The names a user sees: not private, not submodules, not __future__ features."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") and name not in INCLUDED_PRIVATE:
            continue
        if isinstance(value, types.ModuleType):
            continue
        if isinstance(value, __future__._Feature):
            continue
        names.append(name)
    return names


def test_migratekit_all_is_frozen() -> None:
    """migratekit.__all__ is exactly the agreed list of public names."""
    assert migratekit.__all__ == MIGRATEKIT_ALL


def test_providers_all_is_frozen() -> None:
    """migratekit.providers.__all__ is exactly the agreed list: the stores of stages
    (StageFile) and the record of a change (StageChange) among them (issue 13)."""
    assert migratekit.providers.__all__ == PROVIDERS_ALL


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_sorted(module: types.ModuleType) -> None:
    """__all__ is sorted and has no duplicates."""
    assert module.__all__ == sorted(module.__all__)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_exactly_the_public_members(module: types.ModuleType) -> None:
    """Every name in __all__ exists, and every public non-module attribute is in __all__."""
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.{name} is in __all__ but missing"
    assert sorted(public_members(module)) == sorted(module.__all__)


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_foundation_names_are_exported(module: types.ModuleType) -> None:
    """The names docs/design.md promises stay in __all__."""
    assert FOUNDATION[module] <= set(module.__all__)


def test_star_import_gives_all() -> None:
    """`from migratekit import *` brings exactly __all__."""
    namespace: dict[str, Any] = {}
    exec("from migratekit import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(migratekit.__all__)


def test_exceptions_module_holds_exception_classes() -> None:
    """Everything migratekit.exceptions exports is a MigrateKitError subclass."""
    for name in migratekit.exceptions.__all__:
        value = getattr(migratekit.exceptions, name)
        assert isinstance(value, type)
        assert issubclass(value, migratekit.MigrateKitError)


def test_exceptions_are_the_same_objects_everywhere() -> None:
    """A name exported by both migratekit and migratekit.exceptions is the same class."""
    for name in set(migratekit.__all__) & set(migratekit.exceptions.__all__):
        assert getattr(migratekit, name) is getattr(migratekit.exceptions, name)


def test_configuration_errors_refine_builtins() -> None:
    """ConfigurationError is a ValueError; ConfigurationTypeError also a TypeError."""
    from migratekit.exceptions import ConfigurationError, ConfigurationTypeError

    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(ConfigurationError, migratekit.MigrateKitError)
    assert issubclass(ConfigurationTypeError, ConfigurationError)
    assert issubclass(ConfigurationTypeError, TypeError)


def test_version_is_a_string() -> None:
    """__version__ is a non-empty string."""
    assert isinstance(migratekit.__version__, str)
    assert migratekit.__version__


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_public_names_report_a_public_module(module: types.ModuleType) -> None:
    """Each exported class and function names a public module as its __module__ (what
    tracebacks and reprs show): the package, or migratekit.exceptions for exceptions."""
    for name in module.__all__:
        value = getattr(module, name)
        if not (isinstance(value, type) or hasattr(value, "__code__")):
            continue  # aliases, the `migration` object, __version__
        expected = ("migratekit.exceptions"
                    if isinstance(value, type) and issubclass(value, BaseException)
                    else module.__name__)
        assert value.__module__ == expected, name
    assert repr(migratekit.Stage.SHADOW) == "<Stage.SHADOW: 'shadow'>"
    assert migratekit.StageError.__module__ == "migratekit.exceptions"
