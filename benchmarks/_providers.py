"""
Each stage provider's cost per call: ``provider.get_stage(name, None)``.

The file, Redis and cached providers are optional: a row whose provider is not
in this build (or whose Redis server cannot be started) is printed with the
reason instead of a figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._cases import variable
from benchmarks._harness import Case
from migratekit.providers import EnvStageProvider, StaticStageProvider

__all__ = ["RedisServer", "provider_cases"]

GROUP = "stage providers, get_stage()"
NAME = "bench.provider"


class RedisServer:
    """A throw-away ``redis-server`` on a free local port, stopped by :meth:`stop`."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.problem: str | None = None

    def start(self) -> Any:
        """A connected ``redis.Redis`` client, or ``None`` (see :attr:`problem`)."""
        try:
            import redis  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            self.problem = "the redis package is not installed (pip install redis)"
            return None
        binary = shutil.which("redis-server")
        if binary is None:
            self.problem = "no redis-server on PATH"
            return None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 5
        while not _answers(client, redis.exceptions.ConnectionError):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.problem = "redis-server did not start"
                self.stop()
                return None
            time.sleep(0.02)
        return client

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self.process = None


def _answers(client: Any, error: type[Exception]) -> bool:
    try:
        client.ping()
    except error:
        return False
    return True


def _attempt(factory: Callable[[], Any]) -> tuple[Any, str | None]:
    """The provider *factory* builds, or ``None`` and why it could not be built."""
    try:
        return factory(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:160]


def _optional(name: str) -> Any:
    from migratekit import providers

    return getattr(providers, name, None)


def provider_cases(workdir: Path, redis_server: RedisServer) -> list[Case]:
    os.environ[variable(NAME)] = "shadow"
    cases = [
        Case("EnvStageProvider, variable set", GROUP, "p.get_stage(n, None)",
             {"p": EnvStageProvider(), "n": NAME}, logging="dropped"),
        Case("EnvStageProvider, nothing set", GROUP, "p.get_stage(n, None)",
             {"p": EnvStageProvider(), "n": "bench.provider.unset"}, logging="dropped"),
        Case("StaticStageProvider, one stage", GROUP, "p.get_stage(n, None)",
             {"p": StaticStageProvider("shadow"), "n": NAME}, logging="dropped"),
        Case("StaticStageProvider, mapping", GROUP, "p.get_stage(n, None)",
             {"p": StaticStageProvider({NAME: "shadow"}), "n": NAME}, logging="dropped"),
    ]

    file_class = _optional("FileStageProvider")
    if file_class is None:
        cases.append(Case("FileStageProvider", GROUP, "", skip="not in migratekit.providers yet"))
    else:
        path = workdir / "stages.json"
        path.write_text(json.dumps({NAME: "shadow"}), encoding="utf-8")
        provider, problem = _attempt(lambda: file_class(path))
        cases.append(_provider_case("FileStageProvider (JSON file)", provider, problem))

    redis_class = _optional("RedisStageProvider")
    cached_class = _optional("CachedStageProvider")
    if redis_class is None:
        cases.append(Case("RedisStageProvider", GROUP, "",
                          skip="not in migratekit.providers yet"))
    if cached_class is None:
        cases.append(Case("CachedStageProvider(RedisStageProvider)", GROUP, "",
                          skip="not in migratekit.providers yet"))
    if redis_class is not None:
        client = redis_server.start()
        if client is None:
            skip = f"no Redis to talk to: {redis_server.problem}"
            cases.append(Case("RedisStageProvider", GROUP, "", skip=skip))
            if cached_class is not None:
                cases.append(Case("CachedStageProvider(RedisStageProvider)", GROUP, "",
                                  skip=skip))
            return cases
        redis_provider, problem = _attempt(lambda: redis_class(client))
        if redis_provider is not None and hasattr(redis_provider, "set_stage"):
            redis_provider.set_stage(NAME, "shadow")
        cases.append(_provider_case("RedisStageProvider, ttl 1 s (its own cache)",
                                    redis_provider, problem))
        uncached, problem = _attempt(lambda: redis_class(client, ttl=1e-9))
        cases.append(_provider_case("RedisStageProvider, ttl 1 ns (MGET every call)",
                                    uncached, problem))
        if cached_class is not None:
            if uncached is None:
                cases.append(Case("CachedStageProvider(RedisStageProvider)", GROUP, "",
                                  skip="no RedisStageProvider to cache"))
            else:
                cached, problem = _attempt(lambda: cached_class(uncached))
                cases.append(_provider_case(
                    "CachedStageProvider(RedisStageProvider ttl 1 ns), hit", cached, problem))
    return cases


def _provider_case(label: str, provider: Any, problem: str | None) -> Case:
    if provider is None:
        return Case(label, GROUP, "", skip=f"could not build it: {problem}")
    try:
        answer = provider.get_stage(NAME, None)
    except Exception as exc:
        return Case(label, GROUP, "", skip=f"get_stage raised {type(exc).__name__}: {exc}")
    shown = getattr(answer, "value", answer)
    return Case(label, GROUP, "p.get_stage(n, None)", {"p": provider, "n": NAME},
                logging="dropped", note=f"answers {shown!r}")
