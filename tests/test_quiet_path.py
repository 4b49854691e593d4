"""The quiet path behaves exactly like the full one, filtered to warnings, and counts the same.

When a call that goes well is not reported (a logger that drops info events,
or the default ``call_events="debug"`` with a logger at info), the decorator
runs the sides of a serial call without building any record unless something
must be reported. This checks, stage by stage and outcome by outcome, that it
gives the caller the same thing, emits the same warnings and counts the same
for the summaries as the engine's full runner; with each option that changes
how a call of both sides runs (``normalize``, ``ignore``, ``pass_result``,
which the quiet path runs through a pair of its own) and without.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from migratekit import Stage, _summary, configure, migration
from migratekit.providers import StaticStageProvider
from tests.helpers import fresh

OUTCOMES = ["same", "different", "retyped", "raises"]
OPTIONS = ["none", "normalize", "ignore", "normalize and ignore", "pass_result"]
VOLATILE = {"latency_ms", "call_id", "timestamp"}
# Shared by both runs of a scenario, so that identity can be compared.
OLD_VALUE, NEW_SAME, NEW_DIFFERENT = {"v": 1}, {"v": 1}, {"v": 2}
NEW_RETYPED = [("v", 1)]  # the same as OLD_VALUE once normalized
ERRORS = {"old": LookupError("old failed"), "new": KeyError("new failed")}


def _collector(sink: list[dict[str, Any]]) -> Callable[..., Any]:
    def collect(logger: Any, method: str, event: Any) -> Any:
        sink.append({k: v for k, v in event.items() if k not in VOLATILE} | {"level": method})
        raise structlog.DropEvent

    return collect


def _scenario(stage: Stage, write: bool, old: str, new: str, compare: str, level: int,
              call_events: str = "info", option: str = "none", calls: int = 1,
              shadow_ratio: int = 1) -> tuple[list[Any], Any, list[dict[str, Any]], Any]:
    """
    Make *calls* calls at *level*; what ran (and with which keywords), what the
    caller got, the warnings, the counts.
    """
    events: list[dict[str, Any]] = []
    structlog.configure(processors=[_collector(events)],
                        wrapper_class=structlog.make_filtering_bound_logger(level))
    configure(provider=StaticStageProvider(stage), call_events=call_events,
              max_warnings_per_second=None, summary_interval=3600)
    _summary.forget()
    ran: list[Any] = []
    values = {"old": OLD_VALUE, "new": {"same": NEW_SAME, "different": NEW_DIFFERENT,
                                        "retyped": NEW_RETYPED, "raises": None}[new]}

    def side(origin: str, outcome: str) -> Callable[..., Any]:
        def run(key: int, **keywords: Any) -> Any:
            ran.append((origin, keywords))
            if outcome == "raises":
                raise ERRORS[origin]
            return values[origin]

        return run

    def ignore(a: Any, b: Any) -> Any:
        # Accepts a retyped value, refuses a different one, or (with normalize) raises.
        if b is NEW_RETYPED:
            return True
        if option == "normalize and ignore":
            raise RuntimeError("ignore failed")
        return False

    def comparator(a: Any, b: Any) -> Any:
        if compare == "raises":
            raise RuntimeError("compare failed")
        if compare == "none":
            return None
        if compare == "lenient":  # agrees across types: counted as a type mismatch
            return True
        return a == b

    options: dict[str, Any] = {"new": side("new", new), "old": side("old", old),
                               "name": "quiet.check"}
    decorate = migration.write if write else migration
    if not write:
        options["compare"] = comparator
        options["shadow_ratio"] = shadow_ratio
        if "normalize" in option:
            options["normalize"] = dict
        if "ignore" in option:
            options["ignore"] = ignore
    elif option == "pass_result":
        options["pass_result"] = True
    call = decorate(**options)(lambda key: None)
    outcome = [_outcome(call, key) for key in range(calls)]
    warnings = [e for e in events if e["level"] == "warning"]
    counts = [_counted(totals.row) for totals in _summary.totals()
              if totals.migration == "quiet.check"]
    return ran, outcome, warnings, counts


def _outcome(call: Callable[[int], Any], key: int) -> tuple[str, Any]:
    """What the caller got: ("value", the value) or ("raised", the exception)."""
    try:
        return "value", call(key)
    except Exception as exc:
        return "raised", exc


def _counted(row: Any) -> dict[str, Any]:
    """A row's counts, latencies left out (they differ from run to run)."""
    return {name: getattr(row, name) for name in (
        "calls", "ok", "failed", "errors", "checks", "inconsistent", "compare_errors",
        "type_mismatches", "types", "ignored", "paths", "dropped", "skipped")}


@settings(max_examples=600, deadline=None)
@given(
    stage=st.sampled_from(list(Stage)),
    write=st.booleans(),
    old=st.sampled_from(["same", "raises"]),
    new=st.sampled_from(OUTCOMES),
    compare=st.sampled_from(["eq", "lenient", "raises", "none"]),
    option=st.sampled_from(OPTIONS),
)
def test_quiet_path_matches_the_full_runner(stage: Stage, write: bool, old: str, new: str,
                                            compare: str, option: str) -> None:
    """
    Same sides run (with the same keywords), same value or exception object,
    same warning events, at both levels; and with calls counted (a logger at
    info, call events at debug), the same counts as the full runner's.
    """
    loud = _scenario(stage, write, old, new, compare, logging.INFO, option=option)
    quiet = _scenario(stage, write, old, new, compare, logging.WARNING, option=option)
    counting = _scenario(stage, write, old, new, compare, logging.INFO, call_events="debug",
                         option=option)
    for other in (quiet, counting):
        assert other[0] == loud[0]
        assert [kind for kind, _ in other[1]] == [kind for kind, _ in loud[1]]
        # the very same value, or the very same exception object
        assert all(a is b for (_, a), (_, b) in zip(other[1], loud[1], strict=True))
        assert other[2] == loud[2]
    assert loud[3]
    assert counting[3] == loud[3]
    assert quiet[3] == []  # a logger that drops info events: nothing to summarise
    fresh()
    structlog.reset_defaults()


@pytest.mark.parametrize("option", ["none", "normalize", "ignore"])
def test_shadow_ratio_with_options_matches_the_full_runner(option: str) -> None:
    """One read in three shadowed, a difference ignore accepts or not: the quiet path
    skips the same shadows and counts the same as the full runner."""
    runs = [_scenario(Stage.SHADOW, False, "same", "retyped", "eq", level, events, option,
                      calls=7, shadow_ratio=3)
            for level, events in ((logging.INFO, "info"), (logging.INFO, "debug"))]
    assert runs[0][0] == runs[1][0]
    assert runs[0][2] == runs[1][2]
    assert runs[0][3] == runs[1][3]
    assert runs[0][3][0]["skipped"] == 4
    fresh()
    structlog.reset_defaults()
