"""
Tests of `migratekit advance` (migratekit/_cli/advance.py, migratekit/_advance.py),
one step at a time, on a stage file and on a real Redis: it advances when
ready, holds when not, rolls back, refuses evidence that cannot judge the
stage, and of two operators at once changes the stage once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from migratekit import Stage
from migratekit._advance import Decision, advance
from migratekit._cli import main
from migratekit.providers import RedisStageProvider
from migratekit.providers._audit import MAX_REASON_LENGTH, StageStore, default_actor
from migratekit.providers._stagefile import StageFile
from migratekit.report import Thresholds, build_report
from tests._redis import RedisServer, free_port, redis_binary, redis_server
from tests.cli.evidence import Store, append, store, summary

__all__ = ["redis_binary", "redis_server", "store"]  # fixtures, imported to be found by pytest

PROCESS_TIMEOUT = 120.0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `migratekit advance ...` in this process; return status, stdout and stderr."""
    status = main(["advance", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def events(err: str) -> list[dict[str, Any]]:
    """The JSON lines (migration.stage_change events) written on standard error."""
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """An empty log file."""
    path = tmp_path / "events.jsonl"
    path.touch()
    return path


# -- the step --------------------------------------------------------------------------


def test_advances_when_ready(capsys: pytest.CaptureFixture[str], store: Store,
                             log: Path) -> None:
    """Ready evidence made after the last change: the next stage is set, on the record."""
    store.set("shadow")
    append(log, summary("shadow"))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log),
                           "--actor", "bob", "--reason", "canary clean")
    assert status == 0
    assert out == ("users.get: SHADOW -> LIVE: ready for LIVE (1,500 comparisons, 0% "
                   "inconsistent, new side 0% errors, p99 1.0x old)\n")
    assert store.stage() == "live"
    (last,) = store.store.stage_history("users.get", 1)
    assert (last.old, last.new, last.actor, last.action) == ("shadow", "live", "bob", "advance")
    assert last.reason == "canary clean (ready for LIVE (1,500 comparisons, 0% inconsistent, " \
                          "new side 0% errors, p99 1.0x old))"
    (event,) = events(err)
    assert event["event"] == "migration.stage_change"
    assert (event["action"], event["old"], event["new"]) == ("advance", "shadow", "live")


def test_holds_when_not_ready(capsys: pytest.CaptureFixture[str], store: Store,
                             log: Path) -> None:
    """On hold: exit 1, the verdict and the ways on printed, the stage and the trail unchanged."""
    store.set("shadow")
    append(log, summary("shadow", bad=30))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "users.get: SHADOW kept: hold: 2.0% inconsistent (limit 0.1%)"
    assert "--force" in lines[1]
    assert "to go back to DUALWRITE: ... --rollback" in lines[1]
    assert store.stage() == "shadow"
    assert len(store.store.stage_history("users.get")) == 1
    assert events(err) == []


def test_rollback_on_hold(capsys: pytest.CaptureFixture[str], store: Store, log: Path) -> None:
    """--rollback on hold sets the previous stage, recorded with the verdict; exit 1 still."""
    store.set("live")
    append(log, summary("live", bad=30))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log),
                           "--rollback", "--actor", "carol")
    assert status == 1
    assert out == ("users.get: LIVE -> SHADOW, rolled back on: hold: 2.0% inconsistent "
                   "(limit 0.1%); the old side answers reads again\n")
    assert store.stage() == "shadow"
    (last,) = store.store.stage_history("users.get", 1)
    assert (last.old, last.new, last.actor, last.action, last.reason) == (
        "live", "shadow", "carol", "rollback", "hold: 2.0% inconsistent (limit 0.1%)")
    assert [event["action"] for event in events(err)] == ["rollback"]


def test_rollback_when_ready_advances(capsys: pytest.CaptureFixture[str], store: Store,
                                      log: Path) -> None:
    """--rollback only acts on hold: ready evidence advances as without it."""
    store.set("shadow")
    append(log, summary("shadow"))
    status, _, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--rollback")
    assert (status, store.stage()) == (0, "live")


def test_too_few_samples_is_no_reason_to_roll_back(capsys: pytest.CaptureFixture[str],
                                                   store: Store, log: Path) -> None:
    """A hold for too few samples only waits: --rollback leaves the stage where it is."""
    store.set("live")
    append(log, summary("live", n=40))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--rollback")
    assert status == 1
    assert out.splitlines()[0] == (
        "users.get: LIVE kept, cannot judge it yet: hold: only 40 comparisons (need 1,000); "
        "too few samples is no reason to roll back")
    assert store.stage() == "live"


def test_refuses_evidence_older_than_the_last_change(capsys: pytest.CaptureFixture[str],
                                                     store: Store, log: Path) -> None:
    """Calls made before the last change cannot judge the stage: exit 1, nothing changed."""
    append(log, summary("shadow", until=time.time() - 60))
    store.set("shadow")
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert "users.get: SHADOW kept, cannot judge it yet: the newest evidence of SHADOW" in out
    assert "is not after its last stage change (" in out
    assert "unset -> shadow by alice" in out
    assert store.stage() == "shadow"


def test_refuses_a_stage_without_calls(capsys: pytest.CaptureFixture[str], store: Store,
                                       log: Path) -> None:
    """The store says LIVE, the evidence holds only SHADOW's calls: it cannot judge LIVE."""
    store.set("live")
    append(log, summary("shadow"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert out.splitlines()[0] == (
        "users.get: LIVE kept, cannot judge it yet: the latest stage of its reads in the "
        "evidence is SHADOW, not LIVE (no read in LIVE at all)")
    assert store.stage() == "live"


def test_no_events_at_all(capsys: pytest.CaptureFixture[str], store: Store, log: Path) -> None:
    """Evidence of other migrations only is no evidence of this one."""
    store.set("shadow")
    append(log, summary("shadow", migration="orders.get"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert "the evidence holds no events of users.get" in out


def test_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str], store: Store,
                                 log: Path) -> None:
    """--dry-run says what it would do, with the exit status it would have, and writes nothing."""
    store.set("shadow")
    append(log, summary("shadow"))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log), "--dry-run")
    assert status == 0
    assert out.startswith("users.get: SHADOW -> LIVE (dry run, not changed): ready for LIVE")
    assert (store.stage(), events(err)) == ("shadow", [])
    append(log, summary("shadow", bad=30))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--dry-run",
                         "--rollback")
    assert status == 1
    assert out.startswith("users.get: SHADOW -> DUALWRITE (dry run, not changed), rolled back")
    assert store.stage() == "shadow"
    assert len(store.store.stage_history("users.get")) == 1


def test_force_advances_on_hold_on_the_record(capsys: pytest.CaptureFixture[str],
                                              store: Store, log: Path) -> None:
    """--force goes on past a hold, and the trail records the verdict it overrode."""
    store.set("shadow")
    append(log, summary("shadow", bad=30))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--force",
                         "--reason", "known: names with particles")
    assert status == 0
    assert out == ("users.get: SHADOW -> LIVE, forced past: hold: 2.0% inconsistent "
                   "(limit 0.1%)\n")
    (last,) = store.store.stage_history("users.get", 1)
    assert (last.new, last.action) == ("live", "advance")
    assert last.reason == ("known: names with particles (forced past: hold: 2.0% "
                           "inconsistent (limit 0.1%))")


def test_force_does_not_override_stale_evidence(capsys: pytest.CaptureFixture[str],
                                                store: Store, log: Path) -> None:
    """--force overrides a verdict, not the want of one: stale evidence still changes nothing."""
    append(log, summary("shadow", until=time.time() - 60))
    store.set("shadow")
    status, _, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--force")
    assert (status, store.stage()) == (1, "shadow")


def test_force_overrides_too_few_samples(capsys: pytest.CaptureFixture[str], store: Store,
                                         log: Path) -> None:
    """Too few samples is a verdict: --force goes on past it."""
    store.set("shadow")
    append(log, summary("shadow", n=10))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log), "--force")
    assert (status, store.stage()) == (0, "live")
    assert "forced past: hold: only 10 comparisons (need 1,000)" in out


def test_to_skips_stages_whose_evidence_is_ready(capsys: pytest.CaptureFixture[str],
                                                 store: Store, log: Path) -> None:
    """--to LIVE from DUALWRITE skips SHADOW, whose evidence (an earlier stay) is ready."""
    append(log, summary("shadow", until=time.time() - 120))
    store.set("dualwrite")
    append(log, summary("dualwrite"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log),
                         "--to", "LIVE")
    assert status == 0
    assert out.startswith("users.get: DUALWRITE -> LIVE: ready for SHADOW once the new store")
    assert "; skipped SHADOW (reads): ready for LIVE (1,500 comparisons" in out
    assert store.stage() == "live"


def test_to_refuses_to_skip_a_stage_without_ready_evidence(
    capsys: pytest.CaptureFixture[str], store: Store, log: Path
) -> None:
    """A skipped stage with no evidence, or evidence on hold, holds the step."""
    store.set("dualwrite")
    append(log, summary("dualwrite"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log),
                         "--to", "live")
    assert status == 1
    assert "cannot skip SHADOW: the evidence holds no reads in it" in out
    assert store.stage() == "dualwrite"
    append(log, summary("shadow", bad=40, until=time.time() - 120))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log),
                         "--to", "live")
    assert status == 1
    assert "cannot skip SHADOW: hold: 2.7% inconsistent (limit 0.1%)" in out
    assert store.stage() == "dualwrite"


def test_to_must_come_after_the_current_stage(capsys: pytest.CaptureFixture[str],
                                              store: Store, log: Path) -> None:
    """--to an earlier stage is a usage error that says how to go back."""
    store.set("live")
    append(log, summary("live"))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log),
                           "--to", "shadow")
    assert (status, out) == (2, "")
    assert err.startswith("migratekit advance: advance: to='shadow' is not after 'live'")
    assert "migratekit stage set" in err


def test_complete_has_nothing_after_it(capsys: pytest.CaptureFixture[str], store: Store,
                                       log: Path) -> None:
    """COMPLETE is the last stage: refused, exit 1."""
    store.set("complete")
    append(log, summary("complete"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert out == "users.get: not changed: COMPLETE is the last stage: there is nothing to " \
                  "advance to\n"


def test_a_value_that_is_not_a_stage(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     log: Path) -> None:
    """A store holding something else than a stage is refused, and the fix named."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"users.get": "\x1b[31mbeta"}))
    append(log, summary("shadow"))
    status, out, _ = run(capsys, "users.get", "--file", str(path), "--log", str(log))
    assert status == 1
    assert out.startswith("users.get: not changed: the store holds '\\x1b[31mbeta' at its own "
                          "key, which is not a stage; set one with migratekit stage set")
    assert "\x1b" not in out


# -- where the stage comes from ---------------------------------------------------------


def test_a_stage_set_by_hand_is_judged_by_the_evidence(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, log: Path) -> None:
    """No recorded change: the evidence alone judges it, and the line says so."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"users.get": "shadow"}))
    append(log, summary("shadow", until=time.time() - 3600))
    status, out, _ = run(capsys, "users.get", "--file", str(path), "--log", str(log))
    assert status == 0
    assert "no change of its stage is on record ('shadow' at its own key): judged by the " \
           "evidence alone" in out
    assert StageFile(path).raw_stage("users.get") == "live"


def test_a_migration_that_follows_star(capsys: pytest.CaptureFixture[str], store: Store,
                                       log: Path) -> None:
    """The '*' key's stage is judged; the change goes to the migration's own key."""
    store.set("shadow", name="*")
    append(log, summary("shadow"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 0
    assert out.rstrip().endswith("users.get has a key of its own now")
    assert (store.stage(), store.stage("*")) == ("live", "shadow")
    append(log, summary("live", until=time.time() - 30))
    store.set("live", name="*")
    status, out, _ = run(capsys, "orders.get", *store.options, "--log", str(log))
    assert status == 1  # the change of '*' is newer than the evidence
    assert "the evidence holds no events of orders.get" in out


def test_never_set_is_off(capsys: pytest.CaptureFixture[str], store: Store, log: Path) -> None:
    """Nothing set: OFF, which is always ready once it has calls."""
    append(log, summary("off"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 0
    assert out.startswith("users.get: OFF -> DUALWRITE: ready for DUALWRITE")
    assert "OFF, as nothing sets it" in out
    assert store.stage() == "dualwrite"


def test_untimed_evidence_cannot_be_told_from_before_the_change(
    capsys: pytest.CaptureFixture[str], store: Store, log: Path
) -> None:
    """Per-call events without timestamps cannot be placed after the last change: refused."""
    store.set("dualwrite")
    lines = []
    for i in range(5):
        common = {"migration": "users.get", "operation": "write", "stage": "dualwrite",
                  "call_id": f"p-{i}"}
        lines += [json.dumps({"event": "migration.result", **common, "origin": origin,
                              "authoritative": origin == "old", "ok": True,
                              "latency_ms": 0.5}).encode() for origin in ("old", "new")]
    append(log, *lines)
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert "users.get: not changed: the evidence of DUALWRITE (writes) carries no timestamps" \
           in out


def test_every_operation_must_be_in_the_stage(capsys: pytest.CaptureFixture[str], store: Store,
                                              log: Path) -> None:
    """A name with reads and writes: both are judged, and both must be in the stage."""
    store.set("shadow")
    append(log, summary("dualwrite", operation="write"), summary("shadow"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert "the latest stage of its writes in the evidence is DUALWRITE, not SHADOW" in out
    append(log, summary("shadow", operation="write"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 0
    assert out.startswith("users.get: SHADOW -> LIVE: reads: ready for LIVE (1,500 comparisons")
    assert "; writes: ready for LIVE (1,500 new-side writes" in out


def test_a_name_with_glob_characters_is_read_alone(capsys: pytest.CaptureFixture[str],
                                                   store: Store, log: Path) -> None:
    """users[1].get selects itself, not users1.get, whose evidence is on hold."""
    store.set("shadow", name="users[1].get")
    append(log, summary("shadow", migration="users[1].get"),
           summary("shadow", migration="users1.get", bad=500))
    status, out, _ = run(capsys, "users[1].get", *store.options, "--log", str(log))
    assert status == 0
    assert out.startswith("users[1].get: SHADOW -> LIVE: ready for LIVE (1,500 comparisons")


# -- two operators ------------------------------------------------------------------------


def _slow(store: StageStore, barrier: threading.Barrier) -> StageStore:
    """*store*, its changes made only once both threads have judged (a race made certain)."""

    class Slow(type(store)):  # type: ignore[misc]
        def change_stage(self, *args: Any, **kwargs: Any) -> Any:
            barrier.wait(timeout=30)
            return super().change_stage(*args, **kwargs)

    slow = object.__new__(Slow)
    for cls in type(store).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(store, slot):
                object.__setattr__(slow, slot, getattr(store, slot))
    slow.__dict__.update(getattr(store, "__dict__", {}))
    return slow


def test_two_operators_at_once_change_the_stage_once(store: Store, log: Path) -> None:
    """Both judge SHADOW ready; one sets LIVE, the other is told who did, and changes nothing."""
    store.set("shadow")
    append(log, summary("shadow"))
    report = build_report([str(log)], Thresholds())
    barrier = threading.Barrier(2)
    decisions: dict[str, Decision] = {}

    def operator(actor: str) -> None:
        decisions[actor] = advance(_slow(store.store, barrier), "users.get", report,
                                   actor=actor)

    threads = [threading.Thread(target=operator, args=(actor,)) for actor in ("ann", "ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    outcomes = sorted(decision.outcome for decision in decisions.values())
    assert outcomes == ["advance", "lost"]
    winner = next(actor for actor, decision in decisions.items() if decision.outcome == "advance")
    loser = decisions["ben" if winner == "ann" else "ann"]
    assert loser.winner is not None
    assert loser.winner.actor == winner
    assert loser.line().startswith(f"users.get: not changed: {winner} changed it first "
                                   "(shadow -> live at ")
    assert loser.exit_status == 1
    history = store.store.stage_history("users.get")
    assert [(change.new, change.action) for change in history] == [
        ("shadow", "set"), ("live", "advance")]


def test_two_advance_processes_at_once(store: Store, log: Path, tmp_path: Path) -> None:
    """Two `migratekit advance` processes started together: the stage changes once."""
    store.set("shadow")
    append(log, summary("shadow"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "migratekit", "advance", "users.get", *store.options,
               "--log", str(log)]
    processes = [subprocess.Popen([*command, "--actor", actor], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
                 for actor in ("ann", "ben")]
    results = [process.communicate(timeout=PROCESS_TIMEOUT) for process in processes]
    statuses = sorted(process.returncode for process in processes)
    assert statuses == [0, 1], results
    assert store.stage() == "live"
    history = store.store.stage_history("users.get")
    assert [change.action for change in history] == ["set", "advance"]
    loser_out = next(out for (out, _), process in zip(results, processes, strict=True)
                     if process.returncode == 1)
    # Lost the race, or came after it: either way it says why it changed nothing.
    assert ("changed it first" in loser_out) or ("cannot judge it yet" in loser_out)


def test_lost_to_an_edit_by_hand(tmp_path: Path, log: Path) -> None:
    """A change not on the record between the read and the write: said so, nothing written."""
    path = tmp_path / "stages.json"
    files = StageFile(path)
    files.change_stage("users.get", "shadow", actor="alice")
    append(log, summary("shadow"))
    report = build_report([str(log)], Thresholds())

    class Edited(StageFile):
        def change_stage(self, *args: Any, **kwargs: Any) -> Any:
            path.write_text(json.dumps({"users.get": "rampdown"}))
            return super().change_stage(*args, **kwargs)

    decision = advance(Edited(path), "users.get", report)
    assert decision.outcome == "lost"
    assert decision.verdict == ("its stage changed before this change could be made (it is "
                                "'rampdown' now, not on the record); judge the new stage again")
    assert files.raw_stage("users.get") == "rampdown"


# -- the record -----------------------------------------------------------------------------


def test_stage_history_shows_each_change_with_actor_and_reason(
    capsys: pytest.CaptureFixture[str], store: Store, log: Path
) -> None:
    """`stage history` lists the advance and the rollback, each with its actor and verdict."""
    store.set("shadow")
    append(log, summary("shadow"))
    assert run(capsys, "users.get", *store.options, "--log", str(log))[0] == 0
    append(log, summary("live", bad=20))
    assert run(capsys, "users.get", *store.options, "--log", str(log), "--rollback",
               "--actor", "pager")[0] == 1
    assert main(["stage", "history", "users.get", *store.options]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].endswith(f"  users.get  shadow -> live  advance by {default_actor()}: "
                             "ready for LIVE (1,500 comparisons, 0% inconsistent, new side 0% "
                             "errors, p99 1.0x old)")
    assert lines[2].endswith("  users.get  live -> shadow  rollback by pager: hold: 1.3% "
                             "inconsistent (limit 0.1%)")


def test_event_log_and_json(capsys: pytest.CaptureFixture[str], store: Store, log: Path,
                            tmp_path: Path) -> None:
    """--event-log appends migration.stage_change to a file; --format json prints the decision."""
    store.set("shadow")
    append(log, summary("shadow"))
    event_log = tmp_path / "changes.jsonl"
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log),
                           "--event-log", str(event_log), "--format", "json")
    assert (status, err) == (0, "")
    decision = json.loads(out)
    assert (decision["outcome"], decision["stage"], decision["target"]) == (
        "advance", "shadow", "live")
    assert decision["change"]["new"] == "live"
    assert decision["last_change"]["actor"] == "alice"
    assert decision["exit_status"] == 0
    (event,) = [json.loads(line) for line in event_log.read_text().splitlines()]
    assert (event["event"], event["new"]) == ("migration.stage_change", "live")


def test_a_long_reason_is_cut_to_what_the_trail_keeps(capsys: pytest.CaptureFixture[str],
                                                      store: Store, log: Path) -> None:
    """--reason and the verdict together never exceed the trail's 1,000 characters."""
    store.set("shadow")
    append(log, summary("shadow"))
    status, _, _ = run(capsys, "users.get", *store.options, "--log", str(log),
                       "--reason", "x" * 990)
    assert status == 0
    (last,) = store.store.stage_history("users.get", 1)
    assert last.reason is not None
    # The trail shows a long reason cut, with the length it was written with.
    assert f"({MAX_REASON_LENGTH} characters, sha256:" in last.reason


# -- what cannot be done ---------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "said"), [
    (["--rollback", "--force"], "--rollback and --force contradict each other"),
    (["--rollback", "--to", "live"], "--to names a stage to advance to"),
    (["--every", "10m"], "--every goes with --watch"),
    (["--until", "live"], "--until goes with --watch"),
    (["--watch", "--dry-run"], "--dry-run is for one step"),
    (["--watch", "--force"], "--force is for one step"),
    (["--watch", "--to", "live"], "--to is for one step"),
])
def test_options_that_do_not_go_together(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         log: Path, extra: list[str], said: str) -> None:
    """Contradictory options: exit 2, one line saying which and what to do."""
    status, out, err = run(capsys, "users.get", "--file", str(tmp_path / "s.json"),
                           "--log", str(log), *extra)
    assert (status, out) == (2, "")
    assert err.startswith(f"migratekit advance: {said}")
    assert len(err.splitlines()) == 1


def test_star_is_not_a_migration(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 log: Path) -> None:
    """advance '*' is a usage error: the evidence is per migration."""
    status, _, err = run(capsys, "*", "--file", str(tmp_path / "s.json"), "--log", str(log))
    assert status == 2
    assert "name a migration, e.g. migratekit advance users.get" in err


@pytest.mark.parametrize("argv", [
    ["users.get", "--log", "x.log"],
    ["users.get", "--file", "s.json"],
    ["users.get", "--file", "s.json", "--redis", "redis://h", "--log", "x.log"],
    ["users.get", "--file", "s.json", "--log", "x.log", "--prometheus", "http://h"],
    ["users.get", "--file", "s.json", "--log", "x.log", "--to", "beta"],
    ["users.get", "--file", "s.json", "--log", "x.log", "--watch", "--every", "10x"],
])
def test_argparse_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A store and the evidence are required, one of each; stages and durations are checked."""
    with pytest.raises(SystemExit) as exit_info:
        main(["advance", *argv])
    assert exit_info.value.code == 2
    assert "usage: migratekit advance" in capsys.readouterr().err


def test_unreadable_log(capsys: pytest.CaptureFixture[str], store: Store,
                        tmp_path: Path) -> None:
    """A log that cannot be read: exit 2, one line naming it."""
    store.set("shadow")
    status, out, err = run(capsys, "users.get", *store.options, "--log",
                           str(tmp_path / "missing.log"))
    assert (status, out) == (2, "")
    assert err == (f"migratekit advance: cannot read {tmp_path / 'missing.log'}: "
                   "No such file or directory\n")


def test_unreachable_prometheus(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--prometheus at a server that is not there: exit 2, one line."""
    status, _, err = run(capsys, "users.get", "--file", str(tmp_path / "s.json"),
                         "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert status == 2
    assert err.startswith("migratekit advance: cannot query Prometheus at http://127.0.0.1:")
    assert len(err.splitlines()) == 1


def test_prometheus_and_since_do_not_go_together(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    """--since is for logs; --range says how far back Prometheus counts."""
    status, _, err = run(capsys, "users.get", "--file", str(tmp_path / "s.json"),
                         "--prometheus", "http://127.0.0.1:1", "--since", "1h")
    assert status == 2
    assert "--range says how far back" in err


def test_unreachable_redis(capsys: pytest.CaptureFixture[str], log: Path,
                           redis_binary: str) -> None:
    """Redis down: exit 2, one line naming the server without its password."""
    status, out, err = run(capsys, "users.get", "--redis",
                           f"redis://:secret@127.0.0.1:{free_port()}/0", "--log", str(log))
    assert (status, out) == (2, "")
    assert err.startswith("migratekit advance: cannot reach Redis at redis://:***@127.0.0.1:")
    assert "secret" not in err


def test_unwritable_stage_file(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               log: Path) -> None:
    """A stage file that cannot be read: exit 2, one line, no traceback."""
    folder = tmp_path / "stages.json"
    folder.mkdir()
    append(log, summary("off"))
    status, _, err = run(capsys, "users.get", "--file", str(folder), "--log", str(log))
    assert status == 2
    assert err.startswith(f"migratekit advance: stage file {folder} is a directory")
    assert "Traceback" not in err


def test_unwritable_event_log(capsys: pytest.CaptureFixture[str], store: Store, log: Path,
                              tmp_path: Path) -> None:
    """An --event-log that cannot be opened: exit 2 naming it, nothing changed."""
    store.set("shadow")
    append(log, summary("shadow"))
    target = tmp_path / "no" / "such" / "dir.jsonl"
    status, _, err = run(capsys, "users.get", *store.options, "--log", str(log),
                         "--event-log", str(target))
    assert status == 2
    assert err.startswith(f"migratekit advance: cannot append to --event-log {target}")
    assert store.stage() == "shadow"


# -- the Python API ---------------------------------------------------------------------------


def test_api_rejects_contradictions(tmp_path: Path, log: Path) -> None:
    """advance() raises ConfigurationError, naming the fix, for what cannot go together."""
    from migratekit.exceptions import ConfigurationError

    files = StageFile(tmp_path / "stages.json")
    report = build_report([str(log)])
    with pytest.raises(ConfigurationError, match="contradict each other"):
        advance(files, "users.get", report, rollback=True, force=True)
    with pytest.raises(ConfigurationError, match="to= names a stage to advance to"):
        advance(files, "users.get", report, rollback=True, to=Stage.LIVE)
    with pytest.raises(ConfigurationError, match="must be a non-empty str"):
        advance(files, "  ", report)
    with pytest.raises(ConfigurationError, match="to must name a stage"):
        advance(files, "users.get", report, to="beta")


def test_api_on_a_redis_client(redis_server: RedisServer, log: Path) -> None:
    """advance() takes any store: a RedisStageProvider made from a client of one's own."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    provider = RedisStageProvider(client)
    provider.change_stage("users.get", Stage.DUALWRITE, actor="alice")
    append(log, summary("dualwrite", operation="write"))
    decision = advance(provider, "users.get", build_report([str(log)]), actor="api")
    assert (decision.outcome, decision.target, decision.exit_status) == (
        "advance", Stage.SHADOW, 0)
    assert decision.change is not None
    assert decision.change.actor == "api"
    assert client.get("migratekit:stage:users.get") == b"shadow"
    client.close()


def test_a_recorded_change_without_a_readable_time(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, log: Path) -> None:
    """A journal edited by hand, its time unreadable: said so, and judged by the evidence."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"users.get": "shadow"}))
    Path(f"{path}.audit.jsonl").write_text(json.dumps(
        {"time": "yesterday", "migration": "users.get", "old": None, "new": "shadow",
         "actor": "alice", "reason": None, "action": "set", "source": "vi"}) + "\n")
    append(log, summary("shadow", until=time.time() - 3600))
    status, out, _ = run(capsys, "users.get", "--file", str(path), "--log", str(log))
    assert status == 0
    assert out.rstrip().endswith("its last recorded change has no readable time: the evidence "
                                 "is not checked against it")


def test_an_entry_without_calls(capsys: pytest.CaptureFixture[str], store: Store,
                                log: Path) -> None:
    """Events of the stage that count no call (a summary of none) are no calls in it."""
    store.set("dualwrite")
    append(log, summary("dualwrite", n=0, operation="write"))
    status, out, _ = run(capsys, "users.get", *store.options, "--log", str(log))
    assert status == 1
    assert "cannot judge it yet: the evidence holds no write calls in DUALWRITE" in out


def test_a_stage_file_without_a_known_suffix(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, log: Path) -> None:
    """--file stages.yaml: exit 2, the suffixes it takes named."""
    status, _, err = run(capsys, "users.get", "--file", str(tmp_path / "stages.yaml"),
                         "--log", str(log))
    assert status == 2
    assert "expected a name ending in .json or .toml" in err


def test_a_stage_file_in_a_folder_that_is_not_there(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, log: Path) -> None:
    """A change that cannot be written: exit 2, one line naming the stage file."""
    path = tmp_path / "gone" / "stages.json"
    append(log, summary("off"))
    status, out, err = run(capsys, "users.get", "--file", str(path), "--log", str(log))
    assert (status, out) == (2, "")
    assert err == (f"migratekit advance: stage file {path}: No such file or directory "
                   f"({path}.audit.jsonl)\n")


def test_a_failure_that_cannot_be_shown(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    """An exception whose str() raises is named by its class, in one line."""
    from migratekit._cli.advance import _store_failed

    class Unshowable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert _store_failed(StageFile(tmp_path / "stages.json"), Unshowable()) == 2
    assert capsys.readouterr().err == "migratekit advance: Unshowable\n"


# -- hostile input ----------------------------------------------------------------------------


def test_a_hostile_str_subclass_as_the_name(tmp_path: Path, log: Path) -> None:
    """A name whose str methods raise is read as its characters, no method of it run."""
    from tests.hostile import DUNDERS, raising_class

    hostile = raising_class(frozenset(DUNDERS) - {"__len__", "__iter__", "__getitem__"},
                            base=str, name="HostileStr")
    files = StageFile(tmp_path / "stages.json")
    files.change_stage("users.get", "shadow", actor="alice")
    append(log, summary("shadow"))
    decision = advance(files, hostile("users.get"), build_report([str(log)]))
    assert (decision.outcome, decision.migration, type(decision.migration)) == (
        "advance", "users.get", str)
    assert files.raw_stage("users.get") == "live"


@pytest.mark.parametrize("name", [None, 42, b"users.get", ""])
def test_a_name_that_is_no_str(tmp_path: Path, log: Path, name: object) -> None:
    """A name that is not a non-empty str: ConfigurationError naming what came."""
    from migratekit.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="name must be a non-empty str"):
        advance(StageFile(tmp_path / "s.json"), name, build_report([str(log)]))  # type: ignore[arg-type]


def test_a_name_whose_repr_raises(tmp_path: Path, log: Path) -> None:
    """An object whose repr raises is named by its class in the message."""
    from migratekit.exceptions import ConfigurationError
    from tests.hostile import DUNDERS, raising_class

    hostile = raising_class(frozenset(DUNDERS), name="Hostile")()
    with pytest.raises(ConfigurationError, match="that is a Hostile"):
        advance(StageFile(tmp_path / "s.json"), hostile, build_report([str(log)]))


def test_a_huge_value_in_redis(capsys: pytest.CaptureFixture[str], redis_server: RedisServer,
                               log: Path) -> None:
    """Ten megabytes with escapes at the migration's key: refused in one bounded line."""
    from tests.hostile import HUGE_STR

    provider = RedisStageProvider(redis_server.url)
    provider.client.set("migratekit:stage:users.get", "\x1b[2J" + HUGE_STR)
    append(log, summary("shadow"))
    status, out, _ = run(capsys, "users.get", "--redis", redis_server.url, "--log", str(log))
    assert status == 1
    assert out.startswith("users.get: not changed: the store holds '\\x1b[2Jxxx")
    assert "(10000004 characters, sha256:" in out
    assert len(out) < 1000
    assert "\x1b" not in out
    provider.close()


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_an_actor_too_long_to_record(capsys: pytest.CaptureFixture[str], store: Store,
                                     log: Path, extra: list[str]) -> None:
    """An --actor the trail cannot keep: exit 2 saying the limit, before judging, the stage
    unchanged; with --dry-run too."""
    store.set("shadow")
    append(log, summary("shadow"))
    status, out, err = run(capsys, "users.get", *store.options, "--log", str(log),
                           "--actor", "x" * 300, *extra)
    assert (status, out) == (2, "")
    assert "actor must be 1 to 200 characters" in err
    assert store.stage() == "shadow"


def test_the_name_after_log_files(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  log: Path) -> None:
    """`--log a.log users.get` reads users.get as a file: the error says to name it first."""
    status, _, err = run(capsys, "--file", str(tmp_path / "s.json"), "--log", str(log),
                         "users.get")
    assert status == 2
    assert err.startswith("migratekit advance: name the migration first: migratekit advance "
                          "NAME --file PATH --log FILE...")
