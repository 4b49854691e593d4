"""The quiet path (info events dropped) behaves exactly like the full one, filtered to warnings.

With a logger that drops info events, the decorator runs the sides of a
serial call without building any record unless something must be reported.
This checks, stage by stage and outcome by outcome, that it gives the caller
the same thing and emits the same warnings as the engine's full runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

import migratekit
from migratekit import Stage, configure, migration
from migratekit.providers import StaticStageProvider

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


def _scenario(stage: Stage, write: bool, old: str, new: str, compare: str,
              level: int) -> tuple[list[str], Any, list[dict[str, Any]]]:
    """Run one call at *level*; what ran, what the caller got, and the warnings."""
    events: list[dict[str, Any]] = []
    structlog.configure(processors=[_collector(events)],
                        wrapper_class=structlog.make_filtering_bound_logger(level))
    configure(provider=StaticStageProvider(stage))
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
    return ran, outcome, warnings


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
    """Same sides run, same value or exception object, same warning events, at both levels."""
    loud = _scenario(stage, write, old, new, compare, logging.INFO)
    quiet = _scenario(stage, write, old, new, compare, logging.WARNING)
    assert quiet[0] == loud[0]
    assert quiet[1][0] == loud[1][0]
    assert quiet[1][1] is loud[1][1]  # the very same value, or the very same exception
    assert quiet[2] == loud[2]
    migratekit.reset()
    structlog.reset_defaults()
