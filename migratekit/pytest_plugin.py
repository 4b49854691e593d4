"""
migratekit's pytest plugin, loaded by installing migratekit (entry point
``pytest11``, named ``migratekit``; ``-p no:migratekit`` turns it off).

- ``--migratekit-stage STAGE`` runs every migration in *STAGE* for the whole
  session, whatever its provider says (as :func:`migratekit.testing.force_stage`
  does). It is applied again before each test's set-up and before the test
  itself, so a test or fixture that calls ``migratekit.reset()`` does not
  undo it for the tests after, nor for the test itself when a fixture did it
  (a ``reset()`` in the test's own body ends it for the rest of that test:
  nothing runs between the two). A stage a test forces for every migration
  (``force_stage("live")``) wins over it while the test forces it, as does
  one forced for a single name.
- ``--migratekit-strict`` fails a test during which a migration read two
  sides that disagreed, had a comparison that failed (its ``compare``,
  ``normalize`` or ``ignore`` raised, or gave no ``True``/``False``), or
  failed on its non-authoritative side: what never reaches the caller, and
  so never fails a test by itself. The message
  names each migration, its operation and stage, the diff paths, and the
  exceptions (class, and message where an event carried it). A test marked
  ``@pytest.mark.migratekit_not_strict`` is not judged: one that checks how
  such a failure is reported, say.
- The fixture ``migratekit_events``: the migratekit events emitted during
  the test, as dicts (:func:`migratekit.testing.record_events`); the
  application's logging writes what it would have written anyway.

Without ``--migratekit-stage`` or ``--migratekit-strict`` the plugin forces
nothing, counts nothing and records nothing: it offers the fixture and the
marker, and that is all.

How ``--migratekit-strict`` judges
----------------------------------

What a test did is read from two sources, because neither sees everything
alone (migratekit._strict has the details):

- **The process's counts** (the ones ``migration.summary`` events and the
  metrics collectors read), before and after the test. The plugin is a
  reader of them for the session, so every call is counted whatever the
  logger emits. They are exact and cannot be hidden: not by a logger that
  drops ``debug`` or ``warning``, not by the warnings allowance
  (``max_warnings_per_second``), not by a test that reconfigures structlog
  or captures events itself. They hold diff paths and exception classes.
- **The events**, recorded as they enter the application's structlog
  processors, which go on unchanged (the user's structlog configuration is
  never replaced). They add the exceptions' messages, and keep what a
  ``migratekit.reset()`` inside the test makes the counts forget.

The test is judged when its function returns, after background shadow
reads running in threads are waited for (``migratekit.drain`` without the
flush of summaries it adds: the plugin emits nothing of its own); a failure
is that test's failure, named in pytest's report. Each judged test starts
with a full warnings allowance, so that its first failures are logged, with
their messages, even after a test that used the allowance up. Its set-up and tear-down are not
judged: fixtures commonly ``reset()`` migratekit and structlog there, which
would leave half the evidence. Background shadows of ``async`` tests run on
the test's event loop, which does not run once the test returns: those
still pending are reported as not judged, and ``await migratekit.adrain()``
in the test judges them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

import pytest

from migratekit import _strict, _summary
from migratekit._settings import own_stage, settings
from migratekit._types import Stage
from migratekit.testing import record_events

__all__ = ["DRAIN_TIMEOUT", "NOT_STRICT_MARKER", "migratekit_events"]

NOT_STRICT_MARKER = "migratekit_not_strict"
"""The marker of a test that ``--migratekit-strict`` does not judge."""

DRAIN_TIMEOUT = 10.0
"""Seconds ``--migratekit-strict`` waits for a test's background shadows before it judges."""

_STAGES = ", ".join(stage.value for stage in Stage)

try:
    pytest.hookimpl(wrapper=True)
    _WRAPPERS = True
except TypeError:  # pluggy before 1.2 (pytest 7): the plugin loads, its options say so
    _WRAPPERS = False

_F = TypeVar("_F", bound=Callable[..., Any])


def _hook_wrapper(function: _F) -> _F:
    """A new-style hook wrapper; under pytest 7 left as it is (and never registered)."""
    return pytest.hookimpl(wrapper=True)(function) if _WRAPPERS else function


def _stage_option(value: str) -> Stage:
    """The value of ``--migratekit-stage``: a stage's name, in any case."""
    stage = Stage.from_str(value.strip().lower())
    if stage is None:
        raise argparse.ArgumentTypeError(
            f"expected one of {_STAGES} (got {value!r}); e.g. --migratekit-stage shadow"
        )
    return stage


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--migratekit-stage`` and ``--migratekit-strict``."""
    group = parser.getgroup("migratekit", "migratekit: migrations in stages")
    group.addoption(
        "--migratekit-stage", metavar="STAGE", type=_stage_option, default=None,
        dest="migratekit_stage",
        help=f"run every migration in STAGE ({_STAGES}) for the whole session, whatever its "
             "provider says; a test's own force_stage() wins while it lasts",
    )
    group.addoption(
        "--migratekit-strict", action="store_true", default=False, dest="migratekit_strict",
        help="fail a test during which a migration's reads disagreed, its comparison failed, "
             f"or its non-authoritative side failed (not a test marked {NOT_STRICT_MARKER})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; with a migratekit option, the session's hooks."""
    config.addinivalue_line(
        "markers",
        f"{NOT_STRICT_MARKER}: --migratekit-strict does not judge this test (one that checks "
        "how an inconsistency or a failed shadow is reported)",
    )
    stage: Stage | None = config.getoption("migratekit_stage")
    strict: bool = config.getoption("migratekit_strict")
    if stage is None and not strict:
        return
    if not _WRAPPERS:
        raise pytest.UsageError(
            "--migratekit-stage and --migratekit-strict need pytest 8 or newer (pluggy 1.2 "
            f"or newer, for its hook wrappers); this is pytest {pytest.__version__}"
        )
    session = _Session(stage, strict)
    config.pluginmanager.register(session, _Session.NAME)
    config.add_cleanup(session.close)


@pytest.fixture
def migratekit_events() -> Iterator[list[dict[str, Any]]]:
    """
    The migratekit events emitted during the test: one dict per event, with
    its ``event`` name, its fields and its ``log_level``, in the order they
    were emitted (see :func:`migratekit.testing.record_events`). Logging goes
    on as configured. Call ``migratekit.drain()`` (``await
    migratekit.adrain()``) before looking for the events of background shadows.
    """
    with record_events() as events:
        yield events


class _Session:
    """The hooks of a session run with ``--migratekit-stage`` or ``--migratekit-strict``."""

    NAME = "migratekit-session"

    def __init__(self, stage: Stage | None, strict: bool) -> None:
        self.stage = None if stage is None else own_stage(stage)
        self.strict = strict
        self.readers = 0
        self.force()
        self.read()

    def force(self) -> None:
        """
        The session's stage for every migration, unless a stage is forced for
        every migration already: the session's own, or a test's, which wins.
        """
        if self.stage is None:
            return
        forced = settings.forced
        if forced is None or None not in forced:
            settings.forced = {**(forced or {}), None: self.stage}

    def read(self) -> None:
        """Keep calls counted (a reader of the counts), whatever a test did to the readers."""
        if self.strict and settings.readers < 1:
            _summary.add_reader()
            self.readers += 1

    def close(self) -> None:
        """The session is over: the stage is no longer forced, and calls counted as before."""
        forced = settings.forced
        if self.stage is not None and forced is not None and forced.get(None) is self.stage:
            rest: dict[str | None, Stage] = {name: stage for name, stage in forced.items()
                                             if name is not None}
            settings.forced = rest or None
        for _ in range(self.readers):
            _summary.remove_reader()
        self.readers = 0

    @_hook_wrapper
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        """Before the test's fixtures: the stage, and the counting."""
        self.force()
        self.read()
        return (yield)

    @_hook_wrapper
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        """Before the test: the stage again (a fixture may have reset it); with strict, judge."""
        self.force()
        self.read()
        if not self.strict or item.get_closest_marker(NOT_STRICT_MARKER) is not None:
            return (yield)
        watch = _strict.Watch()
        try:
            outcome = yield
        except KeyboardInterrupt:  # stop at once: no waiting for shadows
            watch.stop()
            raise
        except BaseException:
            # The test failed (or skipped) on its own: that stays its outcome;
            # what strict found is told beside it.
            problems = watch.finish(DRAIN_TIMEOUT)
            if problems:
                item.add_report_section("call", "migratekit strict", _message(problems))
            raise
        problems = watch.finish(DRAIN_TIMEOUT)
        if problems:
            pytest.fail(_message(problems), pytrace=False)
        return outcome


def _message(problems: list[str]) -> str:
    """One line per problem (pytest's short summary shows the first), and the way out."""
    lines = "".join(f"--migratekit-strict: {problem}\n" for problem in problems)
    return (f"{lines}(no caller sees these; mark the test @pytest.mark.{NOT_STRICT_MARKER} "
            "if they are what it checks)")
