"""
The pytest plugin (migratekit/pytest_plugin.py): each test runs pytest on a
small project of its own (pytester, in this process), with and without the
plugin's options, and checks its outcomes and its report.
"""

from __future__ import annotations

import importlib.metadata
import logging
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import migratekit
import migratekit.pytest_plugin
from migratekit import _strict, _summary
from migratekit._settings import settings
from migratekit.testing import force_stage

pytest_plugins = ["pytester"]


@migratekit.migration(new=lambda user_id: user_id, name="plugin.same")
def get_same(user_id: int) -> int:
    """A read whose sides agree."""
    return user_id


APP = '''
"""The project under test: users read from an old store and, in migration, a new one."""

import threading

import migratekit

new_calls = []
released = threading.Event()


def _new_get(user_id):
    new_calls.append(user_id)
    if user_id == 13:
        raise ConnectionError("store down")
    return {"id": user_id, "name": "Bob" if user_id == 7 else "Ada", "tags": ["a"]}


@migratekit.migration(new=_new_get, name="users.get")
def get_user(user_id):
    return {"id": user_id, "name": "Ada", "tags": ["a"]}


def _new_save(user):
    raise PermissionError(f"read-only replica refused user {user['id']}")


@migratekit.migration.write(new=_new_save, name="users.save")
def save_user(user):
    return True


def _raising_compare(old, new):
    raise ArithmeticError("cannot compare")


@migratekit.migration(new=lambda user_id: user_id, compare=_raising_compare, name="users.count")
def count_users(user_id):
    return user_id


def _slow_new(user_id):
    released.wait(10)
    return -user_id


@migratekit.migration(new=_slow_new, shadow="background", name="users.slow")
def slow_user(user_id):
    return user_id


async def _new_async(user_id):
    return user_id + 1


@migratekit.migration(new=_new_async, shadow="background", name="users.async")
async def async_user(user_id):
    return user_id
'''

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with migrations (the module mk_app) and pytest's settings for it."""
    pytester.makeini(INI)
    pytester.makepyfile(mk_app=APP)
    pytester.syspathinsert()
    return pytester


def write_tests(pytester: pytest.Pytester, source: str) -> None:
    """The project's test module."""
    pytester.makepyfile(test_users=textwrap.dedent(source))


def run(pytester: pytest.Pytester, *args: str, **kwargs: Any) -> pytest.RunResult:
    """pytest on the project, in this process; without Hypothesis's plugin, which would
    import Hypothesis anew for each run (pytester forgets the modules a run imported)."""
    return pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args,
                              **kwargs)


STRICT = ("--migratekit-strict", "--migratekit-stage", "shadow")


# -- installation and doing nothing ----------------------------------------------------------


def test_the_entry_point_names_the_plugin_module() -> None:
    """Installing migratekit registers migratekit.pytest_plugin under pytest11, as 'migratekit'."""
    found = [entry for entry in importlib.metadata.entry_points(group="pytest11")
             if entry.name == "migratekit"]
    assert [entry.value for entry in found] == ["migratekit.pytest_plugin"]


def test_pytest_loads_the_plugin_by_itself(project: pytest.Pytester) -> None:
    """A bare pytest run has the plugin, its options in --help, and no session hooks."""
    config = project.parseconfig()
    assert config.pluginmanager.get_plugin("migratekit") is migratekit.pytest_plugin
    assert config.pluginmanager.get_plugin("migratekit-session") is None
    result = run(project, "--help")
    result.stdout.fnmatch_lines(["*--migratekit-stage=STAGE*", "*--migratekit-strict*"])


def test_without_options_the_plugin_does_nothing(project: pytest.Pytester) -> None:
    """No option: nothing forced, nothing counted or recorded, an inconsistent test passes."""
    write_tests(project, """
        import pytest
        import structlog
        import mk_app
        from migratekit._settings import settings

        def test_untouched(request):
            assert settings.forced is None
            assert settings.readers == 0
            assert request.config.pluginmanager.get_plugin("migratekit-session") is None
            processors = structlog.get_config()["processors"]
            assert not any(type(p).__name__ == "_Recorder" for p in processors)
            assert mk_app.get_user(7)["name"] == "Ada"
            assert mk_app.new_calls == []

        @pytest.mark.migratekit_not_strict
        def test_marker_is_known():
            pass
    """)
    result = run(project, "--strict-markers", "-W", "error")
    result.assert_outcomes(passed=2)
    assert "migratekit-strict" not in result.stdout.str()


def test_a_stage_that_is_not_one_is_a_usage_error(project: pytest.Pytester) -> None:
    """--migratekit-stage beta stops pytest at once with the stages to choose from."""
    result = run(project, "--migratekit-stage", "beta")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*--migratekit-stage: expected one of off, dualwrite, shadow, live, rampdown, "
        "complete (got 'beta'); e.g. --migratekit-stage shadow*",
    ])


# -- --migratekit-stage ------------------------------------------------------------------------


def test_the_stage_option_runs_the_new_side(project: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """--migratekit-stage shadow runs the new side; LIVE returns it; the case does not matter."""
    write_tests(project, """
        import os
        import mk_app

        def test_reads():
            assert mk_app.get_user(1) == {"id": 1, "name": "Ada", "tags": ["a"]}
            assert mk_app.get_user(7)["name"] == os.environ["EXPECTED_NAME"]
            assert mk_app.new_calls == [1, 7]
    """)
    monkeypatch.setenv("EXPECTED_NAME", "Ada")
    run(project, "--migratekit-stage", "SHADOW").assert_outcomes(passed=1)
    monkeypatch.setenv("EXPECTED_NAME", "Bob")
    run(project, "--migratekit-stage", " live ").assert_outcomes(passed=1)
    run(project).assert_outcomes(failed=1)  # OFF: the new side never ran


def test_the_stage_survives_reset_and_configure(project: pytest.Pytester) -> None:
    """A test or a fixture that resets or configures migratekit does not undo the stage."""
    project.makeconftest("""
        import pytest
        import migratekit

        @pytest.fixture(autouse=True)
        def _fresh():
            migratekit.reset()
            yield
            migratekit.reset()
    """)
    write_tests(project, """
        import migratekit
        import mk_app
        from migratekit.providers import StaticStageProvider

        def test_resets_and_configures():
            migratekit.configure(provider=StaticStageProvider("off"), default_stage="off")
            mk_app.get_user(1)
            migratekit.reset()

        def test_after_a_reset():
            mk_app.get_user(2)

        def test_reset_inside_the_test_lasts_for_the_test():
            migratekit.reset()
            mk_app.get_user(3)

        def test_a_later_test():
            mk_app.get_user(4)
            assert mk_app.new_calls == [1, 2, 4]
    """)
    run(project, "--migratekit-stage", "shadow").assert_outcomes(passed=4)


def test_a_tests_own_forced_stage_wins(project: pytest.Pytester) -> None:
    """force_stage() in a test or a fixture wins over the option while it lasts."""
    write_tests(project, """
        import pytest
        import mk_app
        from migratekit.testing import force_stage

        @pytest.fixture
        def off():
            with force_stage("off"):
                yield

        def test_fixture(off):
            assert mk_app.get_user(7)["name"] == "Ada"
            with force_stage("shadow", name="users.get"):
                mk_app.get_user(8)
            assert mk_app.new_calls == [8]

        @force_stage("off")
        def test_decorated():
            mk_app.get_user(9)
            assert mk_app.new_calls == [8]

        def test_session_stage_again():
            assert mk_app.get_user(7)["name"] == "Bob"
    """)
    run(project, "--migratekit-stage", "complete").assert_outcomes(passed=3)


def test_the_session_leaves_nothing_behind(project: pytest.Pytester) -> None:
    """After the run, no stage is forced and the readers of the counts are as they were."""
    readers = settings.readers
    write_tests(project, """
        from migratekit._settings import settings

        def test_inside():
            assert settings.forced is not None
            assert settings.readers >= 1
    """)
    run(project, *STRICT).assert_outcomes(passed=1)
    assert settings.forced is None
    assert settings.readers == readers


# -- --migratekit-strict -----------------------------------------------------------------------


def test_strict_fails_the_test_whose_reads_disagree(project: pytest.Pytester) -> None:
    """Without strict both pass; with it the test whose reads disagree fails, and says where."""
    write_tests(project, """
        import mk_app

        def test_agrees():
            assert mk_app.get_user(1)["name"] == "Ada"

        def test_disagrees():
            assert mk_app.get_user(7)["name"] == "Ada"
    """)
    run(project, "--migratekit-stage", "shadow").assert_outcomes(passed=2)
    result = run(project, *STRICT)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_disagrees _*",
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: name",
        "(no caller sees these; mark the test @pytest.mark.migratekit_not_strict if they are "
        "what it checks)",
        "FAILED test_users.py::test_disagrees - Failed: --migratekit-strict: users.get*",
    ])
    assert "test_agrees" not in result.stdout.str().split("short test summary")[1]


def test_pytest_as_a_subprocess_passes_then_fails_under_strict(project: pytest.Pytester) -> None:
    """The installed plugin, through a real pytest process: as a team would run it."""
    write_tests(project, """
        import mk_app

        def test_agrees():
            assert mk_app.get_user(1)["name"] == "Ada"

        def test_disagrees():
            assert mk_app.get_user(7)["name"] == "Ada"
    """)
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    project.runpytest_subprocess("-p", "no:cacheprovider", "--migratekit-stage",
                                 "shadow").assert_outcomes(passed=2)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *STRICT)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: name",
        "FAILED test_users.py::test_disagrees*",
    ])


def test_strict_reports_a_failing_non_authoritative_side(project: pytest.Pytester) -> None:
    """A failed shadow read and a failed second write fail the test, with class and message."""
    write_tests(project, """
        import mk_app

        def test_read():
            assert mk_app.get_user(13) == {"id": 13, "name": "Ada", "tags": ["a"]}

        def test_write():
            assert mk_app.save_user({"id": 5}) is True
    """)
    result = run(project, "--migratekit-strict", "--migratekit-stage", "dualwrite")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.save (write, stage dualwrite): the new side (not "
        "authoritative) failed 1 time: PermissionError: read-only replica refused user 5",
    ])
    result = run(project, *STRICT)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.get (read, stage shadow): the new side (not "
        "authoritative) failed 1 time: ConnectionError: store down",
    ])


def test_strict_names_the_old_side_in_live(project: pytest.Pytester) -> None:
    """In LIVE the old side is the non-authoritative one, and is named so."""
    project.makepyfile(mk_live="""
        import migratekit

        def _old(user):
            raise TimeoutError("old store timed out")

        @migratekit.migration.write(old=_old, new=lambda user: True, name="users.live")
        def save(user):
            return True
    """)
    write_tests(project, """
        import mk_live

        def test_write():
            assert mk_live.save({"id": 1}) is True
    """)
    result = run(project, "--migratekit-strict", "--migratekit-stage", "live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.live (write, stage live): the old side (not "
        "authoritative) failed 1 time: TimeoutError: old store timed out",
    ])


def test_strict_reports_a_comparison_that_raises(project: pytest.Pytester) -> None:
    """A comparison that raises is no verdict: strict says so, with its class."""
    write_tests(project, """
        import mk_app

        def test_count():
            assert mk_app.count_users(3) == 3
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.count (read, stage shadow): the comparison failed 1 time "
        "(compare, normalize or ignore raised, or gave no True/False): ArithmeticError",
    ])


def test_strict_lists_every_migration_and_counts_repeats(project: pytest.Pytester) -> None:
    """Several migrations, several failures: one line each, repeats counted, paths merged."""
    write_tests(project, """
        import mk_app

        def test_many():
            for _ in range(3):
                mk_app.get_user(7)
            mk_app.get_user(13)
            mk_app.get_user(13)
            mk_app.count_users(1)
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.count (read, stage shadow): the comparison failed 1 time "
        "(compare, normalize or ignore raised, or gave no True/False): ArithmeticError",
        "--migratekit-strict: users.get (read, stage shadow): 3 inconsistent reads of 3 "
        "compared; diff paths: name (3 times); the new side (not authoritative) failed 2 "
        "times: ConnectionError: store down (2 times)",
    ])


def test_strict_does_not_judge_a_marked_test(project: pytest.Pytester) -> None:
    """@pytest.mark.migratekit_not_strict: the test checks the inconsistency on purpose."""
    write_tests(project, """
        import pytest
        import mk_app

        pytestmark = pytest.mark.migratekit_not_strict

        def test_on_purpose(migratekit_events):
            mk_app.get_user(7)
            assert migratekit_events[-1]["consistent"] is False
    """)
    run(project, *STRICT, "--strict-markers").assert_outcomes(passed=1)


def test_a_test_that_fails_keeps_its_own_failure(project: pytest.Pytester) -> None:
    """A test failing on its own fails with its assertion; strict's findings are a section."""
    write_tests(project, """
        import mk_app

        def test_fails():
            mk_app.get_user(7)
            assert 1 == 2, "the test's own reason"
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: the test's own reason*",
        "*- Captured migratekit strict call -*",
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read*",
        "FAILED test_users.py::test_fails - AssertionError: the test's own reason*",
    ])


def test_strict_sees_through_a_logger_that_drops_warnings(project: pytest.Pytester) -> None:
    """With no events at all (a logger at ERROR) the counts still fail the test, by class."""
    write_tests(project, """
        import logging
        import structlog
        import mk_app

        def test_quiet_logger():
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
            try:
                mk_app.get_user(13)
                mk_app.get_user(7)
            finally:
                structlog.reset_defaults()
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: name; the new side (not authoritative) failed 1 time: "
        "ConnectionError",
    ])


def test_strict_sees_through_capture_events_and_reset(project: pytest.Pytester) -> None:
    """capture_events() in the test, or reset() after the call, hides nothing from strict."""
    write_tests(project, """
        import migratekit
        import mk_app
        from migratekit.providers import StaticStageProvider
        from migratekit.testing import capture_events

        def test_captures():
            with capture_events() as events:
                mk_app.get_user(13)
            assert events[-1]["event"] == "migration.op"

        def test_resets():
            mk_app.get_user(13)
            migratekit.reset()  # forgets the counts, and the forced stage: a provider says it
            migratekit.configure(provider=StaticStageProvider("shadow"))
            mk_app.get_user(7)  # counted from nothing again
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_captures _*",
        "--migratekit-strict: *ConnectionError: store down",
        "*_ test_resets _*",
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: name; the new side (not authoritative) failed 1 time: "
        "ConnectionError: store down",
    ])


def test_strict_waits_for_background_shadows(project: pytest.Pytester) -> None:
    """A background shadow read that ends after the test returns is judged with the test."""
    write_tests(project, """
        import threading
        import mk_app

        def test_background():
            assert mk_app.slow_user(4) == 4
            threading.Timer(0.2, mk_app.released.set).start()
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: users.slow (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: none (the values differ where no path can tell)",
    ])


def test_strict_says_when_a_background_shadow_outlives_the_wait(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shadow still running when the wait ends is reported as not judged."""
    monkeypatch.setattr(migratekit.pytest_plugin, "DRAIN_TIMEOUT", 0.05)
    write_tests(project, """
        import threading
        import mk_app

        def test_background():
            assert mk_app.slow_user(4) == 4
            threading.Timer(0.5, mk_app.released.set).start()
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "--migratekit-strict: background shadow reads were still running 0.05 s after the "
        "test ended: they were not judged",
    ])
    assert migratekit.drain(10)


def test_strict_and_async_background_shadows(project: pytest.Pytester) -> None:
    """Async: awaited with adrain() they are judged; left pending they are named as unjudged."""
    write_tests(project, """
        import migratekit
        import mk_app

        async def test_drained():
            assert await mk_app.async_user(1) == 1
            await migratekit.adrain()

        async def test_left_pending():
            assert await mk_app.async_user(2) == 2
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_drained _*",
        "--migratekit-strict: users.async (read, stage shadow): 1 inconsistent read of 1 "
        "compared*",
        "*_ test_left_pending _*",
        "--migratekit-strict: 1 background shadow read still pending on an event loop when "
        "the test ended, not judged: await migratekit.adrain() before the test returns",
    ])


# -- the fixture -------------------------------------------------------------------------------


def test_the_fixture_records_events_and_output_is_unchanged(project: pytest.Pytester) -> None:
    """migratekit_events holds the test's events; the configured output gets them too."""
    project.makeconftest("""
        import pytest
        import structlog

        @pytest.fixture
        def output():
            lines = []
            structlog.configure(processors=[
                lambda _, level, event: lines.append((level, event["event"])) or "line",
            ], logger_factory=structlog.ReturnLoggerFactory())
            yield lines
            structlog.reset_defaults()
    """)
    write_tests(project, """
        import structlog
        import mk_app

        def test_events(output, migratekit_events):
            assert migratekit_events == []
            mk_app.get_user(7)
            structlog.get_logger("app").info("not ours")
            assert [e["event"] for e in migratekit_events] == [
                "migration.result", "migration.result", "migration.op"]
            op = migratekit_events[-1]
            assert (op["migration"], op["stage"]) == ("users.get", "shadow")
            assert op["consistent"] is False
            assert (op["diff_paths"], op["log_level"]) == (["name"], "warning")
            assert output == [("info", "migration.result"), ("info", "migration.result"),
                              ("warning", "migration.op"), ("info", "not ours")]

        def test_fresh_list_per_test(migratekit_events):
            assert migratekit_events == []
    """)
    run(project, "--migratekit-stage", "shadow").assert_outcomes(passed=2)
    run(project, *STRICT, "-k", "fresh").assert_outcomes(passed=1)


def test_the_fixture_without_options(project: pytest.Pytester) -> None:
    """The fixture works with no option given; it is taken out of the processors after."""
    write_tests(project, """
        import pytest
        import structlog
        import mk_app
        from migratekit.testing import force_stage

        @pytest.fixture
        def processors():
            before = list(structlog.get_config()["processors"])
            yield
            assert structlog.get_config()["processors"] == before

        def test_events(processors, migratekit_events):
            mk_app.get_user(1)
            with force_stage("live"):
                mk_app.get_user(7)
            assert [(e["stage"], e.get("origin")) for e in migratekit_events] == [
                ("off", "old"), ("off", None),
                ("live", "new"), ("live", "old"), ("live", None)]
    """)
    run(project).assert_outcomes(passed=1)


def test_the_plugin_module_exports_what_it_documents() -> None:
    """migratekit.pytest_plugin's __all__ is sorted and names what it defines."""
    names = migratekit.pytest_plugin.__all__
    assert names == sorted(names)
    assert all(hasattr(migratekit.pytest_plugin, name) for name in names)


def test_strict_alone_and_a_test_that_fails_on_its_own(project: pytest.Pytester) -> None:
    """--migratekit-strict without a stage forces nothing; a test failing on its own with
    nothing for strict to say has no strict section."""
    write_tests(project, """
        import mk_app
        from migratekit._settings import settings
        from migratekit.testing import force_stage

        def test_nothing_forced():
            assert settings.forced is None
            mk_app.get_user(7)
            assert mk_app.new_calls == []

        @force_stage("shadow")
        def test_forced_by_the_test():
            mk_app.get_user(7)

        def test_fails_alone():
            mk_app.get_user(1)
            assert False, "plain failure"
    """)
    result = run(project, "--migratekit-strict")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_forced_by_the_test _*",
        "--migratekit-strict: users.get (read, stage shadow): 1 inconsistent read*",
    ])
    assert "Captured migratekit strict" not in result.stdout.str()


def test_an_interrupted_test_leaves_no_recorder(project: pytest.Pytester) -> None:
    """Ctrl-C during a test: the run stops at once, and the recorder is taken out."""
    write_tests(project, """
        import mk_app

        def test_interrupted():
            mk_app.get_user(7)
            raise KeyboardInterrupt
    """)
    processors = list(structlog.get_config()["processors"])
    result = run(project, *STRICT, no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "--migratekit-strict:" not in result.stdout.str()
    assert structlog.get_config()["processors"] == processors


def test_strict_with_hostile_and_huge_values(project: pytest.Pytester) -> None:
    """Values that raise on ==, repr and hash, recursive ones, many differing fields: the
    message is built from names only, and lists a few paths."""
    project.makepyfile(mk_hostile="""
        import migratekit

        class Hostile:
            def __eq__(self, other):
                raise RuntimeError("no ==")
            def __repr__(self):
                raise RuntimeError("no repr")
            def __hash__(self):
                raise RuntimeError("no hash")
            def __getattr__(self, name):
                raise RuntimeError("no " + name)

        @migratekit.migration(new=lambda: Hostile(), name="hostile.get")
        def get_hostile():
            return Hostile()

        def _wide(flip):
            return {f"field{i:03}": i + flip for i in range(500)}

        @migratekit.migration(new=lambda: _wide(1), name="wide.get")
        def get_wide():
            return _wide(0)

        def _loop(tag):
            loop = [tag]
            loop.append(loop)
            return loop

        @migratekit.migration(new=lambda: _loop("new"), name="loop.get")
        def get_loop():
            return _loop("old")
    """)
    write_tests(project, """
        import mk_hostile

        def test_values():
            mk_hostile.get_hostile()
            mk_hostile.get_wide()
            mk_hostile.get_loop()
    """)
    result = run(project, *STRICT)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "--migratekit-strict: hostile.get (read, stage shadow): the comparison failed 1 time "
        "(compare, normalize or ignore raised, or gave no True/False): RuntimeError",
        "--migratekit-strict: loop.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: [[]0], [[]1][[]0], [[]1][[]1][[]0], [[]1][[]1][[]1][[]0], "
        "[[]1][[]1][[]1][[]1][[]0], and 5 more",
        "--migratekit-strict: wide.get (read, stage shadow): 1 inconsistent read of 1 "
        "compared; diff paths: *",
    ])
    assert "no repr" not in out


# -- the judgement, piece by piece -------------------------------------------------------------


@pytest.fixture
def counted() -> Iterator[None]:
    """Calls counted whatever the logger emits, as under --migratekit-strict."""
    _summary.add_reader()
    yield
    _summary.remove_reader()


def test_a_failed_result_without_an_exception(counted: None) -> None:
    """A Migrator side that returns Result.fail("...") is told by its words."""
    migrator = migratekit.Migrator(
        read=migratekit.MigrationConfig(
            old=migratekit.Result.success,
            new=lambda payload: migratekit.Result.fail(f"quota exceeded for {payload}"),
        ),
    )
    watch = _strict.Watch()
    with force_stage("shadow"):
        assert migrator.read("quota.get", payload=3).value == 3
    assert watch.finish(1.0) == [
        "quota.get (read, stage shadow): the new side (not authoritative) failed 1 time: "
        "quota exceeded for 3",
    ]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    watch = _strict.Watch()
    with force_stage("shadow"):  # no events: the counts alone tell
        migrator.read("quota.get", payload=4)
        migrator.read("quota.get", payload=5)
    assert watch.finish(1.0) == [
        "quota.get (read, stage shadow): the new side (not authoritative) failed 2 times: "
        "a failed Result without an exception (2 times)",
    ]


def test_a_watch_with_nothing_to_say(counted: None) -> None:
    """Calls that went well, events of other kinds, odd events: no finding."""
    watch = _strict.Watch()
    with force_stage("shadow"):
        get_same(1)
    log = structlog.get_logger("migratekit")
    log.info("migration.summary", migration="x", operation="read", stage="shadow")
    log.warning("migration.result", migration="x", operation="read", stage="shadow", ok=True,
                authoritative=False)
    log.warning("migration.result", migration=3, operation="read", stage="shadow", ok=False,
                authoritative=False)
    log.warning("migration.op", migration="x", operation="read", stage="shadow",
                consistent=True)
    assert watch.finish(1.0) == []


def test_events_alone_make_a_finding() -> None:
    """Uncounted, the events tell: a stage that is not one, paths of odd types, no message."""
    watch = _strict.Watch()
    log = structlog.get_logger("migratekit")
    log.warning("migration.result", migration="odd", operation="read", stage="beta",
                ok=False, authoritative=False, exc_type=None, error=None)
    log.warning("migration.op", migration="odd", operation="read", stage="beta",
                consistent=False, diff_paths=["a", 3, "a"])
    log.warning("migration.op", migration="odd", operation="read", stage="beta",
                consistent=False, diff_paths="a")
    log.info("migration.op", migration="odd", operation="read", stage="beta",
             consistent=None, compare_error="TypeError")
    assert watch.finish(1.0) == [
        "odd (read, stage beta): 2 inconsistent reads; diff paths: a (2 times); the "
        "non-authoritative side failed 1 time: a failed Result without an exception; the "
        "comparison failed 1 time (compare, normalize or ignore raised, or gave no "
        "True/False): TypeError",
    ]


def test_under_pytest_7_the_options_say_what_they_need(project: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """pluggy before 1.2 has no new-style wrappers: the plugin still loads (checked by hand
    with pytest 7.3 and pluggy 1.0), and its options are a usage error that says why."""
    monkeypatch.setattr(migratekit.pytest_plugin, "_WRAPPERS", False)
    write_tests(project, """
        def test_nothing(migratekit_events):
            assert migratekit_events == []
    """)
    run(project).assert_outcomes(passed=1)
    result = run(project, "--migratekit-strict")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--migratekit-strict need pytest 8 or newer*"])
