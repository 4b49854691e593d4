"""Tests of the stage providers, one module per provider (migratekit.providers)."""
