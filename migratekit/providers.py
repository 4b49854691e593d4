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
"""

from migratekit._file_provider import FileStageProvider
from migratekit._openfeature_provider import OpenFeatureStageProvider
from migratekit._provider_wrappers import (
    CachedStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
)
from migratekit._providers import (
    AsyncStageProvider,
    EnvStageProvider,
    StageProvider,
    StaticStageProvider,
    context_key,
)
from migratekit._redis_provider import RedisStageProvider

__all__ = [
    "AsyncStageProvider",
    "CachedStageProvider",
    "EnvStageProvider",
    "FallbackStageProvider",
    "FileStageProvider",
    "OpenFeatureStageProvider",
    "PercentageRolloutProvider",
    "RedisStageProvider",
    "StageProvider",
    "StaticStageProvider",
    "context_key",
]
