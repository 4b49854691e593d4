"""
What ``--migratekit-strict`` (migratekit.pytest_plugin) judges: whether a
migration run during a stretch of code (a test) read two sides that
disagreed, had a comparison that gave no verdict, or failed on the side that
is not authoritative: what never reaches the caller, and so never fails a
test by itself.

Two sources, because neither sees everything alone:

- The process's counts (:func:`migratekit._summary.totals`), read before and
  after, with a reader registered (:func:`~migratekit._summary.add_reader`)
  so that every call is counted whatever the logger emits. They are exact:
  neither the logger's level, nor the warnings allowance
  (``max_warnings_per_second``), nor a test that reconfigures structlog or
  captures events hides a call from them. They hold the diff paths and the
  exceptions' classes, not their messages; a ``migratekit.reset()`` in
  between forgets what came before it.
- The events, recorded as they enter the application's processors
  (:func:`migratekit.testing.record_events`), which go on unchanged: they
  hold the exceptions' messages and outlive a ``reset()``, but only what the
  logger emits and the allowance lets through is there.

A finding counts the larger of the two numbers, names the classes the counts
hold and the messages the events carried.
"""

from __future__ import annotations

import contextlib
from typing import Any

from migratekit import _events, _pool, _summary
from migratekit._schema import OP_EVENT, RESULT_EVENT, authoritative
from migratekit._summary import Row
from migratekit._types import Origin, Stage
from migratekit.testing import record_events

__all__ = ["Finding", "Watch"]

Key = tuple[str, str, str]
"""(migration, operation, stage)."""

_SHOWN = 5
"""Distinct errors or paths a finding names; the rest are counted."""


class Finding:
    """
    What went wrong for one (migration, operation, stage) while watched.
    Numbers are pairs: (from the counts, from the events).
    """

    __slots__ = ("compare_errors", "compare_types", "compared", "error_types", "errors",
                 "event_paths", "failed", "inconsistent", "key", "other", "paths")

    def __init__(self, key: Key) -> None:
        self.key = key
        self.other = _other_side(key[2])
        """The side that is not authoritative in the stage: 0 old, 1 new (``None``: unknown)."""
        self.compared = 0
        self.inconsistent = [0, 0]
        self.paths: dict[str, int] = {}
        self.event_paths: dict[str, int] = {}
        self.failed = [0, 0]
        self.error_types: dict[str, int] = {}
        self.errors: dict[tuple[str, str | None], int] = {}
        self.compare_errors = [0, 0]
        self.compare_types: dict[str, int] = {}

    def __bool__(self) -> bool:
        return any(max(pair) for pair in (self.inconsistent, self.failed, self.compare_errors))

    def describe(self) -> str:
        """One line: the migration, operation and stage, and what went wrong."""
        migration, operation, stage = self.key
        parts = [part for part in (self._inconsistent(), self._failed(), self._compare_errors())
                 if part]
        return f"{migration} ({operation}, stage {stage}): {'; '.join(parts)}"

    def _inconsistent(self) -> str | None:
        inconsistent = max(self.inconsistent)
        if not inconsistent:
            return None
        compared = f" of {self.compared} compared" if self.compared >= inconsistent else ""
        paths = self.paths | {path: max(count, self.paths.get(path, 0))
                              for path, count in self.event_paths.items()}
        listed = _listed(paths) if paths else "none (the values differ where no path can tell)"
        return f"{_times(inconsistent, 'inconsistent read')}{compared}; diff paths: {listed}"

    def _failed(self) -> str | None:
        failed = max(self.failed)
        if not failed:
            return None
        side = ("non-authoritative side" if self.other is None
                else f"{_SIDES[self.other]} side (not authoritative)")
        return f"the {side} failed {_times(failed, 'time')}: {_listed(self._errors())}"

    def _errors(self) -> dict[str, int]:
        """Each error as ``Class: message`` where an event told the message, else ``Class``."""
        described: dict[str, int] = {}
        told: dict[str, int] = {}
        for (exc_type, message), count in self.errors.items():
            text = _error_text(exc_type, message)
            described[text] = described.get(text, 0) + count
            told[exc_type] = told.get(exc_type, 0) + count
        for exc_type, count in self.error_types.items():
            untold = count - told.get(exc_type, 0)
            if untold > 0:
                text = _error_text(exc_type, None)
                described[text] = described.get(text, 0) + untold
        return described

    def _compare_errors(self) -> str | None:
        compare_errors = max(self.compare_errors)
        if not compare_errors:
            return None
        kinds = f": {_listed(self.compare_types)}" if self.compare_types else ""
        return (f"the comparison failed {_times(compare_errors, 'time')} (compare, normalize "
                f"or ignore raised, or gave no True/False){kinds}")


_SIDES = ("old", "new")

_NO_EXCEPTION = "NoneType"
"""What the counts call the class of a failure without an exception (a ``Result.fail``)."""


def _error_text(exc_type: str, message: str | None) -> str:
    if exc_type == _NO_EXCEPTION:
        return message or "a failed Result without an exception"
    return exc_type if message is None else f"{exc_type}: {message}"


def _other_side(stage: str) -> int | None:
    try:
        auth = authoritative(Stage(stage))
    except ValueError:  # not a stage's name (an event of someone else's, named like ours)
        return None
    return 1 if auth is Origin.OLD else 0


def _times(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def _listed(counts: dict[str, int]) -> str:
    """``a, b (2 times)``, most frequent first, at most :data:`_SHOWN` of them."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [text if count == 1 else f"{text} ({count} times)" for text, count in ranked[:_SHOWN]]
    if len(ranked) > _SHOWN:
        shown.append(f"and {len(ranked) - _SHOWN} more")
    return ", ".join(shown)


# -- the counts --------------------------------------------------------------------------------


def snapshot() -> dict[Key, Row]:
    """Every (migration, operation, stage)'s counts so far."""
    return {(found.migration, found.operation, found.stage): found.row
            for found in _summary.totals()}


def _grew(before: Row, after: Row) -> bool:
    """Whether *after* holds *before* (no ``reset()`` forgot the counts in between)."""
    pairs = [(before.checks, after.checks), (before.inconsistent, after.inconsistent),
             (before.compare_errors, after.compare_errors)]
    pairs.extend((before.ok[side], after.ok[side]) for side in (0, 1))
    pairs.extend((before.failed[side], after.failed[side]) for side in (0, 1))
    return all(then <= now for then, now in pairs)


def _grown(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
    return {key: count - then.get(key, 0) for key, count in now.items()
            if count > then.get(key, 0)}


def _from_counts(findings: dict[Key, Finding], before: dict[Key, Row],
                 after: dict[Key, Row]) -> None:
    for key, now in after.items():
        then = before.get(key)
        if then is not None and not _grew(then, now):
            then = None  # counted from nothing since a reset(): what came before is lost
        then = then or Row()
        finding = Finding(key)
        finding.compared = now.checks - then.checks
        finding.inconsistent[0] = now.inconsistent - then.inconsistent
        finding.compare_errors[0] = now.compare_errors - then.compare_errors
        other = finding.other
        if other is not None:  # pragma: no branch - counts are kept for real stages only
            finding.failed[0] = now.failed[other] - then.failed[other]
            finding.error_types = _grown(now.errors[other], then.errors[other])
        if finding.inconsistent[0]:
            finding.paths = _grown(now.paths, then.paths)
        if finding:
            findings[key] = finding


# -- the events --------------------------------------------------------------------------------


def _key_of(event: dict[str, Any]) -> Key | None:
    migration, operation = event.get("migration"), event.get("operation")
    stage = event.get("stage")
    if isinstance(migration, str) and isinstance(operation, str) and isinstance(stage, str):
        return migration, operation, stage
    return None


def _from_events(findings: dict[Key, Finding], events: list[dict[str, Any]]) -> None:
    for event in events:
        name = event.get("event")
        if name not in (RESULT_EVENT, OP_EVENT):
            continue
        key = _key_of(event)
        if key is None:
            continue
        finding = findings.get(key) or Finding(key)
        if name == RESULT_EVENT:
            if event.get("ok") is not False or event.get("authoritative") is not False:
                continue
            finding.failed[1] += 1
            exc_type, error = event.get("exc_type"), event.get("error")
            told = (exc_type if isinstance(exc_type, str) else _NO_EXCEPTION,
                    error if isinstance(error, str) else None)
            finding.errors[told] = finding.errors.get(told, 0) + 1
        else:
            compare_error = event.get("compare_error")
            if isinstance(compare_error, str):
                finding.compare_errors[1] += 1
                finding.compare_types[compare_error] = (
                    finding.compare_types.get(compare_error, 0) + 1)
            elif event.get("consistent") is False:
                finding.inconsistent[1] += 1
                paths = event.get("diff_paths")
                for path in paths if isinstance(paths, list) else ():
                    if isinstance(path, str):
                        finding.event_paths[path] = finding.event_paths.get(path, 0) + 1
            else:
                continue
        findings[key] = finding


# -- a watch -----------------------------------------------------------------------------------


class Watch:
    """
    Watch the migrations run from now until :meth:`finish`: the counts now,
    and the events recorded meanwhile. The caller keeps calls counted
    (:func:`migratekit._summary.add_reader`) for as long as it watches.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.events = self._stack.enter_context(record_events())
        # Each test starts with a full allowance of warnings, so that the first
        # failures of each are logged with their messages.
        _events.reset_warning_allowance()
        self.before = snapshot()
        self.pending = _pool.outstanding_tasks()

    def finish(self, drain_timeout: float) -> list[str]:
        """
        Wait for background shadows of threads (at most *drain_timeout*
        seconds), stop watching, and say what went wrong: one line per
        (migration, operation, stage), and one per shadow left unjudged;
        none when all went well.
        """
        try:
            drained = _pool.drain(drain_timeout)
            _pool.prune()  # tasks of a closed loop report that they never finished
            pending = _pool.outstanding_tasks() - self.pending
            findings: dict[Key, Finding] = {}
            _from_counts(findings, self.before, snapshot())
            _from_events(findings, self.events)
        finally:
            self.stop()
        lines = [findings[key].describe() for key in sorted(findings)]
        if not drained:
            lines.append(f"background shadow reads were still running {drain_timeout:g} s after "
                         "the test ended: they were not judged")
        if pending > 0:
            lines.append(f"{_times(pending, 'background shadow read')} still pending on an "
                         "event loop when the test ended, not judged: await "
                         "migratekit.adrain() before the test returns")
        return lines

    def stop(self) -> None:
        """Stop watching without judging (the test run was interrupted)."""
        self._stack.close()
