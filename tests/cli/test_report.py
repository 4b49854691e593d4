"""Tests of the ``migratekit report`` command (migratekit/_cli/report.py)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from migratekit._cli import main
from migratekit._cli import report as cli_report
from migratekit.report import _files, build_report
from tests.report.logs import (
    T0,
    call_lines,
    iso,
    known_calls,
    per_call_lines,
    summary_line,
    write_library_log,
)

_REQUIRED = {"migration", "stage", "operation", "calls", "consistency_checks", "inconsistent",
             "errors", "latency_ms", "verdict"}


@pytest.fixture
def library_log(tmp_path: Path) -> Path:
    """A log written by the library: reads in SHADOW, writes in DUALWRITE."""
    path = tmp_path / "events.jsonl"
    write_library_log(path)
    with open(path, "ab") as out:
        out.write(b"not json at all\n\n")
    return path


def test_text_report(library_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The text report has the table, the mismatch paths and the skipped lines."""
    assert main(["report", str(library_log)]) == 0
    out = capsys.readouterr().out
    assert "MIGRATION" in out
    assert "VERDICT" in out
    assert "users.get" in out
    assert "users.save" in out
    assert "100% of mismatches differ at address.zip" in out
    assert "skipped lines: 2 (1 blank, 1 other)" in out
    header = next(line for line in out.splitlines() if line.startswith("MIGRATION"))
    row = next(line for line in out.splitlines() if line.startswith("users.get"))
    # Aligned: the CALLS column ends at the same place in the header and the row.
    calls_end = header.index("CALLS") + len("CALLS")
    assert row[calls_end - 2: calls_end] == "30"


def test_json_shape(library_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json prints docs/design.md's document, with every required key."""
    assert main(["report", "--format", "json", str(library_log)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["skipped_lines"] == 2
    entries = {(e["migration"], e["stage"], e["operation"]): e for e in document["migrations"]}
    assert set(entries) == {("users.get", "shadow", "read"), ("users.save", "dualwrite", "write")}
    for entry in entries.values():
        assert set(entry) >= _REQUIRED
        assert set(entry["errors"]) == {"old", "new"}
        assert set(entry["latency_ms"]) == {"old", "new"}
        for origin in ("old", "new"):
            assert set(entry["latency_ms"][origin]) == {"p50", "p95", "p99"}
        assert entry["verdict"].startswith(("ready", "hold"))
    get = entries[("users.get", "shadow", "read")]
    assert (get["calls"], get["consistency_checks"], get["inconsistent"]) == (30, 29, 6)
    assert get["errors"] == {"old": 0, "new": 1}


def test_json_origin_that_never_ran_is_null(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An origin that never ran has latency null."""
    path = tmp_path / "off.jsonl"
    path.write_bytes(b"\n".join(call_lines(5, stage="off", old_ms=1.5)) + b"\n")
    assert main(["report", "--format", "json", str(path)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["migrations"]
    assert entry["latency_ms"]["new"] is None
    assert entry["latency_ms"]["old"] == {"p50": 1.5, "p95": 1.5, "p99": 1.5}


def test_check_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check exits 1 when the current stage is on hold, 0 when ready, 0 without --check."""
    hold = tmp_path / "hold.jsonl"
    hold.write_bytes(b"\n".join(call_lines(1000, bad=50)) + b"\n")
    ready = tmp_path / "ready.jsonl"
    ready.write_bytes(b"\n".join(call_lines(1000)) + b"\n")
    assert main(["report", "--check", str(hold)]) == 1
    assert main(["report", str(hold)]) == 0
    assert main(["report", "--check", str(ready)]) == 0
    assert main(["report", "--check", "--max-inconsistency", "10%", str(hold)]) == 0
    assert main(["report", "--check", "--min-samples", "2000", str(ready)]) == 1


def test_check_without_events_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check on a log without migratekit events is not a pass."""
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    assert main(["report", "--check", str(empty)]) == 1
    assert "no migratekit events" in capsys.readouterr().err


def test_missing_file_exits_2_with_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read: exit 2, one line naming it."""
    missing = tmp_path / "nope.jsonl"
    assert main(["report", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert str(missing) in lines[0]
    assert "No such file" in lines[0]


def test_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory given as a file is a one-line error too."""
    assert main(["report", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_unreadable_file_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """Run as a program, an unreadable file gives status 2 and no traceback."""
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "migratekit", "report", str(good), str(tmp_path / "gone.log")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "gone.log" in result.stderr


def test_corrupt_gzip_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A gzip file cut short is reported as unreadable, not as a traceback."""
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(call_lines(50)))[:60])
    assert main(["report", str(path)]) == 2
    assert "events.jsonl.gz" in capsys.readouterr().err


def test_gzip_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rotated, gzipped log is read like a plain one."""
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(call_lines(12)) + b"\n"))
    assert main(["report", "--format", "json", str(path)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["migrations"]
    assert entry["calls"] == 12


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("argv", [["report"], ["report", "-"]])
def test_reads_standard_input(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """With no file, or -, the report reads standard input."""
    _stdin(monkeypatch, b"\n".join(call_lines(7)) + b"\njunk\n")
    assert main([*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["migrations"][0]["calls"] == 7
    assert document["skipped_lines"] == 1


def test_several_files_add_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several files are read as one log."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    lines = call_lines(10)
    a.write_bytes(b"\n".join(lines[:12]) + b"\n")
    b.write_bytes(b"\n".join(lines[12:]) + b"\n")
    assert main(["report", "--format", "json", str(a), str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["migrations"][0]["calls"] == 10


def test_html_outputs(library_log: Path, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """--format html prints the page; --html FILE writes it and still prints the text."""
    assert main(["report", "--format", "html", str(library_log)]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>")
    target = tmp_path / "report.html"
    assert main(["report", "--html", str(target), str(library_log)]) == 0
    captured = capsys.readouterr()
    assert "MIGRATION" in captured.out
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["report", "--html", str(tmp_path / "no" / "dir.html"), str(library_log)]) == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-inconsistency", "2", "between 0 and 1"),
        ("--max-inconsistency", "lots", "expected a fraction"),
        ("--min-samples", "-3", "below 0"),
        ("--max-latency-ratio", "fast", "expected a ratio"),
    ],
)
def test_bad_thresholds_are_explained(option: str, value: str, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A bad threshold is a usage error that says what was expected."""
    with pytest.raises(SystemExit) as exit_info:
        main(["report", option, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_fraction_accepts_percentages() -> None:
    """Thresholds may be written 0.001 or 0.1%."""
    assert cli_report.fraction("0.1%") == pytest.approx(0.001)
    assert cli_report.fraction("0.001") == 0.001


def test_progress_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Progress goes to standard error when it is a terminal and the input is large."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(call_lines(50)) + b"\n")
    monkeypatch.setattr(_files, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_EVERY_LINES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: False)
    assert main(["report", str(path)]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: True)
    assert main(["report", str(path)]) == 0
    captured = capsys.readouterr()
    assert "\rmigratekit report: " in captured.err
    assert "lines" in captured.err
    assert "migratekit report:" not in captured.out.splitlines()[1]


def test_small_input_shows_no_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Even on a terminal, a small file shows no progress."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(call_lines(50)) + b"\n")
    monkeypatch.setattr(_files, "_PROGRESS_EVERY_LINES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: True)
    assert main(["report", str(path)]) == 0
    assert capsys.readouterr().err == ""


# -- inputs that are not plain files, and terminals that are not there ---------------------------


def test_text_stdin_without_a_buffer_is_read(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A replaced sys.stdin with no binary buffer (a StringIO) is still read, with progress."""
    text = b"\n".join(call_lines(6)).decode() + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    monkeypatch.setattr(_files, "_PROGRESS_EVERY_LINES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: True)
    assert main(["report", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["migrations"][0]["calls"] == 6
    assert "\rmigratekit report: 0 B, " in captured.err
    assert "%" not in captured.err


def test_stdin_and_a_file_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`report - FILE` adds standard input and the file; the sources name both."""
    lines = call_lines(10)
    _stdin(monkeypatch, b"\n".join(lines[:12]) + b"\n")
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"\n".join(lines[12:]) + b"\n")
    report = build_report(["-", str(path)])
    assert report.sources == ["standard input", str(path)]
    assert report.entries[0].calls == 10
    assert main(["report", "--format", "json", "-", str(path)]) == 0
    capsys.readouterr()


def test_overlong_line_in_a_file_is_counted(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A line over the length limit is skipped as too long; the lines around it are read."""
    lines = call_lines(4)
    path = tmp_path / "events.jsonl"
    path.write_bytes(lines[0] + b"\n" + b"x" * ((1 << 20) + 10) + b"\n"
                     + b"\n".join(lines[1:]) + b"\n")
    assert main(["report", "--format", "json", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["skipped"] == {"too_long": 1}
    assert document["migrations"][0]["calls"] == 4


def test_progress_is_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Progress is written at most once per interval: within the first one, nothing."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(call_lines(50)) + b"\n")
    monkeypatch.setattr(_files, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_EVERY_LINES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_INTERVAL", 3600.0)
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: True)
    assert main(["report", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_fifo_is_read_with_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A named pipe (`report <(zcat log.gz)`) is read; progress copes with its lack of tell()."""
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    data = b"\n".join(call_lines(8)) + b"\n"

    def write() -> None:
        with open(fifo, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    monkeypatch.setattr(_files, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(_files, "_PROGRESS_EVERY_LINES", 1)
    monkeypatch.setattr(_files, "_PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(cli_report, "_stderr_is_tty", lambda: True)
    try:
        assert main(["report", "--format", "json", str(fifo)]) == 0
    finally:
        writer.join(timeout=10)
    assert not writer.is_alive()
    captured = capsys.readouterr()
    assert json.loads(captured.out)["migrations"][0]["calls"] == 8
    assert "\rmigratekit report: 0 B, " in captured.err


def test_unreadable_device_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A file that opens but cannot be read (an I/O error) exits 2 with one line."""
    path = Path("/proc/self/mem")
    if not path.exists():
        pytest.skip("needs Linux /proc")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"migratekit report: cannot read {path}: ")
    assert err.count("\n") == 1


class _NoTerminal:
    """A replaced sys.stderr: writes go to a list; isatty is missing or raises."""

    def __init__(self, closed: bool) -> None:
        self.closed_file = closed
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        if name == "isatty" and self.closed_file:
            def isatty() -> bool:
                raise ValueError("I/O operation on closed file")
            return isatty
        raise AttributeError(name)


@pytest.mark.parametrize("closed", [False, True])
def test_stderr_that_cannot_say_is_no_terminal(closed: bool, library_log: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A replaced or closed stderr counts as no terminal: no progress, the report still runs."""
    stderr = _NoTerminal(closed)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert cli_report._stderr_is_tty() is False
    monkeypatch.setattr(_files, "PROGRESS_MIN_BYTES", 1)
    assert main(["report", str(library_log)]) == 0
    assert "MIGRATION" in capsys.readouterr().out
    assert stderr.written == []


# -- hostile logs through the real command, with real encodings ------------------------------


def run_strict(argv: list[str], *, encoding: str = "ascii",
               stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """
    Run ``main(argv)`` with sys.stdout and sys.stderr as *encoding* text streams
    over bytes with errors="strict" (what PYTHONIOENCODING=ascii gives a real
    program's stdout): its exit status, and what it wrote to each.
    """
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding=encoding, errors="strict")
    err = io.TextIOWrapper(err_bytes, encoding=encoding, errors="strict")
    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse's way out
            status = exit_.code if isinstance(exit_.code, int) else 2
        out.flush()
        err.flush()
        return status, out_bytes.getvalue(), err_bytes.getvalue()
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved


def _result(**fields: object) -> bytes:
    base: dict[str, object] = {
        "event": "migration.result", "migration": "m", "operation": "read", "stage": "shadow",
        "origin": "old", "ok": True, "latency_ms": 1.0, "call_id": "c-1"}
    return json.dumps({**base, **fields}).encode()


_HOSTILE = {
    "huge_latency": _result(latency_ms=10**400),
    "huge_timestamp": _result(timestamp=10**400),
    "event_list": _result(event=["migration.op"]),
    "event_dict": _result(event={"migration.op": True}),
    "surrogate_name": _result(migration="m\ud800"),
    "surrogate_path": json.dumps({
        "event": "migration.op", "migration": "m", "operation": "read", "stage": "shadow",
        "consistent": False, "call_id": "c-1", "diff_paths": ["a\udfff"]}).encode(),
    "surrogate_stage_error": json.dumps({
        "event": "migration.stage_error", "migration": "m", "provider": "P\ud800",
        "source": "S\udc00", "value": "\ud800", "error": "e\ud800", "stage": "off"}).encode(),
    "latency_1e308": _result(latency_ms=1e308),
    # latency_ms 1.7e308 once looped forever in the HTML: tested in a subprocess, below.
}


@pytest.mark.parametrize("kind", sorted(_HOSTILE))
@pytest.mark.parametrize("fmt", ["text", "json", "html"])
def test_each_reviewed_line_through_the_command(kind: str, fmt: str, tmp_path: Path) -> None:
    """Each line the review found fatal: exit 0 on a strict ASCII stdout, a whole HTML file."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(_HOSTILE[kind] + b"\n" + b"\n".join(call_lines(3)) + b"\n")
    page = tmp_path / "report.html"
    status, out, err = run_strict(["report", "--format", fmt, "--html", str(page), str(log)])
    assert (status, err) == (0, f"migratekit report: wrote {page}\n".encode())
    assert page.read_bytes().endswith(b"</html>\n")
    if fmt == "json":
        document = json.loads(out)
        assert document["lines"] == 10
    elif fmt == "html":
        assert out.endswith(b"</html>\n")
    else:
        assert b"skipped lines" in out


def test_html_of_the_largest_latency_finishes_in_a_subprocess(tmp_path: Path) -> None:
    """latency_ms 1.7e308 once sent the y-axis scale into an endless loop."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(_result(latency_ms=1.7e308) + b"\n" + b"\n".join(call_lines(3)) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "migratekit", "report", "--format", "html", str(log)],
        capture_output=True, timeout=30, check=False,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.endswith(b"</html>\n")


def test_failed_html_write_keeps_the_earlier_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--html FILE is written whole or not at all: a failure leaves FILE and no stray file."""
    import os

    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    page = tmp_path / "report.html"
    page.write_text("the earlier report")

    def fail(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    status, out, err = run_strict(["report", "--html", str(page), str(log)])
    assert status == 2
    assert out == b""
    assert err == (f"migratekit report: cannot write {page}: No space left on device; "
                   "choose a writable path for --html\n").encode()
    assert page.read_text() == "the earlier report"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.jsonl", "report.html"]


def test_html_file_replaces_through_a_symlink_and_keeps_devices(tmp_path: Path) -> None:
    """--html through a symbolic link replaces the file it names; /dev/null is written in place."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real)
    assert run_strict(["report", "--html", str(link), str(log)])[0] == 0
    assert link.is_symlink()
    assert real.read_text().endswith("</html>\n")
    if Path("/dev/null").exists():
        assert run_strict(["report", "--html", "/dev/null", str(log)])[0] == 0


def test_closed_standard_input_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started with standard input closed (sys.stdin is None): status 2 and one line."""
    monkeypatch.setattr(sys, "stdin", None)
    status, out, err = run_strict(["report"])
    assert (status, out) == (2, b"")
    assert err == b"migratekit report: cannot read standard input: it is closed\n"


def test_full_standard_output_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """A report that cannot be written (stdout on /dev/full): one line on stderr, status 2."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    with open(full, "w") as stdout:
        result = subprocess.run([sys.executable, "-m", "migratekit", "report", str(log)],
                                stdout=stdout, stderr=subprocess.PIPE, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == (b"migratekit report: cannot write the report to standard output: "
                             b"No space left on device\n")


def test_file_names_that_the_terminal_cannot_encode(tmp_path: Path) -> None:
    """A missing file named in UTF-8, on a strict ASCII stderr, is still one line."""
    status, out, err = run_strict(["report", str(tmp_path / "caf\u00e9\udcff.log")])
    assert (status, out) == (2, b"")
    assert err.count(b"\n") == 1
    assert b"caf\\xe9\\udcff.log" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_thresholds_must_be_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--latency-floor-ms nan once made every ratio a division by zero: it is a usage error."""
    with pytest.raises(SystemExit) as info:
        main(["report", f"--latency-floor-ms={value}"])
    assert info.value.code == 2
    assert "not finite" in capsys.readouterr().err


def test_zero_latency_floor_through_the_command(tmp_path: Path) -> None:
    """--latency-floor-ms 0 with sides that took 0 ms reports, rather than dividing by zero."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3, old_ms=0.0, new_ms=0.0)) + b"\n")
    status, out, _ = run_strict(["report", "--latency-floor-ms", "0", str(log)])
    assert status == 0
    assert b"hold: only 3 comparisons" in out


class _FailingStdout:
    """A replaced sys.stdout whose writes raise *error*; fileno() gives *fd*, if any."""

    encoding = "utf-8"

    def __init__(self, error: OSError, fd: int | None = None) -> None:
        self.error = error
        self.fd = fd

    def write(self, text: str) -> int:
        raise self.error

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        if self.fd is None:
            raise OSError("no file descriptor")
        return self.fd


def test_broken_pipe_is_quiet_and_stdout_goes_to_devnull(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`report | head`: status 0, nothing said, and the descriptor now points at /dev/null."""
    import os

    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    with open(tmp_path / "stdout", "wb") as own:
        monkeypatch.setattr(sys, "stdout", _FailingStdout(BrokenPipeError(32, "Broken pipe"),
                                                          own.fileno()))
        assert main(["report", str(log)]) == 0
        assert os.path.samestat(os.fstat(own.fileno()), os.stat(os.devnull))
    assert capsys.readouterr().err == ""


def test_stdout_that_fails_or_is_closed_is_one_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A write error on stdout, or no stdout at all: status 2 and one line saying so."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(call_lines(3)) + b"\n")
    monkeypatch.setattr(sys, "stdout", _FailingStdout(OSError(5, "Input/output error")))
    assert main(["report", str(log)]) == 2
    assert capsys.readouterr().err == ("migratekit report: cannot write the report to standard "
                                       "output: Input/output error\n")
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["report", str(log)]) == 2
    assert capsys.readouterr().err == ("migratekit report: cannot write the report to standard "
                                       "output: standard output is closed\n")
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["report", str(log)]) == 2


def test_standard_input_that_fails_to_read_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replaced stdin that raises ValueError when read (closed): status 2 and one line."""
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdin", closed)
    status, out, err = run_strict(["report"])
    assert (status, out) == (2, b"")
    assert err == b"migratekit report: cannot read standard input: I/O operation on closed file\n"


# -- summaries, and --since/--until (issue 11) ------------------------------------------------


@pytest.fixture
def mixed_logs(tmp_path: Path) -> list[Path]:
    """
    Two files of a fleet: process aa without summaries (per-call events, one
    call a second from T0), process bb with both its per-call events and its
    summaries (10-second windows), the way a rolling upgrade leaves them.
    """
    calls = known_calls(60, seed=30)
    old_fleet = tmp_path / "web-1.jsonl"
    old_fleet.write_bytes(b"\n".join(per_call_lines(calls[:30], process="aa", start=T0,
                                                    step=1.0)) + b"\n")
    new_fleet = tmp_path / "web-2.jsonl"
    lines = per_call_lines(calls[30:], process="bb", start=T0, step=1.0)
    lines += [summary_line(calls[30 + i * 10:40 + i * 10], process="bb",
                           since=T0 + i * 10, until=T0 + (i + 1) * 10) for i in range(3)]
    new_fleet.write_bytes(b"\n".join(lines) + b"\n")
    return [old_fleet, new_fleet]


def test_summaries_and_per_call_events_through_the_command(mixed_logs: list[Path]) -> None:
    """Each call once: aa from its events, bb from its summaries; ASCII stdout."""
    status, out, err = run_strict(["report", "--format", "json", *map(str, mixed_logs)])
    assert (status, err) == (0, b"")
    document = json.loads(out)
    (entry,) = document["migrations"]
    assert entry["calls"] == 60
    assert entry["summaries"] == 3
    assert document["summaries"] == 3
    assert document["summary_processes"] == 1
    assert document["not_counted_again"] == entry["not_counted_again"] > 0
    assert document["skipped_lines"] == 0
    status, out, err = run_strict(["report", *map(str, mixed_logs)])
    text = out.decode("ascii")
    assert status == 0
    assert "summaries: 3 migration.summary from 1 process; " in text
    assert " per-call events of those processes not counted again" in text


def test_since_and_until_through_the_command(mixed_logs: list[Path]) -> None:
    """--since and --until keep the events stamped, and the summaries whose window is, within."""
    argv = ["report", "--format", "json", "--since", iso(T0 + 10), "--until",
            "2026-09-21T14:13:40"]  # naive: UTC, T0 + 20
    status, out, err = run_strict([*argv, *map(str, mixed_logs)])
    assert (status, err) == (0, b"")
    document = json.loads(out)
    (entry,) = document["migrations"]
    assert entry["calls"] == 10 + 10  # aa's calls 10 to 19, bb's second window
    assert document["since"] == "2026-09-21T14:13:30+00:00"
    assert document["until"] == "2026-09-21T14:13:40+00:00"
    assert document["skipped"]["outside_window"] > 0
    status, out, _ = run_strict(["report", "--since", "2h", *map(str, mixed_logs)])
    assert status == 0
    assert b"window: from " in out
    assert b"No migration.result, migration.op or migration.summary events found" in out


def test_the_same_file_twice_counts_its_summaries_once(mixed_logs: list[Path]) -> None:
    """A summary read twice is skipped as a duplicate (its per-call events are left out anyway)."""
    status, out, _ = run_strict(["report", "--format", "json", str(mixed_logs[1]),
                                 str(mixed_logs[1])])
    assert status == 0
    document = json.loads(out)
    assert document["migrations"][0]["calls"] == 30
    assert document["skipped"] == {"duplicate": 3}


@pytest.mark.parametrize("argv", [
    ["--since", "yesterday"],
    ["--until", "15"],
    ["--since", "2026-02-30T00:00:00Z"],
    ["--since", "\x1b[31m"],
])
def test_a_bad_time_is_a_usage_error(argv: list[str]) -> None:
    """Exit 2, one line saying what TIME may be, no traceback; the usage line before it."""
    status, out, err = run_strict(["report", *argv, "nothing.jsonl"])
    assert (status, out) == (2, b"")
    lines = err.decode("ascii").splitlines()
    assert lines[0].startswith("usage: ")
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"migratekit report: error: argument {argv[0]}: expected an "
                                "ISO 8601 time such as 2026-12-01T03:00:00Z, or a duration")
    assert lines[-1] == errors[0]
    assert "Traceback" not in err.decode("ascii")
    assert "\x1b" not in err.decode("ascii")


def test_since_after_until_is_one_line(mixed_logs: list[Path]) -> None:
    """An empty window is refused before anything is read."""
    status, out, err = run_strict(["report", "--since", "1h", "--until", "2h",
                                   str(mixed_logs[0])])
    assert (status, out) == (2, b"")
    assert err == b"migratekit report: --since must come before --until; nothing happened " \
                  b"in between\n"
