"""migratekit/_compat.py: each reliance on another project's internals, checked against it."""

from __future__ import annotations

import logging
import os

import numpy
import pytest
import structlog
import wrapt

from migratekit import _compat, _events, migration
from migratekit.providers import StaticStageProvider


def test_structlog_finalizes_a_lazy_logger_by_an_instance_attribute() -> None:
    """With cache_logger_on_first_use, the first use of the lazy proxy leaves `bind` on it,
    answering the same logger each time; unfinalize_logger() takes it away again."""
    proxy = structlog.get_logger("compat-test")
    assert not _compat.logger_is_finalized(proxy)
    structlog.configure(cache_logger_on_first_use=True)
    proxy.info("first use")
    assert _compat.logger_is_finalized(proxy)
    assert proxy.bind() is proxy.bind()
    _compat.unfinalize_logger(proxy)
    assert not _compat.logger_is_finalized(proxy)


def test_the_finalized_bind_is_in_the_proxys_own_attributes() -> None:
    """proxy_attributes() is the dictionary structlog puts the finalized bind in: the
    `bind` read there is the one the proxy answers, and it is gone once unfinalized."""
    proxy = structlog.get_logger("compat-test-attributes")
    attributes = _compat.proxy_attributes(proxy)
    assert attributes.get("bind") is None
    structlog.configure(cache_logger_on_first_use=True)
    proxy.info("first use")
    assert attributes.get("bind") is proxy.bind
    _compat.unfinalize_logger(proxy)
    assert attributes.get("bind") is None


def test_the_environment_keeps_its_variables_encoded_in_one_dict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """environ_store(os.environ) is the dict os.environ reads and writes, keys and
    values encoded; any other mapping has none."""
    found = _compat.environ_store(os.environ)
    assert found is not None
    store, encode = found
    monkeypatch.setenv("MIGRATEKIT_COMPAT_PROBE", "shadow")
    assert store[encode("MIGRATEKIT_COMPAT_PROBE")] == os.environ.encodevalue("shadow")
    monkeypatch.delenv("MIGRATEKIT_COMPAT_PROBE")
    assert encode("MIGRATEKIT_COMPAT_PROBE") not in store
    assert _compat.environ_store({"MIGRATEKIT_STAGE": "off"}) is None


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
def test_structlog_hands_out_one_filtering_class_per_level(level: int) -> None:
    """make_filtering_bound_logger(level) is the same class each time, so its class tells
    the level; migratekit's table of them says what it emits."""
    cls = structlog.make_filtering_bound_logger(level)
    assert structlog.make_filtering_bound_logger(level) is cls
    assert _compat.FILTERING_LEVELS[cls] == (
        level <= logging.DEBUG, level <= logging.INFO, level <= logging.WARNING)
    structlog.configure(wrapper_class=cls)
    assert _events.state()[1:] == _compat.FILTERING_LEVELS[cls]


def test_wrapt_binds_a_subclass_with_the_class_it_names() -> None:
    """A method decorated with @migration, reached through an instance, is bound by wrapt
    as the __bound_function_wrapper__ the proxy names."""

    class Repo:
        @migration(new=lambda self: 2, provider=StaticStageProvider("off"))
        def get(self) -> int:
            return 1

    assert type(Repo().get) is _compat.BOUND_FUNCTION_WRAPPER
    assert issubclass(_compat.BOUND_FUNCTION_WRAPPER, wrapt.BoundFunctionWrapper)
    assert Repo().get() == 1


def test_numpy_bool_is_told_by_its_class_name() -> None:
    """numpy's comparison answer is recognised without migratekit importing numpy."""
    assert _compat.is_numpy_bool(numpy.int64(1) == numpy.int64(1))
    assert not _compat.is_numpy_bool(True)
    assert not _compat.is_numpy_bool(numpy.array([True]))


def test_a_numpy_comparison_counts_as_a_verdict() -> None:
    """compare returning numpy.bool_: consistent or not, as its truth says."""
    answers = iter([numpy.bool_(True), numpy.bool_(False)])

    # numpy.bool_ is no bool for a type checker; what compare may return at run time is wider.
    @migration(new=lambda: 1, compare=lambda a, b: next(answers),  # type: ignore[arg-type, return-value]
               provider=StaticStageProvider("shadow"), name="compat.numpy")
    def read() -> int:
        return 1

    from structlog.testing import capture_logs

    with capture_logs() as logs:
        read()
        read()
    assert [e["consistent"] for e in logs if e["event"] == "migration.op"] == [True, False]
