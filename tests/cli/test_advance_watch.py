"""
Tests of `migratekit advance NAME --watch` (and migratekit._advance.watch):
stage by stage on each tick until --until, waiting while the evidence cannot
judge yet, stopping (and rolling back with --rollback) at the first hold. The
clock is the test's: each "sleep" writes what the application would have logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from migratekit import Stage
from migratekit._advance import Decision, watch
from migratekit._cli import advance as advance_cli
from migratekit._cli import main
from migratekit.exceptions import ConfigurationError
from migratekit.providers._stagefile import StageFile
from migratekit.report import build_report
from tests._redis import redis_binary, redis_server
from tests.cli.evidence import Store, append, store, summary

__all__ = ["redis_binary", "redis_server", "store"]  # fixtures, imported to be found by pytest

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00  ")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """An empty log file."""
    path = tmp_path / "events.jsonl"
    path.touch()
    return path


def traffic(store: Store, log: Path, *, bad: int = 0, quiet_ticks: int = 0,
            slept: list[float] | None = None) -> Callable[[float], None]:
    """
    A sleep that, instead of waiting, logs what the application did meanwhile:
    1,500 reads in the stage the store holds (*bad* of them inconsistent in
    SHADOW and LIVE), after *quiet_ticks* ticks with no calls at all.
    """
    ticks = [0]

    def sleep(seconds: float) -> None:
        if slept is not None:
            slept.append(seconds)
        ticks[0] += 1
        if ticks[0] <= quiet_ticks:
            return
        stage = store.stage() or "off"
        append(log, summary(stage, bad=bad if stage in ("shadow", "live") else 0))

    return sleep


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run `migratekit advance ...`; status, the lines of standard output, standard error."""
    status = main(["advance", *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def test_watch_goes_stage_by_stage_until(capsys: pytest.CaptureFixture[str], store: Store,
                                         log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OFF to SHADOW in two ticks, one stamped line per decision, --every between; exit 0."""
    slept: list[float] = []
    monkeypatch.setattr(advance_cli, "sleep", traffic(store, log, slept=slept))
    append(log, summary("off"))
    status, lines, err = run(capsys, "users.get", *store.options, "--log", str(log), "--watch",
                             "--every", "30s", "--until", "shadow", "--actor", "cron")
    assert status == 0
    assert len(lines) == 2
    assert all(STAMP.match(line) for line in lines)
    assert "  users.get: OFF -> DUALWRITE: ready for DUALWRITE" in lines[0]
    assert "  users.get: DUALWRITE -> SHADOW: ready for SHADOW once the new store" in lines[1]
    assert slept == [30.0]
    assert store.stage() == "shadow"
    history = store.store.stage_history("users.get")
    assert [(change.new, change.action, change.actor) for change in history] == [
        ("dualwrite", "advance", "cron"), ("shadow", "advance", "cron")]
    assert [json.loads(line)["new"] for line in err.splitlines()] == ["dualwrite", "shadow"]


def test_watch_waits_while_the_evidence_cannot_judge(
    capsys: pytest.CaptureFixture[str], store: Store, log: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick with no calls since the change waits (a line), and the next one goes on."""
    monkeypatch.setattr(advance_cli, "sleep", traffic(store, log, quiet_ticks=2))
    store.set("shadow")
    append(log, summary("shadow"))
    status, lines, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--watch",
                           "--every", "1s", "--until", "rampdown")
    assert status == 0
    assert [line.split("  ", 1)[1].split(":")[1].strip() for line in lines] == [
        "SHADOW -> LIVE", "LIVE kept, cannot judge it yet", "LIVE kept, cannot judge it yet",
        "LIVE -> RAMPDOWN"]
    assert "the latest stage of its reads in the evidence is SHADOW, not LIVE" in lines[1]
    assert store.stage() == "rampdown"


def test_watch_waits_for_enough_samples(capsys: pytest.CaptureFixture[str], store: Store,
                                        log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Too few samples is a wait, not a hold: the watch goes on when they come."""
    monkeypatch.setattr(advance_cli, "sleep", traffic(store, log))
    store.set("shadow")
    append(log, summary("shadow", n=400))
    status, lines, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--watch",
                           "--every", "1s", "--until", "live", "--rollback")
    assert status == 0
    assert "SHADOW kept, cannot judge it yet: hold: only 400 comparisons (need 1,000)" \
           in lines[0]
    assert "users.get: SHADOW -> LIVE: ready for LIVE (1,900 comparisons" in lines[1]


def test_watch_stops_at_the_first_hold(capsys: pytest.CaptureFixture[str], store: Store,
                                       log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold ends the watch with exit 1 and the stage unchanged."""
    monkeypatch.setattr(advance_cli, "sleep", traffic(store, log, bad=40))
    store.set("dualwrite")
    append(log, summary("dualwrite"))
    status, lines, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--watch",
                           "--every", "10m")
    assert status == 1
    assert len(lines) == 2
    assert lines[1].endswith("users.get: SHADOW kept: hold: 2.7% inconsistent (limit 0.1%)")
    assert store.stage() == "shadow"


def test_watch_rolls_back_at_the_hold(capsys: pytest.CaptureFixture[str], store: Store,
                                      log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --rollback the hold sets the previous stage, then the watch ends with exit 1."""
    monkeypatch.setattr(advance_cli, "sleep", traffic(store, log, bad=40))
    store.set("shadow")
    append(log, summary("shadow"))
    status, lines, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--watch",
                           "--rollback")
    assert status == 1
    assert lines[0].endswith("users.get: SHADOW -> LIVE: ready for LIVE (1,500 comparisons, "
                             "0% inconsistent, new side 0% errors, p99 1.0x old)")
    assert "users.get: LIVE -> SHADOW, rolled back on: hold: 2.7% inconsistent" in lines[1]
    assert store.stage() == "shadow"
    assert [change.action for change in store.store.stage_history("users.get")] == [
        "set", "advance", "rollback"]


def test_watch_already_there(capsys: pytest.CaptureFixture[str], store: Store, log: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration at or past --until: one line, exit 0, nothing read or changed."""
    monkeypatch.setattr(advance_cli, "sleep", lambda seconds: pytest.fail("slept"))
    store.set("complete")
    status, lines, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--watch")
    assert status == 0
    assert len(lines) == 1
    assert lines[0].endswith("users.get: COMPLETE: at or past COMPLETE, where the watch was "
                             "to end")


def test_watch_in_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, log: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--format json: one JSON document per decision."""
    files = Store(["--file", str(tmp_path / "stages.json")], StageFile(tmp_path / "stages.json"))
    monkeypatch.setattr(advance_cli, "sleep", traffic(files, log))
    append(log, summary("off"))
    status, lines, _ = run(capsys, "users.get", *files.options, "--log", str(log), "--watch",
                           "--until", "dualwrite", "--format", "json")
    assert status == 0
    (decision,) = [json.loads(line) for line in lines]
    assert (decision["outcome"], decision["target"], decision["exit_status"]) == (
        "advance", "dualwrite", 0)


def test_watch_api(tmp_path: Path, log: Path) -> None:
    """watch(): decisions go to on_decision as made; the last is returned; the clock is given."""
    files = StageFile(tmp_path / "stages.json")
    store = Store(["--file", str(tmp_path / "stages.json")], files)
    slept: list[float] = []
    seen: list[Decision] = []
    append(log, summary("off"))
    last = watch(files, "users.get", lambda: build_report([str(log)]), every=5,
                 until=Stage.SHADOW, sleep=traffic(store, log, slept=slept),
                 on_decision=seen.append, actor="api")
    assert [decision.outcome for decision in seen] == ["advance", "advance"]
    assert last is seen[-1]
    assert (last.target, last.exit_status) == (Stage.SHADOW, 0)
    assert slept == [5]
    store.set("live")
    append(log, summary("live"))
    assert watch(files, "users.get", lambda: build_report([str(log)]), every=5,
                 until="rampdown", sleep=slept.append).outcome == "advance"


class _FloatRaises(float):
    def __float__(self) -> float:
        raise RuntimeError("hostile")

    def __repr__(self) -> str:
        raise RuntimeError("hostile")


@pytest.mark.parametrize("every", [0, -1, True, "10m", float("nan"), float("inf"),
                                   _FloatRaises(5.0)],
                         ids=["0", "-1", "True", "str", "nan", "inf", "float-raises"])
def test_watch_api_every_must_be_seconds(tmp_path: Path, every: object) -> None:
    """every= that is not a number of seconds above 0 is a ConfigurationError that says so."""
    with pytest.raises(ConfigurationError, match="every must be a number of seconds above 0"):
        watch(StageFile(tmp_path / "s.json"), "users.get", lambda: pytest.fail("read"),
              every=every, sleep=lambda seconds: None)  # type: ignore[arg-type]


def test_watch_api_until_must_be_a_stage(tmp_path: Path) -> None:
    """until= that is not a stage is a ConfigurationError naming the stages."""
    with pytest.raises(ConfigurationError, match="until must name a stage"):
        watch(StageFile(tmp_path / "s.json"), "users.get", lambda: pytest.fail("read"),
              every=1, until="beta")
