"""
The gate with memory (migratekit/report/_gate.py, _tail.py): a migration is
judged along the stages it went through, each on its last window of
``min_samples`` samples when it was left, until a later clean window.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migratekit._cli import main
from migratekit.report import Thresholds, build_report, format_text, render_html
from migratekit.report._aggregate import Aggregator
from migratekit.report._constants import MAX_EXAMPLE_ERROR_TYPES, MAX_EXAMPLE_PATHS, TAIL_BINS
from migratekit.report._tail import CHECKS, NEW_RESULTS, Tail
from tests.report.logs import T0, Call, call_lines, per_call_lines, report_of, summary_line

HELD = "hold: advanced past SHADOW while it was on hold (2.0% inconsistent)"


def calls(n: int, stage: str, bad: int = 0) -> list[Call]:
    """
    *n* calls as *stage* runs them, one comparison in *bad* inconsistent (the
    last of every *bad*): 50 is 2.0% of any window of 1,000 to 1,015 calls.
    """
    out = []
    for index in range(n):
        old = 1.0 if stage in ("off", "dualwrite", "shadow", "live") else None
        new = None if stage in ("off", "dualwrite") else 1.0
        consistent = None
        if stage in ("shadow", "live"):
            consistent = not (bad and index % bad == bad - 1)
        out.append(Call(old_ms=old, new_ms=new, consistent=consistent,
                        paths=() if consistent is not False else ("email",)))
    return out


class Log:
    """
    Per-call lines of one read migration, stage after stage, one second per
    100 calls. Judged with min_samples 100, the tails keep one comparison per
    bin (a grain is 1/64 of min_samples, at least 1): windows are exact.
    """

    def __init__(self, migration: str = "users.get") -> None:
        self.migration = migration
        self.lines: list[bytes] = []
        self.at = T0
        self.first = 1

    def stage(self, stage: str, n: int, bad: int = 0) -> Log:
        """Add *n* calls in *stage*, one in *bad* inconsistent."""
        made = calls(n, stage, bad)
        self.lines += per_call_lines(made, migration=self.migration, stage=stage,
                                     start=self.at, step=0.01, first=self.first)
        self.at += n * 0.01 + 1.0
        self.first += n
        return self

    def report(self, **thresholds: Any) -> Any:
        """The report, judged with *thresholds*: min_samples 100 unless given."""
        return report_of(self.lines, Thresholds(**{"min_samples": 100, **thresholds}),
                         resolution=thresholds.get("min_samples", 100))


def current(report: Any, migration: str | None = None) -> Any:
    (entry,) = [e for e in report.entries
                if e.current and migration in (None, e.migration)]
    return entry


def of(report: Any, stage: str) -> Any:
    (entry,) = [e for e in report.entries if e.stage == stage]
    return entry


# -- the trial: past SHADOW on hold, "ready" in COMPLETE --------------------------------------


def test_advancing_past_a_stage_on_hold_holds_the_current_stage() -> None:
    """SHADOW left at 2% inconsistent: COMPLETE, healthy on its own, is on hold."""
    report = Log().stage("dualwrite", 50).stage("shadow", 200, bad=50) \
        .stage("complete", 200).report()
    complete = current(report)
    assert complete.stage == "complete"
    assert complete.verdict == HELD
    assert not complete.ready
    assert report.on_hold == [complete]
    assert complete.held_by_path == [HELD.removeprefix("hold: ")]
    assert complete.path == ["dualwrite", "shadow", "complete"]
    shadow = of(report, "shadow")
    assert shadow.left_verdict == "hold: 2.0% inconsistent (limit 0.1%)"
    assert shadow.cleared_by is None
    # Without memory COMPLETE would have been ready: its own figures are clean.
    alone = Log().stage("complete", 200).report()
    assert current(alone).verdict.startswith("ready: COMPLETE is the last stage")


def test_check_exits_1_and_every_output_says_why(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The command: --check exits 1; text, JSON and HTML name the stage left on hold."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(Log().stage("shadow", 200, bad=50)
                               .stage("live", 30).stage("complete", 200).lines) + b"\n")
    assert main(["report", "--check", "--min-samples", "100", str(log)]) == 1
    text = capsys.readouterr().out
    assert f"in COMPLETE: {HELD}; advanced past LIVE while it was on hold (only 30 " \
           "comparisons)" in text
    assert "path: SHADOW (on hold when left) -> LIVE (on hold when left) -> COMPLETE" in text
    assert main(["report", "--format", "json", "--min-samples", "100", str(log)]) == 0
    document = json.loads(capsys.readouterr().out)
    entries = {e["stage"]: e for e in document["migrations"]}
    assert entries["complete"]["path"] == ["shadow", "live", "complete"]
    assert entries["complete"]["held_by_path"][0] == HELD.removeprefix("hold: ")
    assert entries["shadow"]["left_window"]["samples"] == 100
    assert entries["shadow"]["left_window"]["axis"] == "time"
    assert entries["complete"]["left_verdict"] is None
    page = render_html(build_report([str(log)], Thresholds(min_samples=100)))
    assert "path: SHADOW (on hold when left) -&gt; LIVE (on hold when left)" in page
    assert HELD in page


def test_a_clean_path_is_ready() -> None:
    """Every stage ready when left: COMPLETE is ready, each left stage says so."""
    report = Log().stage("off", 10).stage("dualwrite", 150).stage("shadow", 150) \
        .stage("live", 150).stage("rampdown", 150).stage("complete", 150).report()
    assert current(report).ready, current(report).verdict
    assert report.on_hold == []
    assert current(report).path == ["off", "dualwrite", "shadow", "live", "rampdown", "complete"]
    for stage in ("shadow", "live", "rampdown"):
        assert of(report, stage).left_verdict == "ready when left"
    # Stages where the new side is not read are always ready; nothing to judge there.
    assert of(report, "off").left_verdict is None
    assert of(report, "dualwrite").left_verdict is None


# -- the window ---------------------------------------------------------------------------


def test_the_window_is_the_stage_s_last_min_samples() -> None:
    """Bad early, clean for the last 100: ready when left; the other way round: on hold."""
    fixed = Log().stage("shadow", 100, bad=20).stage("shadow", 110).stage("complete", 150)
    report = fixed.report()
    assert of(report, "shadow").verdict.startswith("hold: 2.4% inconsistent")  # all 210
    assert of(report, "shadow").left_verdict == "ready when left"
    assert current(report).ready, current(report).verdict
    broke = Log().stage("shadow", 110).stage("shadow", 100, bad=50).stage("complete", 150)
    assert current(broke.report()).verdict == HELD


def test_the_window_holds_min_samples_and_at_most_one_bin_more() -> None:
    """A window of N comparisons holds between N and N + N/64 of them (a grain)."""
    report = Log().stage("shadow", 5000, bad=40).stage("complete", 150) \
        .report(min_samples=640)
    window = of(report, "shadow").left_window
    assert 640 <= window["samples"] <= 650
    assert of(report, "shadow").left_verdict.startswith("hold: 2.")


def test_a_stage_with_too_few_samples_was_left_on_hold() -> None:
    """Advancing before min_samples is advancing on hold: the gate says how few there were."""
    report = Log().stage("shadow", 40).stage("live", 150).stage("complete", 150).report()
    shadow = of(report, "shadow")
    assert shadow.left_verdict == "hold: only 40 comparisons (need 100)"
    # ... which the clean LIVE window after it shows was fine.
    assert shadow.cleared_by == "live"
    assert current(report).ready, current(report).verdict


def test_min_samples_zero_judges_the_last_bin() -> None:
    """With --min-samples 0 a window is the last bin: it still has a verdict."""
    report = Log().stage("shadow", 30, bad=3).stage("complete", 10).report(min_samples=0)
    assert of(report, "shadow").left_verdict is not None
    assert of(report, "shadow").left_window["samples"] >= 1


def test_reads_in_dualwrite_say_to_backfill_and_verify_before_shadow() -> None:
    """The new store is written, never read, in DUALWRITE: backfill and verify it first."""
    (entry,) = Log().stage("dualwrite", 20).report().entries
    assert entry.ready
    assert entry.verdict == ("ready for SHADOW once the new store is backfilled and verified "
                             "(migratekit reconcile); judge the writes")


# -- a later clean window -----------------------------------------------------------------------


def test_a_later_clean_live_window_clears_the_hold() -> None:
    """SHADOW on hold, then LIVE clean on its last 100 comparisons: COMPLETE is ready."""
    report = Log().stage("shadow", 200, bad=50).stage("live", 120).stage("complete", 150) \
        .report()
    assert of(report, "shadow").cleared_by == "live"
    assert current(report).ready, current(report).verdict
    assert "path:" not in format_text(report).split("Readiness:")[0]
    assert "SHADOW (on hold when left; clean later in LIVE) -> LIVE -> COMPLETE" in \
        format_text(report)


def test_live_fixed_during_live_clears_shadow() -> None:
    """LIVE bad at first, clean for its last 100: SHADOW's hold is cleared by it."""
    report = Log().stage("shadow", 200, bad=50).stage("live", 60, bad=10) \
        .stage("live", 100).stage("rampdown", 150).report()
    assert of(report, "shadow").cleared_by == "live"
    assert of(report, "live").left_verdict == "ready when left"
    assert current(report).ready, current(report).verdict


def test_a_later_window_too_small_or_still_bad_does_not_clear() -> None:
    """LIVE with 50 comparisons, or LIVE as bad as SHADOW, shows nothing gone."""
    small = Log().stage("shadow", 200, bad=50).stage("live", 50).stage("complete", 150)
    assert current(small.report()).verdict.startswith(HELD)
    bad = Log().stage("shadow", 200, bad=50).stage("live", 200, bad=50) \
        .stage("complete", 150)
    assert current(bad.report()).verdict == (
        f"{HELD}; advanced past LIVE while it was on hold (2.0% inconsistent)")


def test_a_stage_that_cannot_compare_cannot_clear_an_inconsistency() -> None:
    """After LIVE nothing compares: 500 clean RAMPDOWN reads do not clear SHADOW."""
    report = Log().stage("shadow", 200, bad=50).stage("rampdown", 500) \
        .stage("complete", 500).report()
    assert of(report, "shadow").cleared_by is None
    assert current(report).verdict == HELD


def test_new_side_errors_in_dualwrite_are_cleared_by_shadow_writes() -> None:
    """Writes: DUALWRITE left with new-side errors, SHADOW's writes clean: LIVE is ready."""
    lines = []
    for index, (stage, failed) in enumerate((("dualwrite", 25), ("shadow", 0), ("live", 0))):
        made = [Call(old_ms=1.0, new_ms=1.0,
                     new_error="IOError" if failed and i % failed == 0 else None)
                for i in range(150)]
        lines += per_call_lines(made, stage=stage, operation="write", start=T0 + 100 * index,
                                step=0.01, first=1 + 200 * index)
    report = report_of(lines, Thresholds(min_samples=100), resolution=100)
    dualwrite = of(report, "dualwrite")
    assert dualwrite.left_verdict == "hold: new side 4.0% errors vs old 0% (limit +1.0%)"
    assert dualwrite.cleared_by == "shadow"
    assert current(report).ready, current(report).verdict


# -- what the path is ---------------------------------------------------------------------------


def test_a_rollback_is_not_an_advance() -> None:
    """LIVE on hold, rolled back to SHADOW: SHADOW is judged on its own."""
    report = Log().stage("shadow", 150).stage("live", 150, bad=30).stage("shadow", 150) \
        .report()
    shadow = current(report)
    assert shadow.stage == "shadow"
    assert shadow.ready, shadow.verdict
    assert shadow.held_by_path == []
    assert of(report, "live").left_verdict is None  # ranked above the current stage


def test_a_stage_visited_twice_is_judged_as_last_left() -> None:
    """SHADOW bad, on to LIVE, back to SHADOW and fixed, on to LIVE: SHADOW was ready."""
    report = Log().stage("shadow", 150, bad=24).stage("live", 10).stage("shadow", 120) \
        .stage("live", 150).stage("complete", 150).report()
    assert of(report, "shadow").left_verdict == "ready when left"
    assert current(report).ready, current(report).verdict
    assert current(report).path == ["shadow", "live", "complete"]


def test_untimed_logs_are_judged_by_line() -> None:
    """Without timestamps the path runs by log line."""
    # call_lines makes the first `bad` comparisons inconsistent: the last 100 are clean.
    fixed = call_lines(300, bad=200) + call_lines(150, stage="complete")
    report = report_of(fixed, Thresholds(min_samples=100), resolution=100)
    assert current(report).ready, current(report).verdict
    assert of(report, "shadow").left_window["axis"] == "line"
    broke = call_lines(300, bad=250) + call_lines(150, stage="complete")
    complete = current(report_of(broke, Thresholds(min_samples=100), resolution=100))
    assert complete.verdict == "hold: advanced past SHADOW while it was on hold " \
                               "(50% inconsistent)"


def test_summaries_are_windows_that_are_never_split() -> None:
    """By summaries: the last summaries holding 1,000 comparisons, each one whole."""
    shadow = [summary_line(calls(600, "shadow", bad=20), stage="shadow", since=T0 + 10 * i,
                           until=T0 + 10 * i + 10) for i in range(2)]
    shadow += [summary_line(calls(600, "shadow"), stage="shadow", since=T0 + 20 + 10 * i,
                            until=T0 + 30 + 10 * i) for i in range(2)]
    complete = [summary_line(calls(1500, "complete"), stage="complete", since=T0 + 40,
                             until=T0 + 50)]
    report = report_of(shadow + complete)
    window = of(report, "shadow").left_window
    assert window["samples"] == 1200  # two whole summaries, not 1,000 cut out of them
    assert (window["start"], window["end"]) == (T0 + 20, T0 + 40)
    assert current(report).ready, current(report).verdict
    # The trial's figure: one summary of 5,000 comparisons, 80 inconsistent.
    big = [Call(old_ms=1.0, new_ms=1.0, consistent=i >= 80) for i in range(5000)]
    one_big = report_of([summary_line(big, stage="shadow"),
                         summary_line(calls(1500, "complete"), stage="complete",
                                      since=T0 + 10, until=T0 + 20)])
    assert of(one_big, "shadow").left_window["samples"] == 5000
    assert current(one_big).verdict == \
        "hold: advanced past SHADOW while it was on hold (1.6% inconsistent)"


def test_per_call_events_of_a_summarised_process_are_no_evidence() -> None:
    """
    A process whose summaries were read counts from them alone: its per-call
    warnings of a stage it has no summary of are not that stage's window.
    """
    warnings = per_call_lines([Call(old_ms=1.0, new_ms=1.0, consistent=False)] * 5,
                              process="p1", stage="shadow", start=T0)
    later = summary_line(calls(150, "complete"), process="p1", stage="complete",
                         since=T0 + 10, until=T0 + 20)
    report = report_of([*warnings, later], Thresholds(min_samples=100), resolution=100)
    assert of(report, "shadow").calls == 0
    assert of(report, "shadow").left_verdict == "hold: only 0 comparisons (need 100)"
    assert current(report).verdict == \
        "hold: advanced past SHADOW while it was on hold (only 0 comparisons)"
    # The same warnings from a process without summaries are the stage's evidence.
    alone = report_of([*per_call_lines([Call(old_ms=1.0, new_ms=1.0, consistent=False)] * 5,
                                       process="p2", stage="shadow", start=T0), later],
                      Thresholds(min_samples=100), resolution=100)
    assert of(alone, "shadow").left_verdict == \
        "hold: only 5 comparisons (need 100); 100% inconsistent (limit 0.1%)"


def test_several_migrations_and_operations_are_judged_apart() -> None:
    """Each migration and operation has its own path."""
    bad = Log("a.get").stage("shadow", 200, bad=50).stage("complete", 150)
    good = Log("b.get").stage("shadow", 150).stage("complete", 150)
    report = report_of(bad.lines + good.lines, Thresholds(min_samples=100), resolution=100)
    assert current(report, "a.get").verdict == HELD
    assert current(report, "b.get").ready
    assert [e.migration for e in report.on_hold] == ["a.get"]


def test_types_held_in_shadow_are_remembered_until_live_is_clean() -> None:
    """A type change left in SHADOW holds COMPLETE; --allow-type-change lets it pass."""
    def with_types(lines: list[bytes]) -> list[bytes]:
        out = []
        for line in lines:
            event = json.loads(line)
            if event["event"] == "migration.op":
                event["types"] = {"old": "User", "new": "dict"}
            out.append(json.dumps(event).encode())
        return out
    log = Log().stage("shadow", 150)
    log.lines = with_types(log.lines)
    log.stage("rampdown", 150)
    report = log.report()
    assert current(report).verdict == ("hold: advanced past SHADOW while it was on hold "
                                       "(types differ in 100% of calls: old User, new dict)")
    assert current(log.report(allow_type_change=True)).ready


# -- --since, --until and --migration ----------------------------------------------------------


def test_since_after_a_fix_leaves_the_bad_calls_out(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Bad SHADOW then COMPLETE after a fix: --since the fix clears the verdict."""
    log = tmp_path / "events.jsonl"
    made = Log().stage("shadow", 200, bad=50)
    fixed_at = made.at
    made.stage("complete", 200)
    log.write_bytes(b"\n".join(made.lines) + b"\n")
    fix = dt.datetime.fromtimestamp(fixed_at, dt.timezone.utc).isoformat()
    assert main(["report", "--check", "--min-samples", "100", str(log)]) == 1
    capsys.readouterr()
    assert main(["report", "--check", "--min-samples", "100", "--since", fix, str(log)]) == 0
    out = capsys.readouterr().out
    assert "in COMPLETE: ready: COMPLETE is the last stage" in out
    assert "outside window" in out
    assert build_report([str(log)], Thresholds(min_samples=100), since=fix).on_hold == []


def test_since_takes_a_duration_back_from_now(tmp_path: Path) -> None:
    """--since 2h: calls of three hours ago are left out, those of the last hour kept."""
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    bad = per_call_lines(calls(2000, "shadow", bad=50), stage="shadow", start=now - 3 * 3600,
                         step=0.01)
    good = per_call_lines(calls(2000, "complete"), stage="complete", start=now - 1800,
                          step=0.01, first=5000)
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(bad + good) + b"\n")
    assert main(["report", "--check", str(log)]) == 1
    assert main(["report", "--check", "--since", "2h", str(log)]) == 0
    assert main(["report", "--check", "--until", "2h", str(log)]) == 1


def test_migration_selects_by_name_and_glob(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """--migration, repeatable, shell globs: only those are reported and checked."""
    bad = Log("orders.get").stage("shadow", 200, bad=50).stage("complete", 150)
    good = Log("users.get").stage("shadow", 150).stage("complete", 150)
    other = Log("users.list").stage("shadow", 150).stage("complete", 150)
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(bad.lines + good.lines + other.lines) + b"\n")
    assert main(["report", "--check", "--min-samples", "100", str(log)]) == 1
    capsys.readouterr()
    assert main(["report", "--check", "--min-samples", "100", "--migration", "users.*",
                 str(log)]) == 0
    out = capsys.readouterr().out
    assert "orders.get" not in out.split("skipped lines")[1]
    assert "not selected" in out
    assert main(["report", "--check", "--min-samples", "100", "--migration", "users.get",
                 "--migration", "orders.*", "--format", "json", str(log)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert {e["migration"] for e in document["migrations"]} == {"users.get", "orders.get"}
    assert document["migrations_selected"] == ["users.get", "orders.*"]
    assert document["skipped"] == {"not_selected": len(other.lines)}
    assert main(["report", "--check", "--migration", "nothing.*", str(log)]) == 1
    assert "no events of the migrations selected by --migration (nothing.*)" in \
        capsys.readouterr().err


def test_migration_patterns_are_case_sensitive_and_literal_brackets_work() -> None:
    """fnmatch globs as the shell has them: ?, [..], and case kept."""
    lines = Log("Users.get").stage("shadow", 10).lines + Log("users.get").stage("shadow", 10).lines
    assert [e.migration for e in report_of(lines, migrations=["users.*"]).entries] == \
        ["users.get"]
    assert [e.migration for e in report_of(lines, migrations=["[u]sers.ge?"]).entries] == \
        ["users.get"]


def test_build_report_migrations(tmp_path: Path) -> None:
    """build_report(migrations=[...]) selects; a string or an empty list is a mistake."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(Log("a.get").stage("shadow", 10).lines
                               + Log("b.get").stage("shadow", 10).lines) + b"\n")
    assert [e.migration for e in build_report([str(log)], migrations=["b.*"]).entries] == \
        ["b.get"]
    assert build_report([str(log)], migrations=("a.get",)).migrations == ["a.get"]
    with pytest.raises(TypeError, match=r"got the string 'a.get'.*migrations=\['a.get'\]"):
        build_report([str(log)], migrations="a.get")  # a str is an Iterable[str] to mypy
    with pytest.raises(ValueError, match="migrations is empty"):
        build_report([str(log)], migrations=[])
    with pytest.raises(ValueError, match="pattern is empty"):
        build_report([str(log)], migrations=[""])
    with pytest.raises(TypeError, match="got a int"):
        build_report([str(log)], migrations=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="got a int"):
        build_report([str(log)], migrations=3)  # type: ignore[arg-type]


def test_migration_option_refuses_an_empty_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    """`--migration ''` is a usage error that says what is expected."""
    with pytest.raises(SystemExit):
        main(["report", "--migration", ""])
    assert "expected a migration name or a shell glob" in capsys.readouterr().err


# -- the tail --------------------------------------------------------------------------------


def test_a_tail_stays_bounded_however_long_the_stage() -> None:
    """A million points, in order and out of it: never more than TAIL_BINS bins."""
    rng = random.Random(3)
    tail = Tail(CHECKS, 1000)
    for index in range(200_000):
        x = index if index % 3 else rng.uniform(0, 200_000)
        tail.add_point(x, (1, index % 97 == 0, 0, 0, 0, 1, 0, 1, 0))
        assert len(tail) <= TAIL_BINS
    window = tail.window(1000)
    assert window is not None
    assert 1000 <= window.samples <= 1000 + 1000 // 64 + 1


def test_a_long_log_keeps_bounded_tails_and_examples() -> None:
    """
    60,000 events of three processes read one after the other (out of time
    order), with many paths and error types: every tail within TAIL_BINS,
    examples within their caps, and the window still the last samples.
    """
    aggregator = Aggregator(resolution=1000)
    for process in ("a", "b", "c"):
        for index in range(10_000):
            call_id = f"{process}-{index}"
            stamp = T0 + index * 0.01 + {"a": 0.0, "b": 0.003, "c": 0.006}[process]
            bad = index % 50 == 0
            aggregator.feed_line(json.dumps({
                "event": "migration.op", "migration": "m", "operation": "read",
                "stage": "shadow", "consistent": not bad, "call_id": call_id,
                "timestamp": stamp, "diff_paths": [f"field{index % 300}"] if bad else []}))
            aggregator.feed_line(json.dumps({
                "event": "migration.result", "migration": "m", "operation": "read",
                "stage": "shadow", "origin": "new", "ok": index % 7 != 0,
                "latency_ms": 1.0, "call_id": call_id, "timestamp": stamp,
                "exc_type": f"Error{index % 40}"}))
    (entry,) = aggregator.entries.values()
    assert entry.tails is not None
    assert all(len(tail) <= TAIL_BINS for tail in entry.tails)
    assert len(entry.examples.paths) <= MAX_EXAMPLE_PATHS
    assert len(entry.examples.errors["new"]) <= MAX_EXAMPLE_ERROR_TYPES
    window = entry.tail("time").window(1000)  # type: ignore[union-attr]
    assert window is not None
    assert 1000 <= window.samples <= 1000 + 1000 // 64
    # The last ~1,000 by time are each process's last ~335 calls: 9,700 to 9,950 were bad.
    assert window.counts["inconsistent"] == 18


def test_a_tail_of_blocks_stays_bounded() -> None:
    """Summaries of every size, blocks of their own, still compact within TAIL_BINS."""
    tail = Tail(NEW_RESULTS, 1000)
    for index in range(5000):
        weight = (0, 1, 16, 17, 5000)[index % 5]
        tail.add_block(index, index + 0.5, (0, 0, 0, 0, 0, 0, 0, weight, 0))
        assert len(tail) <= TAIL_BINS
    assert Tail(CHECKS, 10).window(10) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.booleans()), min_size=1,
                max_size=3000, unique_by=lambda point: point[0]),
       st.integers(0, 700), st.booleans())
def test_a_tail_window_holds_the_last_samples(points: list[tuple[float, bool]], n: int,
                                              in_order: bool) -> None:
    """
    Points in time order: the window's counts are exactly those of its last
    `samples` points. In any order: it holds every point at or after the end
    of its earliest bin and none before its start. Either way, within a grain
    (300 // 64 = 4) of n when n is within the tail's resolution.
    """
    if in_order:
        points = sorted(points)
    tail = Tail(CHECKS, 300)
    for x, bad in points:
        tail.add_point(x, (1, bad, 0, 0, 0, 0, 0, 0, 0))
    window = tail.window(n)
    assert window is not None
    assert window.counts["checks"] == window.samples
    assert window.end == max(x for x, _ in points)
    later = sum(1 for x, _ in points if x >= window.first_end)
    earliest = sum(1 for x, _ in points if x >= window.start)
    assert later <= window.samples <= earliest
    if in_order:
        latest = sorted(points)[-window.samples:]
        assert window.counts["inconsistent"] == sum(bad for _, bad in latest)
        assert window.start == latest[0][0]
    assert window.samples >= min(max(n, 1), len(points))
    if n <= 300:
        assert window.samples <= max(n, 1) + 4
