"""Tests of the ``migratekit`` entry points (migratekit/_cli/__init__.py and __main__.py)."""

from __future__ import annotations

import argparse
import runpy
import subprocess
import sys

import pytest

from migratekit._cli import main
from migratekit._cli import report as cli_report


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
    monkeypatch.setattr(cli_report, "run", _raising(KeyboardInterrupt()))
    assert main(["report", "-"]) == 130
    assert capsys.readouterr().err == "migratekit: interrupted\n"


def test_closed_pipe_exits_0_quietly(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A reader that went away (`| head`) is no error: status 0 and nothing on stderr."""
    monkeypatch.setattr(cli_report, "run", _raising(BrokenPipeError()))
    assert main(["report", "-"]) == 0
    assert capsys.readouterr().err == ""


def test_python_dash_m_runs_the_command(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m migratekit` is the command line: it exits with the command's status."""
    monkeypatch.setattr(sys, "argv", ["migratekit"])
    # migratekit ships a pytest plugin, so pytest imports its modules through its
    # assertion-rewriting hook, which cannot give runpy a module's code: the
    # standard finders find __main__ here.
    monkeypatch.setattr(sys, "meta_path", [finder for finder in sys.meta_path
                                           if type(finder).__name__ != "AssertionRewritingHook"])
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
