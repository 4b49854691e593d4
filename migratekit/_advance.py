"""
``migratekit advance``: move a migration to its next stage only when the
report's gate says it is ready, as a compare-and-set on the record.

One step (:func:`advance`) reads the stage a store holds for the migration
(its own key, else ``*``, else OFF), judges that stage by a
:class:`~migratekit.report.Report` of the evidence, and acts:

- *ready*: the next stage is set (``to=`` may skip stages whose own evidence
  is ready);
- *on hold*: nothing changes, or with ``rollback=True`` the previous stage
  is set (never past OFF), or with ``force=True`` the next one all the same,
  the verdict it overrode on the record;
- *too few samples yet* (the only reason to hold is ``only N comparisons``)
  or *evidence that cannot judge the stage* (no calls in it, or none since
  its last change, or a latest stage that is another one): nothing changes,
  and it is no reason to roll back; ``force=True`` overrides the first, not
  the second.

The stage is written with ``expect=`` what was read, so of two operators
advancing at once one wins and the other is told who did. Every change is
recorded (actor, and the verdict as reason) and logs ``migration.stage_change``.

Evidence and the last change: the newest evidence of the current stage
must come after the last recorded change of the migration's stage (and of
``*`` when it follows ``*``), since calls made in an earlier stay in that
stage, or before the processes saw the change, cannot judge it. A stage
with no recorded change (set by hand, or never set: OFF) has no such
moment: it is judged when the evidence's latest stage is that stage and
holds calls in it, and the decision says so in its notes.

:func:`watch` repeats the step every *every* seconds until *until* is
reached, waiting while the evidence cannot judge yet, and stops at the first
hold (after rolling back with ``rollback=True``).
"""

from __future__ import annotations

import dataclasses
import glob
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from migratekit._schema import NEXT_STAGE, STAGE_ORDER
from migratekit._text import plain_str, shown_repr, shown_value, type_name
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError
from migratekit.providers._audit import MAX_REASON_LENGTH, StageChange, StageStore, new_change
from migratekit.providers._base import require_stage
from migratekit.report import EntryReport, Report
from migratekit.report._strings import clean
from migratekit.report._verdict import reasons

__all__ = ["OUTCOMES", "Decision", "advance", "evidence_pattern", "watch"]

OUTCOMES = ("advance", "rollback", "hold", "wait", "refuse", "lost", "reached")
"""
What a step did: set the next stage (``advance``, forced or not) or the
previous one (``rollback``); changed nothing because the stage is on hold
(``hold``), cannot be judged yet (``wait``), cannot be judged at all
(``refuse``), or another operator changed it first (``lost``); or found the
stage :func:`watch` was to reach (``reached``).
"""

PREVIOUS_STAGE: dict[Stage, Stage] = {after: before for before, after in NEXT_STAGE.items()}
_RANK = {stage: rank for rank, stage in enumerate(STAGE_ORDER)}

# What going back from a stage means for the people who own the data.
_ROLLBACK_NOTES = {
    Stage.LIVE: "the old side answers reads again",
    Stage.RAMPDOWN: "the old side is read again (and compared)",
    Stage.COMPLETE: "the old store missed the writes made in COMPLETE: backfill it before "
                    "it is read again",
}

_SHOWN = 200


@dataclasses.dataclass(frozen=True)
class Decision:
    """What one step of ``migratekit advance`` decided about a migration, and did."""

    migration: str
    """The migration judged."""
    outcome: str
    """One of :data:`OUTCOMES`."""
    stage: Stage | None
    """The stage the store held (``None``: a value that is not a stage)."""
    target: Stage | None
    """The stage set (or that would be, with *dry_run*); ``None`` when none is."""
    verdict: str
    """The verdict acted on (``ready for LIVE (...)``, ``hold: ...``), or why nothing was."""
    dry_run: bool = False
    """Nothing was written: the decision says what would have been."""
    forced: bool = False
    """The stage was advanced past a verdict that held it (``force=True``)."""
    change: StageChange | None = None
    """The change made, as the audit trail records it."""
    winner: StageChange | None = None
    """``lost``: the change another operator made first, when recorded."""
    last_change: StageChange | None = None
    """The last recorded change of the stage judged (``None``: none recorded)."""
    notes: tuple[str, ...] = ()
    """What else the operator should know (no recorded change, a rollback's meaning)."""

    @property
    def exit_status(self) -> int:
        """``migratekit advance``'s exit status: 0 advanced (or would) or reached, else 1."""
        return 0 if self.outcome in ("advance", "reached") else 1

    def line(self) -> str:
        """The decision in one line, as ``migratekit advance`` prints it."""
        name = str(shown_value(self.migration, _SHOWN))
        here = _upper(self.stage)
        verdict = _printable(self.verdict)
        if self.outcome in ("advance", "rollback"):
            step = f"{name}: {here} -> {_upper(self.target)}"
            if self.dry_run:
                step += " (dry run, not changed)"
            if self.forced:
                text = f"{step}, forced past: {verdict}"
            elif self.outcome == "rollback":
                text = f"{step}, rolled back on: {verdict}"
            else:
                text = f"{step}: {verdict}"
        elif self.outcome == "hold":
            text = f"{name}: {here} kept: {verdict}"
        elif self.outcome == "wait":
            text = f"{name}: {here} kept, cannot judge it yet: {verdict}"
        elif self.outcome == "reached":
            text = f"{name}: {here}: {verdict}"
        else:
            text = f"{name}: not changed: {verdict}"
        return "; ".join([text, *(_printable(note) for note in self.notes)])

    def as_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (``migratekit advance --format json``)."""
        return {
            "migration": self.migration,
            "outcome": self.outcome,
            "stage": None if self.stage is None else self.stage.value,
            "target": None if self.target is None else self.target.value,
            "verdict": self.verdict,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "change": None if self.change is None else self.change.as_dict(),
            "winner": None if self.winner is None else self.winner.as_dict(),
            "last_change": None if self.last_change is None else self.last_change.as_dict(),
            "notes": list(self.notes),
            "exit_status": self.exit_status,
        }


def _upper(stage: Stage | None) -> str:
    return "?" if stage is None else stage.value.upper()


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def evidence_pattern(name: str) -> str:
    """The ``migrations=`` pattern that selects *name* alone (its glob characters escaped)."""
    return glob.escape(name)


# -- where the migration is -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Position:
    stage: Stage | None
    raw: str | None  # the migration's own key: what the compare-and-set expects
    shown: str  # where the stage came from, for messages
    last_change: StageChange | None
    changed_at: float | None
    notes: tuple[str, ...]


def _position(store: StageStore, name: str) -> _Position:
    raw = store.raw_stage(name)
    notes: list[str] = []
    value: str | None
    if raw is not None:
        value, shown, keys = raw, f"{_quoted(raw)} at its own key", [name]
    else:
        value, keys = store.raw_stage("*"), [name, "*"]
        shown = "OFF, as nothing sets it" if value is None else (
            f"{_quoted(value)} at '*', having no key of its own")
    stage = Stage.OFF if value is None else Stage.from_str(value.strip().lower())
    changes = [change for key in keys for change in store.stage_history(key, 1)]
    dated = [(moment, change) for change in changes
             if (moment := _moment(change.time)) is not None]
    last_change, changed_at = None, None
    if dated:
        changed_at, last_change = max(dated, key=lambda pair: pair[0])
    elif changes:
        notes.append("its last recorded change has no readable time: the evidence is not "
                     "checked against it")
    if last_change is None and not changes:
        notes.append(f"no change of its stage is on record ({shown}): judged by the evidence "
                     "alone")
    return _Position(stage, raw, shown, last_change, changed_at, tuple(notes))


def _quoted(value: str) -> str:
    return f"'{shown_value(value, _SHOWN)}'"


def _moment(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="microseconds")


# -- judging the stage ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Judgement:
    kind: str  # ready, hold, few (too few samples only), stale, refuse
    verdict: str
    entries: dict[str, EntryReport]


def _judge(report: Report, name: str, stage: Stage, changed_at: float | None,
           last_change: StageChange | None) -> _Judgement:
    shown = clean(name)
    entries = [entry for entry in report.entries if entry.migration == shown]
    if not entries:
        return _Judgement("stale", f"the evidence holds no events of {shown}", {})
    here: dict[str, EntryReport] = {}
    for operation in sorted({entry.operation for entry in entries}):
        latest = next((entry for entry in entries
                       if entry.operation == operation and entry.current), None)
        if latest is None:  # pragma: no cover - the report marks one current per operation
            continue
        if latest.stage != stage.value:
            found = any(entry.operation == operation and entry.stage == stage.value
                        for entry in entries)
            return _Judgement("stale", (
                f"the latest stage of its {operation}s in the evidence is "
                f"{latest.stage.upper()}, not {stage.value.upper()}"
                + ("" if found else f" (no {operation} in {stage.value.upper()} at all)")), {})
        here[operation] = latest
    for operation, entry in here.items():
        if entry.calls <= 0:
            return _Judgement("stale", f"the evidence holds no {operation} calls in "
                                       f"{stage.value.upper()}", {})
        if changed_at is None:
            continue
        assert last_change is not None
        since = (f"its last stage change ({last_change.time}, "
                 f"{last_change.old or 'unset'} -> {last_change.new or 'unset'} by "
                 f"{last_change.actor})")
        if entry.last_timestamp is None:
            return _Judgement("refuse", (
                f"the evidence of {stage.value.upper()} ({operation}s) carries no timestamps: "
                f"it cannot be told apart from calls made before {since}"), {})
        if entry.last_timestamp <= changed_at:
            return _Judgement("stale", (
                f"the newest evidence of {stage.value.upper()} ({operation}s, "
                f"{_iso(entry.last_timestamp)}) is not after {since}: calls made before "
                "the change cannot judge the stage"), {})
    if len(here) == 1:
        verdict = next(iter(here.values())).verdict
    else:
        verdict = "; ".join(f"{operation}s: {entry.verdict}" for operation, entry in here.items())
    if all(entry.ready for entry in here.values()):
        return _Judgement("ready", verdict, here)
    relaxed = dataclasses.replace(report.thresholds, min_samples=0)
    few = all(entry.ready or (not entry.held_by_path and not reasons(entry, relaxed))
              for entry in here.values())
    return _Judgement("few" if few else "hold", verdict, here)


def _skipped(report: Report, name: str, stage: Stage, to: Stage,
             operations: list[str]) -> tuple[bool, str]:
    """Whether each stage strictly between *stage* and *to* has ready evidence; what it says."""
    shown = clean(name)
    said: list[str] = []
    for skipped in STAGE_ORDER[_RANK[stage] + 1 : _RANK[to]]:
        for operation in operations:
            entry = next((entry for entry in report.entries
                          if (entry.migration, entry.operation, entry.stage)
                          == (shown, operation, skipped.value)), None)
            if entry is None:
                return False, (f"cannot skip {skipped.value.upper()}: the evidence holds no "
                               f"{operation}s in it")
            if not entry.ready:
                return False, f"cannot skip {skipped.value.upper()}: {entry.verdict}"
            said.append(f"skipped {skipped.value.upper()} ({operation}s): {entry.verdict}")
    return True, "; ".join(said)


# -- one step ------------------------------------------------------------------------


def advance(
    store: StageStore,
    name: str,
    report: Report,
    *,
    to: Stage | str | None = None,
    rollback: bool = False,
    force: bool = False,
    dry_run: bool = False,
    actor: str | None = None,
    reason: str | None = None,
) -> Decision:
    """
    Judge migration *name*'s stage in *store* by *report* (the evidence,
    judged by its own thresholds) and act, as ``migratekit advance`` does:
    see this module. Returns the :class:`Decision`.

    *to* names a later stage to go to, skipping the stages in between only
    when the evidence of each is ready; *rollback* sets the previous stage
    when on hold; *force* sets the next stage (or *to*) when on hold or with
    too few samples, the verdict overridden on the record; *dry_run*
    writes nothing. *actor* (``user@host`` by default) and *reason* are
    recorded with the verdict.

    Raises ConfigurationError for arguments that cannot go together or
    cannot be recorded, and what the store raises when it cannot be read or
    written.
    """
    name = _checked_name(name)
    target_stage = None if to is None else require_stage("to", to)
    if rollback and force:
        raise ConfigurationError(
            "advance: rollback=True and force=True contradict each other: on hold, one goes "
            "back and the other goes on; choose one")
    if rollback and target_stage is not None:
        raise ConfigurationError(
            "advance: to= names a stage to advance to, rollback=True goes back one stage; "
            "to go back further, set the stage: migratekit stage set NAME STAGE")
    # What the trail is to record is checked now, before judging, with --dry-run too.
    new_change(name, None, actor=actor, reason=reason, action="advance", source="")
    where = _position(store, name)
    stage = where.stage

    def unchanged(outcome: str, verdict: str, notes: tuple[str, ...] = where.notes) -> Decision:
        return Decision(migration=name, outcome=outcome, stage=stage, target=None,
                        verdict=verdict, dry_run=dry_run, last_change=where.last_change,
                        notes=notes)

    if stage is None:
        return unchanged("refuse", f"the store holds {where.shown}, which is not a stage; set "
                                   f"one with migratekit stage set {name} STAGE", ())
    if target_stage is not None and _RANK[target_stage] <= _RANK[stage]:
        raise ConfigurationError(
            f"advance: to={target_stage.value!r} is not after {stage.value!r}, the stage "
            f"{name!r} is in; to go back, use rollback=True on hold, or migratekit stage set")
    after = target_stage or NEXT_STAGE.get(stage)
    if after is None:
        return unchanged("refuse", "COMPLETE is the last stage: there is nothing to advance to")
    judged = _judge(report, name, stage, where.changed_at, where.last_change)
    if judged.kind == "stale":
        return unchanged("wait", judged.verdict)
    if judged.kind == "refuse":
        return unchanged("refuse", judged.verdict)
    kind, verdict = judged.kind, judged.verdict
    if kind == "ready" and target_stage is not None:
        ok, said = _skipped(report, name, stage, target_stage, sorted(judged.entries))
        verdict = f"{verdict}; {said}"
        kind = "ready" if ok else "hold"
    if kind == "ready" or force:
        return _change(store, name, where, after, verdict, "advance", force=kind != "ready",
                       dry_run=dry_run, actor=actor, reason=reason)
    if kind == "few":
        return unchanged("wait", verdict, (*where.notes, "too few samples is no reason to "
                                                         "roll back") if rollback else where.notes)
    back = PREVIOUS_STAGE.get(stage)
    if not rollback or back is None:
        return unchanged("hold", verdict)
    return _change(store, name, where, back, verdict, "rollback", force=False,
                   dry_run=dry_run, actor=actor, reason=reason)


def _checked_name(value: object) -> str:
    name = plain_str(value) if isinstance(value, str) else None  # no method of a subclass runs
    if name is None or not name.strip():
        raise ConfigurationError(
            f"advance: the migration's name must be a non-empty str (got {shown_repr(value)}"
            f"{'' if name is not None else ' that is a ' + type_name(value)}); e.g. 'users.get'")
    if name == "*":
        raise ConfigurationError(
            "advance judges one migration by its evidence, and '*' is the stage of all the "
            "others: name a migration, e.g. migratekit advance users.get")
    return name


def _change(store: StageStore, name: str, where: _Position, target: Stage, verdict: str,
            action: str, *, force: bool, dry_run: bool, actor: str | None,
            reason: str | None) -> Decision:
    stage = where.stage
    assert stage is not None
    notes = list(where.notes)
    if action == "rollback" and stage in _ROLLBACK_NOTES:
        notes.append(_ROLLBACK_NOTES[stage])
    if where.raw is None and not dry_run:
        notes.append(f"{name} has a key of its own now")
    decision = Decision(migration=name, outcome=action, stage=stage, target=target,
                        verdict=verdict, dry_run=dry_run, forced=force,
                        last_change=where.last_change, notes=tuple(notes))
    if dry_run:
        return decision
    recorded = _reason(reason, verdict, force)
    change = store.change_stage(name, target, actor=actor, reason=recorded, action=action,
                                expect=where.raw)
    if change is not None:
        return dataclasses.replace(decision, change=change)
    return _lost(store, name, decision)


def _reason(reason: str | None, verdict: str, force: bool) -> str:
    said = ("forced past: " if force else "") + verdict
    text = said if reason is None else f"{reason} ({said})"
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 1] + "\u2026"
    return text


def _lost(store: StageStore, name: str, decision: Decision) -> Decision:
    """Another operator changed *name*'s stage between our read and our write: who?"""
    history = store.stage_history(name, 1)
    winner = history[-1] if history else None
    now = store.raw_stage(name)
    if winner is not None and winner.new == now:
        said = (f"{winner.actor} changed it first ({winner.old or 'unset'} -> "
                f"{winner.new or 'unset'} at {winner.time}, {winner.action}"
                + (f": {winner.reason}" if winner.reason else "") + ")")
    else:
        said = (f"its stage changed before this change could be made (it is "
                f"{'unset' if now is None else repr(now)} now, not on the record)")
    return dataclasses.replace(decision, outcome="lost", target=None, winner=winner,
                               verdict=f"{said}; judge the new stage again", notes=())


# -- watching -----------------------------------------------------------------------


def watch(
    store: StageStore,
    name: str,
    evidence: Callable[[], Report],
    *,
    every: float,
    until: Stage | str = Stage.COMPLETE,
    rollback: bool = False,
    actor: str | None = None,
    reason: str | None = None,
    sleep: Callable[[float], object] = time.sleep,
    on_decision: Callable[[Decision], object] | None = None,
) -> Decision:
    """
    Advance migration *name* stage by stage until it reaches *until*:
    every *every* seconds, read the evidence (*evidence()*, a fresh
    :class:`~migratekit.report.Report` each time) and take one step as
    :func:`advance` does. A step that cannot judge yet (too few samples, no
    evidence since the last change) or that another operator beat is
    followed by another after *every* seconds; the first hold (rolled back
    first with *rollback*) or refusal ends the watch. Each decision goes to
    *on_decision* as it is made; the last one is returned (its
    :attr:`~Decision.exit_status` is 0 when *until* was reached).

    *sleep* is how it waits (``time.sleep``; tests pass their own clock).
    """
    name = _checked_name(name)
    goal = require_stage("until", until)
    seconds = _seconds(every)
    if seconds is None:
        raise ConfigurationError(
            f"watch: every must be a number of seconds above 0 (got {shown_repr(every)}); "
            "e.g. every=600 for ten minutes")
    while True:
        stage = _position(store, name).stage
        if stage is not None and _RANK[stage] >= _RANK[goal]:
            decision = Decision(migration=name, outcome="reached", stage=stage, target=None,
                                verdict=f"at or past {goal.value.upper()}, where the watch "
                                        "was to end")
        else:
            decision = advance(store, name, evidence(), rollback=rollback, actor=actor,
                               reason=reason)
        if on_decision is not None:
            on_decision(decision)
        if decision.outcome == "advance":
            assert decision.target is not None
            if _RANK[decision.target] >= _RANK[goal]:
                return decision
        elif decision.outcome not in ("wait", "lost"):
            return decision
        sleep(seconds)


def _seconds(value: object) -> float | None:
    """*value* as a finite number of seconds above 0, or ``None`` (a bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except Exception:  # a subclass whose __float__ raises
        return None
    return seconds if 0 < seconds < math.inf else None
