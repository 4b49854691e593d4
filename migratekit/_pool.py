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
import atexit
import contextlib
import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = [
    "ShadowFuture",
    "ShadowPool",
    "adrain",
    "drain",
    "pool",
    "pool_queue_size",
    "resize",
    "spawn",
]

DEFAULT_WORKERS = 8
DEFAULT_QUEUE_SIZE = 1024


class ShadowPool:
    """A fixed set of daemon worker threads with a bounded number of outstanding tasks."""

    def __init__(
        self, workers: int = DEFAULT_WORKERS, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.workers = workers
        self.queue_size = queue_size
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._outstanding = 0
        self._closed = False

    @property
    def outstanding(self) -> int:
        """Tasks submitted and neither finished nor taken back yet."""
        return self._outstanding

    @property
    def threads(self) -> int:
        """Worker threads alive (never more than :attr:`workers`)."""
        return len(self._threads)

    def submit(self, fn: Callable[[], Any]) -> ShadowFuture | None:
        """
        Run *fn* on a worker, in a copy of the caller's context (so that
        structlog's contextvars still reach the events); ``None`` when
        :attr:`queue_size` tasks are already outstanding.

        A task that no worker has started yet can be taken back with
        :meth:`ShadowFuture.claim`, so that whoever waits for it can run it
        itself rather than wait behind a queue.
        """
        task: _Task = (ShadowFuture(self), contextvars.copy_context(), fn)
        with self._lock:
            if self._closed:  # resized away while the caller held it: the current pool
                closed = True
            else:
                closed = False
                if self._outstanding >= self.queue_size:
                    return None
                self._outstanding += 1
                if len(self._threads) < self.workers:
                    self._start_worker()
                self._tasks.put(task)
        if closed:
            return pool().submit(fn)
        return task[0]

    def _done(self) -> None:
        with self._lock:
            self._outstanding -= 1
            if not self._outstanding:
                self._idle.notify_all()

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
            task = self._tasks.get()
            if task is None:  # close(): the work queued before it is done
                with self._lock:
                    self._threads.remove(threading.current_thread())
                return
            future, context, fn = task
            # A task taken back by ShadowFuture.claim() was counted off there.
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(context.run(fn))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
                self._done()
            del task, future, context, fn  # an idle worker keeps nothing alive

    def close(self) -> None:
        """
        Take no more work: each worker finishes what was queued before and
        exits. A later :meth:`submit` goes to the process's current pool.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._tasks.put(None)

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


class ShadowFuture(Future[Any]):
    """The future of a task on a :class:`ShadowPool`, which knows its pool."""

    def __init__(self, pool: ShadowPool) -> None:
        super().__init__()
        self._pool = pool

    def claim(self) -> bool:
        """
        Take the task back if no worker has started it: ``True`` when it will
        not run on the pool (the caller runs it, or records it as not run).
        The pool it is counted off is the one that queued it, which is not
        the pool the caller asked when that one was resized meanwhile.
        """
        if not self.cancel():
            return False
        self._pool._done()
        return True


_Task = tuple[ShadowFuture, contextvars.Context, Callable[[], Any]]


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
            # The old pool's workers finish what was queued and then exit; new
            # work goes to a pool of the new size. drain() still waits for the
            # old one until its work is done.
            _pool.close()
            if _pool.outstanding:
                _retired.append(_pool)
            _pool = None


def pool_queue_size() -> int:
    """How many background shadows may be outstanding (threads and async tasks alike)."""
    return _pool_size[1]


def pool_workers() -> int:
    """How many worker threads the shadow pool runs at most."""
    return _pool_size[0]




# -- async background shadows --------------------------------------------------
#
# In async code a background shadow is a task on the running loop. The sets
# below keep a strong reference (the loop holds only weak ones) and bound how
# many may be outstanding, like the thread pool's queue. A loop closed with
# some of them still pending (run_until_complete() then close(), without
# adrain()) never finishes them: they are let go, so that they neither count
# against the bound nor stay alive for good, and a task that asked to be told
# (the second side of a cancelled write) reports that it never finished. The
# tasks are kept by loop, since loops are few: finding the closed ones is a
# look at each loop, done whenever a loop starts shadowing and when the
# bound is reached.

_tasks: dict[asyncio.AbstractEventLoop, set[asyncio.Task[Any]]] = {}
_on_abandon: dict[asyncio.Task[Any], Callable[[], None]] = {}
_tasks_lock = threading.Lock()


def track(task: asyncio.Task[Any], on_abandon: Callable[[], None] | None = None) -> None:
    """
    Keep *task* alive and count it as outstanding shadow work until it is
    done; *on_abandon* is called if its event loop closes first.
    """
    loop = task.get_loop()
    abandoned: list[Callable[[], None] | None] = []
    with _tasks_lock:
        tasks = _tasks.get(loop)
        if tasks is None:
            abandoned = _let_go_of_closed_loops()
            tasks = _tasks[loop] = set()
        tasks.add(task)
        if on_abandon is not None:
            _on_abandon[task] = on_abandon
    task.add_done_callback(_forget)
    _tell(abandoned)


def _forget(task: asyncio.Task[Any]) -> None:
    loop = task.get_loop()
    with _tasks_lock:
        tasks = _tasks.get(loop)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del _tasks[loop]
        _on_abandon.pop(task, None)


def _let_go_of_closed_loops() -> list[Callable[[], None] | None]:
    # Called with _tasks_lock held; what to tell is told once it is released.
    closed = [loop for loop in _tasks if loop.is_closed()]
    abandoned: list[Callable[[], None] | None] = []
    for loop in closed:
        abandoned.extend(_on_abandon.pop(task, None) for task in _tasks.pop(loop))
    return abandoned


def _tell(abandoned: list[Callable[[], None] | None]) -> None:
    for callback in abandoned:
        if callback is not None:
            with contextlib.suppress(Exception):  # a report, never a reason to fail
                callback()


def prune() -> None:
    """Let go of the tasks whose event loop closed before they finished."""
    with _tasks_lock:
        abandoned = _let_go_of_closed_loops()
    _tell(abandoned)


def outstanding_tasks(loop: asyncio.AbstractEventLoop | None = None) -> int:
    """Background tasks outstanding: on *loop*, or on every loop."""
    with _tasks_lock:
        if loop is not None:
            return len(_tasks.get(loop, ()))
        return sum(len(tasks) for tasks in _tasks.values())


def spawn(coro_factory: Callable[[], Any], limit: int,
          on_abandon: Callable[[], None] | None = None) -> bool:
    """
    Start ``coro_factory()`` as a task on the running loop, tracked (see
    :func:`track`); ``False`` when *limit* are out.
    """
    if outstanding_tasks() >= limit:
        prune()
        if outstanding_tasks() >= limit:
            return False
    track(asyncio.get_running_loop().create_task(coro_factory()), on_abandon)
    return True


atexit.register(prune)


def _after_fork() -> None:
    # A child process inherits the pool object but none of its threads, and
    # the parent's tasks, whose loops it does not run; a lock may have been
    # held by a thread that the child does not have.
    global _pool, _pool_lock, _tasks_lock  # noqa: PLW0603
    _pool = None
    _retired.clear()
    _pool_lock = threading.Lock()
    _tasks.clear()
    _on_abandon.clear()
    _tasks_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch
    os.register_at_fork(after_in_child=_after_fork)


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
        with _tasks_lock:
            mine = list(_tasks.get(loop, ()))
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
