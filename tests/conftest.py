"""Shared fixtures: every test starts from migratekit's defaults and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

import migratekit
from migratekit import _compat, _events
from tests.helpers import fresh


@pytest.fixture(autouse=True)
def _fresh_migratekit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset process-wide settings, stage variables and structlog around each test."""
    for variable in list(os.environ):
        if variable.startswith("MIGRATEKIT_"):
            monkeypatch.delenv(variable)
    fresh()  # reset(), then the suite's settings (tests/helpers.py)
    _events.reset_pipeline_failures()
    _events.reset_warning_allowance()
    structlog.reset_defaults()
    yield
    migratekit.drain(10)
    migratekit.reset()
    structlog.reset_defaults()
    # A test that configured cache_logger_on_first_use=True made structlog
    # pin migratekit's logger to that configuration; unpin it for the next.
    _compat.unfinalize_logger(_events.logger)
