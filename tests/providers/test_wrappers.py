"""Tests of the provider wrappers: cache, fallback chain, percentage rollout."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, Stage, migration
from migratekit._resolve import aresolve_stage, resolve_stage
from migratekit.exceptions import StageError
from migratekit.providers import (
    CachedStageProvider,
    EnvStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
    StaticStageProvider,
)


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def op_stages(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [e["stage"] for e in logs if e["event"] == "migration.op"]


def decorated(name: str, provider: Any) -> Any:
    """A read migration whose context is its argument."""

    @migration(
        new=lambda ctx=None: "new", name=name, provider=provider, context=lambda ctx=None: ctx
    )
    def read(ctx: Any = None) -> str:
        return "old"

    return read


class Counting:
    """A provider that counts its calls and answers, or raises, what it is told."""

    def __init__(self, answer: Any = "shadow") -> None:
        self.answer = answer
        self.calls = 0

    def get_stage(self, name: str, context: Any = None) -> Any:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class AsyncCounting(Counting):
    """A Counting provider with an aget_stage that records that it was awaited."""

    def __init__(self, answer: Any = "shadow") -> None:
        super().__init__(answer)
        self.awaited = 0

    async def aget_stage(self, name: str, context: Any = None) -> Any:
        self.awaited += 1
        return self.get_stage(name, context)


# --- the protocol and context_key ------------------------------------------------


# --- CachedStageProvider ---------------------------------------------------------


def test_cache_asks_the_wrapped_provider_once_per_ttl() -> None:
    """A thousand calls within the TTL ask the wrapped provider once."""
    inner = Counting("live")
    cached = CachedStageProvider(inner, ttl=3600)
    read = decorated("users.get", cached)
    for _ in range(1000):
        assert read() == "new"
    assert inner.calls == 1


def test_cache_is_per_context_unless_told_otherwise() -> None:
    """Contexts get their own entries; per_context=False shares one entry per migration."""
    inner = Counting("shadow")
    cached = CachedStageProvider(inner, ttl=3600)
    for user in ("a", "b", "a", {"id": "b"}):
        cached.get_stage("m", user)
    assert inner.calls == 2
    shared_inner = Counting("shadow")
    shared = CachedStageProvider(shared_inner, ttl=3600, per_context=False)
    for user in ("a", "b", "c"):
        shared.get_stage("m", user)
    assert shared_inner.calls == 1


def test_cache_expires_entries() -> None:
    """An entry past its TTL is asked again (TTL shortened by hand: no sleeping)."""
    inner = Counting("shadow")
    cached = CachedStageProvider(inner, ttl=3600)
    cached.get_stage("m")
    cached.ttl = -1.0  # every entry stored from now on is already expired
    cached.clear()
    cached.get_stage("m")
    cached.get_stage("m")
    assert inner.calls == 3


def test_cache_remembers_failures_and_reports_once() -> None:
    """A failing provider is asked once per TTL; no caller sees it; one event."""
    inner = Counting(StageError("backend down", source="backend://x"))
    cached = CachedStageProvider(inner, ttl=3600)
    read = decorated("users.get", cached)
    with capture_logs() as logs:
        results = [read() for _ in range(500)]
    assert results == ["old"] * 500
    assert inner.calls == 1
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["source"] == "backend://x"
    assert errors[0]["stage"] == "off"


def test_cache_is_bounded() -> None:
    """No more than maxsize entries are kept, however many contexts come."""
    cached = CachedStageProvider(Counting("live"), ttl=3600, maxsize=8)
    for user in range(100):
        cached.get_stage("m", f"user-{user}")
    assert len(cached._cache) <= 8


def test_cache_rejects_bad_options() -> None:
    """ttl, maxsize and the provider are checked when the cache is made."""
    with pytest.raises(ConfigurationError, match="'ttl' must be a number of seconds above 0"):
        CachedStageProvider(Counting(), ttl=0)
    with pytest.raises(ConfigurationError, match="'maxsize' must be an int"):
        CachedStageProvider(Counting(), maxsize=0)
    with pytest.raises(TypeError, match="must be a stage provider"):
        CachedStageProvider(object())


@pytest.mark.asyncio
async def test_cache_awaits_an_async_provider() -> None:
    """aget_stage awaits the wrapped aget_stage on a miss and serves hits from the cache."""
    inner = AsyncCounting("rampdown")
    cached = CachedStageProvider(inner, ttl=3600)
    for _ in range(10):
        assert await aresolve_stage(cached, "m", None) is Stage.RAMPDOWN
    assert inner.awaited == 1


# --- FallbackStageProvider -------------------------------------------------------


def test_fallback_first_answer_wins() -> None:
    """A provider with no opinion is passed over; the first stage found is used."""
    chain = FallbackStageProvider(
        StaticStageProvider({"other": "live"}), StaticStageProvider("shadow")
    )
    assert resolve_stage(chain, "users.get", None) is Stage.SHADOW
    assert resolve_stage(chain, "other", None) is Stage.LIVE


def test_fallback_skips_and_reports_a_failing_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """A raising provider and a garbage answer are skipped, each reported once."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "live")
    failing = Counting(RuntimeError("flag service timed out"))
    garbage = Counting(42)
    chain = FallbackStageProvider(failing, garbage, EnvStageProvider())
    read = decorated("users.get", chain)
    with capture_logs() as logs:
        results = [read() for _ in range(100)]
    assert results == ["new"] * 100
    errors = stage_errors(logs)
    assert [e["provider"] for e in errors] == ["Counting", "Counting"]
    assert {e["exc_type"] for e in errors} == {"RuntimeError", "StageError"}
    assert all(e["stage"] == "live" for e in errors)


def test_fallback_uses_the_default_when_none_answers() -> None:
    """When every provider fails or has no opinion, the default stage is used."""
    migratekit.configure(default_stage="dualwrite")
    chain = FallbackStageProvider(Counting(None), Counting(ValueError("nope")))
    with capture_logs() as logs:
        assert resolve_stage(chain, "m", None) is Stage.DUALWRITE
        assert resolve_stage(chain, "m", None) is Stage.DUALWRITE
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["stage"] == "dualwrite"


def test_fallback_needs_providers() -> None:
    """An empty chain, or a member that is not a provider, is refused at once."""
    with pytest.raises(ConfigurationError, match="at least one provider"):
        FallbackStageProvider()
    with pytest.raises(TypeError, match="provider #2"):
        FallbackStageProvider(Counting(), "shadow")


@pytest.mark.asyncio
async def test_fallback_awaits_async_members() -> None:
    """aget_stage awaits members that have aget_stage and calls the others."""
    first = AsyncCounting(None)
    chain = FallbackStageProvider(first, StaticStageProvider("complete"))
    assert await aresolve_stage(chain, "m", None) is Stage.COMPLETE
    assert first.awaited == 1


# --- PercentageRolloutProvider ---------------------------------------------------


def test_rollout_share_is_close_to_the_percentage() -> None:
    """About percent% of 10,000 users are in the later stage."""
    rollout = PercentageRolloutProvider(stage="live", percent=10)
    inside = sum(rollout.get_stage("users.get", f"user-{i}") is Stage.LIVE for i in range(10_000))
    assert 800 <= inside <= 1200


def test_rollout_is_stable_and_monotonic() -> None:
    """A user keeps its stage across instances, and raising the percent only adds users."""
    users = [f"user-{i}" for i in range(2000)]
    ten = {
        u for u in users if PercentageRolloutProvider(stage="live", percent=10).in_rollout("m", u)
    }
    again = {
        u for u in users if PercentageRolloutProvider(stage="live", percent=10).in_rollout("m", u)
    }
    twenty = {
        u for u in users if PercentageRolloutProvider(stage="live", percent=20).in_rollout("m", u)
    }
    assert ten == again
    assert ten < twenty


def test_rollout_hash_is_the_same_in_another_process() -> None:
    """The point of a user does not depend on the process (no salted hash())."""
    here = PercentageRolloutProvider(stage="live", percent=50).point("users.get", "user-1")
    code = (
        "from migratekit.providers import PercentageRolloutProvider as P;"
        "print(repr(P(stage='live', percent=50).point('users.get', 'user-1')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert float(out.stdout) == here


def test_rollout_depends_on_the_migration_and_salt() -> None:
    """Another migration or another salt draws another set of users."""
    users = [f"user-{i}" for i in range(1000)]
    base = PercentageRolloutProvider(stage="live", percent=30)
    salted = PercentageRolloutProvider(stage="live", percent=30, salt="again")
    first = {u for u in users if base.in_rollout("a", u)}
    assert first != {u for u in users if base.in_rollout("b", u)}
    assert first != {u for u in users if salted.in_rollout("a", u)}


def test_rollout_only_moves_forward_and_keeps_the_base_otherwise() -> None:
    """Users past the rollout stage keep their stage; users outside get the base stage."""
    ahead = PercentageRolloutProvider(StaticStageProvider("complete"), stage="live", percent=100)
    assert ahead.get_stage("m", "u") is Stage.COMPLETE
    behind = PercentageRolloutProvider(StaticStageProvider("shadow"), stage="live", percent=0)
    assert behind.get_stage("m", "u") is Stage.SHADOW
    no_base = PercentageRolloutProvider(stage="live", percent=0)
    assert no_base.get_stage("m", "u") is None


def test_rollout_without_context() -> None:
    """A call without a context stays on the base stage, unless percent is 100."""
    assert PercentageRolloutProvider(stage="live", percent=99.9).get_stage("m", None) is None
    assert PercentageRolloutProvider(stage="live", percent=100).get_stage("m", None) is Stage.LIVE


def test_rollout_percent_per_migration() -> None:
    """A mapping sets the percent per migration, '*' for the others, 0 for unlisted."""
    rollout = PercentageRolloutProvider(stage="shadow", percent={"a": 100, "*": 0})
    assert rollout.get_stage("a", "u") is Stage.SHADOW
    assert rollout.get_stage("b", "u") is None
    assert PercentageRolloutProvider(stage="shadow", percent={"a": 100}).percent_for("c") == 0.0


def test_rollout_through_a_decorated_method_with_a_failing_base() -> None:
    """A failing base is reported once and the rollout still applies; no caller sees it."""
    rollout = PercentageRolloutProvider(Counting(RuntimeError("down")), stage="live", percent=50)
    read = decorated("users.get", rollout)
    users = [f"user-{i}" for i in range(200)]
    with capture_logs() as logs:
        results = {u: read(u) for u in users}
    assert {u for u, r in results.items() if r == "new"} == {
        u for u in users if rollout.in_rollout("users.get", u)
    }
    assert set(results.values()) == {"old", "new"}
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["exc_type"] == "RuntimeError"


def test_rollout_rejects_bad_options() -> None:
    """percent must be 0..100, stage a stage, salt a str."""
    with pytest.raises(ConfigurationError, match="from 0 to 100"):
        PercentageRolloutProvider(stage="live", percent=120)
    with pytest.raises(ConfigurationError, match="from 0 to 100"):
        PercentageRolloutProvider(stage="live", percent=True)
    with pytest.raises(ConfigurationError, match="must name a stage"):
        PercentageRolloutProvider(stage="lve", percent=5)
    with pytest.raises(TypeError, match="'salt' must be a str"):
        PercentageRolloutProvider(stage="live", percent=5, salt=3)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_rollout_awaits_an_async_base() -> None:
    """aget_stage awaits the base provider's aget_stage."""
    base = AsyncCounting("dualwrite")
    rollout = PercentageRolloutProvider(base, stage="live", percent=0)
    assert await aresolve_stage(rollout, "m", "u") is Stage.DUALWRITE
    assert base.awaited == 1


# --- edges: async caching and failures, eviction order, reprs -----------------------


@pytest.mark.asyncio
async def test_async_cache_keys_by_context_unless_told_otherwise() -> None:
    """aget_stage caches per context key by default, and per name with per_context=False."""
    inner = AsyncCounting("live")
    cached = CachedStageProvider(inner, ttl=3600)
    for user in ("u1", "u2", "u1", {"id": "u2"}):
        assert await cached.aget_stage("m", user) == "live"
    assert inner.awaited == 2
    shared_inner = AsyncCounting("live")
    shared = CachedStageProvider(shared_inner, ttl=3600, per_context=False)
    for user in ("u1", "u2", "u3"):
        assert await shared.aget_stage("m", user) == "live"
    assert shared_inner.awaited == 1


@pytest.mark.asyncio
async def test_async_cache_remembers_failures() -> None:
    """A failing async provider is awaited once per TTL; the same exception is raised again."""
    boom = StageError("backend down", source="backend://x")
    inner = AsyncCounting(boom)
    cached = CachedStageProvider(inner, ttl=3600)
    for _ in range(3):
        with pytest.raises(StageError, match="backend down") as info:
            await cached.aget_stage("m")
        assert info.value is boom
    assert inner.awaited == 1
    with capture_logs() as logs:
        assert await aresolve_stage(cached, "m", None) is Stage.OFF
    assert [e["source"] for e in stage_errors(logs)] == ["backend://x"]


def test_full_cache_drops_expired_entries_before_the_oldest() -> None:
    """When full, expired entries are dropped first; a fresh old entry survives."""
    inner = Counting("shadow")
    cached = CachedStageProvider(inner, ttl=3600, maxsize=2)
    cached.get_stage("a")
    cached.ttl = -1.0  # "b" is stored already expired
    cached.get_stage("b")
    cached.ttl = 3600.0
    cached.get_stage("c")
    assert set(cached._cache) == {"a", "c"}
    calls = inner.calls
    cached.get_stage("a")
    assert inner.calls == calls
    cached.get_stage("d")  # full of fresh entries: the oldest, "a", goes
    assert set(cached._cache) == {"c", "d"}


def test_wrappers_show_what_they_wrap() -> None:
    """The reprs of the wrappers name the providers and settings inside them."""
    static = StaticStageProvider("live")
    assert repr(CachedStageProvider(static, ttl=2)) == (
        "CachedStageProvider(StaticStageProvider('live'), ttl=2.0)")
    assert repr(FallbackStageProvider(static, StaticStageProvider({"m": "off"}))) == (
        "FallbackStageProvider(StaticStageProvider('live'), StaticStageProvider({'m': 'off'}))")
    rollout = PercentageRolloutProvider(static, stage="complete", percent=5)
    assert repr(rollout).startswith(
        "PercentageRolloutProvider(StaticStageProvider('live'), stage='complete', ")
    assert "5" in repr(rollout)
    per_name = PercentageRolloutProvider(stage="live", percent={"m": 10})
    assert "{'m': 10" in repr(per_name)


def test_fallback_where_nobody_has_an_opinion_is_no_opinion() -> None:
    """Members that all answer None make the chain answer None, with nothing reported."""
    chain = FallbackStageProvider(Counting(None), StaticStageProvider({"other": "live"}))
    with capture_logs() as logs:
        assert chain.get_stage("m") is None
    assert stage_errors(logs) == []


def test_fallback_skips_a_string_that_names_no_stage() -> None:
    """A member answering a string that is no stage is skipped and reported with its value."""
    chain = FallbackStageProvider(Counting("banana"), StaticStageProvider("shadow"))
    with capture_logs() as logs:
        assert resolve_stage(chain, "m", None) is Stage.SHADOW
    (error,) = stage_errors(logs)
    assert (error["value"], error["stage"], error["exc_type"]) == ("banana", "shadow",
                                                                  "StageError")


@pytest.mark.asyncio
async def test_async_fallback_skips_failures_and_reports_them() -> None:
    """aget_stage skips a failing member for the next, and reports it with the stage used."""
    failing = AsyncCounting(RuntimeError("flag service timed out"))
    chain = FallbackStageProvider(failing, StaticStageProvider("rampdown"))
    with capture_logs() as logs:
        assert await aresolve_stage(chain, "m", None) is Stage.RAMPDOWN
    (error,) = stage_errors(logs)
    assert (error["exc_type"], error["stage"]) == ("RuntimeError", "rampdown")
    assert failing.awaited == 1


@pytest.mark.asyncio
async def test_async_fallback_all_failing_uses_the_default() -> None:
    """When every member fails in aget_stage, the default stage is used and reported."""
    assert await FallbackStageProvider(AsyncCounting(None)).aget_stage("m") is None
    migratekit.configure(default_stage="dualwrite")
    chain = FallbackStageProvider(AsyncCounting(ValueError("one")), Counting(KeyError("two")))
    with capture_logs() as logs:
        assert await chain.aget_stage("m") is None
        assert await aresolve_stage(chain, "m", None) is Stage.DUALWRITE
    errors = stage_errors(logs)
    assert sorted(e["exc_type"] for e in errors) == ["KeyError", "ValueError"]
    assert {e["stage"] for e in errors} == {"dualwrite"}


def test_rollout_percent_keys_must_be_names() -> None:
    """A percent mapping keyed by something other than a str is a TypeError."""
    with pytest.raises(TypeError, match="mapping keys must be migration names"):
        PercentageRolloutProvider(stage="live", percent={1: 50})  # type: ignore[dict-item]


@pytest.mark.asyncio
async def test_async_rollout_without_base_and_over_a_failing_base() -> None:
    """aget_stage: no base means the default stage below; a failing base is reported."""
    alone = PercentageRolloutProvider(stage="live", percent=100)
    assert await aresolve_stage(alone, "m", "u") is Stage.LIVE
    assert await PercentageRolloutProvider(stage="live", percent=0).aget_stage("m", "u") is None
    failing = AsyncCounting(RuntimeError("base down"))
    rollout = PercentageRolloutProvider(failing, stage="shadow", percent=100)
    with capture_logs() as logs:
        assert await aresolve_stage(rollout, "m", "u") is Stage.SHADOW
    (error,) = stage_errors(logs)
    assert (error["exc_type"], error["stage"]) == ("RuntimeError", "shadow")


# --- bounded memory, hostile answers and contexts, fork ------------------------------------


def test_cache_keeps_a_huge_answer_as_a_bounded_error() -> None:
    """An answer of megabytes is cached and raised as a StageError holding a short fingerprint."""
    cached = CachedStageProvider(Counting("q" * 2_000_000), ttl=3600)
    for _ in range(2):
        with pytest.raises(StageError) as info:
            cached.get_stage("m")
        assert len(str(info.value)) < 500
        assert "2000000 characters" in str(info.value.value)
    (entry,) = cached._cache.values()
    assert len(str(entry[1].exc)) < 500


def test_cache_keeps_a_stage_padded_with_blanks_as_its_stage() -> None:
    """A long answer that names a stage is cached as that stage."""
    cached = CachedStageProvider(Counting(" " * 100_000 + "live"), ttl=3600)
    assert cached.get_stage("m") is Stage.LIVE


def test_cache_keeps_long_context_keys_as_digests() -> None:
    """A context key of megabytes costs a cache entry a digest, not a copy."""
    cached = CachedStageProvider(Counting("live"), ttl=3600)
    for user in ("u" * 1_000_000, "v" * 1_000_000, "w"):
        assert cached.get_stage("m", user) == "live"
    assert len(cached._cache) == 3
    assert all(len(repr(key)) < 300 for key in cached._cache)
    assert cached.provider.calls == 3
    assert cached.get_stage("m", "u" * 1_000_000) == "live"
    assert cached.provider.calls == 3


def test_cached_failure_keeps_no_locals_of_the_failed_lookup() -> None:
    """A cached exception does not keep alive what the failing lookup held in its frames."""
    import gc
    import weakref

    class Big:
        pass

    alive: list[weakref.ref[Big]] = []

    class Failing:
        def get_stage(self, name: str, context: Any = None) -> Any:
            buffer = Big()
            alive.append(weakref.ref(buffer))
            raise ConnectionError("backend down")

    cached = CachedStageProvider(Failing(), ttl=3600)
    with pytest.raises(ConnectionError):
        cached.get_stage("m")
    gc.collect()
    assert alive[0]() is None
    with pytest.raises(ConnectionError, match="backend down"):
        cached.get_stage("m")


def test_child_forked_while_the_cache_lock_is_held_does_not_hang() -> None:
    """A cache whose lock another thread held at the fork still answers in the child."""
    import threading

    from tests._redis import in_forked_child

    cached = CachedStageProvider(StaticStageProvider("live"), ttl=3600)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cached._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert held.wait(10)
        answer = in_forked_child(lambda: cached.get_stage("m"), timeout=5)
    finally:
        release.set()
        holder.join(10)
    assert answer == repr(Stage.LIVE)


def test_rollout_of_a_key_with_lone_surrogates() -> None:
    """A context key decoded with surrogateescape is hashed like any other, not an error."""
    rollout = PercentageRolloutProvider(stage="live", percent=50)
    key = b"user-\xff".decode("utf-8", "surrogateescape")
    point = rollout.point("m", key)
    assert 0.0 <= point < 100.0
    assert rollout.get_stage("m", key) == (Stage.LIVE if point < 50 else None)
    assert rollout.point("m", "user-1") == rollout.point("m", "user-1")


def test_fallback_reports_a_huge_answer_bounded() -> None:
    """A member answering megabytes is skipped; its event and error stay short."""
    chain = FallbackStageProvider(Counting(["x"] * 1_000_000), StaticStageProvider("shadow"))
    with capture_logs() as logs:
        assert resolve_stage(chain, "m", None) is Stage.SHADOW
    (error,) = stage_errors(logs)
    assert len(error["error"]) <= 200
    assert len(error["value"]) < 100


def test_answer_whose_repr_raises_is_reported() -> None:
    """An answer whose repr() raises is still reported, by its type."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    chain = FallbackStageProvider(Counting(Hostile()), StaticStageProvider("off"))
    with capture_logs() as logs:
        assert resolve_stage(chain, "m", None) is Stage.OFF
        chain.providers[0].answer = Hostile()  # another object failing the same way
        assert resolve_stage(chain, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert "answered a Hostile," in error["error"]  # by its type: a repr may hold data


def test_answer_lying_about_its_class_is_no_stage() -> None:
    """An answer whose __class__ claims Stage or str is reported, never taken for a stage."""

    class Liar:
        def __init__(self, claimed: type) -> None:
            self.claimed = claimed

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return self.claimed

        def __repr__(self) -> str:
            return "<liar>"

    for claimed in (Stage, str):
        chain = FallbackStageProvider(Counting(Liar(claimed)), StaticStageProvider("rampdown"))
        with capture_logs() as logs:
            assert resolve_stage(chain, claimed.__name__, None) is Stage.RAMPDOWN
        (error,) = stage_errors(logs)
        assert "answered a Liar, which is not a stage" in error["error"]
        with pytest.raises(StageError, match="answered a Liar"):
            CachedStageProvider(Counting(Liar(claimed))).get_stage("m")


def test_cache_keeps_stages_and_no_opinion_as_they_are() -> None:
    """A Stage or None answered by the wrapped provider is cached and answered as it is."""
    cached = CachedStageProvider(StaticStageProvider({"m": Stage.LIVE}), ttl=3600)
    assert cached.get_stage("m") is Stage.LIVE
    assert cached.get_stage("other") is None
    assert cached.get_stage("m") is Stage.LIVE


def test_wrappers_describe_what_they_wrap() -> None:
    """A cache describes its provider; a fallback the member that answered, with those it
    passed over; a rollout itself for a context in it, its base for the others."""
    inner = StaticStageProvider("shadow")
    assert CachedStageProvider(inner).describe("m") == inner.describe("m")

    class Failing:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            raise StageError("down")

    failing = Failing()
    chain = FallbackStageProvider(failing, StaticStageProvider({}), inner)
    description = chain.describe("m")
    assert description[:3] == (Stage.SHADOW, inner, repr(inner))
    assert [str(exc) for exc in description.failures] == ["down"]

    rollout = PercentageRolloutProvider(inner, stage="live", percent=100)
    assert rollout.describe("m", "user-1")[:2] == (Stage.LIVE, rollout)
    source = rollout.describe("m", "user-1").source
    assert source is not None
    assert source.startswith("100% rollout to live")
    nobody = PercentageRolloutProvider(inner, stage="live", percent=0)
    assert nobody.describe("m", "user-1") == inner.describe("m")
