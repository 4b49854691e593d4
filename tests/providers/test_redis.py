"""Tests of RedisStageProvider against a real redis-server started by the tests."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import ConfigurationError, Stage, migration
from migratekit._resolve import resolve_stage
from migratekit.providers import FallbackStageProvider, RedisStageProvider, StaticStageProvider
from tests._redis import (
    RedisServer,
    free_port,
    in_forked_child,
    redis_binary,
    redis_server,
    require,
)

__all__ = ["redis_binary", "redis_server"]  # fixtures, imported to be found by pytest

POLL_SECONDS = 30.0


@pytest.fixture
def redis_module() -> Any:
    """The redis package; skipped (failed in CI) when it is not installed."""
    try:
        import redis
    except ImportError:
        require("redis", "the redis package is missing: pip install 'migratekit[redis]'")
    return redis


@pytest.fixture
def password_server(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server that requires a password."""
    server = RedisServer(redis_binary, tmp_path, password="s3cret-pw")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def decorated(name: str, provider: Any) -> Any:
    """A write migration: returns "new" when the new side is authoritative."""

    @migration.write(new=lambda: "new", name=name, provider=provider)
    def write() -> str:
        return "old"

    return write


def poll(check: Any) -> bool:
    """Call *check* until it is true or the poll times out."""
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_reads_the_stage_of_a_name_and_the_default_key(redis_server: RedisServer) -> None:
    """<prefix><name> sets one migration, <prefix>* the others; nothing set means no opinion."""
    provider = RedisStageProvider(redis_server.url, ttl=3600)
    assert provider.get_stage("users.get") is None
    provider.set_stage("users.get", "Shadow")
    provider.set_stage("*", Stage.DUALWRITE)
    assert provider.get_stage("users.get") is Stage.SHADOW
    assert provider.get_stage("orders.save") is Stage.DUALWRITE
    assert provider.stages() == {"*": "dualwrite", "users.get": "shadow"}
    provider.close()


def test_one_process_sees_another_set_the_stage(redis_server: RedisServer) -> None:
    """A stage set through one provider reaches another within its TTL."""
    reader = RedisStageProvider(redis_server.url, ttl=0.05)
    writer = RedisStageProvider(redis_server.url)
    read = decorated("users.get", reader)
    assert read() == "old"
    writer.set_stage("users.get", "live")
    assert poll(lambda: read() == "new")
    assert writer.delete_stage("users.get") is True
    assert poll(lambda: read() == "old")


def test_cached_within_ttl(redis_server: RedisServer, redis_module: Any) -> None:
    """Within the TTL the provider does not ask Redis again."""
    provider = RedisStageProvider(redis_server.url, ttl=3600)
    provider.set_stage("m", "live")
    assert provider.get_stage("m") is Stage.LIVE
    redis_module.Redis.from_url(redis_server.url).set(provider.key_for("m"), "off")
    assert provider.get_stage("m") is Stage.LIVE


def test_garbage_value_gives_the_default_once(
    redis_server: RedisServer, redis_module: Any
) -> None:
    """A key holding no stage: default stage, one event naming key and value, caller unharmed."""
    client = redis_module.Redis.from_url(redis_server.url)
    client.set("migratekit:stage:users.get", b"banana\xff")
    provider = RedisStageProvider(redis_server.url, ttl=0.01)
    read = decorated("users.get", provider)
    with capture_logs() as logs:
        results = [read() for _ in range(200)]
    assert results == ["old"] * 200
    (error,) = stage_errors(logs)
    assert error["source"].endswith("migratekit:stage:users.get")
    assert error["value"].startswith("banana")
    assert "is not a stage" in error["error"]
    client.close()


def test_killed_and_restarted_redis(redis_server: RedisServer, redis_module: Any) -> None:
    """Killed: last stage kept (or default), one event each; restarted: recovers by itself."""
    provider = RedisStageProvider(redis_server.url, ttl=0.05, timeout=0.5)
    provider.set_stage("users.get", "live")
    known = decorated("users.get", provider)
    never_read = decorated("orders.save", provider)
    assert known() == "new"

    redis_server.kill()
    with capture_logs() as logs:
        deadline = time.monotonic() + 1.0
        calls = 0
        while time.monotonic() < deadline or calls < 20:
            assert known() == "new"
            assert never_read() == "old"
            calls += 1
            time.sleep(0.01)
    errors = stage_errors(logs)
    assert sorted((e["migration"], e["stage"]) for e in errors) == [
        ("orders.save", "off"),
        ("users.get", "live"),
    ]
    assert all("unreachable" in e["error"] for e in errors)

    redis_server.start()  # same port, empty: it kept nothing on disk
    client = redis_module.Redis.from_url(redis_server.url)
    client.set("migratekit:stage:users.get", "complete")
    client.set("migratekit:stage:orders.save", "shadow")
    with capture_logs() as logs:
        assert poll(lambda: resolve_stage(provider, "users.get", None) is Stage.COMPLETE)
        assert poll(lambda: resolve_stage(provider, "orders.save", None) is Stage.SHADOW)
    assert stage_errors(logs) == []
    client.close()

    redis_server.kill()  # a second outage, after the recovery, is reported again
    with capture_logs() as logs:
        assert poll(lambda: known() == "new" and bool(stage_errors(logs)))
    assert [e["migration"] for e in stage_errors(logs)] == ["users.get"]
    assert stage_errors(logs)[0]["stage"] == "complete"


def test_unreachable_from_the_start_never_reaches_the_caller() -> None:
    """Nothing listening: every call gets the default stage, one event, no exception."""
    pytest.importorskip("redis")
    provider = RedisStageProvider(f"redis://127.0.0.1:{free_port()}/0", ttl=0.05)
    read = decorated("users.get", provider)
    with capture_logs() as logs:
        assert [read() for _ in range(100)] == ["old"] * 100
    (error,) = stage_errors(logs)
    assert error["stage"] == "off"
    assert error["exc_type"] == "StageError"


def test_messages_fit_an_event_with_the_fix_whole(
    redis_server: RedisServer, redis_module: Any
) -> None:
    """A long key and value are cut in their middle; the command that fixes it stays whole."""
    name = "n" * 300
    client = redis_module.Redis.from_url(redis_server.url)
    client.set(f"migratekit:stage:{name}", "banana" * 100)
    provider = RedisStageProvider(redis_server.url)
    with capture_logs() as logs:
        assert resolve_stage(provider, name, None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert len(error["error"]) <= 200
    assert error["error"].endswith(" STAGE --redis URL")
    assert "which is not a stage (off, dualwrite, shadow, live, rampdown, complete" in (
        error["error"]
    )
    client.close()


def test_fallback_takes_over_while_redis_is_down() -> None:
    """Behind a fallback chain, a dead Redis is reported and the next provider answers."""
    pytest.importorskip("redis")
    chain = FallbackStageProvider(
        RedisStageProvider(f"redis://127.0.0.1:{free_port()}/0"), StaticStageProvider("shadow")
    )
    with capture_logs() as logs:
        assert resolve_stage(chain, "m", None) is Stage.SHADOW
    (error,) = stage_errors(logs)
    assert error["provider"] == "RedisStageProvider"
    assert error["stage"] == "shadow"


def test_password_in_url_is_used_and_never_shown(password_server: RedisServer) -> None:
    """A password URL authenticates; repr, events and sources never show the password."""
    provider = RedisStageProvider(password_server.url, ttl=0.05)
    provider.set_stage("m", "rampdown")
    assert provider.get_stage("m") is Stage.RAMPDOWN
    assert "s3cret-pw" not in repr(provider)
    wrong = RedisStageProvider(password_server.url.replace("s3cret-pw", "wrong-pw"))
    with capture_logs() as logs:
        assert resolve_stage(wrong, "m", None) is Stage.OFF
    password_server.kill()
    with capture_logs() as more:
        assert poll(lambda: resolve_stage(provider, "m", None) is Stage.RAMPDOWN)
        time.sleep(0.1)
        assert resolve_stage(provider, "m", None) is Stage.RAMPDOWN
    events = stage_errors(logs) + stage_errors(more)
    assert len(events) == 2
    assert all("pw" not in str(e) for e in events)
    assert all(":***@" in e["source"] for e in events)


def test_rediss_url_uses_tls_and_is_redacted(redis_module: Any) -> None:
    """rediss:// makes a TLS connection class; the password is redacted."""
    provider = RedisStageProvider("rediss://user:hunter2@127.0.0.1:1/0?password=hunter2")
    assert "SSL" in provider.client.connection_pool.connection_class.__name__
    assert "hunter2" not in provider.where
    assert provider.where == "rediss://***:***@127.0.0.1:1/0"


def test_a_client_of_your_own(redis_server: RedisServer, redis_module: Any) -> None:
    """A redis.Redis client answering bytes is accepted; its source names host and port."""
    client = redis_module.Redis(host="127.0.0.1", port=redis_server.port)
    client.set("app:stage:m", b"Live")
    provider = RedisStageProvider(client, prefix="app:stage:")
    assert provider.get_stage("m") is Stage.LIVE
    assert provider.where == f"redis://127.0.0.1:{redis_server.port}/0"
    assert provider.stages() == {"m": "Live"}
    client.close()


def test_prefix_with_glob_characters_is_listed_literally(redis_server: RedisServer) -> None:
    """stages() matches the prefix literally, even with glob characters in it."""
    odd = RedisStageProvider(redis_server.url, prefix="a*[x]:")
    other = RedisStageProvider(redis_server.url, prefix="abc[x]:")
    odd.set_stage("m", "live")
    other.set_stage("n", "off")
    assert odd.stages() == {"m": "live"}


def test_bad_arguments_fail_at_once(redis_module: Any) -> None:
    """A wrong scheme, a non-client, a bad ttl or stage raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match=r"redis://, rediss:// or unix://"):
        RedisStageProvider("http://:pw@localhost:6379")
    with pytest.raises(TypeError, match=r"expected a Redis URL or a redis\.Redis client"):
        RedisStageProvider(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'ttl' must be a number of seconds above 0"):
        RedisStageProvider("redis://localhost", ttl=0)
    with pytest.raises(ConfigurationError, match="must name a stage"):
        RedisStageProvider("redis://localhost").set_stage("m", "banana")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the redis package the error names pip install 'migratekit[redis]'."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'migratekit\[redis\]'"):
        RedisStageProvider("redis://localhost:6379/0")


# -- URLs, clients of your own, listing, and a refresh in progress -------------------------------


def test_unparsable_url_is_a_configuration_error(redis_module: Any) -> None:
    """A URL that cannot be parsed is refused at once, and the message does not repeat it."""
    with pytest.raises(ConfigurationError, match="redis://<unparseable URL>") as info:
        RedisStageProvider("redis://:pw@[::1/0")
    assert "pw" not in str(info.value)


def test_query_is_shown_as_the_db_it_selects(redis_module: Any) -> None:
    """A URL's query is not shown: only the scheme, host, port and db redis-py parsed from it."""
    provider = RedisStageProvider("redis://localhost:6379/0?db=1&client_name=app")
    assert provider.where == "redis://localhost:6379/1"


def test_prefix_must_be_a_string(redis_module: Any) -> None:
    """A prefix that is not a str is a TypeError naming the argument."""
    with pytest.raises(TypeError, match="'prefix' must be a str"):
        RedisStageProvider("redis://localhost", prefix=b"app:")  # type: ignore[arg-type]


def test_unix_socket_client_is_named_by_its_path(redis_module: Any) -> None:
    """A client on a Unix socket is named unix://PATH?db=N."""
    client = redis_module.Redis(unix_socket_path="/run/redis/redis.sock", db=2)
    assert RedisStageProvider(client).where == "unix:///run/redis/redis.sock?db=2"


def test_client_like_object_is_named_by_its_class(redis_server: RedisServer,
                                                  redis_module: Any) -> None:
    """A wrapper with mget but no connection pool is accepted and named by its class."""

    class Wrapper:
        def __init__(self) -> None:
            self.inner = redis_module.Redis.from_url(redis_server.url)

        def mget(self, keys: list[str]) -> Any:
            return self.inner.mget(keys)

    wrapper = Wrapper()
    wrapper.inner.set("migratekit:stage:m", "shadow")
    provider = RedisStageProvider(wrapper)  # type: ignore[arg-type]  # duck-typed at run time
    assert provider.where == "<Wrapper>"
    assert provider.get_stage("m") is Stage.SHADOW
    wrapper.inner.close()


def test_stages_stops_at_the_limit(redis_server: RedisServer) -> None:
    """stages(limit=N) lists at most N migrations."""
    provider = RedisStageProvider(redis_server.url)
    for name in ("a", "b", "c", "d"):
        provider.set_stage(name, "live")
    listed = provider.stages(limit=2)
    assert len(listed) == 2
    assert set(listed) <= {"a", "b", "c", "d"}
    assert set(listed.values()) == {"live"}


def test_key_deleted_while_listing_is_left_out(redis_server: RedisServer,
                                               redis_module: Any) -> None:
    """A key removed between listing the keys and reading them is not listed."""

    class Racing(redis_module.Redis):  # type: ignore[misc]
        def mget(self, keys: Any, *args: Any) -> Any:
            self.delete("migratekit:stage:gone")
            return super().mget(keys, *args)

    client = Racing(host="127.0.0.1", port=redis_server.port)
    provider = RedisStageProvider(client)
    provider.set_stage("kept", "live")
    provider.set_stage("gone", "off")
    assert provider.stages() == {"kept": "live"}
    client.close()


def test_stale_stage_served_while_another_thread_refreshes(redis_server: RedisServer,
                                                            redis_module: Any) -> None:
    """While one thread waits on Redis for a refresh, others get the last stage at once."""
    import threading

    entered, release = threading.Event(), threading.Event()

    class Slow(redis_module.Redis):  # type: ignore[misc]
        slow = False

        def mget(self, keys: Any, *args: Any) -> Any:
            if self.slow and threading.current_thread() is not threading.main_thread():
                entered.set()
                release.wait(POLL_SECONDS)
            return super().mget(keys, *args)

    client = Slow(host="127.0.0.1", port=redis_server.port)
    provider = RedisStageProvider(client, ttl=0.01)
    provider.set_stage("m", "shadow")
    assert provider.get_stage("m") is Stage.SHADOW
    client.set("migratekit:stage:m", "live")
    assert poll(lambda: provider._cache["m"][0] < time.monotonic())
    client.slow = True
    answers: list[Any] = []
    refresher = threading.Thread(target=lambda: answers.append(provider.get_stage("m")))
    refresher.start()
    try:
        assert entered.wait(POLL_SECONDS)
        assert provider.get_stage("m") is Stage.SHADOW
    finally:
        release.set()
        refresher.join(POLL_SECONDS)
    assert not refresher.is_alive()
    assert answers == [Stage.LIVE]
    client.close()


def test_explain_with_redis_gone_keeps_the_cached_stage(redis_server: RedisServer) -> None:
    """`stage NAME` after Redis died: the cached stage, its source named by the * key."""
    from migratekit.providers._explain import explain_stage

    provider = RedisStageProvider(redis_server.url, ttl=3600, timeout=0.2)
    provider.set_stage("m", "shadow")
    assert provider.get_stage("m") is Stage.SHADOW
    redis_server.kill()
    explanation = explain_stage(provider, "m")
    assert explanation.stage is Stage.SHADOW
    assert explanation.provider == "RedisStageProvider"
    assert explanation.source == f"{provider.where} migratekit:stage:*"


# -- hardening: passwords never shown, bounded memory, fork -------------------------------------


class FakeRedis:
    """A client of your own: MGET, GET and SET over a dict; MGET may wait for an Event."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.hold: Any = None  # an Event that MGET waits for, in this process only
        self.entered: Any = None
        self.pid = os.getpid()

    def mget(self, keys: list[str]) -> list[Any]:
        if self.hold is not None and os.getpid() == self.pid:
            self.entered.set()
            self.hold.wait(POLL_SECONDS)
        return [self.values.get(key) for key in keys]

    def get(self, key: str) -> Any:
        return self.values.get(key)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:Pa55/w0rd@127.0.0.1:6379/0",
        "redis://:Pa55?w0rd@127.0.0.1:6379/0",
        "redis://:Pa55#w0rd@127.0.0.1:6379/0",
        "redis://user:Pa55/w0rd@127.0.0.1:6379/0",
        "redis://:1234/5678@127.0.0.1:6379/0",
        "redis://:1234#5678@127.0.0.1:6379/0",
        "redis://:1234?x=5678@127.0.0.1:6379/0",
        "unix://:Pa55/w0rd@/run/redis.sock",
        "REDIS://:Pa55/w0rd@127.0.0.1:6379/0",
    ],
)
def test_password_with_an_unescaped_delimiter_is_never_shown(redis_module: Any,
                                                            url: str) -> None:
    """A password holding '/', '?' or '#' unescaped is refused, and no part of it is shown."""
    with pytest.raises(ConfigurationError) as info:
        RedisStageProvider(url)
    message = str(info.value)
    for secret in ("Pa55", "w0rd", "1234", "5678"):
        assert secret not in message
    assert "percent-encode" in message


def test_shown_url_is_built_from_what_redis_py_parsed(redis_module: Any) -> None:
    """repr and where show scheme, host, port and db, never the URL's own text or its query."""
    provider = RedisStageProvider(
        "rediss://admin:Pa55%2Fw0rd%3F%23@redis.internal:6380/2?password=Pa55%2F&ssl_cert_reqs=none"
    )
    assert provider.where == "rediss://***:***@redis.internal:6380/2"
    assert repr(provider) == (
        "RedisStageProvider('rediss://***:***@redis.internal:6380/2', prefix='migratekit:stage:')"
    )
    assert provider.client.connection_pool.connection_kwargs["password"] == "Pa55/w0rd?#"
    assert RedisStageProvider("redis://[::1]:6379").where == "redis://[::1]:6379/0"


def test_url_as_bytes_is_refused_without_repeating_it(redis_module: Any) -> None:
    """A URL given as bytes is a TypeError that names its type, not its text."""
    with pytest.raises(TypeError, match="got a bytes") as info:
        RedisStageProvider(b"redis://:s3cret@localhost:6379/0")  # type: ignore[arg-type]
    assert "s3cret" not in str(info.value)


def test_not_a_url_is_refused_without_repeating_it(redis_module: Any) -> None:
    """A str without a scheme (a password pasted alone) is not repeated in the error."""
    with pytest.raises(ConfigurationError, match="without a scheme") as info:
        RedisStageProvider("Pa55w0rd-not-a-url")
    assert "Pa55" not in str(info.value)


def test_percent_encoded_password_never_reaches_an_event(redis_module: Any) -> None:
    """Sources of stage_error events of an unreachable Redis name host and port only."""
    port = free_port()
    provider = RedisStageProvider(f"redis://:Pa55%2Fw0rd@127.0.0.1:{port}/0", ttl=0.01)
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert error["source"] == f"redis://:***@127.0.0.1:{port}/0 migratekit:stage:m"
    assert "Pa55" not in str(logs)
    assert "w0rd" not in str(logs)


def test_huge_value_is_kept_and_shown_bounded(redis_module: Any) -> None:
    """A key holding megabytes: the cached error and its event hold a short fingerprint."""
    huge = b"x" * 3_000_000
    client = FakeRedis({"migratekit:stage:m": huge})
    provider = RedisStageProvider(client, ttl=3600)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert len(error["value"]) < 100
    assert "3000000 bytes" in error["value"]
    cached = provider._cache["m"][1]
    assert len(str(cached)) < 1000
    assert len(repr(cached.value)) < 100


def test_value_with_blanks_around_a_stage_is_still_a_stage(redis_module: Any) -> None:
    """A stage name padded with more blanks than a value is decoded for is still read."""
    client = FakeRedis({"migratekit:stage:m": b" " * 5000 + b"Shadow\n"})
    assert RedisStageProvider(client).get_stage("m") is Stage.SHADOW  # type: ignore[arg-type]


def test_per_name_memory_is_bounded(redis_module: Any) -> None:
    """Asked about more names than it keeps, the provider forgets the least recently used."""
    from migratekit.providers import _redis

    client = FakeRedis({"migratekit:stage:*": b"live"})
    provider = RedisStageProvider(client, ttl=3600)  # type: ignore[arg-type]
    limit = _redis._NAMES_LIMIT
    for index in range(limit + 500):
        assert provider.get_stage(f"m{index}") is Stage.LIVE
    assert len(provider._cache) == limit
    assert len(provider._known) == limit
    assert "m0" not in provider._cache
    assert f"m{limit + 499}" in provider._cache


def test_child_forked_during_a_refresh_refreshes_by_itself(redis_module: Any) -> None:
    """A child forked while another thread waits on Redis for a refresh reads the new stage."""
    import threading

    client = FakeRedis({"migratekit:stage:m": b"shadow"})
    provider = RedisStageProvider(client, ttl=0.05)  # type: ignore[arg-type]
    assert provider.get_stage("m") is Stage.SHADOW
    client.values["migratekit:stage:m"] = b"live"
    client.hold, client.entered = threading.Event(), threading.Event()
    time.sleep(0.06)
    refresher = threading.Thread(target=provider.get_stage, args=("m",), daemon=True)
    refresher.start()
    try:
        assert client.entered.wait(POLL_SECONDS)

        def child() -> object:
            deadline = time.monotonic() + 2.0
            while provider.get_stage("m") is not Stage.LIVE and time.monotonic() < deadline:
                time.sleep(0.01)
            return provider.get_stage("m")

        answer = in_forked_child(child)
    finally:
        client.hold.set()
        refresher.join(POLL_SECONDS)
    assert answer == repr(Stage.LIVE)
    assert not refresher.is_alive()


def test_client_failing_with_an_unprintable_exception_is_reported(redis_module: Any) -> None:
    """A client raising an exception whose str() raises: default stage, one event, no escape."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    class Broken:
        def mget(self, keys: list[str]) -> Any:
            raise Unprintable

    provider = RedisStageProvider(Broken(), ttl=3600)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert "Unprintable whose str() raised" in error["error"]
    assert error["value"] == "Unprintable"


def test_answers_of_other_types_from_a_client(redis_module: Any) -> None:
    """A client answering str, numbers or objects whose str() raises: read or reported, bounded."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    client = FakeRedis({"migratekit:stage:a": "Live", "migratekit:stage:b": 7,
                        "migratekit:stage:c": Unprintable()})
    provider = RedisStageProvider(client, ttl=3600)  # type: ignore[arg-type]
    assert provider.get_stage("a") is Stage.LIVE
    assert provider.raw_stage("b") == "7"
    with capture_logs() as logs:
        assert resolve_stage(provider, "b", None) is Stage.OFF
        assert resolve_stage(provider, "c", None) is Stage.OFF
    assert [e["value"] for e in stage_errors(logs)] == ["7", "<Unprintable whose str() raised>"]


def test_after_fork_hook_renews_the_refresh_lock(redis_module: Any) -> None:
    """The after-fork hook gives the provider a new, free refresh lock."""
    from migratekit.providers import _base

    provider = RedisStageProvider(FakeRedis(), ttl=3600)  # type: ignore[arg-type]
    provider._fetching.acquire()
    _base._after_fork_in_child()
    assert provider._fetching.acquire(blocking=False)
