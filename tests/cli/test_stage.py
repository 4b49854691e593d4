"""Tests of `migratekit stage`: which stage a migration is in and who says so; Redis stages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migratekit import Stage
from migratekit._cli import main
from migratekit.providers import (
    CachedStageProvider,
    EnvStageProvider,
    FallbackStageProvider,
    PercentageRolloutProvider,
    StaticStageProvider,
)
from migratekit.providers._explain import explain_stage
from tests._redis import RedisServer, free_port, redis_binary, redis_server

__all__ = ["redis_binary", "redis_server"]  # fixtures, imported to be found by pytest


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in this process; return status, stdout and stderr."""
    status = main(["stage", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_env_variable_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no source given, the environment is asked and the variable is named."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "Shadow")
    status, out, err = run(capsys, "users.get")
    assert status == 0
    assert (
        out == "users.get: shadow  (from MIGRATEKIT_STAGE_USERS_GET='Shadow', EnvStageProvider)\n"
    )
    assert err == ""


def test_global_variable_and_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIGRATEKIT_STAGE is named when it decides; nothing set says the default was used."""
    status, out, _ = run(capsys, "users.get")
    assert (status, out) == (0, "users.get: off  (default stage: no provider set one)\n")
    monkeypatch.setenv("MIGRATEKIT_STAGE", "live")
    status, out, _ = run(capsys, "users.get", "--format", "json")
    assert status == 0
    assert json.loads(out) == {
        "migration": "users.get",
        "stage": "live",
        "provider": "EnvStageProvider",
        "source": "MIGRATEKIT_STAGE='live'",
        "default": False,
        "context": None,
        "problems": [],
    }


def test_bad_value_is_a_warning_and_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable holding no stage: the default stage, a warning line, exit status 1."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_USERS_GET", "banana")
    status, out, err = run(capsys, "users.get", "--default-stage", "dualwrite")
    assert status == 1
    assert out.startswith("users.get: dualwrite  (default stage")
    assert "MIGRATEKIT_STAGE_USERS_GET='banana' is not a stage" in err


def test_file_then_env_in_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--file and --env form a chain in the order given; the key of the file is named."""
    monkeypatch.setenv("MIGRATEKIT_STAGE", "live")
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"users.get": "rampdown"}))
    status, out, _ = run(capsys, "users.get", "--file", str(path), "--env")
    assert status == 0
    assert out == f"users.get: rampdown  (from {path} [users.get], FileStageProvider)\n"
    status, out, _ = run(capsys, "orders.save", "--file", str(path), "--env")
    assert out == "orders.save: live  (from MIGRATEKIT_STAGE='live', EnvStageProvider)\n"


def test_half_written_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A file that cannot be parsed gives the default and a warning naming the file."""
    path = tmp_path / "stages.json"
    path.write_text('{"users.get": "li')
    status, out, err = run(capsys, "users.get", "--file", str(path))
    assert status == 1
    assert "default stage" in out
    assert err.startswith(f"migratekit stage: warning: stage file {str(path)[:20]}")
    assert "stages.json cannot be parsed (Unterminated string" in err


def test_long_path_and_parser_message_leave_the_fix_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A long path and a long parser message are cut in their middle, never the fix at the end."""
    folder = tmp_path / ("deep-" * 30)
    folder.mkdir()
    path = folder / "stages.json"
    path.write_text('{"users.get": "live",,' + " " * 500 + "}")
    status, _, err = run(capsys, "users.get", "--file", str(path))
    assert status == 1
    (line,) = err.splitlines()
    assert line.endswith("; using the default stage; write it whole, then rename it into place")
    assert "…" in line
    assert "stages.json cannot be parsed (" in line


def test_redis_set_get_list_and_show(
    capsys: pytest.CaptureFixture[str], redis_server: RedisServer
) -> None:
    """set stores a stage, get and list read it back, and stage NAME names the Redis key."""
    url = redis_server.url
    status, out, _ = run(capsys, "set", "users.get", "Shadow", "--redis", url)
    assert status == 0
    assert out.startswith("users.get: shadow  (was unset; redis://127.0.0.1:")
    run(capsys, "set", "*", "dualwrite", "--redis", url)
    status, out, _ = run(capsys, "get", "users.get", "--redis", url, "--format", "json")
    assert json.loads(out) == {
        "migration": "users.get",
        "key": "migratekit:stage:users.get",
        "value": "shadow",
    }
    status, out, _ = run(capsys, "list", "--redis", url)
    assert out.splitlines() == ["*          dualwrite", "users.get  shadow"]
    status, out, _ = run(capsys, "users.get", "--redis", url)
    assert (
        out == f"users.get: shadow  (from {url} migratekit:stage:users.get, RedisStageProvider)\n"
    )
    status, out, _ = run(capsys, "orders.save", "--redis", url)
    assert out == f"orders.save: dualwrite  (from {url} migratekit:stage:*, RedisStageProvider)\n"


def test_redis_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    """Unreachable Redis: set fails with status 2 and one line; stage NAME warns, status 1."""
    pytest.importorskip("redis")
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    status, out, err = run(capsys, "set", "users.get", "live", "--redis", url)
    assert (status, out) == (2, "")
    assert err.startswith("migratekit stage: cannot reach Redis at redis://:***@127.0.0.1:")
    assert len(err.splitlines()) == 1
    status, out, err = run(capsys, "users.get", "--redis", url)
    assert status == 1
    assert out == "users.get: off  (default stage: no provider set one)\n"
    assert "unreachable" in err
    assert ":pw@" not in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["set", "users.get", "banana", "--redis", "redis://localhost"],
            "STAGE must name a stage",
        ),
        (["set", "users.get"], "takes 2 arguments"),
        (["list"], "needs exactly one --redis URL or --file PATH (got none)"),
        (["get", "m", "--env"], "needs exactly one --redis URL or --file PATH (got --env)"),
        (["history", "m", "--file", "a.json", "--redis", "redis://h"], "(got --file --redis)"),
        (["unset"], "'stage unset' takes 1 argument (got 0: none)"),
        (["show"], "'stage show' takes 1 argument (got 0: none)"),
        (["a", "b"], "'a' is not an action of 'stage' (show, set, unset, get, list, history)"),
        (["del", "*", "--redis", "redis://h"], "migratekit stage unset NAME --redis URL"),
        (["get", "m", "--file", "s.json", "--reason", "r"], "--reason is for 'stage set'"),
        (["history", "m", "--file", "s.json", "--limit", "-1"], "--limit must be 0 (all) or more"),
        (["set", "m", "live", "--file", "s.json", "--actor", " "], "actor must be 1 to 200"),
        (["m", "--file", "stages.yaml"], "ending in .json or .toml"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    """Mistakes on the command line give one line and status 2."""
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert words in err
    assert len(err.splitlines()) == 1


def test_explain_looks_through_wrappers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached fallback chain with a rollout names the member that decided."""
    monkeypatch.setenv("MIGRATEKIT_STAGE_M", "shadow")
    chain = CachedStageProvider(
        FallbackStageProvider(StaticStageProvider({"other": "live"}), EnvStageProvider())
    )
    explanation = explain_stage(chain, "m")
    assert (explanation.stage, explanation.provider) == (Stage.SHADOW, "EnvStageProvider")
    rollout = PercentageRolloutProvider(chain, stage="live", percent=100)
    explanation = explain_stage(rollout, "m", "user-1")
    assert explanation.stage is Stage.LIVE
    assert explanation.provider == "PercentageRolloutProvider"
    assert explanation.source is not None
    assert explanation.source.startswith("100% rollout to live, context 'user-1' at ")
    outside = explain_stage(PercentageRolloutProvider(chain, stage="live", percent=0), "m", "u")
    assert (outside.stage, outside.provider) == (Stage.SHADOW, "EnvStageProvider")


def test_console_script_runs() -> None:
    """`python -m migratekit stage NAME` works in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "migratekit", "stage", "users.get"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MIGRATEKIT_STAGE": "complete", "PATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout
        == "users.get: complete  (from MIGRATEKIT_STAGE='complete', EnvStageProvider)\n"
    )


def test_redis_json_and_text_forms(
    capsys: pytest.CaptureFixture[str], redis_server: RedisServer
) -> None:
    """set, get and list in both formats, on an empty Redis and after a set."""
    url = redis_server.url
    status, out, _ = run(capsys, "list", "--redis", url)
    assert (status, out) == (0, f"no stages under 'migratekit:stage:' at {url}\n")
    status, out, _ = run(capsys, "list", "--redis", url, "--format", "json")
    assert (status, json.loads(out)) == (0, {"stages": {}})
    status, out, _ = run(capsys, "get", "users.get", "--redis", url)
    assert (status, out) == (0, f"users.get: unset  ({url} migratekit:stage:users.get)\n")
    status, out, _ = run(capsys, "set", "users.get", "LIVE", "--redis", url, "--format", "json")
    assert status == 0
    printed = json.loads(out)
    assert printed.pop("change")["new"] == "live"
    assert printed == {"migration": "users.get", "stage": "live", "previous": None}
    status, out, _ = run(capsys, "set", "users.get", "off", "--redis", url, "--format", "json")
    assert json.loads(out)["previous"] == "live"
    status, out, _ = run(capsys, "get", "users.get", "--redis", url)
    assert (status, out) == (0, f"users.get: off  ({url} migratekit:stage:users.get)\n")
    status, out, _ = run(capsys, "list", "--redis", url, "--format", "json")
    assert json.loads(out) == {"stages": {"users.get": "off"}}


@pytest.mark.parametrize("argv", [["get", "users.get"], ["list"]])
def test_redis_unreachable_get_and_list(capsys: pytest.CaptureFixture[str],
                                        argv: list[str]) -> None:
    """get and list on an unreachable Redis exit 2 with one line that hides the password."""
    pytest.importorskip("redis")
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    status, out, err = run(capsys, *argv, "--redis", url)
    assert (status, out) == (2, "")
    assert err.startswith("migratekit stage: cannot reach Redis at redis://:***@127.0.0.1:")
    assert len(err.splitlines()) == 1


# -- hardening: passwords, files that are no files, hostile values ------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["set", "users.get", "live"],
        ["get", "users.get"],
        ["list"],
        ["users.get"],
    ],
)
def test_password_with_a_slash_is_never_printed(capsys: pytest.CaptureFixture[str],
                                                argv: list[str]) -> None:
    """A --redis URL whose password has an unescaped '/' fails with a line that hides it."""
    pytest.importorskip("redis")
    status, out, err = run(capsys, *argv, "--redis", "redis://:Pa55/w0rd@127.0.0.1:1/0")
    assert (status, out) == (2, "")
    assert "Pa55" not in err
    assert "w0rd" not in err
    assert "percent-encode" in err
    assert len(err.splitlines()) == 1


def test_url_given_in_place_of_a_name_is_not_repeated(capsys: pytest.CaptureFixture[str]) -> None:
    """A URL typed as an extra argument (a --redis forgotten) is not echoed in the usage line."""
    status, out, err = run(capsys, "get", "users.get", "redis://:s3cret@localhost/0")
    assert (status, out) == (2, "")
    assert "s3cret" not in err
    assert "<a URL, not shown>" in err


def test_file_option_on_a_fifo_does_not_hang(tmp_path: Path) -> None:
    """`stage NAME --file` on a link to a FIFO warns at once instead of waiting for a writer."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = tmp_path / "stages.json"
    path.symlink_to(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "migratekit", "stage", "users.get", "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == "users.get: off  (default stage: no provider set one)\n"
    assert f"stage file {path} is a FIFO, not a regular file" in done.stderr


@pytest.mark.parametrize("action", [["get", "users.get"], ["set", "users.get", "live"], ["list"]])
def test_file_store_on_a_fifo_fails_at_once(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            action: list[str]) -> None:
    """`stage get|set|list --file` on a FIFO says what it is, at once, and changes nothing."""
    import os

    fifo = tmp_path / "stages.json"
    os.mkfifo(fifo)
    status, out, err = run(capsys, *action, "--file", str(fifo))
    assert (status, out) == (2, "")
    assert err == f"migratekit stage: stage file {fifo} is a FIFO, not a regular file\n"
    journal = tmp_path / "stages.json.audit.jsonl"
    assert not journal.exists() or journal.read_bytes() == b""  # nothing recorded


def test_hostile_redis_values_are_printed_escaped_and_bounded(
    capsys: pytest.CaptureFixture[str], redis_server: RedisServer
) -> None:
    """Values and names read from Redis reach the terminal escaped, and cut when huge."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.set("migratekit:stage:users.get", b"\x1b[31mlive\x07")
    client.set("migratekit:stage:huge", b"h" * 2_000_000)
    client.set("migratekit:stage:\x1b]0;title\x07", b"off")
    client.close()
    url = redis_server.url
    status, out, _ = run(capsys, "get", "users.get", "--redis", url)
    assert status == 0
    assert "\x1b" not in out
    assert out.startswith("users.get: \\x1b[31mlive\\x07  (")
    status, out, _ = run(capsys, "get", "huge", "--redis", url)
    assert "2000000 bytes" not in out  # decoded: counted in characters
    assert "2000000 characters" in out
    assert len(out) < 400
    status, out, _ = run(capsys, "list", "--redis", url)
    assert status == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert len(out) < 1000
    status, out, _ = run(capsys, "get", "huge", "--redis", url, "--format", "json")
    assert len(json.loads(out)["value"]) < 1200
    status, out, _ = run(capsys, "set", "huge", "live", "--redis", url)
    assert status == 0
    assert len(out) < 400


def test_redis_error_whose_message_cannot_be_read(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis error whose str() raises is named by its class, on one line."""
    pytest.importorskip("redis")
    from migratekit.providers import RedisStageProvider

    class Unreadable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    def raw_stage(self: Any, name: str) -> Any:
        raise Unreadable

    monkeypatch.setattr(RedisStageProvider, "raw_stage", raw_stage)
    status, out, err = run(capsys, "get", "users.get", "--redis", "redis://127.0.0.1:1/0")
    assert (status, out) == (2, "")
    assert err == "migratekit stage: cannot reach Redis at redis://127.0.0.1:1/0: Unreadable\n"
