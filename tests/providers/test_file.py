"""Tests of FileStageProvider against real JSON and TOML files."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import ConfigurationError, Stage, migration
from migratekit._resolve import resolve_stage
from migratekit.providers import FileStageProvider

POLL_SECONDS = 30.0


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def decorated(name: str, provider: Any) -> Any:
    """A write migration: returns "new" when the new side is authoritative."""

    @migration.write(new=lambda: "new", name=name, provider=provider)
    def write() -> str:
        return "old"

    return write


def write_json(path: Path, content: object) -> None:
    """Write *content* atomically, the way the docs tell users to."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content))
    os.replace(temporary, path)


def wait_for(provider: FileStageProvider, name: str, stage: Stage) -> Stage:
    """Ask until *name* resolves to *stage* or the poll times out; returns the last answer."""
    deadline = time.monotonic() + POLL_SECONDS
    answer = resolve_stage(provider, name, None)
    while answer is not stage and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = resolve_stage(provider, name, None)
    return answer


def test_json_file_names_and_default(tmp_path: Path) -> None:
    """Names listed get their stage, in any case; '*' sets the others."""
    path = tmp_path / "stages.json"
    write_json(path, {"users.get": "Shadow", "*": "dualwrite"})
    provider = FileStageProvider(path)
    assert resolve_stage(provider, "users.get", None) is Stage.SHADOW
    assert resolve_stage(provider, "orders.save", None) is Stage.DUALWRITE


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is in Python 3.11+")
def test_toml_file_with_nested_tables(tmp_path: Path) -> None:
    """TOML tables and dotted keys join with dots into migration names."""
    path = tmp_path / "stages.toml"
    path.write_text('"*" = "off"\n"users.get" = "live"\n\n[orders]\nsave = "rampdown"\n')
    provider = FileStageProvider(path)
    assert resolve_stage(provider, "users.get", None) is Stage.LIVE
    assert resolve_stage(provider, "orders.save", None) is Stage.RAMPDOWN
    assert resolve_stage(provider, "other", None) is Stage.OFF


def test_file_without_default_gives_no_opinion(tmp_path: Path) -> None:
    """A name the file does not list, without '*', gets the process default stage."""
    path = tmp_path / "stages.json"
    write_json(path, {"a": "live"})
    assert FileStageProvider(path).get_stage("b") is None


def test_change_is_picked_up_by_polling(tmp_path: Path) -> None:
    """A rewritten file is read again within a few check intervals."""
    path = tmp_path / "stages.json"
    write_json(path, {"users.get": "off"})
    provider = FileStageProvider(path, check_interval=0.05)
    read = decorated("users.get", provider)
    assert read() == "old"
    write_json(path, {"users.get": "complete"})
    assert wait_for(provider, "users.get", Stage.COMPLETE) is Stage.COMPLETE
    assert read() == "new"


def test_no_stat_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between checks a call does not touch the file system."""
    path = tmp_path / "stages.json"
    write_json(path, {"users.get": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    calls = []
    real_stat = os.stat

    def counting_stat(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_stat(*args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(1000):
        assert provider.get_stage("users.get") is Stage.LIVE
    monkeypatch.undo()
    assert calls == []


def test_same_size_rewrite_in_place_is_seen(tmp_path: Path) -> None:
    """A value rewritten in place to one of the same length is read again."""
    path = tmp_path / "stages.json"
    path.write_text('{"m": "rampdown"}')
    provider = FileStageProvider(path, check_interval=3600)
    assert provider.get_stage("m") is Stage.RAMPDOWN
    path.write_text('{"m": "complete"}')
    provider.reload()
    assert provider.get_stage("m") is Stage.COMPLETE


def test_half_written_file_keeps_the_last_good_stages(tmp_path: Path) -> None:
    """A truncated file keeps the last stages, with one event; the fixed file is read."""
    path = tmp_path / "stages.json"
    path.write_text('{"users.get": "live", "*": "shadow"}')
    provider = FileStageProvider(path, check_interval=3600)
    read = decorated("users.get", provider)
    path.write_text('{"users.get": "comp')
    provider.reload()
    with capture_logs() as logs:
        results = [read() for _ in range(200)]
        other = resolve_stage(provider, "orders.save", None)
    assert results == ["new"] * 200
    assert other is Stage.SHADOW
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert errors[0]["source"] == str(path)
    assert errors[0]["stage"] == "live"
    assert "cannot be parsed" in errors[0]["error"]
    assert "keeping the stages last read" in errors[0]["error"]
    path.write_text('{"users.get": "complete"}')
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "users.get", None) is Stage.COMPLETE
    assert stage_errors(logs) == []


def test_invalid_value_gives_the_default_for_that_name_only(tmp_path: Path) -> None:
    """A value that is not a stage: default for its name, one event naming file and key."""
    path = tmp_path / "stages.json"
    write_json(path, {"users.get": "banana", "orders.save": 3, "*": "live"})
    provider = FileStageProvider(path)
    with capture_logs() as logs:
        for _ in range(50):
            assert resolve_stage(provider, "users.get", None) is Stage.OFF
            assert resolve_stage(provider, "orders.save", None) is Stage.OFF
            assert resolve_stage(provider, "other", None) is Stage.LIVE
    errors = stage_errors(logs)
    assert sorted(e["value"] for e in errors) == ["3", "banana"]
    assert {e["source"] for e in errors} == {f"{path} [users.get]", f"{path} [orders.save]"}


def test_messages_fit_an_event_with_the_fix_whole(tmp_path: Path) -> None:
    """A long path, key and parser message are cut in their middle; what to do stays whole."""
    folder = tmp_path / ("long-folder-name-" * 8)
    folder.mkdir()
    path = folder / "stages.json"
    path.write_text('{"users.get": "live",,' + " " * 300 + "}")
    provider = FileStageProvider(path)
    with capture_logs() as logs:
        resolve_stage(provider, "users.get", None)
    (error,) = stage_errors(logs)
    assert len(error["error"]) <= 200
    assert error["error"].endswith("; write it whole, then rename it into place")
    write_json(path, {"k" * 300: "banana" * 50})
    provider.reload()
    with capture_logs() as logs:
        resolve_stage(provider, "k" * 300, None)
    (error,) = stage_errors(logs)
    assert len(error["error"]) <= 200
    assert error["error"].endswith(
        "which is not a stage; expected one of off, dualwrite, shadow, live, rampdown, "
        "complete (any case)"
    )


def test_missing_file_gives_the_default_then_is_picked_up(tmp_path: Path) -> None:
    """No file: default stage and one event; once created, its stages are used."""
    path = tmp_path / "stages.json"
    provider = FileStageProvider(path, check_interval=3600)
    read = decorated("users.get", provider)
    with capture_logs() as logs:
        assert [read() for _ in range(100)] == ["old"] * 100
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert "does not exist" in errors[0]["error"]
    assert "using the default stage" in errors[0]["error"]
    write_json(path, {"users.get": "live"})
    provider.reload()
    assert read() == "new"


def test_deleted_file_keeps_the_last_good_stages(tmp_path: Path) -> None:
    """A file removed after a good read keeps its stages, with one event."""
    path = tmp_path / "stages.json"
    write_json(path, {"users.get": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    path.unlink()
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "users.get", None) is Stage.LIVE
    errors = stage_errors(logs)
    assert len(errors) == 1
    assert "does not exist" in errors[0]["error"]


@pytest.mark.parametrize(
    ("content", "words"),
    [("", "is empty"), ("[1, 2]", "holds a list"), ("\xff\xfe garbage", "cannot be parsed")],
)
def test_unusable_content_keeps_the_last_good_stages(
    tmp_path: Path, content: str, words: str
) -> None:
    """Empty, non-mapping or garbage content keeps the last good stages and says what is wrong."""
    path = tmp_path / "stages.json"
    write_json(path, {"m": "dualwrite"})
    provider = FileStageProvider(path, check_interval=3600)
    path.write_text(content)
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.DUALWRITE
    (error,) = stage_errors(logs)
    assert words in error["error"]


def test_bad_options_fail_at_once(tmp_path: Path) -> None:
    """An unknown suffix, format or interval raises ConfigurationError naming the fix."""
    with pytest.raises(ConfigurationError, match=r"ending in \.json or \.toml"):
        FileStageProvider(tmp_path / "stages.yaml")
    with pytest.raises(ConfigurationError, match="'format' must be 'json' or 'toml'"):
        FileStageProvider(tmp_path / "stages", format="yaml")
    with pytest.raises(ConfigurationError, match="'check_interval'"):
        FileStageProvider(tmp_path / "stages.json", check_interval=-1)
    with pytest.raises(TypeError, match="'path' must be a str or a path"):
        FileStageProvider(42)  # type: ignore[arg-type]


def test_format_can_be_named(tmp_path: Path) -> None:
    """format='json' reads a file whatever its suffix."""
    path = tmp_path / "stages.conf"
    path.write_text('{"m": "live"}')
    assert FileStageProvider(path, format="json").get_stage("m") is Stage.LIVE


# --- files that cannot be read, unchanged files, repr ------------------------------------


def test_path_through_a_file_cannot_be_read(tmp_path: Path) -> None:
    """A path whose folder is a file gives the default stage and says it cannot be read."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    provider = FileStageProvider(blocker / "stages.json")
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert "cannot be read (Not a directory)" in error["error"]
    assert error["value"] == "Not a directory"


def test_directory_instead_of_a_file_keeps_the_last_good_stages(tmp_path: Path) -> None:
    """A folder where the file was: the stages last read are kept, and the reason is told."""
    path = tmp_path / "stages.json"
    write_json(path, {"m": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    assert provider.get_stage("m") is Stage.LIVE
    path.unlink()
    path.mkdir()
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.LIVE
    (error,) = stage_errors(logs)
    assert "is a directory, not a regular file; keeping the stages last read" in error["error"]


def test_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    """A file whose size, time and inode are unchanged is not read again on a check."""
    path = tmp_path / "stages.json"
    path.write_text('{"m": "rampdown"}')
    old = time.time() - 3600
    os.utime(path, (old, old))
    provider = FileStageProvider(path, check_interval=3600)
    assert provider.get_stage("m") is Stage.RAMPDOWN
    stat = os.stat(path)
    path.write_text('{"m": "complete"}')  # same size, same inode
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    provider.reload()
    assert provider.get_stage("m") is Stage.RAMPDOWN
    os.utime(path, None)
    provider.reload()
    assert provider.get_stage("m") is Stage.COMPLETE


def test_repr_names_the_file(tmp_path: Path) -> None:
    """The repr of a file provider names its absolute path."""
    path = tmp_path / "stages.json"
    write_json(path, {})
    assert repr(FileStageProvider(path)) == f"FileStageProvider({str(path)!r})"


# --- files that are not files, files too big, hostile content, fork ----------------------------


def _unblock_fifo(fifo: Path) -> None:
    """Open *fifo* for writing and close it: a reader stuck in open() gets an empty read."""
    with contextlib.suppress(OSError):  # nobody is reading: nothing to unblock
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_symlink_to_a_fifo_keeps_the_last_good_stages_without_blocking(tmp_path: Path) -> None:
    """A FIFO put in the file's place is refused at once, and the stages last read are kept."""
    import threading

    path = tmp_path / "stages.json"
    write_json(path, {"m": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path.unlink()
    path.symlink_to(fifo)
    checker = threading.Thread(target=provider.reload, daemon=True)
    checker.start()
    checker.join(5)
    blocked = checker.is_alive()
    if blocked:
        _unblock_fifo(fifo)
        checker.join(5)
    assert not blocked, "reload() blocked on a FIFO"
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.LIVE
    (error,) = stage_errors(logs)
    assert "is a FIFO, not a regular file; keeping the stages last read" in error["error"]
    assert error["value"] == "a FIFO"


def test_symlink_to_a_device_is_not_read(tmp_path: Path) -> None:
    """A link to /dev/zero is refused without reading it (it never ends)."""
    import resource

    from tests._redis import in_forked_child

    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    path = tmp_path / "stages.json"
    path.symlink_to("/dev/zero")

    def child() -> object:
        # Should the provider read it anyway, it fails here rather than
        # taking the machine's memory.
        address_space = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + (256 << 20), address_space[1]))
        with capture_logs() as logs:
            stage = resolve_stage(FileStageProvider(path), "m", None)
        return stage, [e["value"] for e in stage_errors(logs)]

    assert in_forked_child(child, timeout=30) == repr((Stage.OFF, ["a character device"]))


def test_file_over_the_size_cap_keeps_the_last_good_stages(tmp_path: Path) -> None:
    """A file over 1 MiB is not read: the stages last read stay, and an event says why."""
    from migratekit.providers._file import MAX_FILE_SIZE

    path = tmp_path / "stages.json"
    write_json(path, {"m": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    write_json(path, {"m": "off", "padding": "x" * MAX_FILE_SIZE})
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.LIVE
    (error,) = stage_errors(logs)
    assert f"is larger than {MAX_FILE_SIZE} bytes" in error["error"]
    assert error["value"] == "too large"


def test_file_that_grows_past_the_cap_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read itself stops past the cap, should the file have grown since it was checked."""
    from migratekit.providers import _file

    path = tmp_path / "stages.json"
    path.write_bytes(b"x" * 50)
    assert _file._read_regular_file(str(path)) == b"x" * 50
    monkeypatch.setattr(_file, "MAX_FILE_SIZE", 49)
    assert _file._read_regular_file(str(path)) is None


def test_huge_value_is_kept_and_shown_bounded(tmp_path: Path) -> None:
    """A value of half a megabyte: the error raised, and its event, hold a short fingerprint."""
    from migratekit.exceptions import StageError

    path = tmp_path / "stages.json"
    write_json(path, {"m": "z" * 500_000})
    provider = FileStageProvider(path)
    with pytest.raises(StageError) as info:
        provider.get_stage("m")
    assert len(str(info.value)) < 1000
    assert "500000 characters" in str(info.value.value)


def test_deeply_dotted_toml_key_is_refused_quickly(tmp_path: Path) -> None:
    """A TOML key nested thousands deep is a stage error, not a long parse or a RecursionError."""
    if sys.version_info < (3, 11):
        pytest.importorskip("tomli")
    path = tmp_path / "stages.toml"
    path.write_text("a." * 5000 + 'a = "live"\n')
    started = time.monotonic()
    provider = FileStageProvider(path)
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    assert time.monotonic() - started < 2.0
    (error,) = stage_errors(logs)
    assert "more than 64 dots" in error["error"]


def test_long_table_name_is_refused(tmp_path: Path) -> None:
    """A key longer than a migration name can be makes the file unusable, the last stages kept."""
    from migratekit.providers._file import MAX_NAME_LENGTH

    path = tmp_path / "stages.json"
    write_json(path, {"m": "shadow"})
    provider = FileStageProvider(path, check_interval=3600)
    write_json(path, {"t" * (MAX_NAME_LENGTH + 1): {"k": "live"}, "m": "off"})
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.SHADOW
    (error,) = stage_errors(logs)
    assert f"has a key longer than {MAX_NAME_LENGTH} characters" in error["error"]


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    """A file naming more migrations than the cap is a stage error, the last stages kept."""
    from migratekit.providers._file import MAX_ENTRIES

    path = tmp_path / "stages.json"
    write_json(path, {"m": "dualwrite"})
    provider = FileStageProvider(path, check_interval=3600)
    write_json(path, {f"m{index}": "live" for index in range(MAX_ENTRIES + 1)})
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.DUALWRITE
    (error,) = stage_errors(logs)
    assert f"names more than {MAX_ENTRIES} migrations" in error["error"]


def test_child_forked_during_a_reload_checks_the_file_itself(tmp_path: Path) -> None:
    """A child forked while another thread reads the file does not wait out check_interval."""
    import threading

    from tests._redis import in_forked_child

    path = tmp_path / "stages.json"
    write_json(path, {"m": "shadow"})
    provider = FileStageProvider(path, check_interval=3600)
    write_json(path, {"m": "live"})
    old = time.time() - 3600  # not recent: its signature alone says it was read
    os.utime(path, (old, old))
    entered, release = threading.Event(), threading.Event()
    parent, loads = os.getpid(), provider._loads

    def slow_loads(data: bytes) -> object:
        if os.getpid() == parent:
            entered.set()
            release.wait(POLL_SECONDS)
        return loads(data)

    provider._loads = slow_loads
    reader = threading.Thread(target=provider.reload, daemon=True)
    reader.start()
    try:
        assert entered.wait(POLL_SECONDS)
        answer = in_forked_child(lambda: provider.get_stage("m"))
    finally:
        release.set()
        reader.join(POLL_SECONDS)
    assert answer == repr(Stage.LIVE)
    assert provider.get_stage("m") is Stage.LIVE


@pytest.mark.parametrize(
    ("outcome", "value"),
    [
        ("fifo", "a FIFO"),
        ("unreadable", "Permission denied"),
        ("grown", "too large"),
    ],
)
def test_file_replaced_between_check_and_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str, value: str
) -> None:
    """A file that became a FIFO, unreadable or too big since its stat is reported, stages kept."""
    import errno

    from migratekit.providers import _file

    def read(path: str) -> bytes | None:
        if outcome == "fifo":
            raise _file._NotRegular("a FIFO")
        if outcome == "unreadable":
            raise PermissionError(errno.EACCES, "Permission denied")
        return None

    path = tmp_path / "stages.json"
    write_json(path, {"m": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    monkeypatch.setattr(_file, "_read_regular_file", read)
    os.utime(path, None)
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.LIVE
    assert [e["value"] for e in stage_errors(logs)] == [value]


def test_read_regular_file_refuses_a_fifo_it_opens(tmp_path: Path) -> None:
    """Opened without blocking, a FIFO is refused by fstat; odd modes are named generically."""
    from migratekit.providers import _file

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(_file._NotRegular) as info:
        _file._read_regular_file(str(fifo))
    assert info.value.kind == "a FIFO"
    assert _file._kind(0) == "not a regular file"


def test_parser_error_whose_message_cannot_be_read(tmp_path: Path) -> None:
    """A parser raising an exception whose str() raises is reported by the exception's class."""

    class Unreadable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    def loads(data: bytes) -> object:
        raise Unreadable

    path = tmp_path / "stages.json"
    write_json(path, {"m": "live"})
    provider = FileStageProvider(path, check_interval=3600)
    provider._loads = loads
    os.utime(path, None)
    provider.reload()
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.LIVE
    (error,) = stage_errors(logs)
    assert error["value"] == "Unreadable"


def test_after_fork_hook_makes_the_next_call_check_the_file(tmp_path: Path) -> None:
    """The after-fork hook clears the next check and the signature of the last read."""
    from migratekit.providers import _base

    path = tmp_path / "stages.json"
    write_json(path, {"m": "shadow"})
    provider = FileStageProvider(path, check_interval=3600)
    _base._after_fork_in_child()
    assert (provider._next_check, provider._signature) == (0.0, None)
