"""
Bad input everywhere: every wrong argument to the decorator, to ``Migrator``,
to ``configure``, to the providers and to ``instrument`` fails at once with a
``ConfigurationError`` (a ``ValueError``; ``ConfigurationTypeError``, also a
``TypeError``, for a wrong type) whose message names the argument, what was
expected and what was given. And ``migratekit report`` fed random, truncated
and binary lines never shows a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migratekit
from migratekit import (
    ConfigurationError,
    ExecutionOrder,
    MigrationConfig,
    Migrator,
    Result,
    Stage,
    configure,
    instrument,
    migration,
)
from migratekit._cli import main as cli_main
from migratekit._config import settings as mk_settings
from migratekit.exceptions import ConfigurationTypeError
from migratekit.providers import EnvStageProvider, StaticStageProvider


def plain(x: Any) -> Any:
    return x


async def coro_side(x: Any) -> Any:
    return x


def target(x: Any) -> Any:
    return x


def read(**options: Any) -> Callable[[], Any]:
    return lambda: untyped_migration(**options)(target)


def write(**options: Any) -> Callable[[], Any]:
    return lambda: untyped_migration.write(**options)(target)


def generator(x: Any) -> Iterator[Any]:
    yield x


async def async_generator(x: Any) -> Any:
    yield x


class Repo:
    def get(self, x: Any) -> Any:
        return x


def ok_side(payload: Any) -> Result[Any]:
    return Result.success(payload)


# The cases below pass what the annotations forbid, on purpose.
untyped_migration: Any = migration
untyped_static: Any = StaticStageProvider
untyped_configure: Any = configure
untyped_migrator: Any = Migrator
untyped_env: Any = EnvStageProvider
untyped_config: Any = MigrationConfig

VALUE, TYPE = ConfigurationError, ConfigurationTypeError

# (id, what raises, the class expected, pieces the message must contain:
#  the argument, what was expected, what was given)
CASES: list[tuple[str, Callable[[], Any], type[Exception], list[str]]] = [
    # -- @migration: the sides
    ("no new", read(), VALUE, ["'new'", "required"]),
    ("new None", read(new=None), VALUE, ["'new'", "required"]),
    ("new int", read(new=42), TYPE, ["'new'", "callable", "42", "int"]),
    ("old float", read(new=plain, old=3.5), TYPE, ["'old'", "callable", "3.5"]),
    ("new bad name", read(new="get-kv"), VALUE, ["'new'", "identifier", "get-kv"]),
    ("new empty name", read(new=""), VALUE, ["'new'", "identifier", "''"]),
    ("new async on sync", read(new=coro_side), VALUE, ["'new'", "async", "coro_side"]),
    ("old async on sync", read(new=plain, old=coro_side), VALUE, ["'old'", "async", "coro_side"]),
    ("async staticmethod side", read(new=staticmethod(coro_side)), VALUE,
     ["'new'", "async", "coro_side"]),
    # -- @migration: the comparison
    ("compare on write", write(new=plain, compare=plain), VALUE, ["'compare'", "write", "plain"]),
    ("compare not callable", read(new=plain, compare=1), TYPE, ["'compare'", "callable", "1"]),
    ("compare async", read(new=plain, compare=coro_side), TYPE,
     ["'compare'", "sync", "coro_side"]),
    # -- @migration: unknown options and wrong types
    ("unknown option", read(new=plain, shadow_timout=1), VALUE,
     ["shadow_timout", "shadow_timeout", "unknown option"]),
    ("unknown option far", read(new=plain, retries=3), VALUE, ["retries", "options are"]),
    ("name empty", read(new=plain, name=""), TYPE, ["'name'", "non-empty str", "''"]),
    ("name int", read(new=plain, name=7), TYPE, ["'name'", "str", "7"]),
    ("operation", read(new=plain, operation="delete"), TYPE,
     ["'operation'", "Operation.READ", "delete"]),
    ("operation on read()",
     lambda: untyped_migration.read(new=plain, operation="write")(target), VALUE,
     ["'operation'", "write"]),
    ("execution_order", read(new=plain, execution_order="sideways"), TYPE,
     ["'execution_order'", "ExecutionOrder", "sideways"]),
    ("execution_order int", read(new=plain, execution_order=2), TYPE,
     ["'execution_order'", "ExecutionOrder", "2"]),
    ("context", read(new=plain, context=5), TYPE, ["'context'", "callable", "5"]),
    ("provider", read(new=plain, provider=object()), TYPE,
     ["'provider'", "get_stage", "object"]),
    ("provider str", read(new=plain, provider="shadow"), TYPE,
     ["'provider'", "get_stage", "'shadow'"]),
    # -- @migration: check_ratio
    ("check_ratio negative", read(new=plain, check_ratio=-1), VALUE,
     ["'check_ratio'", ">= 0", "-1"]),
    ("check_ratio bool", read(new=plain, check_ratio=True), TYPE,
     ["'check_ratio'", "int", "True"]),
    ("check_ratio float", read(new=plain, check_ratio=0.5), TYPE,
     ["'check_ratio'", "int", "0.5"]),
    ("check_ratio str", read(new=plain, check_ratio="1"), TYPE, ["'check_ratio'", "int", "'1'"]),
    # -- @migration: shadow and shadow_timeout
    ("shadow", read(new=plain, shadow="sometimes"), VALUE,
     ["'shadow'", "'inline' or 'background'", "sometimes"]),
    ("shadow bool", read(new=plain, shadow=True), VALUE, ["'shadow'", "'inline'", "True"]),
    ("shadow_timeout zero", read(new=plain, shadow_timeout=0), VALUE,
     ["'shadow_timeout'", "> 0", "0"]),
    ("shadow_timeout negative", read(new=plain, shadow_timeout=-0.5), VALUE,
     ["'shadow_timeout'", "> 0", "-0.5"]),
    ("shadow_timeout nan", read(new=plain, shadow_timeout=float("nan")), VALUE,
     ["'shadow_timeout'", "> 0", "nan"]),
    ("shadow_timeout inf", read(new=plain, shadow_timeout=float("inf")), VALUE,
     ["'shadow_timeout'", "> 0", "inf"]),
    ("shadow_timeout str", read(new=plain, shadow_timeout="1"), TYPE,
     ["'shadow_timeout'", "seconds", "'1'"]),
    ("shadow_timeout bool", read(new=plain, shadow_timeout=True), TYPE,
     ["'shadow_timeout'", "seconds", "True"]),
    # -- @migration: options that make no sense on a write
    ("write parallel", write(new=plain, execution_order=ExecutionOrder.PARALLEL), VALUE,
     ["execution_order", "authoritative side first", "parallel"]),
    ("write random", write(new=plain, execution_order="random"), VALUE,
     ["execution_order", "authoritative side first", "random"]),
    ("write background", write(new=plain, shadow="background"), VALUE,
     ["'shadow'", "reads only", "background"]),
    ("write timeout", write(new=plain, shadow_timeout=1.0), VALUE,
     ["'shadow_timeout'", "reads only", "1.0"]),
    # -- @migration: what it decorates
    ("generator", lambda: migration(new=plain)(generator), VALUE, ["generator", "list"]),
    ("async generator", lambda: migration(new=plain)(async_generator), VALUE,
     ["generator", "async_generator"]),
    ("generator side", lambda: migration(new=generator)(plain), VALUE,
     ["'new'", "generator function", "list"]),
    ("async generator side", lambda: migration(new=plain, old=async_generator)(plain), VALUE,
     ["'old'", "generator function", "async_generator"]),
    ("not a function", lambda: untyped_migration(new=plain)(42), TYPE,
     ["decorated object", "function", "42"]),
    # -- stage names
    ("static unknown stage", lambda: untyped_static("shadw"), VALUE,
     ["stage_or_mapping", "'shadow'", "'shadw'"]),
    ("static mapping unknown stage", lambda: untyped_static({"users.get": "nope"}), VALUE,
     ["'users.get'", "'shadow'", "'nope'"]),
    ("static wrong type", lambda: untyped_static(3), TYPE,
     ["stage_or_mapping", "Stage", "3"]),
    ("static mapping key", lambda: untyped_static({1: "off"}), TYPE,
     ["mapping keys", "str", "1"]),
    ("default_stage unknown", lambda: untyped_configure(default_stage="bogus"), VALUE,
     ["default_stage", "'rampdown'", "'bogus'"]),
    ("default_stage type", lambda: untyped_configure(default_stage=None), TYPE,
     ["default_stage", "Stage", "None"]),
    ("env prefix", lambda: untyped_env(prefix=""), TYPE, ["'prefix'", "non-empty str", "''"]),
    # -- configure
    ("shadow_workers zero", lambda: untyped_configure(shadow_workers=0), VALUE,
     ["'shadow_workers'", ">= 1", "0"]),
    ("shadow_workers str", lambda: untyped_configure(shadow_workers="8"), TYPE,
     ["'shadow_workers'", "int", "'8'"]),
    ("shadow_queue_size negative", lambda: untyped_configure(shadow_queue_size=-1), VALUE,
     ["'shadow_queue_size'", ">= 1", "-1"]),
    ("shadow_queue_size bool", lambda: untyped_configure(shadow_queue_size=True), TYPE,
     ["'shadow_queue_size'", "int", "True"]),
    ("configure provider", lambda: untyped_configure(provider=42), TYPE,
     ["'provider'", "get_stage", "42"]),
    # -- Migrator
    ("Migrator nothing", untyped_migrator, VALUE, ["'read'", "'write'", "MigrationConfig"]),
    ("Migrator read type", lambda: untyped_migrator(read=42), TYPE,
     ["'read'", "MigrationConfig", "42"]),
    ("Migrator old not callable",
     lambda: untyped_migrator(read=untyped_config(1, ok_side)),
     TYPE, ["read.old", "callable", "1"]),
    ("Migrator write comparison",
     lambda: untyped_migrator(write=MigrationConfig(ok_side, ok_side, lambda a, b: True)), VALUE,
     ["'write'", "comparison", "MigrationConfig(old, new)"]),
    ("Migrator comparison type",
     lambda: untyped_migrator(read=untyped_config(ok_side, ok_side, 5)),
     TYPE, ["read.comparison", "callable", "5"]),
    ("Migrator order", lambda: untyped_migrator(read=MigrationConfig(ok_side, ok_side),
                                        read_execution_order="fast"),
     TYPE, ["'read_execution_order'", "ExecutionOrder", "'fast'"]),
    ("Migrator check_ratio", lambda: untyped_migrator(read=MigrationConfig(ok_side, ok_side),
                                              check_ratio=-2),
     VALUE, ["'check_ratio'", ">= 0", "-2"]),
    ("Migrator check_ratio bool", lambda: untyped_migrator(read=MigrationConfig(ok_side, ok_side),
                                                   check_ratio=False),
     TYPE, ["'check_ratio'", "int", "False"]),
    ("Migrator provider", lambda: untyped_migrator(read=MigrationConfig(ok_side, ok_side),
                                           provider="live"),
     TYPE, ["'provider'", "get_stage", "'live'"]),
    ("Migrator write without write",
     lambda: Migrator(read=MigrationConfig(ok_side, ok_side)).write("m"), VALUE,
     ["'write'", "MigrationConfig"]),
    ("Migrator name", lambda: Migrator(read=MigrationConfig(ok_side, ok_side)).read(""), TYPE,
     ["'name'", "non-empty str", "''"]),
    # -- instrument
    ("instrument missing attribute", lambda: instrument(Repo, "fetch", new=plain), TYPE,
     ["'fetch'", "Repo", "attribute"]),
    ("instrument empty name", lambda: instrument(Repo, "", new=plain), TYPE,
     ["attribute name", "non-empty str", "''"]),
    ("instrument no new", lambda: instrument(Repo, "get"), VALUE, ["'new'", "required"]),
    ("instrument bad option", lambda: instrument(Repo, "get", new=plain, check_ratio=-1), VALUE,
     ["'check_ratio'", ">= 0", "-1"]),
]


@pytest.mark.parametrize(("thunk", "kind", "needles"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_argument_fails_loudly(thunk: Callable[[], Any], kind: type[Exception],
                                   needles: list[str]) -> None:
    """The mistake raises the right ConfigurationError, naming argument, expectation and value."""
    with pytest.raises(ConfigurationError) as caught:
        thunk()
    error = caught.value
    assert isinstance(error, ValueError)
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    if kind is ConfigurationTypeError:
        assert isinstance(error, TypeError)
    message = str(error)
    missing = [n for n in needles if n.lower() not in message.lower()]
    assert missing == [], f"message lacks {missing}: {message}"


def test_instrument_leaves_nothing_behind_when_refused() -> None:
    """A refused instrument() leaves the class as it was."""
    original = Repo.__dict__["get"]
    with pytest.raises(ConfigurationError):
        instrument(Repo, "get", new=plain, shadow="maybe")
    assert Repo.__dict__["get"] is original


def test_a_refused_configure_changes_nothing() -> None:
    """configure() with one bad argument keeps every setting, the good ones too."""
    provider = StaticStageProvider("live")
    before = (mk_settings.provider, mk_settings.default_stage)
    with pytest.raises(ConfigurationError):
        configure(provider=provider, default_stage="shadow", shadow_workers=0)
    assert (mk_settings.provider, mk_settings.default_stage) == before
    assert mk_settings.default_stage is Stage.OFF


def test_errors_are_raised_at_decoration_not_at_call() -> None:
    """Every decorator mistake fails when decorating, before any call could run a side."""
    ran: list[str] = []

    def side(x: Any) -> Any:
        ran.append("side")
        return x

    for bad in ({"check_ratio": -1}, {"shadow": "x"}, {"shadow_timeout": 0}, {"nope": 1}):
        with pytest.raises(ConfigurationError):
            migration(new=side, **bad)(side)
    assert ran == []


# -- migratekit report, fuzzed --------------------------------------------------------

STAGE_WORDS = ["off", "dualwrite", "shadow", "live", "rampdown", "complete", "Shadow", "warp"]
junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
events = st.fixed_dictionaries(
    {"event": st.sampled_from(["migration.result", "migration.op", "migration.stage_error",
                               "migration.shadow_dropped", "other.event"])},
    optional={
        "migration": st.one_of(st.sampled_from(["users.get", "users.save"]), junk),
        "operation": st.one_of(st.sampled_from(["read", "write"]), junk),
        "stage": st.one_of(st.sampled_from(STAGE_WORDS), junk),
        "origin": st.one_of(st.sampled_from(["old", "new"]), junk),
        "authoritative": junk,
        "ok": st.one_of(st.booleans(), junk),
        "latency_ms": st.one_of(st.floats(min_value=0, max_value=1e6), junk),
        "error": junk,
        "exc_type": junk,
        "call_id": st.one_of(st.sampled_from(["a-1", "a-2", "b-1"]), junk),
        "invoked": st.one_of(st.lists(st.sampled_from(["old", "new", "x"]), max_size=3), junk),
        "consistent": st.one_of(st.sampled_from([True, False, None]), junk),
        "diff_paths": st.one_of(st.lists(st.text(max_size=8), max_size=3), junk),
        "compare_error": junk,
        "timestamp": st.one_of(st.sampled_from(["2024-01-01T00:00:00Z", "yesterday"]), junk),
        "level": junk,
        "dropped": junk,
    },
)


@st.composite
def log_lines(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """Lines of a log, and how many of them are surely not migratekit events."""
    lines: list[bytes] = []
    surely_skipped = 0
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["event", "event", "event", "truncated", "text", "json",
                                     "binary", "blank"]))
        if kind in ("event", "truncated"):
            line = json.dumps(draw(events)).encode()
            if kind == "truncated":
                line = line[: draw(st.integers(0, len(line) - 1))]
                surely_skipped += 1
        elif kind == "text":
            line = draw(st.text(max_size=40).filter(lambda t: "\n" not in t)).encode(
                "utf-8", "surrogatepass")
            surely_skipped += not line.strip().startswith(b"{")
        elif kind == "json":
            line = json.dumps(draw(st.one_of(junk, st.lists(junk, max_size=3)))).encode()
            surely_skipped += 1
        elif kind == "binary":
            line = draw(st.binary(max_size=40)).replace(b"\n", b" ")
            surely_skipped += not line.strip().startswith(b"{")
        else:
            line = b""
            surely_skipped += 1
        lines.append(line)
    return lines, surely_skipped


ARGS = [[], ["--format", "json"], ["--format", "html"], ["--check"],
        ["--check", "--format", "json", "--min-samples", "1"]]


def run_report(argv: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run ``migratekit report`` in-process; exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors="replace")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli_main(["report", *argv])
            except SystemExit as exit_:  # argparse's way out
                status = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        sys.stdin = saved
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=log_lines(), args=st.sampled_from(ARGS), source=st.sampled_from(["file", "stdin",
                                                                            "gzip"]),
       final_newline=st.booleans())
def test_report_never_shows_a_traceback(data: tuple[list[bytes], int], args: list[str],
                                        source: str, final_newline: bool) -> None:
    """Random, truncated and binary lines: exit 0 (1 only with --check), no traceback."""
    lines, surely_skipped = data
    payload = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    if lines and lines[-1] == b"" and not final_newline:
        # A blank last line without its newline is no line at all to a reader.
        surely_skipped -= 1
    if source == "stdin":
        status, out, err = run_report(args, stdin=payload)
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "app.log" + (".gz" if source == "gzip" else ""))
            with open(path, "wb") as file:
                file.write(gzip.compress(payload) if source == "gzip" else payload)
            status, out, err = run_report([*args, path])
    assert "Traceback" not in err + out
    assert status in ((0, 1) if "--check" in args else (0,)), (status, err)
    if "json" in args:
        document = json.loads(out)
        assert isinstance(document["migrations"], list)
        if source != "stdin" or not any(b"\r" in line for line in lines):
            assert surely_skipped <= document["skipped_lines"] <= len(lines)


@pytest.mark.parametrize("cut", [10, 30, -5])
def test_report_on_a_truncated_gzip_file(tmp_path: Any, cut: int) -> None:
    """A gzip file cut short: one line on stderr naming the file, status 2, no traceback."""
    lines = [json.dumps({"event": "migration.op", "migration": "m", "operation": "read",
                         "stage": "shadow", "invoked": ["old", "new"], "consistent": True,
                         "call_id": f"c-{i}"}) for i in range(200)]
    blob = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(blob[:cut])
    status, out, err = run_report([str(path)])
    assert "Traceback" not in err + out
    assert status in (0, 2)
    if status == 2:
        assert str(path) in err
        assert len(err.strip().splitlines()) == 1


def test_report_on_a_missing_file() -> None:
    """A file that cannot be read: status 2 and one line naming it."""
    status, _out, err = run_report(["/nonexistent/migratekit.log"])
    assert status == 2
    assert "/nonexistent/migratekit.log" in err
    assert "Traceback" not in err + _out
    assert len(err.strip().splitlines()) == 1


def test_defaults_untouched_by_all_of_the_above() -> None:
    """After the refused calls of this module the process-wide settings are the defaults."""
    migratekit.reset()
    assert mk_settings.default_stage is Stage.OFF
    assert isinstance(mk_settings.provider, EnvStageProvider)
