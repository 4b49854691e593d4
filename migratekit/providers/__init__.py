"""
Stage providers: where a migration's stage comes from.

Any object with a ``get_stage(name, context)`` method is a provider (see
:class:`StageProvider`; :class:`AsyncStageProvider` adds ``aget_stage``).

- :class:`EnvStageProvider` (the default) reads environment variables;
  :class:`StaticStageProvider` answers a fixed stage.
- :class:`FileStageProvider` reads a JSON or TOML file, reloaded when it changes.
- :class:`RedisStageProvider` reads Redis (``pip install 'migratekit[redis]'``).
- :class:`OpenFeatureStageProvider` reads a string flag through OpenFeature
  (``pip install 'migratekit[openfeature]'``): LaunchDarkly, flagd, Unleash...
- Wrappers compose them: :class:`CachedStageProvider` (a TTL cache),
  :class:`FallbackStageProvider` (the first that answers wins),
  :class:`PercentageRolloutProvider` (a stable share of users in a later stage).

Stages are changed on the record, in a :class:`StageFile` or through a
:class:`RedisStageProvider`: ``change_stage()`` records each
:class:`StageChange` (who, when, why, the stage before and after) in an
audit trail that ``stage_history()`` reads back.
"""

from migratekit.providers._audit import StageChange
from migratekit.providers._base import AsyncStageProvider, StageProvider, context_key
from migratekit.providers._env import EnvStageProvider
from migratekit.providers._file import FileStageProvider
from migratekit.providers._openfeature import OpenFeatureStageProvider
from migratekit.providers._redis import RedisStageProvider
from migratekit.providers._stagefile import StageFile
from migratekit.providers._static import StaticStageProvider
from migratekit.providers._wrappers import (
    CachedStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
)

__all__ = [
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

# Tracebacks, reprs and docs name the public module, not the private one
# that defines the name (as httpx does for its own public names).
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
