"""Tests of the process-wide shadow pool after a fork (migratekit/_pool.py)."""

from __future__ import annotations

import threading

import pytest

from migratekit import _pool


def test_child_after_fork_gets_a_fresh_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a fork the inherited pool (whose threads did not survive) is replaced on use."""
    monkeypatch.setattr(_pool, "_pool", _pool._pool)
    monkeypatch.setattr(_pool, "_pool_lock", _pool._pool_lock)
    inherited = _pool.pool()
    old_lock = _pool._pool_lock
    _pool._after_fork()
    fresh = _pool.pool()
    assert fresh is not inherited
    assert _pool._pool_lock is not old_lock
    assert _pool.pool() is fresh
    assert isinstance(_pool._pool_lock, type(threading.Lock()))
