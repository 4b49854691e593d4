"""shadow_timeout: a non-authoritative read that does not answer in time is an error result."""

from __future__ import annotations

import asyncio
import threading

import pytest
from structlog.testing import capture_logs

import migratekit
from migratekit import ConfigurationError, configure, migration
from migratekit.providers import StaticStageProvider


@pytest.mark.parametrize("order", ["serial", "parallel", "random"])
def test_hung_shadow_times_out_and_the_caller_gets_its_value(order: str) -> None:
    """The caller gets old's value; the new side's result is a ShadowTimeoutError, not compared."""
    configure(provider=StaticStageProvider("shadow"))
    release = threading.Event()

    def new(x: int) -> int:
        release.wait(10)
        return x

    @migration(new=new, shadow_timeout=0.05, execution_order=order)
    def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        try:
            assert read(1) == 1
        finally:
            release.set()
    new_result = next(e for e in logs if e.get("origin") == "new")
    assert new_result["ok"] is False
    assert new_result["exc_type"] == "ShadowTimeoutError"
    assert "within 0.05 s" in new_result["error"]
    op = next(e for e in logs if e["event"] == "migration.op")
    assert op["consistent"] is None
    assert migratekit.drain(10)


def test_timely_shadow_is_compared() -> None:
    """A shadow that answers within the timeout is compared as usual."""
    configure(provider=StaticStageProvider("live"))

    @migration(new=lambda x: x, shadow_timeout=5)
    def read(x: int) -> int:
        return x + 1

    with capture_logs() as logs:
        assert read(1) == 1  # new is authoritative in LIVE
    op = next(e for e in logs if e["event"] == "migration.op")
    assert op["consistent"] is False


async def test_async_hung_shadow_is_cancelled_at_the_timeout() -> None:
    """Async: the hung shadow task is cancelled and recorded as timed out."""
    configure(provider=StaticStageProvider("shadow"))
    cancelled = asyncio.Event()

    async def new(x: int) -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    @migration(new=new, shadow_timeout=0.02)
    async def read(x: int) -> int:
        return x

    with capture_logs() as logs:
        assert await read(3) == 3
    assert cancelled.is_set()
    assert next(e for e in logs if e.get("origin") == "new")["exc_type"] == "ShadowTimeoutError"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_shadow_timeout_must_be_positive(bad: float) -> None:
    """A timeout that is not a positive finite number fails at decoration time."""
    with pytest.raises(ConfigurationError, match="shadow_timeout"):
        migration(new=lambda: 1, shadow_timeout=bad)(lambda: 1)


def test_shadow_timeout_of_the_wrong_type() -> None:
    """A timeout given as a string is a TypeError naming the option."""
    with pytest.raises(TypeError, match=r"'shadow_timeout' must be a number .*got '1'"):
        migration(new=lambda: 1, shadow_timeout="1")(lambda: 1)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "options",
    [{"shadow_timeout": 1.0}, {"shadow": "background"}, {"execution_order": "parallel"},
     {"execution_order": "random"}],
)
def test_writes_are_never_timed_out_backgrounded_or_reordered(options: dict[str, object]) -> None:
    """Write options that could cut a write in half fail at decoration time."""
    with pytest.raises(ConfigurationError, match="write"):
        migration.write(new=lambda: 1, **options)(lambda: 1)  # type: ignore[call-overload]


def test_unknown_shadow_mode() -> None:
    """shadow= accepts 'inline' or 'background' only."""
    with pytest.raises(ConfigurationError, match="'inline' or 'background'"):
        migration(new=lambda: 1, shadow="later")(lambda: 1)  # type: ignore[call-overload]
