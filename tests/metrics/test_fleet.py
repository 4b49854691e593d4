"""
``migratekit report --prometheus URL``: a real Prometheus server scrapes two
real processes serving /metrics; the report judges from it, with exact counts.
"""

from __future__ import annotations

import http.server
import json
import math
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from migratekit._cli import main
from migratekit.report._prometheus import _fine_buckets, _growth, build_prometheus_report
from tests._redis import free_port, require
from tests.metrics.scenario import EXPECTED, MIGRATION, WRITE

pytest.importorskip("prometheus_client")

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0

# A process of the fleet: counts its calls for the collector alone (info
# dropped), serves /metrics, runs the scenario's calls before LIVE ROUNDS
# times; when told to on its standard input, those in LIVE; then serves on
# until its standard input closes.
CHILD = """
import sys
from tests.metrics.scenario import drop_info, run_before_live, run_live
import prometheus_client
from migratekit.metrics import PrometheusCollector

drop_info()
PrometheusCollector.register()
prometheus_client.start_http_server(int(sys.argv[1]), addr="127.0.0.1")
rounds = int(sys.argv[2])
for _ in range(rounds):
    run_before_live()
print("ready", flush=True)
sys.stdin.readline()
for _ in range(rounds):
    run_live()
print("ready", flush=True)
sys.stdin.read()
"""


def _wait_line(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", line


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read().decode())


def _wait_calls(url: str, want: int) -> None:
    """Wait until Prometheus scraped *want* calls from the fleet."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            found = _get(f"{url}/api/v1/query?query=sum(migratekit_calls_total)")
            result = found["data"]["result"]
            if result and float(result[0]["value"][1]) == want:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"Prometheus did not scrape {want} calls"
        time.sleep(0.25)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[str]:
    """Two processes (the scenario once and twice) and a Prometheus server scraping them."""
    binary = shutil.which("prometheus")
    if binary is None:
        require("prometheus", "the prometheus server is not installed (Debian package "
                "'prometheus')")
    assert binary is not None
    started: list[subprocess.Popen[str]] = []
    try:
        ports = []
        for rounds in (1, 2):
            port = free_port()
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(port), str(rounds)], cwd=ROOT, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            started.append(child)
            _wait_line(child)
            ports.append(port)
        config = tmp_path / "prometheus.yml"
        targets = ", ".join(f'"127.0.0.1:{port}"' for port in ports)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: app\n    static_configs:\n"
            f"      - targets: [{targets}]\n", encoding="utf-8")
        web = free_port()
        server = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{web}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        started.append(server)
        url = f"http://127.0.0.1:{web}"
        live = EXPECTED[MIGRATION, "read", "live"]["calls"]
        _wait_calls(url, 3 * (sum(counts["calls"] for counts in EXPECTED.values()) - live))
        for child in started[:2]:  # the stage moves to LIVE some scrapes later
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            _wait_line(child)
        _wait_calls(url, 3 * sum(counts["calls"] for counts in EXPECTED.values()))
        yield url
    finally:
        for process in reversed(started):
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@pytest.mark.slow
def test_the_report_from_prometheus_counts_the_fleet_exactly(
        fleet: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["report", "--prometheus", fleet, "--range", "10m", "--format", "json"])
    out = capsys.readouterr().out
    assert status == 0, out
    document = json.loads(out)
    assert document["summary_processes"] == 2
    entries = {(e["migration"], e["operation"], e["stage"]): e for e in document["migrations"]}
    assert set(entries) == set(EXPECTED)
    for key, want in EXPECTED.items():
        entry = entries[key]
        assert entry["calls"] == 3 * want["calls"], key
        assert entry["consistency_checks"] == 3 * want["checks"], key
        assert entry["inconsistent"] == 3 * want["inconsistent"], key
        assert entry["compare_errors"] == 3 * want["compare_errors"], key
        for origin in ("old", "new"):
            ran = want["ok"][origin] + want["failed"][origin]
            assert entry["results"][origin] == 3 * ran, (key, origin)
            assert entry["errors"][origin] == 3 * want["failed"][origin], (key, origin)
        if want["failed"]["new"]:
            assert entry["error_types"]["new"] == {"Broken": 3 * want["failed"]["new"]}
    # the verdicts are the report's own: inconsistent reads put SHADOW and LIVE on hold
    assert entries[MIGRATION, "read", "live"]["verdict"].startswith("hold")
    assert entries[MIGRATION, "read", "shadow"]["verdict"].startswith("hold")
    assert entries[MIGRATION, "read", "live"]["current"] is True
    assert entries[WRITE, "write", "dualwrite"]["current"] is True
    # the same report, from Python
    report = build_prometheus_report(fleet, range_seconds=600)
    assert [entry.calls for entry in report.entries] == \
        [entry["calls"] for entry in document["migrations"]]


def test_files_and_prometheus_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "app.log", "--prometheus", "http://127.0.0.1:9"]) == 2
    assert "one or the other" in capsys.readouterr().err


def test_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["report", "--prometheus", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"migratekit report: cannot query Prometheus at http://127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_range_must_be_a_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--prometheus", "http://127.0.0.1:9", "--range", "soon"])
    assert "expected a duration such as 90s" in capsys.readouterr().err


def test_growth_is_exact_across_a_restart() -> None:
    assert _growth([(1.0, 5.0), (2.0, 7.0)], None) == 7.0  # the series began in the range
    assert _growth([(1.0, 5.0), (2.0, 7.0)], 4.0) == 3.0  # it was 4 at the range's start
    assert _growth([(1.0, 5.0), (2.0, 2.0), (3.0, 6.0)], 4.0) == 7.0  # a restart at 2


def test_le_buckets_become_fine_buckets_at_their_middles() -> None:
    buckets, count, highest = _fine_buckets({0.0005: 2.0, 0.001: 2.0, 0.0025: 5.0,
                                             10.0: 5.0, math.inf: 6.0})
    assert count == 6
    assert sum(buckets.values()) == 6
    assert highest == 20000.0  # the one above 10 s stands at 20 s
    assert max(buckets) == math.ceil(math.log(20000.0) / math.log(1.01 / 0.99))


class _Answers(http.server.BaseHTTPRequestHandler):
    """A server that answers every query with what the test put in ``answers``."""

    answers: ClassVar[list[tuple[int, bytes]]] = []
    asked: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        self.asked.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
        status, body = self.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(("status", "body", "said"), [
    (400, b'{"status": "error", "error": "parse error"}', "HTTP 400 parse error"),
    (503, b"not json", "HTTP 503"),
    (200, b'{"status": "error"}', "the answer is not a success"),
    (200, b"[1, 2", "cannot query Prometheus at"),
])
def test_a_failed_query_is_one_line(answering: str, status: int, body: bytes, said: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _Answers.answers[:] = [(status, body)]
    assert main(["report", "--prometheus", answering]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert err.count("\n") == 1


def test_series_that_are_not_migratekit_s_are_left_out(answering: str) -> None:
    """Samples without the labels, odd values, sides that are neither old nor new."""
    window = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "migratekit_calls_total", "migration": "a"},
         "values": [[1, "3"]]},
        {"metric": {"__name__": "migratekit_calls_total", "migration": "a",
                    "operation": "read", "stage": "off"}, "values": []},
        {"metric": {"__name__": "migratekit_results_total", "migration": "a",
                    "operation": "read", "stage": "off", "origin": "both", "ok": "true"},
         "values": [[1, "NaN"], [2, "x"]]},
        {"metric": {"__name__": "migratekit_calls_total", "migration": "a",
                    "operation": "read", "stage": "off"}, "values": [[1, "0"]]},
        {"metric": {"__name__": "migratekit_results_total", "migration": "a",
                    "operation": "read", "stage": "off", "origin": "new", "ok": "false"},
         "values": [[1, "0"]]},
    ]}}
    before = {"status": "success", "data": {"resultType": "vector", "result": []}}
    _Answers.answers[:] = [(200, json.dumps(window).encode()),
                           (200, json.dumps(before).encode())]
    report = build_prometheus_report(answering, range_seconds=60, end=1000.0)
    assert report.entries == []


def test_since_and_until_set_the_range(answering: str) -> None:
    empty = json.dumps({"status": "success", "data": {"result": []}}).encode()
    _Answers.answers[:] = [(200, empty), (200, empty)]
    _Answers.asked.clear()
    assert main(["report", "--prometheus", answering, "--since", "2026-12-01T02:00:00Z",
                 "--until", "2026-12-01T03:00:00Z"]) == 0
    window, before = _Answers.asked
    assert window["query"][0].endswith("[3600s]")
    assert float(window["time"][0]) == 1796094000.0  # 2026-12-01T03:00:00Z
    assert float(before["time"][0]) == 1796090400.0


def test_registered_in_the_default_registry_and_closed() -> None:
    import prometheus_client

    from migratekit.metrics import PrometheusCollector

    collector = PrometheusCollector.register()
    try:
        assert "# TYPE migratekit_calls_total counter" in \
            prometheus_client.generate_latest().decode()
    finally:
        collector.close()
    with pytest.raises(KeyError):
        prometheus_client.REGISTRY.unregister(collector)  # close() did


def test_ignored_mismatches_are_read_from_their_counter(answering: str) -> None:
    """migratekit_ignored_total lands in the report's ignored count, apart from the rest."""
    labels = {"migration": "a", "operation": "read", "stage": "shadow"}

    def series(name: str, value: int, **more: str) -> dict[str, Any]:
        return {"metric": {"__name__": name, **labels, **more}, "values": [[1, str(value)]]}

    window = {"status": "success", "data": {"resultType": "matrix", "result": [
        series("migratekit_calls_total", 10),
        series("migratekit_results_total", 10, origin="old", ok="true"),
        series("migratekit_results_total", 10, origin="new", ok="true"),
        series("migratekit_consistency_checks_total", 7),
        series("migratekit_ignored_total", 3),
    ]}}
    before = {"status": "success", "data": {"resultType": "vector", "result": []}}
    _Answers.answers[:] = [(200, json.dumps(window).encode()),
                           (200, json.dumps(before).encode())]
    report = build_prometheus_report(answering, range_seconds=60, end=1000.0)
    (entry,) = report.to_json()["migrations"]
    assert (entry["ignored"], entry["consistency_checks"], entry["inconsistent"]) == (3, 7, 0)
