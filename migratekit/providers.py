"""
Stage providers: where a migration's stage comes from.

``EnvStageProvider`` (the default) reads environment variables;
``StaticStageProvider`` answers a fixed stage. Any object with a
``get_stage(name, context)`` method is a provider (see :class:`StageProvider`).
"""

from migratekit._providers import EnvStageProvider, StageProvider, StaticStageProvider

__all__ = ["EnvStageProvider", "StageProvider", "StaticStageProvider"]
