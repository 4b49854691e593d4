"""
Tests of what providers share: the StageProvider contract, parse_stage, context_key, the
bounded cache, the after-fork hook, and describe().
"""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import Stage
from migratekit.exceptions import StageError
from migratekit.providers import (
    AsyncStageProvider,
    EnvStageProvider,
    StageProvider,
    StaticStageProvider,
    context_key,
)
from tests.helpers import make, run, stage_errors

# -- providers that misbehave ---------------------------------------------------------------------


class RaisingProvider:
    def __init__(self) -> None:
        self.calls = 0

    def get_stage(self, name: str, context: Any = None) -> Stage:
        self.calls += 1
        raise ConnectionError("stage store unreachable")


class Answering:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_stage(self, name: str, context: Any = None) -> Any:
        return self.answer


@pytest.mark.parametrize("configured", [False, True])
def test_provider_that_raises_gives_default_and_one_event(configured: bool) -> None:
    """A provider that raises: default stage, the call goes on, one stage_error over many calls."""
    provider = RaisingProvider()
    migratekit.configure(default_stage="dualwrite")
    if configured:
        migratekit.configure(provider=provider)
        op = make("m")
    else:
        op = make("m", provider)
    with capture_logs() as logs:
        for _ in range(20):
            assert op() == "old"
    assert provider.calls == 20
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["log_level"] == "warning"
    assert errors[0]["stage"] == "dualwrite"
    assert errors[0]["migration"] == "m"
    assert "ConnectionError" in repr(errors[0])
    assert {e["stage"] for e in logs if e["event"] == "migration.op"} == {"dualwrite"}


@pytest.mark.parametrize("answer", [42, "nonsense", 3.5, ["live"], object(), b"live"])
def test_provider_answering_garbage_gives_default_and_one_event(answer: Any) -> None:
    """A provider answering something that is not a stage: default stage and one stage_error."""
    op = make("m", Answering(answer))
    with capture_logs() as logs:
        for _ in range(10):
            assert op() == "old"
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["log_level"] == "warning"
    assert errors[0]["stage"] == "off"
    assert {e["stage"] for e in logs if e["event"] == "migration.op"} == {"off"}


@pytest.mark.parametrize(
    ("answer", "stage"), [("LIVE", "live"), (Stage.SHADOW, "shadow"), (None, "off")]
)
def test_provider_answering_name_stage_or_none(answer: Any, stage: str) -> None:
    """A provider may answer a Stage, a stage name (any case), or None for the default."""
    got, logs = run(make("m", Answering(answer)))
    assert got == stage
    assert stage_errors(logs) == []


def test_provider_raising_base_exception_propagates() -> None:
    """A provider raising KeyboardInterrupt is not swallowed."""

    class Interrupting:
        def get_stage(self, name: str, context: Any = None) -> Stage:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make("m", Interrupting())()


def test_bounded_cache_forgets_the_least_recently_used() -> None:
    """BoundedCache keeps maxsize entries; a read makes an entry the most recently used."""
    from migratekit.providers._base import BoundedCache

    cache: BoundedCache[str, int] = BoundedCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1
    cache["c"] = 3
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    assert cache.get("b", -1) == -1
    assert cache["c"] == 3
    assert cache.pop("c") == 3
    cache.clear()
    assert len(cache) == 0


def test_after_fork_hook_renews_every_registered_lock() -> None:
    """The hook run in a forked child gives each registered provider and cache a new lock."""
    from migratekit.providers import CachedStageProvider, _base

    provider = EnvStageProvider()
    cached = CachedStageProvider(provider)
    locks = (provider._getters._lock, cached._lock)
    _base._after_fork_in_child()
    assert provider._getters._lock is not locks[0]
    assert cached._lock is not locks[1]
    assert cached.get_stage("m") is None


def test_after_fork_hook_survives_a_failing_object() -> None:
    """One registered object whose reset raises does not keep the others from theirs."""
    from migratekit.providers import _base

    class Broken:
        def _after_fork(self) -> None:
            raise RuntimeError("broken")

    broken = Broken()
    provider = EnvStageProvider()
    old_lock = provider._getters._lock
    _base.reset_after_fork(broken)
    _base._after_fork_in_child()
    assert provider._getters._lock is not old_lock


# -- values from outside: parse_stage, context_key -------------------------------------------


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("hostile")


class EvilStr(str):
    """A str whose methods raise."""

    strip = lower = encode = isprintable = __len__ = __getitem__ = _raise
    __hash__ = __eq__ = __str__ = __repr__ = _raise


class Liar:
    """An object that says it is a str."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return str

    def __repr__(self) -> str:
        return "<not a str>"


def test_parse_stage_copes_with_str_subclasses_and_liars() -> None:
    """parse_stage reads a str subclass's data without its methods, and refuses a liar."""
    from migratekit._resolve import parse_stage

    assert parse_stage(EvilStr(" Shadow ")) is Stage.SHADOW
    assert parse_stage(EvilStr("banana")) is None
    assert parse_stage(Liar()) is None  # type: ignore[arg-type]


def test_context_key_is_always_a_plain_str() -> None:
    """context_key of a str subclass, or of an object whose key is one, is a plain str."""
    from migratekit.providers import context_key

    class Keyed:
        key = EvilStr("tenant-1")

    for context in (EvilStr("user-1"), {"id": EvilStr("user-1")}, Keyed()):
        key = context_key(context)
        assert type(key) is str
    assert context_key(Keyed()) == "tenant-1"


# -- the protocols, context keys, public names, describe ------------------------------------------


def test_protocols_recognise_sync_and_async_providers() -> None:
    """StageProvider matches any get_stage; AsyncStageProvider needs aget_stage too."""

    class Sync:
        def get_stage(self, name: str, context: Any = None) -> Stage | None:
            return None

    class Async(Sync):
        async def aget_stage(self, name: str, context: Any = None) -> Stage | None:
            return None

    assert isinstance(Sync(), StageProvider)
    assert not isinstance(Sync(), AsyncStageProvider)
    assert isinstance(Async(), AsyncStageProvider)


def test_context_key_rules() -> None:
    """A str is the key; a mapping gives targeting_key, key or id; an object its id; else str()."""

    class User:
        id = 42

    assert context_key(None) is None
    assert context_key("tenant-7") == "tenant-7"
    assert context_key({"targeting_key": "a", "id": "b"}) == "a"
    assert context_key({"targetingKey": "a2"}) == "a2"
    assert context_key({"key": "k", "id": "i"}) == "k"
    assert context_key({"id": 7}) == "7"
    assert context_key(User()) == "42"
    assert context_key(12) == "12"
    assert context_key({"plan": "pro"}) == str({"plan": "pro"})


def test_public_names_report_the_public_module() -> None:
    """Every name migratekit.providers exports says it comes from migratekit.providers."""
    import migratekit.providers

    for name in migratekit.providers.__all__:
        assert getattr(migratekit.providers, name).__module__ == "migratekit.providers"


def test_a_provider_without_describe_is_described_by_its_answer() -> None:
    """describe_provider of a provider of the application's own: its checked answer, no source."""
    from migratekit.providers._base import describe_provider

    answering = Answering("Shadow")
    assert describe_provider(answering, "m") == (Stage.SHADOW, answering, None, ())
    with pytest.raises(StageError):
        describe_provider(Answering("banana"), "m")


def test_a_describe_of_another_kind_is_not_taken_for_a_description() -> None:
    """A provider whose describe() answers something else is described by its answer."""
    from migratekit.providers._base import describe_provider

    class Chatty(Answering):
        def describe(self, *args: Any) -> str:
            return "a provider that talks"

    chatty = Chatty(Stage.LIVE)
    assert describe_provider(chatty, "m") == (Stage.LIVE, chatty, None, ())


def test_each_provider_describes_its_answer_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """describe() answers the stage, the provider that answered and where it read it."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "shadow")
    env = EnvStageProvider()
    assert env.describe("users.get") == (
        Stage.SHADOW, env, "MIGRATEKIT_STAGE_USERS_GET='shadow'", ()
    )
    static = StaticStageProvider({"m": "live"})
    assert static.describe("m") == (Stage.LIVE, static, repr(static), ())
    assert static.describe("other").stage is None


# -- messages that fit an event ----------------------------------------------------------------


def test_fit_message_cuts_the_parts_never_the_template() -> None:
    """Quoted parts give way, longest first and in their middle; the template's words stay."""
    from migratekit.providers._base import fit_message

    template = "file {path} is bad ({detail}); {{fix}} it whole, then rename it into place"
    short = fit_message(template, path="/etc/s.json", detail="line 1")
    assert short == "file /etc/s.json is bad (line 1); {fix} it whole, then rename it into place"
    long = fit_message(template, path="/srv/" + "p/" * 200 + "stages.json", detail="d" * 30)
    assert len(long) == 200
    assert long.endswith("(" + "d" * 30 + "); {fix} it whole, then rename it into place")
    assert long.startswith("file /srv/p/")
    assert "…" in long
    assert "stages.json is bad" in long
    both = fit_message(template, path="p" * 500, detail="d" * 500)
    assert len(both) <= 200
    assert both.count("…") == 2
    assert both.endswith("); {fix} it whole, then rename it into place")


def test_fit_message_keeps_a_floor_for_each_part() -> None:
    """A template too long for its parts keeps 16 characters of each rather than nothing."""
    from migratekit.providers._base import fit_message

    message = fit_message("x" * 190 + " {a}", a="a" * 100)
    assert message == "x" * 190 + " " + "a" * 7 + "…" + "a" * 8
