"""
Write safety under load: many threads and many asyncio tasks writing through
the stages that write both sides, with sides that fail at random (seeded).

Afterwards the non-authoritative store holds nothing the authoritative store
refused, every caller got its authoritative side's outcome, and every call
has exactly one ``migration.op`` event (none lost, none doubled) whose
results agree with it. Events are collected by a thread-safe processor that
drops them after recording; each call binds its own key in structlog's
contextvars, so every event can be traced back to the call that made it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from typing import Any

import pytest
import structlog

import migratekit
from migratekit import Stage, configure, migration
from migratekit.providers import StaticStageProvider

OLD, NEW = "old", "new"
AUTHORITATIVE = {Stage.DUALWRITE: OLD, Stage.SHADOW: OLD, Stage.LIVE: NEW, Stage.RAMPDOWN: NEW}
WRITE_BOTH = list(AUTHORITATIVE)

THREADS = 12
CALLS_PER_THREAD = 40
TASKS = 300
JOIN_TIMEOUT = 60.0


class Collector:
    """A structlog processor that records every event under a lock, then drops it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def __call__(self, logger: Any, method: str, event: Any) -> Any:
        with self.lock:
            self.events.append(dict(event))
        raise structlog.DropEvent

    def install(self) -> None:
        structlog.configure(processors=[structlog.contextvars.merge_contextvars, self])


class SideFailed(Exception):
    """A side told to fail."""


class Stores:
    """Two dict stores and a seeded plan of which side fails for which key."""

    def __init__(self, seed: int, keys: list[str]) -> None:
        rng = random.Random(seed)
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, Any]] = {OLD: {}, NEW: {}}
        self.fails = {key: {OLD: rng.random() < 0.3, NEW: rng.random() < 0.3} for key in keys}
        self.errors = {key: {OLD: SideFailed(f"old {key}"), NEW: SideFailed(f"new {key}")}
                       for key in keys}
        self.receipts = {key: {OLD: object(), NEW: object()} for key in keys}
        self.calls: Counter[tuple[str, str]] = Counter()

    def write(self, origin: str, key: str, value: Any) -> Any:
        with self.lock:
            self.calls[(key, origin)] += 1
        if self.fails[key][origin]:
            raise self.errors[key][origin]
        with self.lock:
            self.data[origin][key] = value
        return self.receipts[key][origin]


def check(stage: Stage, stores: Stores, outcomes: dict[str, Any], events: list[dict[str, Any]],
          keys: list[str]) -> None:
    """Stores, callers' outcomes and events agree with the stage table for every call."""
    auth = AUTHORITATIVE[stage]
    second = NEW if auth == OLD else OLD
    assert sorted(outcomes) == sorted(keys), "every call finished"
    for key in keys:
        fails = stores.fails[key]
        # The promise: nothing the authoritative store refused is in the other one.
        if key not in stores.data[auth]:
            assert key not in stores.data[second], key
            assert stores.calls[(key, second)] == 0, key
        assert (key in stores.data[auth]) is (not fails[auth])
        assert (key in stores.data[second]) is (not fails[auth] and not fails[second])
        assert stores.calls[(key, auth)] == 1
        kind, got = outcomes[key]
        if fails[auth]:
            assert kind == "raised"
            assert got is stores.errors[key][auth]
        else:
            assert kind == "value"
            assert got is stores.receipts[key][auth]

    ops = [e for e in events if e["event"] == "migration.op"]
    per_key = Counter(e["key"] for e in ops)
    assert per_key == Counter(keys), "exactly one op per call: none lost, none doubled"
    ids = Counter(e["call_id"] for e in ops)
    assert len(ids) == len(keys)
    assert max(ids.values()) == 1
    results: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["event"] == "migration.result":
            results.setdefault(event["call_id"], []).append(event)
    for op in ops:
        fails = stores.fails[op["key"]]
        expected = [auth] if fails[auth] else [auth, second]
        assert op["invoked"] == expected
        assert op["stage"] == stage.value
        mine = results.get(op["call_id"], [])
        assert [(r["origin"], r["ok"], r["key"]) for r in mine] == [
            (origin, not fails[origin], op["key"]) for origin in expected
        ]
    assert len(events) == len(ops) + sum(len(r) for r in results.values())


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
def test_threads_writing_at_once(stage: Stage) -> None:
    """Many threads writing together: no divergence, right outcomes, one op per call."""
    keys = [f"t{t}-{i}" for t in range(THREADS) for i in range(CALLS_PER_THREAD)]
    stores = Stores(seed=1000 + list(Stage).index(stage), keys=keys)
    collector = Collector()
    collector.install()

    def new(key: str, value: Any) -> Any:
        return stores.write(NEW, key, value)

    @migration.write(new=new, name="load.write", provider=StaticStageProvider(stage))
    def write(key: str, value: Any) -> Any:
        return stores.write(OLD, key, value)

    outcomes: dict[str, Any] = {}
    outcomes_lock = threading.Lock()
    barrier = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)
    crashes: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(CALLS_PER_THREAD):
                key = f"t{t}-{i}"
                structlog.contextvars.bind_contextvars(key=key)
                try:
                    outcome: Any = ("value", write(key, {"v": i}))
                except SideFailed as exc:
                    outcome = ("raised", exc)
                with outcomes_lock:
                    outcomes[key] = outcome
        except BaseException as exc:  # reported by the main thread
            crashes.append(exc)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not [t for t in threads if t.is_alive()], "a writer thread is stuck"
    assert crashes == []
    check(stage, stores, outcomes, collector.events, keys)


@pytest.mark.parametrize("stage", WRITE_BOTH, ids=[s.value for s in WRITE_BOTH])
async def test_tasks_writing_at_once(stage: Stage) -> None:
    """Many asyncio tasks writing together, interleaving inside sides: the same guarantees."""
    keys = [f"a{i}" for i in range(TASKS)]
    stores = Stores(seed=2000 + list(Stage).index(stage), keys=keys)
    collector = Collector()
    collector.install()
    gate = asyncio.Event()

    async def new(key: str, value: Any) -> Any:
        await asyncio.sleep(0)
        return stores.write(NEW, key, value)

    @migration.write(new=new, name="load.awrite", provider=StaticStageProvider(stage))
    async def write(key: str, value: Any) -> Any:
        await asyncio.sleep(0)
        return stores.write(OLD, key, value)

    async def one(key: str) -> tuple[str, Any]:
        structlog.contextvars.bind_contextvars(key=key)
        await gate.wait()  # every task is parked here before any writes
        try:
            return key, ("value", await write(key, {"k": key}))
        except SideFailed as exc:
            return key, ("raised", exc)

    tasks = [asyncio.create_task(one(key)) for key in keys]
    await asyncio.sleep(0)
    gate.set()
    done = await asyncio.wait_for(asyncio.gather(*tasks), JOIN_TIMEOUT)
    assert await migratekit.adrain(JOIN_TIMEOUT)
    check(stage, stores, dict(done), collector.events, keys)


@pytest.mark.parametrize("options", [
    {"execution_order": "parallel"},
    {"shadow_timeout": 30},
    {"shadow": "background"},
], ids=["parallel", "timeout", "background"])
def test_threads_reading_through_a_small_pool(options: dict[str, Any]) -> None:
    """Reads offloaded to a 2-worker pool from many threads: one op per call, none lost."""
    configure(shadow_workers=2, shadow_queue_size=4)
    collector = Collector()
    collector.install()
    rng = random.Random(7)
    fails = {f"r{t}-{i}": rng.random() < 0.2 for t in range(THREADS) for i in range(20)}

    def new(key: str) -> str:
        if fails[key]:
            raise SideFailed(key)
        return key

    @migration(new=new, name="load.read", provider=StaticStageProvider("shadow"), **options)
    def read(key: str) -> str:
        return key

    barrier = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)
    wrong: list[Any] = []

    def worker(t: int) -> None:
        barrier.wait()
        for i in range(20):
            key = f"r{t}-{i}"
            structlog.contextvars.bind_contextvars(key=key)
            got = read(key)
            if got != key:
                wrong.append((key, got))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not [t for t in threads if t.is_alive()], "a reader thread is stuck"
    assert migratekit.drain(JOIN_TIMEOUT)
    assert wrong == []
    ops = [e for e in collector.events if e["event"] == "migration.op"]
    assert Counter(e["key"] for e in ops) == Counter(list(fails)), "one op per call"
    for op in ops:
        if op.get("shadow_dropped"):
            assert op["invoked"] == ["old"]
            continue
        assert op["invoked"] == ["old", "new"]
        if not fails[op["key"]]:
            # a shadow that ran must have agreed, unless a busy pool made it time out
            assert op["consistent"] in (True, None)
