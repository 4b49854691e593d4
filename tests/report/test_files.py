"""Tests of build_report, the public way to read log files into a report (report/_files.py)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest

import migratekit
import migratekit.report
from migratekit.report import InputError, Thresholds, build_report
from tests.report.logs import write_library_log


def test_module_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """The example in migratekit.report's docstring runs as written, on a plain and a gzip log."""
    write_library_log(tmp_path / "app.log")
    with gzip.open(tmp_path / "app.log.1.gz", "wb") as out:
        out.write((tmp_path / "app.log").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert migratekit.report.__doc__ is not None
    found = re.search(r"::\n\n(.*?)\n\n\S", migratekit.report.__doc__, re.DOTALL)
    assert found is not None
    code = "\n".join(line[4:] for line in found.group(1).splitlines())
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    report = namespace["report"]
    assert report.sources == ["app.log.1.gz", "app.log"]
    assert report.thresholds == Thresholds(min_samples=500)
    assert report.migrations == ["users.*"]
    assert {entry.migration for entry in report.entries} == {"users.get", "users.save"}
    assert report.events == 2 * len((tmp_path / "app.log").read_bytes().splitlines())
    assert namespace["ready"] is False
    assert "users.get" in capsys.readouterr().out
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_default_thresholds(tmp_path: Path) -> None:
    """Without thresholds, the verdicts use Thresholds()'s defaults."""
    write_library_log(tmp_path / "app.log")
    assert build_report([str(tmp_path / "app.log")]).thresholds == Thresholds()


def test_a_file_that_cannot_be_read_raises_input_error(tmp_path: Path) -> None:
    """A missing file raises InputError, a MigrateKitError and an OSError, naming the file."""
    missing = tmp_path / "missing.log"
    with pytest.raises(InputError) as raised:
        build_report([str(missing)])
    assert str(raised.value) == f"cannot read {missing}: No such file or directory"
    assert isinstance(raised.value, migratekit.MigrateKitError)
    assert isinstance(raised.value, OSError)


def test_a_broken_gzip_file_raises_input_error(tmp_path: Path) -> None:
    """A gzip stream cut short is a file that cannot be read, not a traceback."""
    path = tmp_path / "cut.log.gz"
    whole = gzip.compress(b'{"event": "migration.op"}\n' * 1000)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"^cannot read .*cut\.log\.gz: "):
        build_report([str(path)])
