"""Tests of EnvStageProvider: stages from environment variables."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, Stage
from migratekit.providers import EnvStageProvider
from tests.helpers import make, run, stage_errors, stage_of

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


def test_env_provider_bad_prefix() -> None:
    """EnvStageProvider(prefix='') raises a ConfigurationTypeError naming 'prefix'."""
    with pytest.raises(ConfigurationError, match="prefix"):
        EnvStageProvider(prefix="")


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
    from migratekit.providers import _env

    provider = EnvStageProvider(environ={"MIGRATEKIT_STAGE": "shadow"})
    limit = _env._GETTERS_LIMIT
    for index in range(limit + 300):
        assert provider.get_stage(f"name.{index}") is Stage.SHADOW
    assert len(provider._getters) == limit
    assert "name.0" not in provider._getters


def test_empty_environ_mapping_is_not_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ={} is an empty environment, not a cue to read os.environ."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "live")
    assert EnvStageProvider(environ={}).get_stage("m") is None


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
