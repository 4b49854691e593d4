"""Tests of ``migratekit demo`` (migratekit/_cli/demo.py and migratekit/_cli/_demo_app.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import structlog

import migratekit
from migratekit import Stage, _config
from migratekit._cli import main
from migratekit._cli._demo_app import (
    _backfill,
    _reconciled,
    convert_name_new,
    min_samples_for,
    run_demo,
    split_name,
)
from migratekit._reconcile import Reconciliation
from migratekit.exceptions import BackfillError
from migratekit.providers import StaticStageProvider
from migratekit.providers._stagefile import StageFile
from migratekit.report import build_report


def _summary_stages(log: Path) -> set[str]:
    """The stages the log's migration.summary events were counted in."""
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return {event["stage"] for event in events if event["event"] == "migration.summary"}


def test_demo_end_to_end_stops_at_the_defect(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """
    advance drives OFF and DUALWRITE, then the backfill copies the old users through the
    new side's conversion and reconcile finds them differing at last_name: advance holds
    users.get in DUALWRITE on that reconcile, and the demo stops there with the verdict and
    how to go on with --force, before SHADOW.
    """
    assert main(["demo", "--dir", str(tmp_path), "--operations", "400"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    log = tmp_path / "events.jsonl"
    assert str(log) in out
    assert "  advance   users.get: OFF -> DUALWRITE: ready for DUALWRITE" in out
    assert "  backfill: copied " in out
    reconciled = next(line for line in lines if line.startswith("  reconcile: "))
    assert "differ (at last_name " in reconciled
    (held,) = [line for line in lines if " kept: " in line]
    assert held.startswith("  advance   users.get: DUALWRITE kept: hold: backfill not "
                           "verified: ")
    assert "(at last_name" in held
    assert not any(line.startswith("  advance ") for line in lines[lines.index(held) + 1:])
    assert not any(line.startswith("  SHADOW ") for line in lines)
    assert "users.get stays in DUALWRITE, where the new store is written but never read" in out
    assert "migratekit demo --force" in out
    assert (f"migratekit advance users.get --file {tmp_path / 'stages.json'} --log {log} "
            "--min-samples 20 --latency-floor-ms 10 --force") in out
    assert "in DUALWRITE: hold: backfill not verified: " in out  # the report's readiness
    assert _summary_stages(log) == {"off", "dualwrite"}
    stages = StageFile(tmp_path / "stages.json")
    assert stages.stages() == dict.fromkeys(
        ["users.create", "users.get", "users.update_email"], "dualwrite")
    history = stages.stage_history("users.get")
    assert [(change.new, change.action, change.actor) for change in history] == [
        ("off", "set", "migratekit demo"), ("dualwrite", "advance", "migratekit demo")]
    assert history[1].reason == "ready for DUALWRITE: only the old side runs in OFF"


def test_demo_force_drives_past_the_holds(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """
    --force goes on to COMPLETE, each override of a hold on the record with its verdict:
    the reconcile's in DUALWRITE, SHADOW's comparisons, and the path's memory of both
    after; the report names last_name as where the reads differ.
    """
    result = run_demo(tmp_path, operations=400, force=True)
    assert result.held is None
    assert _summary_stages(result.log) == {stage.value for stage in Stage}
    forced = [decision for decision in result.decisions if decision.forced]
    assert [decision.stage for decision in forced] == [
        Stage.DUALWRITE, Stage.SHADOW, Stage.LIVE, Stage.RAMPDOWN]
    assert {decision.migration for decision in forced} == {"users.get"}
    assert forced[0].verdict.startswith("hold: backfill not verified: ")
    assert "inconsistent (limit 0.1%)" in forced[1].verdict
    assert "advanced past SHADOW while it was on hold" in forced[2].verdict
    history = StageFile(tmp_path / "stages.json").stage_history("users.get")
    assert history[-1].new == "complete"
    assert [(change.reason or "").startswith("forced past: hold: ") for change in history] == [
        False, False, True, True, True, True]
    assert main(["demo", "--dir", str(tmp_path / "cli"), "--operations", "400",
                 "--force"]) == 0
    out = capsys.readouterr().out
    assert "  advance   users.get: SHADOW -> LIVE, forced past: hold: " in out
    assert "The demo stops" not in out
    differ = [line for line in out.splitlines() if "of mismatches differ at" in line]
    assert differ
    assert all("differ at last_name" in line for line in differ)


def test_demo_leaves_only_the_files_it_names(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """After two runs the directory holds the databases, the stage file and its trail (of
    the last run only), and the log, nothing else."""
    assert main(["demo", "--dir", str(tmp_path), "--operations", "50"]) == 0
    assert main(["demo", "--dir", str(tmp_path), "--operations", "50"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl", "new.sqlite3", "old.sqlite3", "stages.json", "stages.json.audit.jsonl"]
    out = capsys.readouterr().out
    for name in ("old.sqlite3", "new.sqlite3", "events.jsonl", "stages.json"):
        assert name in out
    history = StageFile(tmp_path / "stages.json").stage_history("users.get")
    assert history[0].reason == "the demo begins: only the old side runs"
    assert [change.action for change in history].count("set") == 1


def test_demo_log_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--log puts the events where asked."""
    log = tmp_path / "elsewhere.jsonl"
    assert main(["demo", "--dir", str(tmp_path / "db"), "--log", str(log),
                 "--operations", "30"]) == 0
    assert log.stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == [
        "new.sqlite3", "old.sqlite3", "stages.json", "stages.json.audit.jsonl"]


def test_demo_one_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--stage runs that stage only, set without judging, backfilled first so that SHADOW
    has data to compare."""
    assert main(["demo", "--dir", str(tmp_path), "--stage", "SHADOW",
                 "--operations", "300"]) == 0
    report = build_report([str(tmp_path / "events.jsonl")])
    assert {entry.stage for entry in report.entries} == {"shadow"}
    (get,) = [e for e in report.entries if (e.migration, e.operation) == ("users.get", "read")]
    assert get.consistency_checks > 150
    assert get.inconsistent > 0
    out = capsys.readouterr().out
    assert "backfill" in out
    assert "advance" not in out
    (_, last) = StageFile(tmp_path / "stages.json").stage_history("users.get")
    assert (last.new, last.action) == ("shadow", "set")


def test_demo_stage_and_force_do_not_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    """--stage sets a stage without judging; --force overrides judgements: one or the other."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--stage", "shadow", "--force"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_min_samples_follow_the_operations() -> None:
    """100 samples, or one call in twenty of a smaller stage, and never none."""
    assert [min_samples_for(n) for n in (1, 50, 400, 2000, 10_000)] == [1, 2, 20, 100, 100]


def test_demo_schemas_differ(tmp_path: Path) -> None:
    """The old database has one name column, the new one first and last names."""
    result = run_demo(tmp_path, operations=20, seed=3)
    with sqlite3.connect(result.old_db) as old, sqlite3.connect(result.new_db) as new:
        old_columns = [row[1] for row in old.execute("PRAGMA table_info(users)")]
        new_columns = [row[1] for row in new.execute("PRAGMA table_info(users)")]
        assert old_columns == ["id", "name", "email"]
        assert new_columns == ["id", "first_name", "last_name", "email"]
        assert old.execute("SELECT count(*) FROM users").fetchone()[0] > 400
    old.close()
    new.close()


def test_demo_is_reproducible(tmp_path: Path) -> None:
    """The same seed drives the same traffic, and advance decides the same."""
    first = run_demo(tmp_path / "a", operations=100, seed=11)
    second = run_demo(tmp_path / "b", operations=100, seed=11)
    assert first.calls == second.calls
    assert first.backfilled == second.backfilled > 0
    assert [d.line() for d in first.decisions] == [d.line() for d in second.decisions]


def test_demo_restores_settings(tmp_path: Path) -> None:
    """The demo gives back the process-wide provider and structlog's configuration."""
    provider = StaticStageProvider("off")
    migratekit.configure(provider=provider)
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()])
    before = structlog.get_config()
    run_demo(tmp_path, operations=10, stages=[Stage.LIVE])
    assert _config.settings.provider is provider
    assert structlog.get_config() == before


def test_planted_defect() -> None:
    """The new side's conversion loses surname particles; the old rule keeps them."""
    assert split_name("Ludwig van Beethoven") == ("Ludwig", "van Beethoven")
    assert convert_name_new("Ludwig van Beethoven") == ("Ludwig", "Beethoven")
    assert convert_name_new("Ada Lovelace") == split_name("Ada Lovelace")


def test_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown stage or a non-positive count is a usage error that says what is expected."""
    with pytest.raises(SystemExit):
        main(["demo", "--stage", "beta"])
    assert "expected a stage" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--operations", "0"])
    assert "at least 1" in capsys.readouterr().err


def test_demo_operations_must_be_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --operations many` is a usage error that says a number is expected."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--operations", "many"])
    assert exit_info.value.code == 2
    assert "expected a number of calls per stage" in capsys.readouterr().err


def test_demo_unwritable_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --dir that cannot be created exits 2 with one line naming a writable alternative."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["demo", "--dir", str(blocker / "sub"), "--operations", "1",
                 "--stage", "off"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("migratekit demo: cannot write ")
    assert "--dir or --log" in err
    assert "Traceback" not in err


def test_demo_single_word_name() -> None:
    """A one-word name converts to that word and an empty last name, on both sides."""
    assert convert_name_new("  Cher ") == ("Cher", "")
    assert convert_name_new("Cher") == split_name("Cher")


def test_demo_stages_in_order_without_judging(tmp_path: Path) -> None:
    """stages= runs each in order, set by the demo without advance; one backfill, after
    DUALWRITE, before the new side is read."""
    result = run_demo(tmp_path, operations=50, stages=[Stage.SHADOW, Stage.OFF,
                                                       Stage.DUALWRITE])
    assert list(result.calls) == ["off", "dualwrite", "shadow"]
    assert result.decisions == []
    assert result.reconciliation is not None
    history = StageFile(tmp_path / "stages.json").stage_history("users.get")
    assert [(change.new, change.action) for change in history] == [
        ("off", "set"), ("dualwrite", "set"), ("shadow", "set")]


def test_backfill_batch_that_fails_is_rolled_back(tmp_path: Path) -> None:
    """A batch the new database refuses is rolled back whole, so that a retry can begin
    again; the backfill then names the batch."""
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    new = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    old.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    old.executemany("INSERT INTO users VALUES (?, ?, ?)",
                    [(i, f"Ada Lovelace{i}", "ada@example.org") for i in range(1, 6)])
    new.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, "
                "last_name TEXT CHECK (last_name != 'Lovelace3'), email TEXT)")
    with pytest.raises(BackfillError) as info:
        _backfill(old, new, backoff=0.0)
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert not new.in_transaction
    assert new.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    old.close()
    new.close()


def test_reconciled_line() -> None:
    """The reconcile line names the paths that differ and what is missing on each side."""
    assert _reconciled(Reconciliation(consistent=True, old_rows=3, new_rows=3, compared=3,
                                      missing_in_new=0, missing_in_old=0, differing=0)) == \
        "  reconcile: 3 users on both sides, 0 differ"
    assert _reconciled(Reconciliation(
        consistent=False, old_rows=5, new_rows=4, compared=3, missing_in_new=2,
        missing_in_old=1, differing=1, diff_paths={"last_name": 1})) == (
        "  reconcile: 3 users on both sides, 1 differ (at last_name 1), 2 missing in the new "
        "database, 1 missing in the old database")
