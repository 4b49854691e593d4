"""
The timing engine: cases timed in interleaved rounds, in one process.

Each case is a statement (``obj.get(1)``) run in a compiled ``for`` loop, the
way :mod:`timeit` does it, and timed with :func:`time.perf_counter_ns`. The
cost of the empty loop is measured in the same rounds and taken off, so a row
says what one call costs. Every round visits the cases in a new random order,
and a case's figure is the minimum over the rounds: on a shared 2-core machine
the minimum is what the code costs and everything above it is other people's
noise. Ratios are computed between figures of the same run only.

The garbage collector stays enabled (unlike :mod:`timeit`): allocating code
pays for its collections in production too, and the peers allocate a lot.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Measurement", "Runner"]

_SYNC_TEMPLATE = """
def _bench(_n, _timer=_timer, _repeat=_repeat):
    _it = _repeat(None, _n)
    _t0 = _timer()
    for _ in _it:
        {stmt}
    return _timer() - _t0
"""

_ASYNC_TEMPLATE = """
async def _bench(_n, _timer=_timer, _repeat=_repeat):
    _it = _repeat(None, _n)
    _t0 = _timer()
    for _ in _it:
        {stmt}
    return _timer() - _t0
"""


@dataclass
class Case:
    """One row of the table: a statement, timed per call."""

    name: str
    group: str
    stmt: str
    namespace: dict[str, Any] = field(default_factory=dict)
    logging: str = "dropped"
    """The structlog set-up the case runs under: ``dropped``, ``json`` or ``noop``."""
    is_async: bool = False
    bare: str = "bare read"
    """The row this case's ``x bare`` column divides by."""
    wrapt: str | None = "wrapt pass-through read"
    """The row this case's ``x wrapt`` column divides by (``None``: no such column)."""
    before: Callable[[], None] | None = None
    """Called before each timed block (outside the timing): truncate a log file."""
    finish: Callable[[], None] | None = None
    """Called right after each timed block, calibration's too (outside the timing): undo
    what *before* set, such as ``configure(call_events="info")``."""
    after: Callable[[int], str | None] | None = None
    """Called after each timed block with the number of calls; a string is an error."""
    skip: str | None = None
    """Why the case cannot run here; the row is printed with this note."""
    note: str = ""

    def compile(self) -> Callable[[int], Any]:
        source = (_ASYNC_TEMPLATE if self.is_async else _SYNC_TEMPLATE).format(stmt=self.stmt)
        namespace = dict(self.namespace)
        namespace["_timer"] = time.perf_counter_ns
        namespace["_repeat"] = itertools.repeat
        exec(compile(source, f"<bench {self.name}>", "exec"), namespace)
        function: Callable[[int], Any] = namespace["_bench"]
        return function


@dataclass
class Measurement:
    """What the rounds found for one case, in nanoseconds per call."""

    case: Case
    number: int = 0
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else float("nan")


LoggingSwitch = Callable[[str], None]


class Runner:
    """Calibrates and times a list of cases in interleaved rounds."""

    def __init__(
        self,
        cases: list[Case],
        *,
        use_logging: LoggingSwitch,
        target_ns: int,
        rounds: int,
        seed: int = 20240,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.cases = cases
        self.use_logging = use_logging
        self.target_ns = target_ns
        self.rounds = rounds
        self.random = random.Random(seed)
        self.progress = progress or (lambda _message: None)
        self.loop = asyncio.new_event_loop()
        self._current_logging: str | None = None
        empty = Case("empty loop", "internal", "pass", logging="none")
        aempty = Case("empty async loop", "internal", "pass", logging="none", is_async=True)
        self._empty = {False: Measurement(empty), True: Measurement(aempty)}

    def close(self) -> None:
        self.loop.close()

    def _switch(self, mode: str) -> None:
        if mode not in ("none", self._current_logging):
            self.use_logging(mode)
            self._current_logging = mode

    def _time(self, case: Case, function: Callable[[int], Any], number: int) -> int:
        if case.before is not None:
            case.before()
        try:
            if case.is_async:
                elapsed: int = self.loop.run_until_complete(function(number))
            else:
                elapsed = function(number)
        finally:
            if case.finish is not None:
                case.finish()
        return elapsed

    def _calibrate(self, case: Case, function: Callable[[int], Any]) -> int:
        """A number of calls that takes about the target time (at least one)."""
        # One call first, untimed: a first call's one-off costs (a logger
        # assembled and cached, the summaries' flusher thread started) must
        # not make the number so small that every block is mostly them.
        self._time(case, function, 1)
        number = 1
        while True:
            elapsed = self._time(case, function, number)
            if elapsed >= self.target_ns // 8 or number >= 1 << 24:
                break
            number *= 4 if elapsed < self.target_ns // 64 else 2
        return max(1, int(number * self.target_ns / max(elapsed, 1)))

    def run(self) -> list[Measurement]:
        measurements = [Measurement(case) for case in self.cases]
        runnable: list[tuple[Measurement, Callable[[int], Any]]] = []
        for measurement in [*self._empty.values(), *measurements]:
            case = measurement.case
            if case.skip is not None:
                continue
            try:
                self._switch(case.logging)
                function = case.compile()
                measurement.number = self._calibrate(case, function)
            except Exception as exc:
                measurement.error = f"{type(exc).__name__}: {exc}"
                continue
            runnable.append((measurement, function))
        for round_number in range(self.rounds):
            self.progress(f"round {round_number + 1}/{self.rounds}")
            order = list(runnable)
            self.random.shuffle(order)
            for measurement, function in order:
                if measurement.error is not None:
                    continue
                case = measurement.case
                try:
                    self._switch(case.logging)
                    elapsed = self._time(case, function, measurement.number)
                    if case.after is not None:
                        problem = case.after(measurement.number)
                        if problem is not None:
                            measurement.error = problem
                            continue
                except Exception as exc:
                    measurement.error = f"{type(exc).__name__}: {exc}"
                    continue
                measurement.samples.append(elapsed / measurement.number)
        for measurement in measurements:
            if measurement.samples and measurement.error is None:
                empty = self._empty[measurement.case.is_async].best
                if not math.isnan(empty):
                    measurement.samples = [s - empty for s in measurement.samples]
        return measurements

    @property
    def empty_loop_ns(self) -> tuple[float, float]:
        """The per-iteration cost of the empty sync and async loops that was taken off."""
        return self._empty[False].best, self._empty[True].best
