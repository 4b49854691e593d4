"""The quiet path behaves exactly like the full one, filtered to warnings, and counts the same.

When a call that goes well is not reported (a logger that drops info events,
or the default ``call_events="debug"`` with a logger at info), the decorator
runs the sides of a serial call without building any record unless something
must be reported. This checks, stage by stage and outcome by outcome, that it
gives the caller the same thing, emits the same warnings and counts the same
for the summaries as the engine's full runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from migratekit import Stage, _summary, configure, migration
from migratekit.providers import StaticStageProvider
from tests.helpers import fresh

OUTCOMES = ["same", "different", "raises"]
VOLATILE = {"latency_ms", "call_id", "timestamp"}
# Shared by both runs of a scenario, so that identity can be compared.
OLD_VALUE, NEW_SAME, NEW_DIFFERENT = {"v": 1}, {"v": 1}, {"v": 2}
ERRORS = {"old": LookupError("old failed"), "new": KeyError("new failed")}


def _collector(sink: list[dict[str, Any]]) -> Callable[..., Any]:
    def collect(logger: Any, method: str, event: Any) -> Any:
        sink.append({k: v for k, v in event.items() if k not in VOLATILE} | {"level": method})
        raise structlog.DropEvent

    return collect


def _scenario(stage: Stage, write: bool, old: str, new: str, compare: str, level: int,
              call_events: str = "info") -> tuple[list[str], Any, list[dict[str, Any]], Any]:
    """Run one call at *level*; what ran, what the caller got, the warnings, the counts."""
    events: list[dict[str, Any]] = []
    structlog.configure(processors=[_collector(events)],
                        wrapper_class=structlog.make_filtering_bound_logger(level))
    configure(provider=StaticStageProvider(stage), call_events=call_events,
              max_warnings_per_second=None, summary_interval=3600)
    _summary.forget()
    ran: list[str] = []
    values = {"old": OLD_VALUE, "new": NEW_SAME if new == "same" else NEW_DIFFERENT}

    def side(origin: str, outcome: str) -> Callable[[int], Any]:
        def run(key: int) -> Any:
            ran.append(origin)
            if outcome == "raises":
                raise ERRORS[origin]
            return values[origin]

        return run

    def comparator(a: Any, b: Any) -> Any:
        if compare == "raises":
            raise RuntimeError("compare failed")
        if compare == "none":
            return None
        return a == b

    options: dict[str, Any] = {"new": side("new", new), "old": side("old", old),
                               "name": "quiet.check"}
    decorate = migration.write if write else migration
    if not write:
        options["compare"] = comparator
    call = decorate(**options)(lambda key: None)
    try:
        outcome: Any = ("value", call(1))
    except Exception as exc:
        outcome = ("raised", exc)
    warnings = [e for e in events if e["level"] == "warning"]
    counts = [_counted(totals.row) for totals in _summary.totals()
              if totals.migration == "quiet.check"]
    return ran, outcome, warnings, counts


def _counted(row: Any) -> dict[str, Any]:
    """A row's counts, latencies left out (they differ from run to run)."""
    return {name: getattr(row, name) for name in (
        "calls", "ok", "failed", "errors", "checks", "inconsistent", "compare_errors",
        "type_mismatches", "paths", "dropped", "skipped")}


@settings(max_examples=300, deadline=None)
@given(
    stage=st.sampled_from(list(Stage)),
    write=st.booleans(),
    old=st.sampled_from(["same", "raises"]),
    new=st.sampled_from(OUTCOMES),
    compare=st.sampled_from(["eq", "raises", "none"]),
)
def test_quiet_path_matches_the_full_runner(stage: Stage, write: bool, old: str, new: str,
                                            compare: str) -> None:
    """
    Same sides run, same value or exception object, same warning events, at
    both levels; and with calls counted (a logger at info, call events at
    debug), the same counts as the full runner's.
    """
    loud = _scenario(stage, write, old, new, compare, logging.INFO)
    quiet = _scenario(stage, write, old, new, compare, logging.WARNING)
    counting = _scenario(stage, write, old, new, compare, logging.INFO, call_events="debug")
    for other in (quiet, counting):
        assert other[0] == loud[0]
        assert other[1][0] == loud[1][0]
        assert other[1][1] is loud[1][1]  # the very same value, or the very same exception
        assert other[2] == loud[2]
    assert loud[3]
    assert counting[3] == loud[3]
    assert quiet[3] == []  # a logger that drops info events: nothing to summarise
    fresh()
    structlog.reset_defaults()
