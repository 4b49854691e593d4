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
from migratekit._cli._demo_app import convert_name_new, run_demo, split_name
from migratekit.providers import StaticStageProvider
from migratekit.report import build_report


def test_demo_end_to_end_names_the_defect(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The demo runs every stage, and its report names last_name as where the sides differ."""
    assert main(["demo", "--dir", str(tmp_path), "--operations", "400"]) == 0
    out = capsys.readouterr().out
    log = tmp_path / "events.jsonl"
    assert str(log) in out
    assert "Where the sides differ:" in out
    differ = [line for line in out.splitlines() if "of mismatches differ at" in line]
    assert differ
    assert all("differ at last_name" in line for line in differ)
    assert "hold:" in out
    stages = {json.loads(line)["stage"] for line in log.read_text().splitlines()}
    assert stages == {stage.value for stage in Stage}


def test_demo_leaves_only_the_files_it_names(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """After a run the directory holds the two databases and the log, nothing else."""
    assert main(["demo", "--dir", str(tmp_path), "--operations", "50"]) == 0
    assert main(["demo", "--dir", str(tmp_path), "--operations", "50"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl", "new.sqlite3", "old.sqlite3"]
    out = capsys.readouterr().out
    for name in ("old.sqlite3", "new.sqlite3", "events.jsonl"):
        assert name in out


def test_demo_log_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--log puts the events where asked."""
    log = tmp_path / "elsewhere.jsonl"
    assert main(["demo", "--dir", str(tmp_path / "db"), "--log", str(log),
                 "--operations", "30"]) == 0
    assert log.stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["new.sqlite3", "old.sqlite3"]


def test_demo_one_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--stage runs that stage only, backfilled first so that SHADOW has data to compare."""
    assert main(["demo", "--dir", str(tmp_path), "--stage", "SHADOW",
                 "--operations", "300"]) == 0
    report = build_report([str(tmp_path / "events.jsonl")])
    assert {entry.stage for entry in report.entries} == {"shadow"}
    (get,) = [e for e in report.entries if (e.migration, e.operation) == ("users.get", "read")]
    assert get.consistency_checks > 150
    assert get.inconsistent > 0
    assert "backfill" in capsys.readouterr().out


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
    """The same seed drives the same traffic."""
    first = run_demo(tmp_path / "a", operations=100, seed=11)
    second = run_demo(tmp_path / "b", operations=100, seed=11)
    assert first.calls == second.calls
    assert first.backfilled == second.backfilled > 0


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
