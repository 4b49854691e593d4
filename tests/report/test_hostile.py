"""
``migratekit report`` fed hostile log lines, through the real command
(migratekit/_cli/report.py and migratekit/report/).

Every field the report reads is given every JSON type, every size and the
values that broke it once (400-digit integers, lists as event names, lone
surrogates, 1.7e308, NaN), mixed with good events, and the command is run with
the output streams a user can have: strict ASCII (``PYTHONIOENCODING=ascii``),
the C locale without coercion, UTF-8. Whatever the lines: status 0, nothing on
standard error but the ``wrote FILE`` line, JSON that a strict parser reads,
an HTML page that is whole, and no control character for a terminal.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.test_report import run_strict
from tests.report.logs import (
    GAMMA,
    T0,
    call_lines,
    histogram,
    iso,
    known_calls,
    summary_event,
    summary_line,
)

ROOT = Path(__file__).resolve().parents[2]

EVENT_NAMES = ["migration.result", "migration.op", "migration.stage_error",
               "migration.shadow_dropped", "migration.summary", "migration.reconcile",
               "migration.stage_change"]

# Values that once raised, looped or would: the first ones from the review.
SPECIAL: list[Any] = [
    10**400, -(10**400), 2**63, 2**1024, 1e308, 1.7e308, math.inf, -math.inf, math.nan,
    -1.0, -0.0, 5e-324, 0, True, False, None, "", "\ud800", "m\udfff", "\udbff\udc00x",
    "\x1b[31mred\x1b[0m", "\u202eevil", "a\x00b", "\r\n", "\u2028", "x" * 5000, "NaN",
    "1e400", "-5", "10000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59",
    "2024-02-30T00:00:00Z", "2024-01-01T00:00:00+99:99", "9" * 64, [], {}, [[[]]],
    ["migration.op"], {"migration.op": 1}, {"a": {"b": [None, 1.5]}}, [10**300] * 3,
]

GOOD_SIDES: dict[str, Any] = {
    "old": {"ok": 3, "failed": 0, "errors": {}, "latency_ms": histogram([0.5, 1.0, 2.0])},
    "new": {"ok": 2, "failed": 1, "errors": {"TimeoutError": 1},
            "latency_ms": histogram([0.0, 1.5, 30.0])},
}
GOOD_SUMMARIES = [summary_line(known_calls(40, seed=seed), process=process,
                               since=T0 + 10 * seed, until=T0 + 10 * seed + 10)
                  for seed in range(3) for process in ("p1", "p2")]

# Every field the report reads, with values that make an event count.
VALID: dict[str, list[Any]] = {
    "migration": ["users.get", "m", "caf\u00e9", "\u6771\u4eac"],
    "operation": ["read", "write"],
    "stage": ["off", "dualwrite", "shadow", "live", "rampdown", "complete", "SHADOW"],
    "origin": ["old", "new"],
    "ok": [True, False],
    "latency_ms": [0, 0.25, 1.5, 120, 3_600_000],
    "call_id": ["c-1", "c-2", "c-3"],
    "consistent": [True, False, None],
    "compare_error": ["KeyError", None],
    "diff_paths": [["address.zip"], ["tags[2]", "name"], [], {"address.zip": 3}, {}],
    "timestamp": ["2024-01-01T00:00:00Z", 1_704_067_200.5, 1_704_067_200_500],
    "time": ["2024-01-01 00:00:01,250"],
    "ts": [1_704_067_202],
    "@timestamp": ["2024-01-01T00:00:03+01:00"],
    "asctime": ["2024-01-01 00:00:04"],
    "provider": ["EnvStageProvider"],
    "source": ["MIGRATEKIT_STAGE"],
    "value": ["bogus"],
    "exc_type": ["StageError"],
    "error": ["not a stage"],
    "dropped": [1, 7],
    "message": EVENT_NAMES,
    "msg": EVENT_NAMES,
    # migration.summary (docs/design.md, "The fields of migration.summary")
    "process": ["p1", "a1b2c3d4"],
    "since": [iso(T0), "2024-01-01T00:00:00Z"],
    "until": [iso(T0 + 10), "2024-01-01T00:00:10+00:00"],
    "host": ["web-1"],
    "pid": [4242],
    "calls": [0, 3, 1000],
    "sides": [GOOD_SIDES, {}, {"old": GOOD_SIDES["old"]}],
    "consistency_checks": [0, 3],
    "inconsistent": [0, 1],
    "compare_errors": [0, 2],
    "type_mismatches": [0, 1],
    "shadows_dropped": [0, 4],
    "shadows_skipped": [0, 9],
    "warnings_suppressed": [0, 5],
    # issue 12: an op's types and ignored, a summary's types list and ignored count
    "types": [{"old": "User", "new": "dict"}, [{"old": "User", "new": "dict", "count": 2}], []],
    "ignored": [True, False, 0, 3],
    # migration.reconcile (RECONCILE_FIELDS) and migration.stage_change (STAGE_CHANGE_FIELDS)
    "old_rows": [0, 1_000_000], "new_rows": [0, 999_988], "compared": [0, 999_988],
    "missing_in_new": [0, 12], "missing_in_old": [0, 1], "differing": [0, 3],
    "duplicates_in_old": [0, 2], "duplicates_in_new": [0, 1], "errors": [0, 4],
    "error_types": [{}, {"compare: TypeError": 4}], "examples": [{}, {"differing": [7, "k"]}],
    "spilled": [False, True],
    "old": ["dualwrite", None, " SHADOW "], "new": ["shadow", "LIVE", None],
    "actor": ["alice@ops-1"], "reason": ["dual writes clean", None],
    "action": ["set", "unset", "advance", "rollback"],
}

_odd_text = st.text(
    st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"])),
    max_size=12,
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64, max_value=10**600),
    st.floats(allow_nan=True, allow_infinity=True), _odd_text, st.sampled_from(SPECIAL),
)
hostile_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd_text, inner, max_size=3),
    max_leaves=8,
)


def _field(name: str) -> st.SearchStrategy[Any]:
    valid = st.sampled_from(VALID[name])
    return st.one_of(valid, valid, hostile_values)


# Keys that are not strings: json writes numbers, booleans and None as their text.
_keys = st.one_of(_odd_text, st.integers(-(10**30), 10**30), st.floats(), st.booleans(),
                  st.none(), st.sampled_from(["1", "-1", "0", "+1", "1e3", " 1", "\uff11",
                                              "99999999", "-37232", "1209", "1210"]))
_counts = st.one_of(st.integers(-5, 50), st.sampled_from([2**53, 2**53 + 1, 10**400, -1]),
                    hostile_values)
hostile_latency = st.fixed_dictionaries({}, optional={
    "count": _counts, "sum": st.one_of(st.floats(), _counts), "max": st.one_of(st.floats(),
                                                                              _counts),
    "zeros": _counts, "gamma": st.one_of(st.just(GAMMA), st.floats(), hostile_values),
    "buckets": st.one_of(st.dictionaries(_keys, _counts, max_size=6), hostile_values),
})
hostile_side = st.fixed_dictionaries({}, optional={
    "ok": _counts, "failed": _counts,
    "errors": st.one_of(st.dictionaries(_keys, _counts, max_size=4), hostile_values),
    "latency_ms": st.one_of(hostile_latency, hostile_values),
})
hostile_sides = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(["old", "new"]), _keys), hostile_side,
                    max_size=3),
    hostile_values,
)


@st.composite
def summaries(draw: st.DrawFn) -> dict[str, Any]:
    """A summary whose every field may be anything, its sides and histograms included."""
    event = summary_event(known_calls(draw(st.integers(0, 30)), seed=draw(st.integers(0, 9))),
                          process=draw(st.sampled_from(["p1", "p2"])))
    for name in draw(st.lists(st.sampled_from(sorted(event)), max_size=4)):
        event[name] = draw(st.one_of(hostile_values, hostile_sides)
                           if name == "sides" else _field(name) if name in VALID
                           else hostile_values)
    if draw(st.booleans()) and isinstance(event["sides"], dict):
        for origin in list(event["sides"]):
            event["sides"][origin] = draw(hostile_side)
    return event


events = st.fixed_dictionaries(
    {"event": st.one_of(st.sampled_from(EVENT_NAMES), st.sampled_from(EVENT_NAMES),
                        hostile_values)},
    optional={name: _field(name) for name in VALID},
)


def _many_buckets(count: int, first: int) -> bytes:
    """A summary whose new side has *count* buckets from index *first*: the cap, and past it."""
    event = summary_event(known_calls(5, seed=1))
    event["sides"]["new"]["latency_ms"].update(
        count=count, zeros=0, buckets={str(first + i): 1 for i in range(count)})
    return json.dumps(event).encode()


def _dumps(event: dict[str, Any]) -> bytes:
    # allow_nan: NaN and Infinity as Python's json writes and reads them;
    # ensure_ascii: lone surrogates as "\ud800" escapes, as a log would hold them.
    return json.dumps(event).encode()


@st.composite
def log_lines(draw: st.DrawFn) -> list[bytes]:
    """Lines of a hostile log, none holding a newline, each with its own ending."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["event", "event", "event", "good", "good", "prefixed",
                                     "not utf-8", "truncated", "deep", "binary", "blank",
                                     "summary", "summary", "good summary", "buckets"]))
        if kind == "good":
            line = draw(st.sampled_from(call_lines(3, bad=1) + call_lines(2, stage="live")
                                        + call_lines(2, stage="dualwrite")))
        elif kind == "good summary":
            line = draw(st.sampled_from(GOOD_SUMMARIES))
        elif kind == "summary":
            line = _dumps(draw(summaries()))
        elif kind == "buckets":
            line = _many_buckets(draw(st.sampled_from([4096, 4097, 100_000])),
                                 draw(st.sampled_from([-40_000, -400, 0, 10**6])))
        elif kind == "deep":
            depth = draw(st.sampled_from([10, 900, 1000, 5000, 100_000]))
            field = draw(st.sampled_from(sorted(VALID)))
            name = draw(st.sampled_from([b"migration.op", b"migration.summary"]))
            line = (b'{"event": "' + name + b'", "' + field.encode() + b'": '
                    + b"[" * depth + b"]" * depth + b"}")
        elif kind == "binary":
            line = draw(st.binary(max_size=40)).replace(b"\n", b" ")
        elif kind == "blank":
            line = draw(st.sampled_from([b"", b" \t", b"\r"]))
        else:
            line = _dumps(draw(events))
            if kind == "prefixed":
                line = b"Nov 28 04:00:00 host app[12]: " + line
            elif kind == "not utf-8":
                at = draw(st.integers(0, len(line)))
                line = line[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) \
                    + line[at:]
            elif kind == "truncated":
                line = line[: draw(st.integers(0, len(line) - 1))]
        lines.append(line + draw(st.sampled_from([b"\n", b"\r\n"])))
    return lines


def _strict_json(text: bytes | str) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are no JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _terminal_safe(text: str) -> bool:
    """No control character but newline, no line separator, surrogate or bidi control."""
    return not [c for c in text if c != "\n" and (
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI)]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=log_lines(), fmt=st.sampled_from(["text", "json", "html"]),
       encoding=st.sampled_from(["ascii", "ascii", "utf-8", "latin-1"]),
       stdin=st.booleans(), check=st.booleans())
def test_hostile_lines_through_the_command(lines: list[bytes], fmt: str, encoding: str,
                                           stdin: bool, check: bool) -> None:
    """Any lines, any stdout encoding: status 0 (1 with --check), parseable JSON, whole HTML."""
    payload = b"".join(lines)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder, "report.html")
        argv = ["report", "--format", fmt, "--html", str(page)] + (["--check"] if check else [])
        if stdin:
            status, out, err = run_strict(argv, encoding=encoding, stdin=payload)
        else:
            log = Path(folder, "events.jsonl")
            log.write_bytes(payload)
            status, out, err = run_strict([*argv, str(log)], encoding=encoding)
        written = page.read_bytes()
    assert status in ((0, 1) if check else (0,))
    said = err.decode(encoding).splitlines()
    assert said[0] == f"migratekit report: wrote {page}"
    assert said[1:] in ([], ["migratekit report: --check: no migratekit events found, "
                             "nothing is ready"])
    assert written.startswith(b"<!DOCTYPE html>")
    assert written.endswith(b"</html>\n")
    assert _terminal_safe(written.decode("utf-8"))
    text = out.decode(encoding)
    assert _terminal_safe(text)
    if fmt == "json":
        document = _strict_json(text)
        assert document["lines"] == len(lines)
        assert document["events"] + document["skipped_lines"] == len(lines)
    elif fmt == "html":
        assert text.endswith("</html>\n")
    else:
        assert text.startswith("migratekit report: ")


# -- every field, every special value, in a real process -------------------------------------


def _corpus() -> bytes:
    """Each special value in each field of each kind of event, good calls and raw junk."""
    base: dict[str, dict[str, Any]] = {
        "migration.result": {"migration": "m", "operation": "read", "stage": "shadow",
                             "origin": "old", "ok": True, "latency_ms": 1.0, "call_id": "c"},
        "migration.op": {"migration": "m", "operation": "read", "stage": "shadow",
                         "consistent": False, "diff_paths": ["a"], "call_id": "c"},
        "migration.stage_error": {"migration": "m", "provider": "P", "source": "S",
                                  "value": "v", "exc_type": "E", "error": "e", "stage": "off"},
        "migration.shadow_dropped": {"migration": "m", "dropped": 2},
        "migration.summary": {k: v for k, v in summary_event(known_calls(20, seed=2)).items()
                              if k != "event"},
        "migration.reconcile": {"migration": "m", "consistent": False, "missing_in_new": 3,
                                "differing": 1, "diff_paths": {"a": 1}},
        "migration.stage_change": {"time": "2024-01-01T00:00:00Z", "migration": "m",
                                   "old": "off", "new": "dualwrite", "actor": "a",
                                   "reason": "r", "action": "set", "source": "s"},
    }
    lines = [line.replace(b'"migration": "m"', b'"migration": "users.get"') + b"\n"
             for line in call_lines(40, bad=3)]
    # Reads of m in DUALWRITE, judged by the reconciles of m below.
    lines += [line + b"\n" for line in call_lines(5, stage="dualwrite")]
    for name, fields in base.items():
        for field in ["event", *VALID]:
            for value in SPECIAL:
                event = {"event": name, **fields, field: value}
                lines.append(_dumps(event) + (b"\r\n" if len(lines) % 2 else b"\n"))
    lines += [
        b'{"event": "migration.op", "migration": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        b'{"event": "migration.op", "migration": "m\xff\xfe", "operation": "read", '
        b'"stage": "shadow", "consistent": true}\n',
        b"\x00\x1b[2J\xff migration.op\r\n",
        call_lines(1)[0][:-1] + b" " * (1 << 20) + b"}\n",  # longer than MAX_LINE_BYTES
        b"\n",
    ]
    return b"".join(lines)


_ENVIRONMENTS = {
    "PYTHONIOENCODING=ascii": {"PYTHONIOENCODING": "ascii"},
    "LANG=C": {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
    "utf-8": {"PYTHONIOENCODING": "utf-8"},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus, written once for the module."""
    path = tmp_path_factory.mktemp("hostile") / "events.jsonl"
    path.write_bytes(_corpus())
    return path


@pytest.mark.parametrize("environment", sorted(_ENVIRONMENTS))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_field_and_value_in_a_real_process(environment: str, fmt: str, corpus: Path,
                                                 tmp_path: Path) -> None:
    """python -m migratekit report over the corpus: status 0, no traceback, whole outputs."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONIOENCODING", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONUTF8")}
    env.update(_ENVIRONMENTS[environment])
    page = tmp_path / "report.html"
    argv = [sys.executable, "-m", "migratekit", "report", "--format", fmt, "--html", str(page)]
    if fmt == "json":  # one run of each kind reads standard input
        result = subprocess.run([*argv, "-"], input=corpus.read_bytes(), capture_output=True,
                                cwd=ROOT, env=env, timeout=120, check=False)
    else:
        result = subprocess.run([*argv, str(corpus)], capture_output=True, cwd=ROOT, env=env,
                                timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode("ascii", "replace")
    assert result.stderr == f"migratekit report: wrote {page}\n".encode()
    assert page.read_bytes().endswith(b"</html>\n")
    if environment != "utf-8":
        assert result.stdout.isascii()
    text = result.stdout.decode("utf-8")
    assert _terminal_safe(text)
    if fmt == "json":
        document = _strict_json(text)
        assert document["lines"] == corpus.read_bytes().count(b"\n")
        assert document["skipped"]["too_long"] == 1
        assert document["skipped"]["unparsable"] >= 2
        (good,) = [entry for entry in document["migrations"]
                   if (entry["migration"], entry["stage"]) == ("users.get", "shadow")]
        assert good["calls"] == 40
    else:
        assert "users.get" in text


def test_a_million_buckets_is_one_skipped_line(tmp_path: Path) -> None:
    """A summary of a million buckets (13 MB) is skipped whole, never held or merged."""
    log = tmp_path / "buckets.jsonl"
    with open(log, "wb") as out:
        out.write(_many_buckets(1_000_000, -500_000) + b"\n")
        out.write(_many_buckets(4097, 0) + b"\n")
        out.write(GOOD_SUMMARIES[0] + b"\n")
    status, out_bytes, err = run_strict(["report", "--format", "json", str(log)])
    assert (status, err) == (0, b"")
    document = _strict_json(out_bytes)
    assert document["skipped"] == {"too_long": 1, "too_many_buckets": 1}
    assert document["migrations"][0]["calls"] == 40
