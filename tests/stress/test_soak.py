"""
A bounded soak: mixed sync, async and background calls while another thread
flips the stage between all six stages.

Bounded in time (``MIGRATEKIT_SOAK_SECONDS``, a few seconds by default) and in
calls per worker. Checks that nothing deadlocks (every thread joins within its
timeout), that migratekit's own memory does not grow after warm-up
(tracemalloc, counting only allocations made in migratekit's files) and that
every call has exactly one ``migration.op`` event once the shadows are drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

import structlog

import migratekit
from migratekit import Stage, migration

# Read at import: the autouse fixture clears MIGRATEKIT_* variables before each test.
SOAK_SECONDS = max(1.0, float(os.environ.get("MIGRATEKIT_SOAK_SECONDS") or 3.0))
MAX_CALLS_PER_WORKER = int(SOAK_SECONDS * 4000)
JOIN_TIMEOUT = SOAK_SECONDS + 60.0
MEMORY_GROWTH_LIMIT = 512 * 1024  # bytes retained by migratekit after warm-up
SYNC_WORKERS = 3
ASYNC_TASKS = 4
STAGES = list(Stage)


class FlippingProvider:
    """A provider whose ``stage`` attribute another thread keeps swapping."""

    def __init__(self) -> None:
        self.stage: Stage = Stage.OFF

    def get_stage(self, name: str, context: Any = None) -> Stage:
        return self.stage


class OpCounter:
    """Counts ``migration.op`` events per call key, under a lock, and drops every event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: Counter[str] = Counter()
        self.untagged = 0
        self.events = 0

    def __call__(self, logger: Any, method: str, event: Any) -> Any:
        with self.lock:
            self.events += 1
            if event.get("event") == "migration.op":
                key = event.get("call")
                if key is None:
                    self.untagged += 1
                else:
                    self.ops[key] += 1
        raise structlog.DropEvent


class SideFailed(Exception):
    """A side that fails on purpose."""


class Sides:
    """Sides over bounded dict stores, failing now and then."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.stores: dict[str, dict[int, Any]] = {"old": {}, "new": {}}

    def read(self, origin: str, key: int) -> Any:
        if self.rng.random() < 0.05:
            raise SideFailed(origin)
        return self.stores[origin].get(key)

    def write(self, origin: str, key: int, value: Any) -> Any:
        if self.rng.random() < 0.05:
            raise SideFailed(origin)
        self.stores[origin][key] = value
        return key


def build_sync(sides: Sides, provider: FlippingProvider) -> list[Any]:
    @migration.read(new=lambda key: sides.read("new", key), name="soak.read", provider=provider)
    def read(key: int) -> Any:
        return sides.read("old", key)

    @migration.read(new=lambda key: sides.read("new", key), name="soak.bg", provider=provider,
                    shadow="background")
    def background(key: int) -> Any:
        return sides.read("old", key)

    @migration.write(new=lambda key, value: sides.write("new", key, value), name="soak.write",
                     provider=provider)
    def write(key: int, value: Any) -> Any:
        return sides.write("old", key, value)

    return [read, background, lambda key: write(key, key * 2)]


def build_async(sides: Sides, provider: FlippingProvider) -> list[Any]:
    async def new_read(key: int) -> Any:
        await asyncio.sleep(0)
        return sides.read("new", key)

    async def new_write(key: int, value: Any) -> Any:
        await asyncio.sleep(0)
        return sides.write("new", key, value)

    @migration.read(new=new_read, name="soak.aread", provider=provider)
    async def read(key: int) -> Any:
        return sides.read("old", key)

    @migration.read(new=new_read, name="soak.abg", provider=provider, shadow="background")
    async def background(key: int) -> Any:
        return sides.read("old", key)

    @migration.write(new=new_write, name="soak.awrite", provider=provider)
    async def write(key: int, value: Any) -> Any:
        await asyncio.sleep(0)
        return sides.write("old", key, value)

    return [read, background, lambda key: write(key, key * 2)]


def migratekit_bytes() -> int:
    """Bytes currently allocated by code in migratekit's own files."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, f"*{os.sep}migratekit{os.sep}*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def test_soak_mixed_calls_while_the_stage_flips() -> None:
    """Sync, async and background calls under a flipping stage: no deadlock, no leak, exact ops."""
    counter = OpCounter()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, counter])
    provider = FlippingProvider()
    stop = threading.Event()
    crashes: list[BaseException] = []
    issued: list[list[str]] = []
    deadline = time.monotonic() + SOAK_SECONDS

    def done(calls: int) -> bool:
        return stop.is_set() or calls >= MAX_CALLS_PER_WORKER or time.monotonic() > deadline

    def flipper() -> None:
        rng = random.Random(0)
        flips = 0
        while not stop.is_set() and flips < MAX_CALLS_PER_WORKER * 10:
            provider.stage = rng.choice(STAGES)
            flips += 1
            time.sleep(0.0002)

    def sync_worker(w: int) -> None:
        keys: list[str] = []
        issued.append(keys)
        calls = build_sync(Sides(seed=w), provider)
        try:
            n = 0
            while not done(n):
                key = f"s{w}-{n}"
                keys.append(key)
                structlog.contextvars.bind_contextvars(call=key)
                with contextlib.suppress(SideFailed):
                    calls[n % len(calls)](n % 64)
                n += 1
        except BaseException as exc:
            crashes.append(exc)

    def async_worker() -> None:
        async def task(t: int, calls: list[Any], keys: list[str]) -> None:
            n = 0
            while not done(n):
                key = f"a{t}-{n}"
                keys.append(key)
                structlog.contextvars.bind_contextvars(call=key)
                with contextlib.suppress(SideFailed):
                    await calls[n % len(calls)](n % 64)
                n += 1

        async def main() -> None:
            calls = build_async(Sides(seed=100), provider)
            keys: list[str] = []
            issued.append(keys)
            await asyncio.gather(*(task(t, calls, keys) for t in range(ASYNC_TASKS)))
            assert await migratekit.adrain(JOIN_TIMEOUT), "async shadows never finished"

        try:
            asyncio.run(main())
        except BaseException as exc:
            crashes.append(exc)

    tracemalloc.start()
    try:
        threads = [threading.Thread(target=flipper, daemon=True)]
        threads += [threading.Thread(target=sync_worker, args=(w,), daemon=True)
                    for w in range(SYNC_WORKERS)]
        threads.append(threading.Thread(target=async_worker, daemon=True))
        for thread in threads:
            thread.start()
        # Warm-up: let every cache and the shadow pool fill, then measure.
        time.sleep(min(1.0, SOAK_SECONDS / 3))
        warm = migratekit_bytes()
        workers = threads[1:]
        for thread in workers:
            thread.join(JOIN_TIMEOUT)
        stop.set()
        threads[0].join(JOIN_TIMEOUT)
        stuck = [t.name for t in threads if t.is_alive()]
        assert stuck == [], f"deadlocked threads: {stuck}"
        assert migratekit.drain(JOIN_TIMEOUT), "background shadows never finished"
        after = migratekit_bytes()
    finally:
        stop.set()
        tracemalloc.stop()

    assert crashes == []
    keys = [key for keys in issued for key in keys]
    assert len(keys) > 100, "the soak made too few calls to mean anything"
    assert len(set(keys)) == len(keys)
    assert counter.untagged == 0
    missing = [key for key in keys if counter.ops[key] == 0]
    doubled = [key for key, count in counter.ops.items() if count != 1]
    assert missing == [], f"{len(missing)} calls without a migration.op event"
    assert doubled == [], f"{len(doubled)} calls with more than one migration.op event"
    assert sum(counter.ops.values()) == len(keys)
    print(f"soak: {len(keys)} calls, {counter.events} events, migratekit memory "
          f"{warm} -> {after} bytes")
    assert after - warm < MEMORY_GROWTH_LIMIT, (
        f"migratekit kept {after - warm} more bytes after {len(keys)} calls"
    )
