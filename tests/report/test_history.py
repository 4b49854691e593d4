"""
The report reads ``migration.reconcile`` and ``migration.stage_change``
(migratekit/report/_history.py): a read in DUALWRITE is judged for SHADOW by
its migration's newest reconcile; stage changes give the last change (who,
why) and place the stages of the path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import migratekit
from migratekit.providers import StageFile
from migratekit.report import Thresholds, _history, build_report, format_text, render_html
from migratekit.report._aggregate import Aggregator
from migratekit.report._verdict import reasons
from tests.cli.test_report import run_strict
from tests.report.logs import (
    T0,
    Call,
    call_lines,
    iso,
    json_log,
    per_call_lines,
    report_of,
    summary_line,
)
from tests.report.test_gate import calls

NOT_YET = ("ready for SHADOW once the new store is backfilled and verified "
           "(migratekit reconcile); judge the writes")


def dualwrite(n: int = 50, migration: str = "users.get", start: float = T0) -> list[bytes]:
    """*n* reads of *migration* in DUALWRITE (the old side alone), from *start*."""
    return per_call_lines(calls(n, "dualwrite"), migration=migration, stage="dualwrite",
                          start=start)


def reconcile_line(migration: Any = "users.get", at: float | None = T0 + 100,
                   **fields: Any) -> bytes:
    """A ``migration.reconcile`` of a million rows, consistent unless *fields* say otherwise."""
    event: dict[str, Any] = {
        "event": "migration.reconcile", "migration": migration, "consistent": True,
        "old_rows": 1_000_000, "new_rows": 1_000_000, "compared": 1_000_000,
        "missing_in_new": 0, "missing_in_old": 0, "differing": 0, "duplicates_in_old": 0,
        "duplicates_in_new": 0, "errors": 0, "error_types": {}, "diff_paths": {},
        "examples": {}, "spilled": True,
    }
    if at is not None:
        event["timestamp"] = iso(at)
    event.update(fields)
    return json.dumps(event).encode()


FAILED: dict[str, Any] = {"consistent": False, "new_rows": 999_991, "compared": 999_988,
                          "missing_in_new": 12, "differing": 3, "diff_paths": {"email": 3}}


def change_line(new: str | None, at: float, migration: str = "users.get", *,
                old: Any = None, actor: Any = "alice@ops-1",
                reason: Any = "dual writes clean", action: str = "set",
                **fields: Any) -> bytes:
    """A ``migration.stage_change`` at *at*, as a store logs it."""
    event = {"event": "migration.stage_change", "time": iso(at), "migration": migration,
             "old": old, "new": new, "actor": actor, "reason": reason, "action": action,
             "source": "/srv/stages.json [users.get]", "level": "info",
             "timestamp": iso(at + 0.002)}
    event.update(fields)
    return json.dumps(event).encode()


def only(report: Any, stage: str | None = None) -> Any:
    (entry,) = [e for e in report.entries if stage in (None, e.stage)]
    return entry


# -- the DUALWRITE -> SHADOW verdict ----------------------------------------------------------


def test_a_consistent_reconcile_verifies_the_backfill() -> None:
    """Ready for SHADOW, saying how many rows were verified and when."""
    entry = only(report_of([*dualwrite(), reconcile_line()]))
    assert entry.ready
    assert entry.verdict == ("ready for SHADOW: backfill verified (1,000,000 rows, "
                             "2026-09-21T14:15Z)")
    assert entry.to_json()["reconcile"] == {
        "time": "2026-09-21T14:15:00+00:00", "consistent": True, "verified": True,
        "old_rows": 1_000_000, "new_rows": 1_000_000, "compared": 1_000_000,
        "missing_in_new": 0, "missing_in_old": 0, "differing": 0, "duplicates_in_old": 0,
        "duplicates_in_new": 0, "errors": 0, "diff_paths": {},
    }


def test_an_inconsistent_reconcile_holds_the_step_to_shadow() -> None:
    """Hold, with what is missing and differing, where, and when it was found."""
    entry = only(report_of([*dualwrite(), reconcile_line(**FAILED)]))
    assert not entry.ready
    assert entry.verdict == ("hold: backfill not verified: 12 rows missing in new, 3 differing "
                             "(at email); reconciled 2026-09-21T14:15Z")
    reconcile = entry.to_json()["reconcile"]
    assert (reconcile["verified"], reconcile["missing_in_new"], reconcile["diff_paths"]) == \
        (False, 12, {"email": 3})


def test_an_inconsistent_reconcile_is_a_reason_not_too_few_samples() -> None:
    """
    ``reasons`` names it, so that a caller telling a hold from "too few
    samples" (migratekit advance) sees a hold even with min_samples 0.
    """
    entry = only(report_of([*dualwrite(), reconcile_line(**FAILED)]))
    (reason,) = reasons(entry, Thresholds(min_samples=0))
    assert reason.kind == "reconcile"
    assert str(reason).startswith("backfill not verified: 12 rows missing in new")


def test_without_a_reconcile_the_verdict_is_advice() -> None:
    """No reconcile yet: ready, with the advice to backfill and verify (SHADOW only compares)."""
    entry = only(report_of(dualwrite()))
    assert (entry.ready, entry.verdict, entry.to_json()["reconcile"]) == (True, NOT_YET, None)
    assert reasons(entry, Thresholds()) == []


def test_check_exits_1_on_a_failed_reconcile_and_0_on_a_good_one(tmp_path: Path) -> None:
    """``--check`` holds on the newest reconcile's verdict; the text says why."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\n".join([*dualwrite(), reconcile_line(**FAILED)]) + b"\n")
    status, out, _ = run_strict(["report", "--check", str(log)])
    assert status == 1
    assert b"in DUALWRITE: hold: backfill not verified: 12 rows missing in new" in out
    with open(log, "ab") as more:
        more.write(reconcile_line(at=T0 + 200) + b"\n")
    status, out, _ = run_strict(["report", "--check", str(log)])
    assert status == 0
    assert b"in DUALWRITE: ready for SHADOW: backfill verified" in out


@pytest.mark.parametrize(("lines", "ready"), [
    # The later time wins, in whichever order the lines come.
    ([reconcile_line(at=T0 + 100, **FAILED), reconcile_line(at=T0 + 200)], True),
    ([reconcile_line(at=T0 + 200), reconcile_line(at=T0 + 100, **FAILED)], True),
    ([reconcile_line(at=T0 + 200, **FAILED), reconcile_line(at=T0 + 100)], False),
    # One without a time is older than any with one...
    ([reconcile_line(at=T0 + 100, **FAILED), reconcile_line(at=None)], False),
    ([reconcile_line(at=None, **FAILED), reconcile_line(at=T0 + 100)], True),
    # ... and among those without, the last line read wins.
    ([reconcile_line(at=None, **FAILED), reconcile_line(at=None)], True),
    ([reconcile_line(at=None), reconcile_line(at=None, **FAILED)], False),
])
def test_the_newest_reconcile_wins(lines: list[bytes], ready: bool) -> None:
    """Newest by time; without a time, older than any with one, then by line."""
    entry = only(report_of(dualwrite() + lines))
    assert entry.ready is ready, entry.verdict


def test_a_reconcile_without_a_time_says_so() -> None:
    """The verdict says ``time unknown`` rather than inventing one."""
    entry = only(report_of([*dualwrite(), reconcile_line(at=None, compared=None, old_rows=7)]))
    assert entry.verdict == "ready for SHADOW: backfill verified (7 rows, time unknown)"
    assert entry.reconcile["time"] is None


def test_a_reconcile_belongs_to_the_migration_of_its_exact_name() -> None:
    """
    ``users`` verifies no ``users.get`` (no prefix, no glob); the report says
    which reconciles matched no migration, in the text and the JSON.
    """
    lines = [*dualwrite(), reconcile_line("users", **FAILED), reconcile_line("users.*")]
    report = report_of(lines)
    entry = only(report)
    assert (entry.ready, entry.verdict, entry.reconcile) == (True, NOT_YET, None)
    assert report.unmatched_reconciles == ["users", "users.*"]
    assert report.to_json()["unmatched_reconciles"] == ["users", "users.*"]
    assert "note: migration.reconcile of users, users.* matches no migration read" in \
        format_text(report)
    assert report.skipped == {}


def test_the_reconcile_judges_reads_in_dualwrite_only() -> None:
    """
    A read in SHADOW and a write in DUALWRITE carry the reconcile in their
    JSON, but their verdicts stand on their own figures.
    """
    shadow = per_call_lines(calls(150, "shadow"), migration="users.get", stage="shadow",
                            start=T0 + 10, process="p2")
    writes = per_call_lines([Call(old_ms=1.0, new_ms=1.0) for _ in range(150)],
                            migration="users.get", stage="dualwrite", operation="write",
                            start=T0, process="p3")
    lines = dualwrite() + shadow + writes + [reconcile_line(**FAILED)]
    report = report_of(lines, Thresholds(min_samples=100))
    by = {(e.operation, e.stage): e for e in report.entries}
    assert by[("read", "shadow")].ready, by[("read", "shadow")].verdict
    assert by[("write", "dualwrite")].ready, by[("write", "dualwrite")].verdict
    assert by[("read", "dualwrite")].left_verdict is None  # the new side does not run there
    assert all(e.reconcile is not None and not e.reconcile["verified"] for e in report.entries)


def test_reconciles_are_states_before_since_and_not_from_until() -> None:
    """
    ``--since`` keeps a reconcile made before the window (it says what
    state the window began in); ``--until`` leaves out one made from then on.
    """
    lines = [*dualwrite(start=T0 + 1000), reconcile_line(at=T0 + 100, **FAILED),
             reconcile_line(at=T0 + 5000)]
    held = only(report_of(lines, since=T0 + 900, until=T0 + 4000))
    assert held.verdict.startswith("hold: backfill not verified"), held.verdict
    aggregator = Aggregator(since=T0 + 900, until=T0 + 4000)
    aggregator.feed(lines)
    assert aggregator.skipped == {"outside_window": 1}


def test_migration_selects_reconciles_by_name() -> None:
    """``--migration users.get`` leaves out the reconcile of another migration."""
    aggregator = Aggregator(migrations=["users.get"])
    aggregator.feed([*dualwrite(), reconcile_line("orders.get", **FAILED), reconcile_line()])
    report = aggregator.report()
    assert aggregator.skipped == {"not_selected": 1}
    assert only(report).ready
    assert report.unmatched_reconciles == []


def test_a_reconcile_from_the_library_is_read_back(tmp_path: Path) -> None:
    """migratekit.reconcile's own event, written by structlog, judges the DUALWRITE reads."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\n".join(dualwrite(start=T0)) + b"\n")
    old = [{"id": i, "email": f"u{i}@example.com"} for i in range(20)]
    new = [dict(row, email="typo") if row["id"] == 7 else row for row in old[:-2]]
    with json_log(log):
        migratekit.reconcile(old, new, key="id", name="users.get")
    entry = only(build_report([str(log)]))
    assert entry.verdict.startswith("hold: backfill not verified: 2 rows missing in new, "
                                    "1 differing (at email); reconciled 20"), entry.verdict
    with json_log(log):
        migratekit.reconcile(old, old, key="id", name="users.get")
    entry = only(build_report([str(log)]))
    assert entry.verdict.startswith("ready for SHADOW: backfill verified (20 rows, 20")


# -- what a reconcile line may hold -----------------------------------------------------------


@pytest.mark.parametrize(("fields", "skipped"), [
    ({"consistent": None}, "malformed"),
    ({"consistent": "true"}, "malformed"),
    ({"consistent": 1}, "malformed"),
    ({"migration": ""}, "malformed"),
    ({"migration": ["users.get"]}, "malformed"),
    ({"migration": "m" * 513}, "malformed"),
    ({"migration": None}, "unnamed_reconcile"),
])
def test_a_reconcile_that_cannot_be_read_is_skipped(fields: dict[str, Any],
                                                     skipped: str) -> None:
    """Without a boolean ``consistent`` or a migration name, the line is skipped, and why."""
    aggregator = Aggregator()
    aggregator.feed([reconcile_line(**fields)])
    assert aggregator.skipped == {skipped: 1}
    assert aggregator.history.reconciles == {}


@pytest.mark.parametrize("count", [True, -1, 2**53 + 1, 10**400, 1.5, "12", None, [12], {}])
def test_a_count_that_is_no_count_counts_as_missing(count: Any) -> None:
    """A count that is not a whole number from 0 to 2**53 is shown as null, never raises."""
    line = reconcile_line(consistent=False, missing_in_new=count, differing=2)
    entry = only(report_of([*dualwrite(), line]))
    assert entry.reconcile["missing_in_new"] is None
    assert entry.verdict == ("hold: backfill not verified: 2 differing; reconciled "
                             "2026-09-21T14:15Z")


def test_consistent_is_not_trusted_over_the_counts() -> None:
    """A reconcile that says consistent while counting missing rows does not verify."""
    line = reconcile_line(missing_in_old=1, errors=2, duplicates_in_new=3)
    entry = only(report_of([*dualwrite(), line]))
    assert not entry.ready
    assert entry.verdict == ("hold: backfill not verified: 1 row missing in old, 3 duplicates "
                             "in new, 2 records in error; reconciled 2026-09-21T14:15Z")
    assert entry.reconcile["verified"] is False


def test_inconsistent_without_counts_still_holds() -> None:
    """``consistent: false`` and nothing else is a hold that says the stores differ."""
    line = json.dumps({"event": "migration.reconcile", "migration": "users.get",
                       "consistent": False}).encode()
    entry = only(report_of([*dualwrite(), line]))
    assert entry.verdict == ("hold: backfill not verified: the reconcile found the stores "
                             "apart; reconciled time unknown")


def test_diff_paths_keep_the_most_frequent_and_bounded() -> None:
    """A huge or hostile ``diff_paths`` keeps the five most frequent valid paths, cut short."""
    paths: dict[str, Any] = {f"p{i}": i for i in range(50_000)}
    paths.update({"": 10**6, "bad": "many", "neg": -1, "flag": True, "x" * 5000: 49_999})
    line = reconcile_line(consistent=False, differing=9, diff_paths=paths)
    entry = only(report_of([*dualwrite(), line]))
    kept = entry.reconcile["diff_paths"]
    assert list(kept.items()) == [("p49999", 49_999), ("x" * 199 + "…", 49_999),
                                  ("p49998", 49_998), ("p49997", 49_997), ("p49996", 49_996)]
    assert "9 differing (at p49999, xxx" in entry.verdict
    for hostile in ([["email", 3]], "email", None, {"a": {"b": 1}}, {"a": 1.5}):
        line = reconcile_line(consistent=False, differing=1, diff_paths=hostile)
        entry = only(report_of([*dualwrite(), line]))
        assert entry.reconcile["diff_paths"] == {}
        assert entry.verdict.startswith("hold: backfill not verified: 1 differing; ")


def test_the_verdict_shows_escaped_paths_in_the_text() -> None:
    """A path from the log cannot drive the terminal that shows the report."""
    line = reconcile_line(consistent=False, differing=1, diff_paths={"e\x1b[2Jvil\u202e": 1})
    report = report_of([*dualwrite(), line])
    text = format_text(report)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "e\\x1b[2Jvil\\u202e" in text
    assert "e\x1b[2Jvil\u202e" not in render_html(report)


# -- stage changes --------------------------------------------------------------------------


def shadow(n: int = 150, start: float = T0 + 10) -> list[bytes]:
    """*n* clean reads of users.get in SHADOW, from *start* (process p2)."""
    return per_call_lines(calls(n, "shadow"), migration="users.get", stage="shadow",
                          start=start, process="p2")


def test_the_last_change_is_shown_with_who_and_why() -> None:
    """``SHADOW since ... (set by alice@ops-1: dual writes clean)`` under the verdict."""
    lines = [change_line("dualwrite", T0 - 7200, old="off"),
             change_line("shadow", T0 - 60, old="dualwrite"), *shadow()]
    report = report_of(lines, Thresholds(min_samples=100))
    entry = only(report)
    assert entry.last_change == {
        "time": iso(T0 - 60), "migration": "users.get", "old": "dualwrite", "new": "shadow",
        "actor": "alice@ops-1", "reason": "dual writes clean", "action": "set",
        "source": "/srv/stages.json [users.get]",
    }
    assert entry.to_json()["last_change"] == entry.last_change
    assert entry.entered == entry.last_change
    text = format_text(report)
    assert "SHADOW since 2026-09-21T14:12Z (set by alice@ops-1: dual writes clean)" in text
    assert "SHADOW since 2026-09-21T14:12Z (set by alice@ops-1: dual writes clean)" in \
        render_html(report)
    assert report.skipped == {}
    assert report.events == 2 + len(shadow())


def test_each_stage_carries_the_newest_change_into_it() -> None:
    """``entered`` is per stage; ``last_change`` on the current entry only."""
    lines = [
        change_line("shadow", T0 - 60, action="advance", actor="migratekit@ci"), *shadow(150),
        change_line("live", T0 + 100, action="advance", reason=None),
        *per_call_lines(calls(150, "live"), migration="users.get", stage="live",
                        start=T0 + 101, process="p3"),
    ]
    report = report_of(lines, Thresholds(min_samples=100))
    by = {e.stage: e for e in report.entries}
    assert by["shadow"].entered["actor"] == "migratekit@ci"
    assert by["live"].entered["new"] == "live"
    assert by["shadow"].last_change is None
    assert by["live"].last_change["time"] == iso(T0 + 100)
    assert "LIVE since 2026-09-21T14:15Z (advanced by alice@ops-1)" in format_text(report)


def test_a_change_past_the_events_says_the_verdict_is_on_the_stage_before() -> None:
    """Set to LIVE after the last SHADOW event: the verdict is still SHADOW's, and it says so."""
    lines = [*shadow(), change_line("live", T0 + 3600, action="advance", actor="bob")]
    report = report_of(lines, Thresholds(min_samples=100))
    assert ("LIVE since 2026-09-21T15:13Z (advanced by bob: dual writes clean); no events "
            "since, the verdict is on SHADOW") in format_text(report)


def test_a_change_the_events_contradict_is_shown_as_such() -> None:
    """Set to LIVE, yet SHADOW events came after: the report says both."""
    lines = [change_line("live", T0), *shadow(start=T0 + 10)]
    text = format_text(report_of(lines, Thresholds(min_samples=100)))
    assert ("last change: set to LIVE at 2026-09-21T14:13Z (set by alice@ops-1: dual writes "
            "clean), yet the latest events read are of SHADOW") in text


@pytest.mark.parametrize(("lines", "expected"), [
    # No change of its own: the newest of '*' applies.
    ([change_line("shadow", T0 - 10, migration="*")], ("*", "shadow")),
    # Its own stage set: a newer change of '*' does not apply to it.
    ([change_line("shadow", T0 - 20), change_line("off", T0 - 10, migration="*")],
     ("users.get", "shadow")),
    # Unset, it follows '*' again: a newer change of '*' applies ...
    ([change_line(None, T0 - 30, action="unset"), change_line("shadow", T0 - 10, migration="*")],
     ("*", "shadow")),
    # ... an older one does not: the unset is the last change.
    ([change_line("shadow", T0 - 30, migration="*"), change_line(None, T0 - 10, action="unset")],
     ("users.get", None)),
])
def test_changes_of_star_apply_to_a_migration_without_a_stage_of_its_own(
        lines: list[bytes], expected: tuple[str, str | None]) -> None:
    """A change of ``*`` is the last change of a migration that has no stage of its own."""
    entry = only(report_of(lines + shadow(), Thresholds(min_samples=100)))
    assert (entry.last_change["migration"], entry.last_change["new"]) == expected


def test_a_change_of_star_reads_as_such() -> None:
    """The text says the change was made for ``*``."""
    lines = [change_line("shadow", T0 - 10, migration="*", reason="all to shadow"), *shadow()]
    text = format_text(report_of(lines, Thresholds(min_samples=100)))
    assert "SHADOW since 2026-09-21T14:13Z (set for * by alice@ops-1: all to shadow)" in text


def test_changes_of_star_are_read_whatever_migration_selects() -> None:
    """``--migration users.get`` keeps changes of ``*`` (they may apply) and drops others'."""
    aggregator = Aggregator(migrations=["users.get"])
    aggregator.feed([change_line("shadow", T0 - 10, migration="*"),
                     change_line("live", T0 - 5, migration="orders.get"), *shadow()])
    assert aggregator.skipped == {"not_selected": 1}
    assert only(aggregator.report(Thresholds(min_samples=100))).last_change["migration"] == "*"


def test_changes_are_states_before_since_and_not_from_until() -> None:
    """The change into SHADOW before ``--since`` is kept; the one from ``--until`` on is not."""
    lines = [change_line("shadow", T0 - 86400), *shadow(), change_line("live", T0 + 3600)]
    aggregator = Aggregator(since=T0, until=T0 + 1800)
    aggregator.feed(lines)
    assert aggregator.skipped == {"outside_window": 1}
    entry = only(aggregator.report(Thresholds(min_samples=100)))
    assert entry.last_change["new"] == "shadow"


def test_a_change_into_a_stage_places_it_on_the_path() -> None:
    """
    A rollback from LIVE to SHADOW inside one summary window gives both
    stages' summaries the same start: by their first events the path would
    read SHADOW -> LIVE (ties go by rank); the changes say LIVE came first.
    """
    def summaries(stage: str, since: float) -> bytes:
        return summary_line(calls(40, stage), migration="users.get", stage=stage, since=since,
                            until=since + 10)

    lines = [summaries("live", T0), summaries("shadow", T0)]
    assert [e.path for e in report_of(lines).entries if e.current] == [["shadow", "live"]]
    changes = [change_line("live", T0 - 600), change_line("shadow", T0 + 5, action="rollback")]
    report = report_of(changes + lines)
    (current,) = [e for e in report.entries if e.current]
    assert current.path == ["live", "shadow"]
    # Changes place stages only in time: logs without timestamps keep the line order.


def test_a_stage_change_from_a_stage_file_is_read_back(tmp_path: Path) -> None:
    """StageFile.change_stage's own event, written by structlog, is the last change."""
    log = tmp_path / "app.log"
    store = StageFile(tmp_path / "stages.json")
    with json_log(log):
        store.change_stage("users.get", "shadow", actor="alice@ops-1", reason="writes clean")
    with open(log, "ab") as more:
        more.write(b"\n".join(shadow(start=T0 + 10**8)) + b"\n")  # after the change: 2029
    entry = only(build_report([str(log)], Thresholds(min_samples=100)))
    assert entry.last_change is not None
    assert (entry.last_change["actor"], entry.last_change["reason"], entry.last_change["new"],
            entry.last_change["source"]) == ("alice@ops-1", "writes clean", "shadow",
                                             f"{tmp_path / 'stages.json'} [users.get]")


# -- what a stage change line may hold ----------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"migration": None}, {"migration": ""}, {"migration": 7}, {"new": "sideways"},
    {"new": 3}, {"new": ["shadow"]}, {"new": "s" * 10_000},
])
def test_a_change_that_cannot_be_read_is_malformed(fields: dict[str, Any]) -> None:
    """Without a migration name, or with a ``new`` that is neither a stage nor null: malformed."""
    aggregator = Aggregator()
    event = {**json.loads(change_line("shadow", T0)), **fields}
    aggregator.feed([json.dumps(event).encode()])
    assert aggregator.skipped == {"malformed": 1}
    assert aggregator.history.changes == {}


def test_text_fields_of_a_change_are_bounded_and_made_safe() -> None:
    """Non-strings count as missing, long ones are cut, control characters never reach a tty."""
    lines = [change_line("SHADOW", T0 - 10, actor=["alice"], reason="\x1b[2J" + "r" * 5000,
                         old={"a": 1}, source="\ud800"), *shadow()]
    report = report_of(lines, Thresholds(min_samples=100))
    change = only(report).last_change
    assert (change["actor"], change["old"], change["new"]) == (None, None, "shadow")
    assert len(change["reason"]) == 200
    assert change["reason"].endswith("…")
    assert change["source"] == "\ufffd"
    text = format_text(report)
    assert "\x1b" not in text
    assert "SHADOW since 2026-09-21T14:13Z (set: \\x1b[2Jrrr" in text
    json.dumps(report.to_json()).encode("ascii")


def test_a_change_without_its_own_time_takes_the_lines() -> None:
    """An unreadable ``time`` is kept as written; the line's timestamp places the change."""
    line = change_line("shadow", T0, time="yesterday", timestamp=iso(T0 - 10))
    entry = only(report_of([line, *shadow()], Thresholds(min_samples=100)))
    assert entry.last_change["time"] == "yesterday"
    bare = json.dumps({"event": "migration.stage_change", "migration": "users.get",
                       "new": "shadow", "timestamp": iso(T0 - 10)}).encode()
    entry = only(report_of([bare, *shadow()], Thresholds(min_samples=100)))
    assert entry.last_change["time"] == iso(T0 - 10)
    assert "SHADOW since 2026-09-21T14:13Z (changed)" in format_text(
        report_of([bare, *shadow()], Thresholds(min_samples=100)))


# -- bounded memory -----------------------------------------------------------------------------


def test_memory_per_migration_is_bounded_whatever_the_changes() -> None:
    """Ten thousand changes of one migration keep one newest and one per stage."""
    lines = [change_line(("shadow", "live", None)[i % 3], T0 + i, action="set")
             for i in range(10_000)]
    aggregator = Aggregator()
    aggregator.feed(lines + [reconcile_line(at=T0 + i) for i in range(1000)])
    (changes,) = aggregator.history.changes.values()
    assert set(changes.into) == {"shadow", "live"}
    assert len(aggregator.history.reconciles) == 1
    assert changes.newest is not None
    assert changes.newest.moment == T0 + 9999


def test_too_many_migrations_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ENTRIES names, reconciles and changes of new names are skipped and counted."""
    monkeypatch.setattr(_history, "MAX_ENTRIES", 3)
    aggregator = Aggregator()
    aggregator.feed([reconcile_line(f"m{i}") for i in range(5)]
                    + [change_line("shadow", T0, migration=f"m{i}") for i in range(5)]
                    + [reconcile_line("m0"), change_line("live", T0 + 1, migration="m1")])
    assert aggregator.skipped == {"too_many_migrations": 4}
    assert len(aggregator.history.reconciles) == len(aggregator.history.changes) == 3


def test_a_change_and_untimed_events_are_not_put_in_order() -> None:
    """Events without timestamps cannot be placed before or after a change: no ``yet``."""
    untimed = call_lines(150, stage="shadow")  # migration m, no timestamps
    report = report_of([change_line("live", T0, migration="m"), *untimed],
                       Thresholds(min_samples=100))
    assert ("last change: set to LIVE at 2026-09-21T14:13Z (set by alice@ops-1: dual writes "
            "clean), the latest events read are of SHADOW") in format_text(report)


def test_the_json_document_carries_reconcile_entered_and_last_change(tmp_path: Path) -> None:
    """``migratekit report --format json``: the keys are there, null when nothing was read."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\n".join([change_line("dualwrite", T0 - 60), *dualwrite(),
                                reconcile_line(**FAILED),
                                *dualwrite(migration="orders.get")]) + b"\n")
    status, out, _ = run_strict(["report", "--format", "json", str(log)])
    assert status == 0
    document = json.loads(out)
    by = {entry["migration"]: entry for entry in document["migrations"]}
    assert by["users.get"]["reconcile"]["missing_in_new"] == 12
    assert by["users.get"]["entered"]["new"] == by["users.get"]["last_change"]["new"] == \
        "dualwrite"
    assert (by["orders.get"]["reconcile"], by["orders.get"]["entered"],
            by["orders.get"]["last_change"]) == (None, None, None)
    assert document["unmatched_reconciles"] == []
    assert document["skipped_lines"] == 0
