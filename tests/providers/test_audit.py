"""
Tests of the audit trail: the record of a change, the migration.stage_change
event, the journal beside a stage file (StageFile), the Redis stream, and two
writers at once on a real file and a real redis-server.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import ConfigurationError, Stage
from migratekit._resolve import resolve_stage
from migratekit._schema import STAGE_CHANGE_EVENT, STAGE_CHANGE_FIELDS
from migratekit.exceptions import StageError
from migratekit.providers import FileStageProvider, RedisStageProvider, _audit
from migratekit.providers._audit import (
    StageChange,
    change_from_record,
    default_actor,
    new_change,
    read_journal,
)
from migratekit.providers._stagefile import StageFile
from tests._redis import RedisServer, redis_binary, redis_server
from tests.hostile import value_list

__all__ = ["redis_binary", "redis_server"]  # fixtures, imported to be found by pytest

JOIN_TIMEOUT = 60.0


def changes_of(logs: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == STAGE_CHANGE_EVENT]


def assert_chain(changes: Sequence[StageChange], first_old: str | None, last: str | None) -> None:
    """Each change's old is the stage the change before it left: no two saw the same old."""
    olds = [change.old for change in changes]
    news = [change.new for change in changes]
    assert olds == [first_old, *news[:-1]]
    assert news[-1] == last


# -- the record ---------------------------------------------------------------------------------


def test_a_change_records_every_field() -> None:
    """new_change fills time (UTC), actor (user@host), action from the stage; old comes later."""
    change = new_change("users.get", "Shadow", reason="canary clean", source="here")
    assert change.new == "shadow"
    assert change.old is None
    assert change.action == "set"
    assert change.actor == default_actor()
    assert change.time.endswith("+00:00")
    assert tuple(change.as_dict()) == STAGE_CHANGE_FIELDS
    unset = new_change("*", None, actor="alice", source="here")
    assert (unset.new, unset.action, unset.actor, unset.reason) == (None, "unset", "alice", None)
    advance = new_change("m", Stage.LIVE, action="advance", source="here")
    assert advance.action == "advance"


def test_default_actor_without_a_user_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process whose user has no name (a container's uid) is named by its uid."""
    import getpass
    import socket

    def no_name() -> str:
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert default_actor() == f"{os.getuid()}@{socket.gethostname()}"


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"name": ""}, "name must be 1 to 1024 characters"),
        ({"name": "x" * 1025}, "name must be 1 to 1024 characters"),
        ({"name": 7}, "name must be a str (got 7 that is a int)"),
        ({"stage": "banana"}, "stage must name a stage (got 'banana')"),
        ({"actor": "  "}, "actor must be 1 to 200 characters, not only blanks"),
        ({"actor": b"bob"}, "actor must be a str"),
        ({"reason": "r" * 1001}, "reason must be 1 to 1000 characters"),
        ({"action": "yolo"}, "action must be one of 'set', 'unset', 'advance', 'rollback'"),
    ],
)
def test_what_cannot_be_recorded_is_refused(arguments: dict[str, Any], words: str) -> None:
    """A name, stage, actor, reason or action that cannot be recorded is a ConfigurationError."""
    given: dict[str, Any] = {"name": "m", "stage": "live", **arguments}
    with pytest.raises(ConfigurationError) as info:
        new_change(given.pop("name"), given.pop("stage"), source="here", **given)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "recipe", [recipe for recipe in value_list() if not recipe.heavy], ids=lambda r: r.label
)
@pytest.mark.parametrize("field", ["name", "stage", "actor", "reason", "action"])
def test_hostile_arguments_are_refused_or_taken_safely(recipe: Any, field: str) -> None:
    """Hostile objects in any argument give a ConfigurationError or a record, nothing else."""
    given: dict[str, Any] = {"name": "m", "stage": "live", field: recipe()}
    try:
        change = new_change(given.pop("name"), given.pop("stage"), source="here", **given)
    except ConfigurationError as exc:
        message = str(exc)
    else:
        for value in change.as_dict().values():
            assert value is None or type(value) is str
        message = json.dumps(change.as_dict())
    assert len(message) < 1000


def test_the_event_carries_the_record_at_info() -> None:
    """log_change emits migration.stage_change at info, with exactly the record's fields."""
    change = new_change("m", "live", actor="a", reason="r", source="s")
    with capture_logs() as logs:
        _audit.log_change(change)
    (event,) = changes_of(logs)
    assert event.pop("log_level") == "info"
    assert event.pop("event") == STAGE_CHANGE_EVENT
    assert event == change.as_dict()


def test_no_event_when_info_is_dropped(tmp_path: Path) -> None:
    """An application logging at warning gets no stage_change event; the change is recorded."""
    import logging

    import structlog

    seen: list[Any] = []

    def keep(logger: Any, method: str, event: Any) -> Any:
        seen.append(event)
        raise structlog.DropEvent

    structlog.configure(processors=[keep],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    store = StageFile(tmp_path / "stages.json")
    assert store.change_stage("m", "live").new == "live"
    assert seen == []
    assert len(store.stage_history()) == 1
    assert repr(_audit.ANY) == "ANY"


def test_a_failing_log_pipeline_does_not_undo_the_change(tmp_path: Path) -> None:
    """A structlog processor that raises: the change is made and recorded all the same."""
    import structlog

    def broken(logger: Any, method: str, event: Any) -> Any:
        raise RuntimeError("pipeline down")

    structlog.configure(processors=[broken])
    store = StageFile(tmp_path / "stages.json")
    change = store.change_stage("m", "live")
    assert change.new == "live"
    assert store.raw_stage("m") == "live"
    assert [c.new for c in store.stage_history("m")] == ["live"]


def test_records_read_back_are_bounded_and_tolerant() -> None:
    """Entries that are not changes give None; odd values become bounded text."""
    assert change_from_record(["not", "a", "mapping"]) is None
    assert change_from_record({"time": "t"}) is None
    assert change_from_record({"migration": "m"}) is None
    change = change_from_record(
        {"time": "t", "migration": "m" * 5000, "old": {"x": [1, 2]}, "new": 3,
         "actor": "\x1b[31mred", "extra": "ignored"}
    )
    assert change is not None
    assert len(change.migration) < 400
    assert change.old == '{"x": [1, 2]}'
    assert change.new == "3"
    assert "\x1b" not in change.actor
    assert (change.reason, change.action, change.source) == (None, "", "")


# -- the journal beside a stage file ------------------------------------------------------------


def test_journal_lines_that_are_not_changes_are_passed_over(tmp_path: Path) -> None:
    """Torn, foreign, overlong and non-UTF-8 lines are skipped; the changes around them read."""
    path = tmp_path / "stages.json.audit.jsonl"
    good = json.dumps({"time": "t1", "migration": "m", "new": "live"})
    path.write_bytes(
        b"\n".join([
            good.encode(),
            b'{"time": "t2", "migration": "m", "new": "sh',  # torn by a crash
            b"[1, 2, 3]",
            b"\xff\xfe",
            b'{"time": "t3", "migration": "' + b"x" * 200_000 + b'"}',
            json.dumps({"time": "t4", "migration": "other", "new": "off"}).encode(),
            json.dumps({"time": "t5", "migration": "m", "new": None}).encode(),
        ]) + b"\n"
    )
    assert [c.time for c in read_journal(str(path), "m", None)] == ["t1", "t5"]
    assert [c.time for c in read_journal(str(path), None, None)] == ["t1", "t4", "t5"]
    assert [c.time for c in read_journal(str(path), None, 2)] == ["t4", "t5"]
    assert read_journal(str(path), None, 0) == []
    assert read_journal(str(tmp_path / "none.jsonl"), None, None) == []


# -- a stage file as a store --------------------------------------------------------------------


def test_set_and_unset_rewrite_the_file_and_append_to_the_journal(tmp_path: Path) -> None:
    """Each change rewrites the file whole and appends one fsynced JSON line to the journal."""
    path = tmp_path / "stages.json"
    store = StageFile(path)
    assert (store.raw_stage("m"), store.stages(), store.stage_history()) == (None, {}, [])
    with capture_logs() as logs:
        first = store.change_stage("users.get", "shadow", actor="alice", reason="canary")
        store.change_stage("*", "off")
        second = store.change_stage("users.get", "LIVE")
        gone = store.change_stage("users.get", None)
        nothing = store.change_stage("never.set", None)
    assert json.loads(path.read_text()) == {"*": "off"}
    assert (first.old, first.new, first.actor, first.reason) == (None, "shadow", "alice", "canary")
    assert (second.old, second.new) == ("shadow", "live")
    assert (gone.old, gone.new, gone.action) == ("live", None, "unset")
    assert (nothing.old, nothing.new) == (None, None)
    assert first.source == f"{path} [users.get]"
    lines = (tmp_path / "stages.json.audit.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        change.as_dict() for change in store.stage_history(limit=None)
    ]
    assert [e["new"] for e in changes_of(logs)] == ["shadow", "off", "live", None, None]
    assert [c.new for c in store.stage_history("users.get")] == ["shadow", "live", None]
    assert [c.migration for c in store.stage_history(limit=2)] == ["users.get", "never.set"]


def test_a_provider_reading_the_file_sees_each_change(tmp_path: Path) -> None:
    """FileStageProvider reads what StageFile wrote, at its next check."""
    path = tmp_path / "stages.json"
    store = StageFile(path)
    store.change_stage("*", "dualwrite")
    provider = FileStageProvider(path, check_interval=0)
    assert resolve_stage(provider, "users.get", None) is Stage.DUALWRITE
    store.change_stage("users.get", "rampdown")
    assert resolve_stage(provider, "users.get", None) is Stage.RAMPDOWN
    store.change_stage("users.get", None)
    assert resolve_stage(provider, "users.get", None) is Stage.DUALWRITE


def test_compare_and_set_changes_only_what_was_expected(tmp_path: Path) -> None:
    """With expect, a store holding something else is left alone: nothing written or recorded."""
    store = StageFile(tmp_path / "stages.json")
    assert store.change_stage("m", "shadow", expect=None) is not None
    assert store.change_stage("m", "live", expect="off") is None
    assert store.change_stage("m", "live", expect=None) is None
    done = store.change_stage("m", "live", expect="shadow", action="advance")
    assert done is not None
    assert (done.old, done.new, done.action) == ("shadow", "live", "advance")
    assert store.raw_stage("m") == "live"
    assert [c.new for c in store.stage_history("m")] == ["shadow", "live"]


def test_nested_and_odd_entries_are_kept_flat(tmp_path: Path) -> None:
    """Nested tables become dotted keys (the same migrations); values that are no stage stay."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"orders": {"save": "dualwrite", "get": 3}, "*": "off"}))
    store = StageFile(path)
    change = store.change_stage("orders.save", "shadow")
    assert change.old == "dualwrite"
    assert json.loads(path.read_text()) == {"orders.save": "shadow", "orders.get": 3, "*": "off"}
    assert store.raw_stage("orders.get") == "3"
    assert store.stages() == {"*": "off", "orders.get": "3", "orders.save": "shadow"}


def test_toml_is_written_back_flat_and_reads_the_same(tmp_path: Path) -> None:
    """A TOML file is rewritten with quoted dotted keys and its strings, numbers and dates."""
    from migratekit.providers._file import _toml_loads

    if sys.version_info < (3, 11):
        pytest.importorskip("tomli")
    path = tmp_path / "stages.toml"
    path.write_text(
        '"*" = "off"\nwhen = 2024-05-01T12:00:00Z\n[orders]\nsave = "dualwrite"\n'
        'n = 3\nratio = 0.5\nflag = true\nodd = "tab\\there \\u007f"\n'
    )
    StageFile(path).change_stage("orders.save", "shadow")
    content = _toml_loads()(path.read_text())
    assert content["orders.save"] == "shadow"
    assert (content["orders.n"], content["orders.ratio"], content["orders.flag"]) == (3, 0.5, True)
    assert content["orders.odd"] == "tab\there \x7f"
    assert content["when"].year == 2024
    provider = FileStageProvider(path)
    assert resolve_stage(provider, "orders.save", None) is Stage.SHADOW


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('"*" = "off"  # the default\n', "holds a '#': a comment"),
        ('other = ["off"]\n', "holds a list, which migratekit does not write back in TOML"),
        ('m = "li', "cannot be parsed ("),
    ],
)
def test_toml_that_cannot_be_written_back_is_left_alone(
    tmp_path: Path, content: str, words: str
) -> None:
    """Comments, arrays and broken TOML: the change is refused, file and journal untouched."""
    path = tmp_path / "stages.toml"
    path.write_text(content)
    store = StageFile(path)
    with pytest.raises(StageError) as info:
        store.change_stage("m", "live")
    assert words in str(info.value)
    assert path.read_text() == content
    assert store.stage_history() == []
    if "#" in content:
        assert store.raw_stage("*") == "off"  # read, all the same


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"m": "li', "cannot be parsed (Unterminated string"),
        ("[1, 2]", "holds a list, not a mapping of migration names to stages"),
        ('{"' + "k" * 1100 + '": "off"}', "has a key longer than 1024 characters"),
    ],
)
def test_json_that_cannot_be_read_is_left_alone(tmp_path: Path, content: str, words: str) -> None:
    """A broken or unusable file is not overwritten: the change fails, nothing is recorded."""
    path = tmp_path / "stages.json"
    path.write_text(content)
    store = StageFile(path)
    with pytest.raises(StageError) as info:
        store.change_stage("m", "live")
    assert words in str(info.value)
    assert len(str(info.value)) <= 200
    assert path.read_text() == content
    assert store.stage_history() == []
    with pytest.raises(StageError):
        store.raw_stage("m")


def test_too_many_migrations_or_bytes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that would make the file unreadable to the provider is not made."""
    from migratekit.providers import _file

    path = tmp_path / "stages.json"
    store = StageFile(path)
    store.change_stage("a", "off")
    monkeypatch.setattr(_file, "MAX_ENTRIES", 1)
    with pytest.raises(StageError, match="would name more than 1 migrations; not changed"):
        store.change_stage("b", "off")
    monkeypatch.setattr(_file, "MAX_ENTRIES", 10)
    monkeypatch.setattr(_file, "MAX_FILE_SIZE", 30)
    with pytest.raises(StageError, match="would be larger than 30 bytes; not changed"):
        store.change_stage("a-much-longer-name", "dualwrite")
    assert json.loads(path.read_text()) == {"a": "off"}
    assert len(store.stage_history()) == 1


def test_an_empty_file_is_filled(tmp_path: Path) -> None:
    """An empty stage file (which the provider reports) takes a first stage."""
    path = tmp_path / "stages.json"
    path.write_text("  \n")
    assert StageFile(path).change_stage("m", "live").old is None
    assert json.loads(path.read_text()) == {"m": "live"}


def test_a_file_that_cannot_be_read_or_is_too_big_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreadable or over the size cap: the change fails with why, the file stays as it was."""
    from migratekit.providers import _file

    path = tmp_path / "stages.json"
    path.write_text('{"m": "off"}')
    store = StageFile(path)
    monkeypatch.setattr(_file, "MAX_FILE_SIZE", 5)
    with pytest.raises(StageError, match="is larger than 5 bytes"):
        store.change_stage("m", "live")

    def unreadable(path: str) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_file, "_read_regular_file", unreadable)
    with pytest.raises(StageError, match=r"cannot be read \(Permission denied\)"):
        store.raw_stage("m")
    monkeypatch.undo()
    assert store.raw_stage("m") == "off"
    assert store.stage_history() == []


def test_a_full_disk_leaves_file_journal_and_folder_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the new file fails: its temporary goes, the file and the journal are untouched."""
    import errno

    path = tmp_path / "stages.json"
    store = StageFile(path)
    store.change_stage("m", "off")
    journal = (tmp_path / "stages.json.audit.jsonl").read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        store.change_stage("m", "live")
    monkeypatch.undo()
    assert (tmp_path / "stages.json.audit.jsonl").read_bytes() == journal
    assert json.loads(path.read_text()) == {"m": "off"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stages.json", "stages.json.audit.jsonl"]


def test_lone_surrogates_are_written_as_escapes(tmp_path: Path) -> None:
    """A key read from a \\ud800 escape cannot be UTF-8: the file is written back as ASCII."""
    path = tmp_path / "stages.json"
    path.write_text('{"bad\\ud800": "off"}')
    StageFile(path).change_stage("m", "live")
    assert "\\ud800" in path.read_text()
    assert json.loads(path.read_text()) == {"bad\ud800": "off", "m": "live"}


def test_permissions_are_kept_and_a_link_is_followed(tmp_path: Path) -> None:
    """The new file has the old one's mode; a symlink stays a symlink to the changed file."""
    real = tmp_path / "real.json"
    real.write_text('{"m": "off"}')
    real.chmod(0o640)
    link = tmp_path / "stages.json"
    link.symlink_to(real)
    StageFile(link).change_stage("m", "live")
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"m": "live"}
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert (tmp_path / "stages.json.audit.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_failed_rename_takes_the_journal_line_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename fails after the line was written: the line goes, and so does the temporary."""
    path = tmp_path / "stages.json"
    store = StageFile(path)
    store.change_stage("m", "off")
    journal = (tmp_path / "stages.json.audit.jsonl").read_bytes()

    def refuse(source: str, target: str) -> None:
        raise PermissionError(13, "Permission denied", target)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        store.change_stage("m", "live")
    monkeypatch.undo()
    assert (tmp_path / "stages.json.audit.jsonl").read_bytes() == journal
    assert json.loads(path.read_text()) == {"m": "off"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stages.json", "stages.json.audit.jsonl"]


def test_a_huge_old_value_is_recorded_bounded(tmp_path: Path) -> None:
    """Whatever the file held before, the record keeps a bounded, printable trace of it."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"m": "\x1b[2J" + "x" * 100_000}))
    change = StageFile(path).change_stage("m", "live")
    assert change.old is not None
    assert len(change.old) < 300
    assert "\x1b" not in change.old
    assert "100004 characters" in change.old


def test_stage_file_checks_its_arguments(tmp_path: Path) -> None:
    """A path that is no path, or a format that is none, fails at once."""
    with pytest.raises(ConfigurationError, match="'path' must be a str or a path"):
        StageFile(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"ending in \.json or \.toml"):
        StageFile(tmp_path / "stages.yaml")
    assert StageFile(tmp_path / "stages", format="json").format == "json"
    assert repr(StageFile(tmp_path / "s.json")) == f"StageFile({str(tmp_path / 's.json')!r})"


# -- Redis ----------------------------------------------------------------------------------------


def test_redis_changes_go_to_the_audit_stream(redis_server: RedisServer) -> None:
    """set_stage, delete_stage and change_stage each append one entry to migratekit:audit."""
    import redis

    provider = RedisStageProvider(redis_server.url)
    assert provider.audit_key == "migratekit:audit"
    with capture_logs() as logs:
        provider.set_stage("users.get", "shadow")
        change = provider.change_stage("users.get", "live", actor="bob", reason="clean")
        assert provider.delete_stage("users.get") is True
        assert provider.delete_stage("users.get") is False
    assert (change.old, change.new, change.actor, change.reason) == ("shadow", "live", "bob",
                                                                     "clean")
    assert change.source == f"{provider.where} migratekit:stage:users.get"
    history = provider.stage_history("users.get")
    assert [(c.old, c.new) for c in history] == [
        (None, "shadow"), ("shadow", "live"), ("live", None), (None, None)
    ]
    assert history[1] == change
    assert [e["new"] for e in changes_of(logs)] == ["shadow", "live", None, None]
    client = redis.Redis.from_url(redis_server.url)
    assert client.xlen("migratekit:audit") == 4
    assert provider.stages() == {}
    client.close()


def test_redis_compare_and_set(redis_server: RedisServer) -> None:
    """With expect, Redis holding something else is left alone and nothing is recorded."""
    provider = RedisStageProvider(redis_server.url)
    assert provider.change_stage("m", "shadow", expect=None) is not None
    assert provider.change_stage("m", "live", expect="off") is None
    assert provider.change_stage("m", "live", expect=None) is None
    done = provider.change_stage("m", "live", expect="shadow", action="advance")
    assert done is not None
    assert (done.old, done.action) == ("shadow", "advance")
    assert provider.raw_stage("m") == "live"
    assert len(provider.stage_history("m")) == 2


def test_the_provider_sees_its_own_change_at_once(redis_server: RedisServer) -> None:
    """A change made through a provider is what that provider answers next, whatever its ttl."""
    provider = RedisStageProvider(redis_server.url, ttl=3600)
    provider.change_stage("*", "shadow")
    assert provider.get_stage("m") is Stage.SHADOW
    provider.change_stage("m", "live")
    assert provider.get_stage("m") is Stage.LIVE
    provider.change_stage("m", None)
    assert provider.get_stage("m") is Stage.SHADOW


def test_the_prefix_names_the_stream(redis_server: RedisServer) -> None:
    """myapp:stage: records in myapp:audit; a prefix without stage: in <prefix>audit."""
    tagged = RedisStageProvider(redis_server.url, prefix="{mk}:stage:")
    assert tagged.audit_key == "{mk}:audit"
    tagged.change_stage("m", "live")
    assert [c.new for c in tagged.stage_history()] == ["live"]
    assert RedisStageProvider(redis_server.url).stage_history() == []
    bare = RedisStageProvider(redis_server.url, prefix="app:")
    assert bare.audit_key == "app:audit"
    with pytest.raises(ConfigurationError, match="is the audit stream's"):
        bare.change_stage("audit", "live")
    bare.change_stage("m", "off")
    assert bare.stages() == {"m": "off"}  # the stream under the prefix is no stage
    assert bare.get_stage("audit") is None


def test_the_stream_is_bounded(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """MAXLEN ~ keeps the stream near its bound, however many changes are made."""
    import redis

    from migratekit.providers import _redis

    monkeypatch.setattr(_redis, "AUDIT_MAXLEN", 10)
    provider = RedisStageProvider(redis_server.url)
    for index in range(300):
        provider.change_stage("m", "live" if index % 2 else "off")
    client = redis.Redis.from_url(redis_server.url)
    assert client.xlen("migratekit:audit") < 200
    client.close()


def test_history_pages_through_a_long_stream(redis_server: RedisServer) -> None:
    """More changes than one page of XREVRANGE: the newest come back, newest last, in order."""
    provider = RedisStageProvider(redis_server.url)
    for index in range(1200):
        provider.change_stage(f"m{index % 3}", "live" if index % 2 else "off")
    everything = provider.stage_history(limit=None)
    assert len(everything) == 1200
    assert [c.time for c in everything] == sorted(c.time for c in everything)
    mine = provider.stage_history("m1", limit=None)
    assert len(mine) == 400
    assert provider.stage_history("m1", limit=3) == mine[-3:]
    assert provider.stage_history(limit=0) == []


def test_stream_ids_step_back() -> None:
    """The id before another, for an exclusive XREVRANGE bound on any Redis version."""
    from migratekit.providers._redis import _before

    assert _before("1700000000000-5") == "1700000000000-4"
    assert _before("1700000000000-0") == "1699999999999-18446744073709551615"


def test_hostile_stream_entries_are_read_safely(redis_server: RedisServer) -> None:
    """Entries someone else added, odd, huge or binary, are read bounded or passed over."""
    import redis

    provider = RedisStageProvider(redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    client.xadd("migratekit:audit", {"junk": "1"})
    client.xadd("migratekit:audit", {"time": "t", "migration": "m", "actor": b"\xff\x1b]0;x\x07",
                                     "new": "y" * 100_000})
    (change,) = provider.stage_history()
    assert "\x1b" not in change.actor
    assert change.new is not None
    assert len(change.new) < 300
    client.close()


def test_a_huge_old_redis_value_is_recorded_bounded(redis_server: RedisServer) -> None:
    """Megabytes at the key: the stream and the record keep a couple of hundred bytes of it."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.set("migratekit:stage:m", b"\x1b[2J" + b"x" * 2_000_000)
    provider = RedisStageProvider(redis_server.url)
    change = provider.change_stage("m", "live")
    assert change.old is not None
    assert len(change.old) < 300
    assert change.old.endswith("…")
    assert "\x1b" not in change.old
    entries: Any = client.xrange("migratekit:audit")
    ((_, fields),) = entries
    assert len(fields[b"old"]) < 300
    client.close()


def test_a_key_of_another_type_fails_the_change_whole(redis_server: RedisServer) -> None:
    """The script stops at its first error: a key holding a hash is not changed nor recorded."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.hset("migratekit:stage:m", "a", "b")
    provider = RedisStageProvider(redis_server.url)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        provider.change_stage("m", "live")
    assert client.type("migratekit:stage:m") == b"hash"
    assert provider.stage_history() == []
    client.close()


# -- two writers at once ------------------------------------------------------------------------


def run_at_once(count: int, work: Callable[[int], None]) -> None:
    """Run work(0..count-1) in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def one(index: int) -> None:
        try:
            barrier.wait(JOIN_TIMEOUT)
            work(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


STAGES = [stage.value for stage in Stage]


def test_concurrent_changes_of_a_file_are_each_recorded_once(tmp_path: Path) -> None:
    """Writers at once on one file: every change recorded, each old the previous change's new."""
    path = tmp_path / "stages.json"
    StageFile(path).change_stage("*", "off")  # another key, which no writer may lose

    def work(index: int) -> None:
        store = StageFile(path)  # one open journal per writer, as in two processes
        for step in range(15):
            store.change_stage("users.get", STAGES[(index + step) % len(STAGES)],
                               actor=f"writer-{index}")

    run_at_once(6, work)
    store = StageFile(path)
    history = store.stage_history("users.get", limit=None)
    assert len(history) == 90
    assert_chain(history, None, store.raw_stage("users.get"))
    assert store.raw_stage("*") == "off"
    assert {c.actor for c in history} == {f"writer-{index}" for index in range(6)}


def test_concurrent_changes_in_redis_are_each_recorded_once(redis_server: RedisServer) -> None:
    """Writers at once on one Redis key: every change recorded, each old the previous one's new."""
    def work(index: int) -> None:
        provider = RedisStageProvider(redis_server.url, timeout=5.0)
        for step in range(25):
            provider.change_stage("users.get", STAGES[(index + step) % len(STAGES)],
                                  actor=f"writer-{index}")
        provider.close()

    run_at_once(6, work)
    provider = RedisStageProvider(redis_server.url)
    history = provider.stage_history("users.get", limit=None)
    assert len(history) == 150
    assert_chain(history, None, provider.raw_stage("users.get"))
