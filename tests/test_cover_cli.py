"""Tests of the ``migratekit`` entry points (migratekit/_cli.py, __main__.py, _cli_demo.py)."""

from __future__ import annotations

import argparse
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from migratekit import _cli_report
from migratekit._cli import main
from migratekit._demo import convert_name_new, split_name


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`migratekit` alone prints the usage with its commands on stderr and exits 2."""
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage:" in captured.err
    for command in ("demo", "report", "stage"):
        assert command in captured.err


def _raising(exc: BaseException) -> object:
    def run(args: argparse.Namespace) -> int:
        raise exc

    return run


def test_interrupt_exits_130_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C during a command ends it with status 130 and one line, no traceback."""
    monkeypatch.setattr(_cli_report, "run", _raising(KeyboardInterrupt()))
    assert main(["report", "-"]) == 130
    assert capsys.readouterr().err == "migratekit: interrupted\n"


def test_closed_pipe_exits_0_quietly(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A reader that went away (`| head`) is no error: status 0 and nothing on stderr."""
    monkeypatch.setattr(_cli_report, "run", _raising(BrokenPipeError()))
    assert main(["report", "-"]) == 0
    assert capsys.readouterr().err == ""


def test_python_dash_m_runs_the_command(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m migratekit` is the command line: it exits with the command's status."""
    monkeypatch.setattr(sys, "argv", ["migratekit"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("migratekit", run_name="__main__", alter_sys=False)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m_in_a_subprocess() -> None:
    """`python -m migratekit --version` in a fresh interpreter prints the version."""
    done = subprocess.run([sys.executable, "-m", "migratekit", "--version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("migratekit ")


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
