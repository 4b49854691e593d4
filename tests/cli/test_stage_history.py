"""
Tests of `migratekit stage set|unset|history` on Redis and stage files: the
audit trail they keep, the migration.stage_change event they log, and two
operators changing a stage at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from migratekit._cli import main
from migratekit._schema import STAGE_CHANGE_FIELDS
from migratekit.providers._audit import default_actor
from tests._redis import RedisServer, free_port, redis_binary, redis_server

__all__ = ["redis_binary", "redis_server"]  # fixtures, imported to be found by pytest

PROCESS_TIMEOUT = 120.0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `migratekit stage ...` in this process; return status, stdout and stderr."""
    status = main(["stage", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The options naming a store: a stage file, or a real redis-server."""
    if request.param == "file":
        return ["--file", str(tmp_path / "stages.json")]
    server: RedisServer = request.getfixturevalue("redis_server")
    return ["--redis", server.url]


def test_set_unset_and_history_in_text(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """Each change prints old and new; history prints them all, newest last, with who and why."""
    status, out, _ = run(capsys, "set", "users.get", "shadow", *store, "--actor", "alice",
                         "--reason", "canary clean")
    assert status == 0
    assert out.startswith("users.get: shadow  (was unset; ")
    assert out.rstrip().endswith("users.get)") or out.rstrip().endswith("[users.get])")
    status, out, _ = run(capsys, "set", "users.get", "LIVE", *store)
    assert out.startswith("users.get: live  (was shadow; ")
    status, out, _ = run(capsys, "unset", "users.get", *store, "--reason", "back to '*'")
    assert status == 0
    assert out.startswith("users.get: unset  (was live; ")
    status, out, _ = run(capsys, "get", "users.get", *store)
    assert out.startswith("users.get: unset  (")
    status, out, err = run(capsys, "history", "users.get", *store)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("  users.get  unset -> shadow  set by alice: canary clean")
    assert lines[1].endswith(f"  users.get  shadow -> live  set by {default_actor()}")
    assert lines[2].endswith(
        f"  users.get  live -> unset  unset by {default_actor()}: back to '*'"
    )
    assert lines[0][:4].isdigit()
    assert lines[0].split("  ")[0].endswith("+00:00")


def test_history_in_json_for_one_and_for_all(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """--format json gives every field of each change; '*' is every migration; --limit the last."""
    run(capsys, "set", "*", "off", *store)
    run(capsys, "set", "users.get", "shadow", *store, "--reason", "why")
    run(capsys, "set", "orders.save", "dualwrite", *store)
    status, out, _ = run(capsys, "history", "users.get", *store, "--format", "json")
    assert status == 0
    (change,) = json.loads(out)["changes"]
    assert tuple(change) == STAGE_CHANGE_FIELDS
    assert (change["migration"], change["old"], change["new"], change["reason"]) == (
        "users.get", None, "shadow", "why")
    status, out, _ = run(capsys, "history", "*", *store, "--format", "json")
    assert [c["migration"] for c in json.loads(out)["changes"]] == ["*", "users.get",
                                                                     "orders.save"]
    status, out, _ = run(capsys, "history", "*", *store, "--limit", "2")
    assert [line.split("  ")[1] for line in out.splitlines()] == ["users.get", "orders.save"]
    status, out, _ = run(capsys, "history", "*", *store, "--limit", "0", "--format", "json")
    assert len(json.loads(out)["changes"]) == 3


def test_empty_history_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """No change recorded: one line naming the trail that was read, status 0."""
    status, out, _ = run(capsys, "history", "users.get", *store)
    assert status == 0
    assert out.startswith("no stage changes recorded for users.get in ")
    assert out.rstrip().endswith(("migratekit:audit", "stages.json.audit.jsonl"))
    status, out, _ = run(capsys, "history", "*", *store)
    assert out.startswith("no stage changes recorded for any migration in ")


def test_set_and_unset_in_json(capsys: pytest.CaptureFixture[str], store: list[str]) -> None:
    """--format json gives the stage, the previous value and the whole change."""
    run(capsys, "set", "m", "shadow", *store)
    status, out, _ = run(capsys, "unset", "m", *store, "--format", "json", "--actor", "ci")
    assert status == 0
    printed = json.loads(out)
    assert (printed["migration"], printed["stage"], printed["previous"]) == ("m", None, "shadow")
    assert printed["change"]["actor"] == "ci"
    assert printed["change"]["action"] == "unset"


def test_unset_makes_a_migration_follow_the_default_key_again(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """After unset, `stage NAME` resolves through '*' again."""
    run(capsys, "set", "*", "dualwrite", *store)
    run(capsys, "set", "users.get", "live", *store)
    _, out, _ = run(capsys, "users.get", *store)
    assert out.startswith("users.get: live  (from ")
    run(capsys, "unset", "users.get", *store)
    _, out, _ = run(capsys, "users.get", *store)
    assert out.startswith("users.get: dualwrite  (from ")
    run(capsys, "unset", "*", *store)
    _, out, _ = run(capsys, "users.get", *store)
    assert out == "users.get: off  (default stage: no provider set one)\n"


def test_a_change_logs_its_event_on_stderr_without_structlog_set_up(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """With structlog left alone, migration.stage_change is one JSON line on stderr."""
    status, out, err = run(capsys, "set", "users.get", "shadow", *store, "--reason", "r")
    assert status == 0
    (line,) = err.splitlines()
    event = json.loads(line)
    assert event["event"] == "migration.stage_change"
    assert event["level"] == "info"
    assert "timestamp" in event
    assert {field: event[field] for field in ("migration", "old", "new", "reason")} == {
        "migration": "users.get", "old": None, "new": "shadow", "reason": "r"}
    assert set(STAGE_CHANGE_FIELDS) <= set(event)
    assert out.count("\n") == 1  # stdout is for people: one line


def test_a_change_goes_through_the_applications_structlog(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    """With structlog set up by a program calling main(), the event goes there, not to stderr."""
    with capture_logs() as logs:
        status, _, err = run(capsys, "unset", "users.get", *store, "--actor", "bot")
    assert (status, err) == (0, "")
    (event,) = [e for e in logs if e["event"] == "migration.stage_change"]
    assert (event["log_level"], event["actor"], event["new"]) == ("info", "bot", None)


def test_log_appends_the_event_to_a_file(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    """--log FILE: the event is appended there as a JSON line, even with structlog set up."""
    log = tmp_path / "changes.jsonl"
    log.write_text('{"event": "before"}\n')
    with capture_logs() as logs:
        status, _, err = run(capsys, "set", "m", "live", *store, "--log", str(log))
    assert (status, err, logs) == (0, "", [])
    before, line = log.read_text().splitlines()
    assert before == '{"event": "before"}'
    event = json.loads(line)
    assert (event["event"], event["new"], event["level"]) == ("migration.stage_change", "live",
                                                              "info")
    status, out, err = run(capsys, "set", "m", "off", *store,
                           "--log", str(tmp_path / "missing" / "log.jsonl"))
    assert (status, out) == (2, "")
    assert err.startswith("migratekit stage: cannot append to --log ")
    _, out, _ = run(capsys, "get", "m", *store, "--format", "json")
    assert json.loads(out)["value"] == "live"  # the log could not be opened: nothing changed


def test_del_says_to_use_unset(capsys: pytest.CaptureFixture[str], store: list[str]) -> None:
    """`stage del '*'`, which read as 'stage show' with two names, now names unset, and exits 2."""
    status, out, err = run(capsys, "del", "*", *store)
    assert (status, out) == (2, "")
    assert err == (
        "migratekit stage: 'del' is not an action of 'stage' (show, set, unset, get, list, "
        "history), and 'stage NAME' takes one name; to remove a migration's stage, so that it "
        "follows '*' again: migratekit stage unset NAME --redis URL (or --file PATH)\n"
    )


def test_file_list_and_get(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """get and list read a stage file as they read Redis, in both formats."""
    path = tmp_path / "stages.json"
    status, out, _ = run(capsys, "list", "--file", str(path))
    assert (status, out) == (0, f"no stages in {path}\n")
    path.write_text(json.dumps({"*": "off", "users": {"get": "Shadow"}}))
    status, out, _ = run(capsys, "list", "--file", str(path))
    assert out.splitlines() == ["*          off", "users.get  Shadow"]
    status, out, _ = run(capsys, "get", "users.get", "--file", str(path), "--format", "json")
    assert json.loads(out) == {"migration": "users.get", "key": "users.get", "value": "Shadow"}
    status, out, _ = run(capsys, "get", "users.get", "--file", str(path))
    assert out == f"users.get: Shadow  ({path} [users.get])\n"


def test_a_file_in_a_missing_folder_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A change that cannot be written says which file and why, in one line, status 2."""
    path = tmp_path / "missing" / "stages.json"
    status, out, err = run(capsys, "set", "m", "live", "--file", str(path))
    assert (status, out) == (2, "")
    assert err == (
        f"migratekit stage: stage file {path}: No such file or directory "
        f"({path}.audit.jsonl)\n"
    )


def test_a_broken_file_is_not_overwritten(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """set on a file that cannot be parsed fails with the reason; the file stays as it was."""
    path = tmp_path / "stages.json"
    path.write_text('{"m": "li')
    status, out, err = run(capsys, "set", "m", "live", "--file", str(path))
    assert (status, out) == (2, "")
    assert err.startswith(f"migratekit stage: stage file {path} cannot be parsed (")
    assert err.endswith("; fix it by hand\n")
    assert path.read_text() == '{"m": "li'


def test_unreachable_redis_for_unset_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    """unset and history on an unreachable Redis: one line without the password, status 2."""
    pytest.importorskip("redis")
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    for argv in (["unset", "m"], ["history", "m"]):
        status, out, err = run(capsys, *argv, "--redis", url)
        assert (status, out) == (2, "")
        assert err.startswith("migratekit stage: cannot reach Redis at redis://:***@127.0.0.1:")
        assert len(err.splitlines()) == 1


def test_a_redis_error_answer_is_not_called_unreachable(
    capsys: pytest.CaptureFixture[str], redis_server: RedisServer
) -> None:
    """A key of another type: Redis answered an error, which is said as such."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.hset("migratekit:stage:m", "a", "b")
    client.close()
    status, out, err = run(capsys, "set", "m", "live", "--redis", redis_server.url)
    assert (status, out) == (2, "")
    assert err.startswith(f"migratekit stage: Redis at {redis_server.url} answered: ")
    assert "WRONGTYPE" in err


def test_hostile_history_is_printed_escaped(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    """A journal edited to hold escape sequences and huge fields prints escaped and bounded."""
    path = tmp_path / "stages.json"
    journal = tmp_path / "stages.json.audit.jsonl"
    journal.write_text(json.dumps({
        "time": "\x1b]0;title\x07", "migration": "m", "old": "x" * 100_000,
        "new": "\x1b[31mlive", "actor": "\x9b2J", "reason": "r" * 100_000, "action": "set",
    }) + "\n")
    status, out, _ = run(capsys, "history", "m", "--file", str(path))
    assert status == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\x9b" not in out
    assert len(out) < 2000


# -- two operators at once ----------------------------------------------------------------------


def _at_once(
    store: list[str], count: int, tmp_path: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Start *count* `migratekit stage set` processes together; wait for them all."""
    start = tmp_path / "start"
    script = (
        "import os, sys, time\n"
        "from migratekit._cli import main\n"
        f"while not os.path.exists({str(start)!r}): time.sleep(0.001)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    stages = ["shadow", "live", "dualwrite", "rampdown"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, "stage", "set", "users.get", stages[index % 4], *store,
             "--actor", f"operator-{index}", "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        for index in range(count)
    ]
    start.touch()
    done = []
    for process in processes:
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def test_two_operators_at_once_are_both_recorded(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    """Concurrent `stage set`s in separate processes: each recorded once, the olds chained."""
    run(capsys, "set", "users.get", "off", *store)
    done = _at_once(store, 4, tmp_path)
    assert [d.returncode for d in done] == [0, 0, 0, 0], [d.stderr for d in done]
    printed = [json.loads(d.stdout) for d in done]
    _, out, _ = run(capsys, "history", "users.get", *store, "--format", "json")
    history = json.loads(out)["changes"]
    assert len(history) == 5
    assert [c["old"] for c in history[1:]] == [c["new"] for c in history[:-1]]
    assert sorted((p["change"]["actor"], p["previous"]) for p in printed) == sorted(
        (c["actor"], c["old"]) for c in history[1:]
    )
    _, out, _ = run(capsys, "get", "users.get", *store, "--format", "json")
    assert json.loads(out)["value"] == history[-1]["new"]
