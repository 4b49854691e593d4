"""Tests of the environment and static stage providers, and of configure()/reset()."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, Stage, migration
from migratekit._config import settings
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import EnvStageProvider, StaticStageProvider


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def make(name: str, provider: Any = None) -> Any:
    """A migration called *name* whose caller learns which side was authoritative."""
    options: dict[str, Any] = {"name": name}
    if provider is not None:
        options["provider"] = provider

    @migration.write(new=lambda: "new", **options)
    def op() -> str:
        return "old"

    return op


def run(fn: Any) -> tuple[str, list[Any]]:
    """Call a migration once: the stage it ran in (as its op event says), and its events."""
    with capture_logs() as logs:
        fn()
    return next(e for e in logs if e["event"] == "migration.op")["stage"], logs


def stage_of(fn: Any) -> str:
    """The stage a migration ran in, as its op event says."""
    return run(fn)[0]


# -- variable names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("users.get", "MIGRATEKIT_STAGE_USERS_GET"),
        ("users", "MIGRATEKIT_STAGE_USERS"),
        ("Users.Get", "MIGRATEKIT_STAGE_USERS_GET"),
        ("billing/v2 get", "MIGRATEKIT_STAGE_BILLING_V2_GET"),
        ("a--..__b", "MIGRATEKIT_STAGE_A_B"),
        ("orders:list-all", "MIGRATEKIT_STAGE_ORDERS_LIST_ALL"),
        ("café.menu", "MIGRATEKIT_STAGE_CAF_MENU"),
        ("app.Repo.get_user", "MIGRATEKIT_STAGE_APP_REPO_GET_USER"),
    ],
)
def test_variable_for_name(name: str, variable: str) -> None:
    """The per-migration variable is the name upper-cased, each run of other chars one '_'."""
    assert EnvStageProvider().variable_for(name) == variable


@pytest.mark.parametrize("stage", list(Stage))
def test_per_migration_variable_sets_the_stage(
    monkeypatch: pytest.MonkeyPatch, stage: Stage
) -> None:
    """MIGRATEKIT_STAGE_USERS_GET sets the stage of 'users.get' (default provider)."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", stage.value)
    assert stage_of(make("users.get")) == stage.value
    assert stage_of(make("users.put")) == "off"


def test_runs_of_other_characters_map_to_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """'billing//v2 .get' reads MIGRATEKIT_STAGE_BILLING_V2_GET end to end."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_BILLING_V2_GET", "live")
    assert stage_of(make("billing//v2 .get")) == "live"


def test_global_variable_applies_to_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """MIGRATEKIT_STAGE sets the stage of every migration without its own variable."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "shadow")
    assert stage_of(make("a")) == "shadow"
    assert stage_of(make("b.c")) == "shadow"


def test_per_migration_variable_wins_over_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration's own variable wins over MIGRATEKIT_STAGE."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "shadow")
    monkeypatch.setenv("MIGRATEKIT_STAGE_A", "complete")
    assert stage_of(make("a")) == "complete"
    assert stage_of(make("b")) == "shadow"


@pytest.mark.parametrize(
    "raw", ["SHADOW", "Shadow", "  shadow  ", "\tShAdOw\n", "shadow\r\n", " SHADOW"]
)
def test_value_any_case_blanks_ignored(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """Values are stage names in any case, with surrounding blanks ignored."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", raw)
    assert EnvStageProvider().get_stage("m") is Stage.SHADOW
    stage, logs = run(make("m"))
    assert stage == "shadow"
    assert stage_errors(logs) == []


@pytest.mark.parametrize("blank", ["", " ", "\t\n  "])
def test_blank_per_migration_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    """A blank per-migration variable is unset: the global variable applies, no stage_error."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", blank)
    monkeypatch.setenv("MIGRATEKIT_STAGE", "dualwrite")
    stage, logs = run(make("m"))
    assert stage == "dualwrite"
    assert stage_errors(logs) == []


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_everything_gives_default_stage(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    """Only blanks in both variables: the default stage, no stage_error."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", blank)
    monkeypatch.setenv("MIGRATEKIT_STAGE", blank)
    migratekit.configure(default_stage=Stage.RAMPDOWN)
    assert EnvStageProvider().get_stage("m") is None
    stage, logs = run(make("m"))
    assert stage == "rampdown"
    assert stage_errors(logs) == []


def test_nothing_set_is_default_off() -> None:
    """No variable at all: OFF, the default default stage."""
    assert EnvStageProvider().get_stage("m") is None
    assert stage_of(make("m")) == "off"


def test_variables_are_read_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing a variable between calls changes the very next call."""
    op = make("users.get")
    assert stage_of(op) == "off"
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "live")
    assert stage_of(op) == "live"
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "complete")
    assert op() == "new"
    monkeypatch.delenv("MIGRATEKIT_STAGE_USERS_GET")
    assert stage_of(op) == "off"
    monkeypatch.setenv("MIGRATEKIT_STAGE", "dualwrite")
    assert stage_of(op) == "dualwrite"


# -- invalid values -------------------------------------------------------------------------------


def test_invalid_per_migration_value_uses_default_not_global(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invalid per-migration value: default stage (not MIGRATEKIT_STAGE) and a warning."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "complete")
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "shaddow")
    op = make("users.get")
    with capture_logs() as logs:
        assert op() == "old"
    errors = stage_errors(logs)
    assert len(errors) == 1
    error = errors[0]
    assert error["log_level"] == "warning"
    assert error["migration"] == "users.get"
    assert error["stage"] == "off"
    text = repr(error)
    assert "MIGRATEKIT_STAGE_USERS_GET" in text
    assert "shaddow" in text
    op_event = next(e for e in logs if e["event"] == "migration.op")
    assert op_event["stage"] == "off"


def test_invalid_value_uses_configured_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid value falls back to the configured default stage, which the event names."""
    migratekit.configure(default_stage="dualwrite")
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "nope")
    stage, logs = run(make("m"))
    assert stage == "dualwrite"
    assert stage_errors(logs)[0]["stage"] == "dualwrite"


def test_invalid_global_value_uses_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid MIGRATEKIT_STAGE gives the default stage and a stage_error naming it."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "halfway")
    with capture_logs() as logs:
        assert make("m")() == "old"
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert "MIGRATEKIT_STAGE" in repr(errors[0])
    assert "halfway" in repr(errors[0])


def test_valid_per_migration_value_ignores_invalid_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid per-migration value wins; a bad MIGRATEKIT_STAGE is not even looked at."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "garbage")
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "live")
    stage, logs = run(make("m"))
    assert stage == "live"
    assert stage_errors(logs) == []


def test_stage_error_once_per_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bad variable+value is reported once over many calls; a new bad value once more."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "bad1")
    op = make("m")
    with capture_logs() as logs:
        for _ in range(50):
            assert op() == "old"
        monkeypatch.setenv("MIGRATEKIT_STAGE_M", "bad2")
        for _ in range(50):
            assert op() == "old"
        monkeypatch.setenv("MIGRATEKIT_STAGE_M", "bad1")
        for _ in range(10):
            assert op() == "old"
    values = [repr(e) for e in stage_errors(logs)]
    assert len(values) == 2
    assert "bad1" in values[0]
    assert "bad2" in values[1]


def test_stage_error_once_across_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad MIGRATEKIT_STAGE shared by many migrations is reported once, not once each."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "bogus")
    ops = [make(f"m{i}") for i in range(5)]
    with capture_logs() as logs:
        for _ in range(10):
            for op in ops:
                assert op() == "old"
    assert len(stage_errors(logs)) == 1


def test_stage_error_once_for_migrations_sharing_a_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """'users.get' and 'users-get' share MIGRATEKIT_STAGE_USERS_GET: one bad value, one event."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "nonsense")
    first, second = make("users.get"), make("users-get")
    with capture_logs() as logs:
        for _ in range(10):
            assert first() == "old"
            assert second() == "old"
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert "MIGRATEKIT_STAGE_USERS_GET" in repr(errors[0])
    assert "nonsense" in repr(errors[0])


def test_stage_errors_distinct_variables_each_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two different variables holding the same bad value are two distinct reports."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_A", "bogus")
    monkeypatch.setenv("MIGRATEKIT_STAGE_B", "bogus")
    with capture_logs() as logs:
        for _ in range(5):
            make("a")()
            make("b")()
    errors = stage_errors(logs)
    assert len(errors) == 2
    assert "MIGRATEKIT_STAGE_A" in repr(errors[0])
    assert "MIGRATEKIT_STAGE_B" in repr(errors[1])


def test_env_provider_raises_stage_error_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """EnvStageProvider.get_stage itself raises StageError naming the variable and value."""
    from migratekit.exceptions import StageError

    monkeypatch.setenv("MIGRATEKIT_STAGE_X", "sideways")
    with pytest.raises(StageError) as info:
        EnvStageProvider().get_stage("x")
    assert info.value.source == "MIGRATEKIT_STAGE_X"
    assert info.value.value == "sideways"


# -- environ= -------------------------------------------------------------------------------------


def test_environ_mapping_is_read_instead_of_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ= makes the provider read that mapping and ignore os.environ."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "complete")
    environ = {"MIGRATEKIT_STAGE_M": "Live "}
    provider = EnvStageProvider(environ=environ)
    assert provider.get_stage("m") is Stage.LIVE
    assert stage_of(make("m", provider)) == "live"


def test_environ_mapping_global_and_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ= honours the global variable, blanks, and is re-read on every call."""
    environ: dict[str, str] = {"MIGRATEKIT_STAGE": "shadow"}
    provider = EnvStageProvider(environ=environ)
    op = make("m", provider)
    assert stage_of(op) == "shadow"
    environ["MIGRATEKIT_STAGE_M"] = "  "
    assert stage_of(op) == "shadow"
    environ["MIGRATEKIT_STAGE_M"] = "RAMPDOWN"
    assert stage_of(op) == "rampdown"
    environ.clear()
    assert stage_of(op) == "off"


def test_environ_mapping_invalid_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ= with a bad value: default stage and one stage_error naming the variable."""
    provider = EnvStageProvider(environ={"MIGRATEKIT_STAGE_M": "??", "MIGRATEKIT_STAGE": "live"})
    op = make("m", provider)
    with capture_logs() as logs:
        for _ in range(3):
            assert op() == "old"
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert "MIGRATEKIT_STAGE_M" in repr(errors[0])


# -- StaticStageProvider --------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(Stage))
def test_static_provider_with_a_stage(stage: Stage) -> None:
    """StaticStageProvider(stage) answers that stage for every name."""
    provider = StaticStageProvider(stage)
    assert provider.get_stage("a") is stage
    assert provider.get_stage("b", {"ctx": 1}) is stage
    assert stage_of(make("z", provider)) == stage.value


@pytest.mark.parametrize("text", ["live", "LIVE", " Live "])
def test_static_provider_with_a_str(text: str) -> None:
    """StaticStageProvider('live') (any case, blanks ignored) answers Stage.LIVE."""
    assert StaticStageProvider(text).get_stage("a") is Stage.LIVE


def test_static_provider_with_a_mapping() -> None:
    """StaticStageProvider({name: stage}) answers per name; other names get the default."""
    provider = StaticStageProvider({"users.get": Stage.LIVE, "users.save": "dualwrite"})
    assert provider.get_stage("users.get") is Stage.LIVE
    assert provider.get_stage("users.save") is Stage.DUALWRITE
    assert stage_of(make("users.get", provider)) == "live"
    assert stage_of(make("users.save", provider)) == "dualwrite"
    migratekit.configure(default_stage="shadow")
    stage, logs = run(make("other", provider))
    assert stage == "shadow"
    assert stage_errors(logs) == []


@pytest.mark.parametrize(
    ("bad", "exc_type", "words"),
    [
        ("nope", ConfigurationError, ["nope", "stage"]),
        ("", ConfigurationError, ["stage"]),
        (42, ConfigurationTypeError, ["42", "int", "Stage"]),
        (None, ConfigurationTypeError, ["None", "Stage"]),
        ({"a": "nope"}, ConfigurationError, ["'a'", "nope"]),
        ({"a": 3}, ConfigurationTypeError, ["'a'", "3"]),
        ({1: "live"}, ConfigurationTypeError, ["1", "str"]),
    ],
)
def test_static_provider_bad_stages_raise_at_construction(
    bad: Any, exc_type: type[Exception], words: list[str]
) -> None:
    """A bad stage (or mapping) raises a ConfigurationError when the provider is built."""
    with pytest.raises(exc_type) as info:
        StaticStageProvider(bad)
    assert isinstance(info.value, ConfigurationError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_env_provider_bad_prefix() -> None:
    """EnvStageProvider(prefix='') raises a ConfigurationTypeError naming 'prefix'."""
    with pytest.raises(ConfigurationError, match="prefix"):
        EnvStageProvider(prefix="")


# -- configure / reset ----------------------------------------------------------------------------


def test_configure_provider_and_default_stage() -> None:
    """configure(provider=...) is used by migrations without their own provider."""
    migratekit.configure(provider=StaticStageProvider("live"))
    assert stage_of(make("m")) == "live"
    assert make("m")() == "new"


def test_configure_default_stage_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure(default_stage=...) keeps the env provider and changes the fallback."""
    migratekit.configure(default_stage="COMPLETE")
    assert stage_of(make("m")) == "complete"
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "off")
    assert stage_of(make("m")) == "off"


def test_configure_applies_to_already_decorated_migrations() -> None:
    """The process-wide provider is read per call, so configure() after decoration applies."""
    op = make("m")
    assert op() == "old"
    migratekit.configure(provider=StaticStageProvider(Stage.COMPLETE))
    assert op() == "new"


def test_reset_restores_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """reset() brings back the env provider and OFF."""
    migratekit.configure(provider=StaticStageProvider("live"), default_stage=Stage.SHADOW)
    migratekit.reset()
    assert isinstance(settings.provider, EnvStageProvider)
    assert settings.default_stage is Stage.OFF
    assert stage_of(make("m")) == "off"
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "rampdown")
    assert stage_of(make("m")) == "rampdown"


def test_reset_forgets_reported_stage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """After reset(), a bad value already reported is reported again."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "bad")
    with capture_logs() as logs:
        make("m")()
        make("m")()
        migratekit.reset()
        make("m")()
    assert len(stage_errors(logs)) == 2


@pytest.mark.parametrize(
    ("kwargs", "exc_type"),
    [
        ({"provider": object()}, ConfigurationTypeError),
        ({"default_stage": "nope"}, ConfigurationError),
        ({"default_stage": 3}, ConfigurationTypeError),
        ({"provider": StaticStageProvider("live"), "default_stage": "nope"}, ConfigurationError),
    ],
)
def test_configure_rejects_bad_values_and_changes_nothing(
    kwargs: dict[str, Any], exc_type: type[Exception]
) -> None:
    """configure() with a bad argument raises and leaves the settings as they were."""
    before = (settings.provider, settings.default_stage)
    with pytest.raises(exc_type):
        migratekit.configure(**kwargs)
    assert (settings.provider, settings.default_stage) == before


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


# -- bounded memory, values of any size, fork ------------------------------------------------


def test_huge_bad_values_are_not_kept() -> None:
    """Distinct megabyte-sized bad values leave no copy behind once the variable is unset."""
    import gc
    import os
    import tracemalloc

    from migratekit.exceptions import StageError

    provider = EnvStageProvider()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(16):
            os.environ["MIGRATEKIT_STAGE_HUGE"] = f"{index:04d}" + "x" * 1_000_000
            with pytest.raises(StageError) as info:
                provider.get_stage("huge")
            assert len(str(info.value)) < 500
            assert len(str(info.value.value)) < 100
            del info
        del os.environ["MIGRATEKIT_STAGE_HUGE"]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        os.environ.pop("MIGRATEKIT_STAGE_HUGE", None)
    assert kept < 1_000_000, f"{kept} bytes kept after 16 values of 1 MB"


def test_huge_bad_values_differing_at_the_end_are_two_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two long bad values that share a prefix are told apart, each event short."""
    op = make("m")
    values: list[str] = []
    for ending in ("a", "b"):
        monkeypatch.setenv("MIGRATEKIT_STAGE_M", "y" * 10_000 + ending)
        values += [e["value"] for e in stage_errors(run(op)[1])]
    assert len(values) == 2
    assert values[0] != values[1]
    assert all(len(value) < 100 and "10001 characters" in value for value in values)


def test_stage_padded_with_many_blanks_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage name with thousands of blanks around it is still that stage."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", " " * 5000 + "Live" + "\n" * 10)
    assert EnvStageProvider().get_stage("m") is Stage.LIVE


def test_per_name_getters_are_bounded() -> None:
    """Asked about more names than it keeps getters for, the provider forgets the oldest."""
    from migratekit import _providers

    provider = EnvStageProvider(environ={"MIGRATEKIT_STAGE": "shadow"})
    limit = _providers._GETTERS_LIMIT
    for index in range(limit + 300):
        assert provider.get_stage(f"name.{index}") is Stage.SHADOW
    assert len(provider._getters) == limit
    assert "name.0" not in provider._getters


def test_empty_environ_mapping_is_not_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ={} is an empty environment, not a cue to read os.environ."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "live")
    assert EnvStageProvider(environ={}).get_stage("m") is None


def test_bounded_cache_forgets_the_least_recently_used() -> None:
    """BoundedCache keeps maxsize entries; a read makes an entry the most recently used."""
    from migratekit._providers import BoundedCache

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


def test_child_forked_while_the_getter_cache_is_locked_still_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lock held by another thread at the fork is a fresh lock in the child."""
    import threading

    from tests._redis import in_forked_child

    monkeypatch.setenv("MIGRATEKIT_STAGE", "rampdown")
    provider = EnvStageProvider()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with provider._getters._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert held.wait(10)
        answer = in_forked_child(lambda: provider.get_stage("never.asked.before"))
    finally:
        release.set()
        holder.join(10)
    assert answer == repr(Stage.RAMPDOWN)


def test_after_fork_hook_renews_every_registered_lock() -> None:
    """The hook run in a forked child gives each registered provider and cache a new lock."""
    from migratekit import _providers
    from migratekit.providers import CachedStageProvider

    provider = EnvStageProvider()
    cached = CachedStageProvider(provider)
    locks = (provider._getters._lock, cached._lock)
    _providers._after_fork_in_child()
    assert provider._getters._lock is not locks[0]
    assert cached._lock is not locks[1]
    assert cached.get_stage("m") is None


def test_after_fork_hook_survives_a_failing_object() -> None:
    """One registered object whose reset raises does not keep the others from theirs."""
    from migratekit import _providers

    class Broken:
        def _after_fork(self) -> None:
            raise RuntimeError("broken")

    broken = Broken()
    provider = EnvStageProvider()
    old_lock = provider._getters._lock
    _providers.reset_after_fork(broken)
    _providers._after_fork_in_child()
    assert provider._getters._lock is not old_lock


# -- values from outside: shown_value, shown_repr, parse_stage, context_key --------------------


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("hostile")


class EvilStr(str):
    """A str whose methods raise."""

    strip = lower = encode = isprintable = __len__ = __getitem__ = _raise
    __hash__ = __eq__ = __str__ = __repr__ = _raise


class EvilInt(int):
    """An int whose repr and str raise."""

    __repr__ = __str__ = __hash__ = _raise


class NameRaises(type):
    """A metaclass whose classes' __name__ cannot be read."""

    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("no name")


class Nameless(metaclass=NameRaises):
    """An object whose class has no readable name, and whose repr raises."""

    __repr__ = _raise


class Liar:
    """An object that says it is a str."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return str

    def __repr__(self) -> str:
        return "<not a str>"


class PlainSub(str):
    """A harmless str subclass."""


class FloatSub(float):
    """A float whose repr raises."""

    __repr__ = _raise


class ReprIsStrSubclass:
    """An object whose repr is a str subclass."""

    def __repr__(self) -> str:
        return PlainSub("<sub>")


class LongRepr:
    """An object whose repr is long."""

    def __repr__(self) -> str:
        return "r" * 1000


def _released() -> memoryview:
    view = memoryview(b"gone")
    view.release()
    return view


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        EvilStr("shadow"),
        EvilStr("s" * 10_000),
        EvilInt(5),
        10**5000,
        Nameless(),
        Liar(),
        _deep(100_000),
        list(range(200_000)),
        bytearray(b"\xff" * 5000),
        memoryview(b"abc"),
        float("nan"),
        "\udcff" * 10,
        _released(),
        [1, 2],
        10**100,
        FloatSub(1.5),
        ReprIsStrSubclass(),
        LongRepr(),
        type("int", (), {"__repr__": lambda self: PlainSub("7")})(),
    ],
    ids=[
        "str subclass", "long str subclass", "int subclass", "int past str()'s digits",
        "class without a name", "liar", "deep list", "big list", "bytearray", "memoryview",
        "nan", "lone surrogates", "released memoryview", "short list", "long int",
        "float subclass", "repr is a str subclass", "long repr", "class named int",
    ],
)
def test_shown_value_and_repr_never_raise_and_stay_short(value: Any) -> None:
    """Whatever the value, shown_value and shown_repr answer a short plain str (or the value)."""
    from migratekit._providers import shown_repr, shown_value

    shown = shown_value(value)
    assert shown is value or type(shown) is str
    if type(shown) is str:
        assert len(shown) < 200
        shown.encode("utf-8")  # printable: no lone surrogates left
    written = shown_repr(value)
    assert type(written) is str
    assert len(written) < 200


def test_parse_stage_copes_with_str_subclasses_and_liars() -> None:
    """parse_stage reads a str subclass's data without its methods, and refuses a liar."""
    from migratekit._providers import parse_stage

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


def test_environ_replaced_by_a_plain_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """With os.environ replaced by a dict, before or after a getter was made, it is still read."""
    import os

    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "live")
    get = EnvStageProvider().stage_getter("m")
    assert get() is Stage.LIVE
    monkeypatch.setattr(os, "environ", {"MIGRATEKIT_STAGE_M": "complete"})
    assert get() is Stage.COMPLETE
    provider = EnvStageProvider()
    assert provider.get_stage("m") is Stage.COMPLETE
    assert repr(provider) == "EnvStageProvider(prefix='MIGRATEKIT_STAGE')"
