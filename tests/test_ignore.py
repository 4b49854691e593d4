"""
``ignore=``: differences the user accepts (like GitHub Scientist's ``ignore``).

``ignore(old, new) -> bool`` is asked only when the comparison said the reads
differ, with the values the comparison saw (``normalize``'s when given).
``True`` accepts the difference: the op event says ``consistent: null`` and
``ignored: true``, at the level of a call that went well; the summary counts
it in ``ignored``, never in ``consistency_checks`` or ``inconsistent``; a
metrics collector exposes ``migratekit_ignored_total``. An ``ignore`` that
raises, or answers something other than a bool, is a comparison that raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import MigrationConfig, Migrator, Result, _summary, migration
from migratekit.providers import StaticStageProvider
from tests.helpers import logging_at, ops

SHADOW = StaticStageProvider("shadow")


@pytest.fixture
def summaries() -> Iterator[list[dict[str, Any]]]:
    """Summaries on, call events at debug, a logger at info: what production writes."""
    migratekit.reset()
    _summary.forget()
    yield logging_at(logging.INFO)
    migratekit.reset()


def read(name: str, new: Any, **options: Any) -> Any:
    @migration(new=new, provider=SHADOW, name=name, **options)
    def get(key: int) -> dict[str, Any]:
        return {"id": key, "updated_at": 1}

    return get


def only_timestamps(old: Any, new: Any) -> bool:
    return {**old, "updated_at": 0} == {**new, "updated_at": 0}


def test_an_accepted_difference_is_neither_consistent_nor_inconsistent() -> None:
    """consistent null, ignored true, at the call's own level (no warning); diff_paths absent."""
    get = read("ign.accept", lambda key: {"id": key, "updated_at": 2}, ignore=only_timestamps)
    with capture_logs() as logs:
        assert get(1) == {"id": 1, "updated_at": 1}
    (op,) = ops(logs)
    assert op["consistent"] is None
    assert op["ignored"] is True
    assert op["log_level"] == "info"
    assert "compare_error" not in op
    assert not [e for e in logs if e["log_level"] == "warning"]


def test_ignore_is_asked_only_when_the_reads_differ() -> None:
    """Agreeing reads never reach ignore; a difference it refuses stays inconsistent."""
    asked: list[tuple[Any, Any]] = []

    def ignore(old: Any, new: Any) -> bool:
        asked.append((old, new))
        return False

    agree = read("ign.agree", lambda key: {"id": key, "updated_at": 1}, ignore=ignore)
    agree(1)
    assert asked == []
    differ = read("ign.refuse", lambda key: {"id": key + 1, "updated_at": 1}, ignore=ignore)
    with capture_logs() as logs:
        differ(1)
    assert asked == [({"id": 1, "updated_at": 1}, {"id": 2, "updated_at": 1})]
    (op,) = ops(logs)
    assert (op["consistent"], op["diff_paths"], "ignored" in op) == (False, ["id"], False)


def test_ignore_sees_the_normalized_values() -> None:
    """With normalize, ignore is asked about what the comparison saw."""
    asked: list[tuple[Any, Any]] = []

    def ignore(old: Any, new: Any) -> bool:
        asked.append((old, new))
        return True

    get = read("ign.normalized", lambda key: {"id": key, "updated_at": 2},
               normalize=lambda value: sorted(value.items()), ignore=ignore)
    get(1)
    assert asked == [([("id", 1), ("updated_at", 1)], [("id", 1), ("updated_at", 2)])]


@pytest.mark.parametrize(("answer", "error"), [
    (RuntimeError("ignore failed"), "RuntimeError"),
    ("yes", "TypeError"),
    (None, "TypeError"),
])
def test_an_ignore_that_raises_or_answers_no_bool_is_a_compare_error(answer: Any,
                                                                     error: str) -> None:
    """Never the caller's problem: the call returns, the op event names the failure."""

    def ignore(old: Any, new: Any) -> Any:
        if isinstance(answer, BaseException):
            raise answer
        return answer

    get = read("ign.fails", lambda key: {"id": key, "updated_at": 2}, ignore=ignore)
    with capture_logs() as logs:
        assert get(1)["id"] == 1
    (op,) = ops(logs)
    assert (op["consistent"], op["compare_error"], "ignored" in op) == (None, error, False)


def test_an_ignore_that_returns_a_coroutine_is_closed_and_a_compare_error() -> None:
    """A lambda around an async function: nothing is left unawaited (warnings are errors)."""

    async def accept(old: Any, new: Any) -> bool:
        return True

    get = read("ign.coroutine", lambda key: {"id": key, "updated_at": 2},
               ignore=lambda old, new: accept(old, new))  # noqa: PLW0108 - sync, on purpose
    with capture_logs() as logs:
        get(1)
    (op,) = ops(logs)
    assert op["compare_error"] == "TypeError"


def test_ignored_reads_are_counted_apart_in_the_summary(
        summaries: list[dict[str, Any]]) -> None:
    """Three accepted, one refused, one agreeing: ignored 3, checks 2, inconsistent 1; the
    types of the accepted pairs are counted too."""
    values = iter([{"id": 1, "updated_at": 2}] * 3 + [{"id": 9, "updated_at": 1},
                                                       {"id": 1, "updated_at": 1}])
    get = read("ign.sum", lambda key: next(values), ignore=only_timestamps)
    for _ in range(5):
        get(1)
    migratekit.flush()
    (summary,) = [e for e in summaries if e["event"] == "migration.summary"]
    assert (summary["calls"], summary["ignored"], summary["consistency_checks"],
            summary["inconsistent"], summary["compare_errors"]) == (5, 3, 2, 1, 0)
    assert summary["diff_paths"] == {"id": 1}
    warnings = [e for e in summaries if e["level"] == "warning"]
    assert [e["event"] for e in warnings] == ["migration.op"]  # the refused one only


def test_ignore_in_async_code_and_on_the_migrator() -> None:
    """The async runner and Migrator(ignore=...) accept differences the same way."""

    async def new(key: int) -> dict[str, Any]:
        return {"id": key, "updated_at": 5}

    @migration(new=new, provider=SHADOW, name="ign.async", ignore=only_timestamps)
    async def aget(key: int) -> dict[str, Any]:
        return {"id": key, "updated_at": 1}

    migrator = Migrator(
        read=MigrationConfig(old=lambda key: Result.success({"id": key, "updated_at": 1}),
                             new=lambda key: Result.success({"id": key, "updated_at": 3})),
        provider=SHADOW, ignore=only_timestamps)
    with capture_logs() as logs:
        assert asyncio.run(aget(1)) == {"id": 1, "updated_at": 1}
        assert migrator.read("ign.migrator", payload=1).value == {"id": 1, "updated_at": 1}
    assert [(op["consistent"], op["ignored"]) for op in ops(logs)] == [(None, True)] * 2


def test_a_background_shadow_is_ignored_alike() -> None:
    """The comparison of a background shadow asks ignore too."""
    get = read("ign.background", lambda key: {"id": key, "updated_at": 7},
               ignore=only_timestamps, shadow="background")
    with capture_logs() as logs:
        get(1)
        migratekit.drain(10)
    (op,) = ops(logs)
    assert (op["consistent"], op["ignored"]) == (None, True)


def test_the_prometheus_collector_exposes_migratekit_ignored_total() -> None:
    """Each accepted difference adds one to migratekit_ignored_total of its stage."""
    prometheus_client = pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from migratekit.metrics import PrometheusCollector

    registry = prometheus_client.CollectorRegistry()
    collector = PrometheusCollector.register(registry)
    try:
        get = read("ign.metric", lambda key: {"id": key, "updated_at": 2},
                   ignore=only_timestamps)
        for _ in range(4):
            get(1)
        text = prometheus_client.generate_latest(registry).decode()
    finally:
        collector.close()
    found = {(sample.name, sample.labels.get("migration")): sample.value
             for family in text_string_to_metric_families(text) for sample in family.samples}
    assert found["migratekit_ignored_total", "ign.metric"] == 4
    assert found["migratekit_consistency_checks_total", "ign.metric"] == 0
    assert found["migratekit_inconsistent_total", "ign.metric"] == 0
