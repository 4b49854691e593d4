"""
The shared, bounded pool that runs shadow reads off the caller's thread.

One pool serves every migration in the process: a fixed number of daemon
worker threads, started on first use, and a bounded count of outstanding
tasks. Nothing here creates a thread per call (LaunchDarkly's SDK builds a
two-thread pool on every parallel read), and nothing ever blocks the caller:
when the bound is reached, :meth:`ShadowPool.submit` answers ``None`` and the
caller decides (run inline, record a timeout, or drop a background shadow).

The workers are daemon threads on purpose: a shadow read that hangs must not
keep the process from exiting. Use :func:`migratekit.drain` at shutdown to let
outstanding shadow work finish first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["ShadowPool", "adrain", "drain", "pool", "pool_queue_size", "resize", "spawn"]

DEFAULT_WORKERS = 8
DEFAULT_QUEUE_SIZE = 1024


class ShadowPool:
    """A fixed set of daemon worker threads with a bounded number of outstanding tasks."""

    def __init__(
        self, workers: int = DEFAULT_WORKERS, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.workers = workers
        self.queue_size = queue_size
        self._tasks: queue.SimpleQueue[tuple[Future[Any], contextvars.Context, Callable[[], Any]]]
        self._tasks = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._outstanding = 0

    @property
    def outstanding(self) -> int:
        """Tasks submitted and not finished yet."""
        return self._outstanding

    @property
    def threads(self) -> int:
        """Worker threads started so far (never more than :attr:`workers`)."""
        return len(self._threads)

    def submit(self, fn: Callable[[], Any]) -> Future[Any] | None:
        """
        Run *fn* on a worker, in a copy of the caller's context (so that
        structlog's contextvars still reach the events); ``None`` when
        :attr:`queue_size` tasks are already outstanding.
        """
        with self._lock:
            if self._outstanding >= self.queue_size:
                return None
            self._outstanding += 1
            if len(self._threads) < self.workers:
                self._start_worker()
        future: Future[Any] = Future()
        self._tasks.put((future, contextvars.copy_context(), fn))
        return future

    def _start_worker(self) -> None:
        # Workers start one per submission up to the bound: a process that
        # never shadows in the background never starts one.
        thread = threading.Thread(
            target=self._work, name=f"migratekit-shadow-{len(self._threads) + 1}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            future, context, fn = self._tasks.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(context.run(fn))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
            with self._lock:
                self._outstanding -= 1
                if not self._outstanding:
                    self._idle.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until no task is outstanding; ``False`` if *timeout* seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._outstanding:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


_pool: ShadowPool | None = None
_retired: list[ShadowPool] = []  # replaced by resize() with work still outstanding
_pool_lock = threading.Lock()
_pool_size = (DEFAULT_WORKERS, DEFAULT_QUEUE_SIZE)


def pool() -> ShadowPool:
    """The process-wide shadow pool, created on first use."""
    current = _pool
    if current is not None:
        return current
    return _create_pool()


def _create_pool() -> ShadowPool:
    global _pool  # noqa: PLW0603 - one pool per process, by design
    with _pool_lock:
        if _pool is None:
            _pool = ShadowPool(*_pool_size)
        return _pool


def resize(workers: int, queue_size: int) -> None:
    """Use *workers* threads and *queue_size* outstanding tasks from now on."""
    global _pool, _pool_size  # noqa: PLW0603
    with _pool_lock:
        _pool_size = (workers, queue_size)
        if _pool is not None and (_pool.workers, _pool.queue_size) != _pool_size:
            # The old pool's workers finish what they hold and then idle; new
            # work goes to a pool of the new size. drain() still waits for the
            # old one until its work is done.
            if _pool.outstanding:
                _retired.append(_pool)
            _pool = None


def pool_queue_size() -> int:
    """How many background shadows may be outstanding (threads and async tasks alike)."""
    return _pool_size[1]


def pool_workers() -> int:
    """How many worker threads the shadow pool runs at most."""
    return _pool_size[0]


def _after_fork() -> None:
    # A child process inherits the pool object but none of its threads.
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _retired.clear()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch
    os.register_at_fork(after_in_child=_after_fork)


# -- async background shadows --------------------------------------------------
#
# In async code a background shadow is a task on the running loop. The set
# keeps a strong reference (the loop holds only weak ones) and bounds how many
# may be outstanding, like the thread pool's queue.

_tasks: set[asyncio.Task[Any]] = set()


def track(task: asyncio.Task[Any]) -> None:
    """Keep *task* alive and count it as outstanding shadow work until it is done."""
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def spawn(coro_factory: Callable[[], Any], limit: int) -> bool:
    """Start ``coro_factory()`` as a task on the running loop; ``False`` when *limit* are out."""
    if len(_tasks) >= limit:
        return False
    track(asyncio.get_running_loop().create_task(coro_factory()))
    return True


def drain(timeout: float | None = None) -> bool:
    """
    Wait for the outstanding background shadow work of threads; ``True``
    when all of it finished, ``False`` when *timeout* seconds passed first.

    Call it at shutdown, and in tests before looking at the events of
    background shadows. In async code use :func:`adrain`.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    for old in list(_retired):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not old.drain(remaining):
            return False
        with contextlib.suppress(ValueError):  # another thread may have removed it
            _retired.remove(old)
    current = _pool
    if current is None:
        return True
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    return current.drain(remaining)


async def adrain(timeout: float | None = None) -> bool:
    """
    Wait for the outstanding background shadow tasks of the running event
    loop, and for those of threads; ``False`` when *timeout* seconds passed first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    loop = asyncio.get_running_loop()
    while True:
        mine = [task for task in _tasks if task.get_loop() is loop]
        if not mine:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        await asyncio.wait(mine, timeout=remaining)
    if not _retired and (_pool is None or not _pool.outstanding):
        return True
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    return await asyncio.to_thread(drain, remaining)
