"""
Helpers of the provider tests: a real redis-server, started on a free loopback
port in a temporary folder; and a check run in a forked child process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 20.0


def require(what: str, reason: str) -> None:
    """Skip the test for *reason* outside CI; fail it in CI, where *what* must be installed."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI: {reason}; .ci/run must install it")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process the test owns: started, killed and restarted on one port."""

    def __init__(self, binary: str, folder: Path, password: str | None = None) -> None:
        self.binary = binary
        self.folder = folder
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL of this server, with its password if it has one."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        log = (self.folder / "redis.log").open("ab")
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.folder / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited at start:\n{text[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    reply = sock.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"redis-server did not answer on port {self.port} within {START_TIMEOUT}s"
        )

    def kill(self) -> None:
        """Kill the server (SIGKILL: no goodbye to its clients) and wait for it to go."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=START_TIMEOUT)
        self.process = None


@pytest.fixture
def redis_binary() -> str:
    """The path of redis-server; skips (fails in CI) when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        require("redis-server", "redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    try:
        import redis  # noqa: F401
    except ImportError:
        require("redis", "the redis package is missing: pip install 'migratekit[redis]'")
    return binary


@pytest.fixture
def redis_server(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server without a password, killed after the test."""
    server = RedisServer(redis_binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


FORK_TIMEOUT = 10.0


def in_forked_child(check: Callable[[], object], timeout: float = FORK_TIMEOUT) -> str:
    """
    Run *check* in a child made by ``os.fork()``, now: what it returned, as
    ``repr`` sent back through a pipe, or why it gave nothing (it raised, or
    was still running after *timeout* seconds and was killed).
    """
    if not hasattr(os, "fork"):
        pytest.skip("os.fork() is not available on this platform")
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock
        # the child: forking in the middle of another thread's work is the test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, whose coverage is not kept
        os.close(read_end)
        try:
            answer = repr(check())
        except BaseException as exc:
            answer = f"raised {exc!r}"
        os.write(write_end, answer.encode("utf-8", "backslashreplace"))
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                with os.fdopen(read_end, "rb", closefd=False) as pipe:
                    return pipe.read().decode("utf-8") or "no answer (the child died)"
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return f"no answer within {timeout}s (the child hung and was killed)"
    finally:
        os.close(read_end)
