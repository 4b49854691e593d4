"""Tests of OpenFeatureStageProvider through the real OpenFeature SDK (in-memory and flagd)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from migratekit import ConfigurationError, Stage, migration
from migratekit._resolve import aresolve_stage, resolve_stage
from migratekit.providers import OpenFeatureStageProvider
from tests._redis import require

HAVE_SDK = True
try:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
except ImportError:  # pragma: no cover - the openfeature extra is not installed
    HAVE_SDK = False


@pytest.fixture(autouse=True)
def _sdk() -> Iterator[None]:
    """The SDK must be installed (CI installs it); its global providers are cleared after."""
    if not HAVE_SDK:
        require(
            "openfeature-sdk", "openfeature-sdk is missing: pip install 'migratekit[openfeature]'"
        )
    yield
    api.clear_providers()


def stage_errors(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "migration.stage_error"]


def by_user(flag: Any, context: Any) -> Any:
    """Targeting: user "vip" (or a context with plan=pro) gets "live", others the default."""
    if context.targeting_key == "vip" or context.attributes.get("plan") == "pro":
        return FlagResolutionDetails(value="live", variant="on", reason=Reason.TARGETING_MATCH)
    return FlagResolutionDetails(value=flag.variants[flag.default_variant], reason=Reason.DEFAULT)


def in_memory(flags: dict[str, Any]) -> OpenFeatureStageProvider:
    """A provider reading *flags* through an SDK client of its own domain."""
    domain = f"test-{uuid.uuid4().hex}"
    api.set_provider(InMemoryProvider(flags), domain)
    return OpenFeatureStageProvider(api.get_client(domain))


def decorated(name: str, provider: Any) -> Any:
    """A read migration whose context is its argument; returns which side was authoritative."""

    @migration(
        new=lambda ctx=None: "new", name=name, provider=provider, context=lambda ctx=None: ctx
    )
    def read(ctx: Any = None) -> str:
        return "old"

    return read


def test_string_flag_gives_the_stage() -> None:
    """A string flag named after the migration sets its stage, in any case."""
    provider = in_memory({"users.get": InMemoryFlag("a", {"a": "Shadow"})})
    assert resolve_stage(provider, "users.get", None) is Stage.SHADOW


def test_context_becomes_the_targeting_key() -> None:
    """A str context, a mapping's targeting_key/key/id, or str() target the evaluation."""

    class User:
        def __init__(self, name: str) -> None:
            self.name = name

        def __str__(self) -> str:
            return self.name

    flag = InMemoryFlag("off", {"off": "off", "on": "live"}, context_evaluator=by_user)
    provider = in_memory({"users.get": flag})
    read = decorated("users.get", provider)
    assert read("vip") == "new"
    assert read("someone") == "old"
    assert read({"targeting_key": "vip"}) == "new"
    assert read({"key": "vip"}) == "new"
    assert read({"id": "vip"}) == "new"
    assert read({"id": "x", "plan": "pro"}) == "new"  # other entries are attributes
    assert read(User("vip")) == "new"
    assert read(EvaluationContext("vip")) == "new"
    assert read(None) == "old"


def test_missing_or_disabled_flag_is_no_opinion() -> None:
    """A flag that does not exist or is disabled gives the default stage, and no event."""
    # The in-memory provider ignores its own DISABLED state, so the flag
    # answers as a disabled flag does per the spec: the default, reason DISABLED.
    disabled = InMemoryFlag(
        "a",
        {"a": "live"},
        context_evaluator=lambda flag, ctx: FlagResolutionDetails(
            value="", reason=Reason.DISABLED
        ),
    )
    provider = in_memory({"disabled": disabled})
    with capture_logs() as logs:
        assert resolve_stage(provider, "nowhere", None) is Stage.OFF
        assert resolve_stage(provider, "disabled", None) is Stage.OFF
    assert stage_errors(logs) == []


def test_bad_flags_never_reach_the_caller_and_make_one_event_each() -> None:
    """A value that is no stage and a flag of the wrong type: default stage, one event each."""
    provider = in_memory(
        {
            "garbage": InMemoryFlag("a", {"a": "banana"}),
            "boolean": InMemoryFlag("a", {"a": True}),
        }
    )
    garbage = decorated("garbage", provider)
    boolean = decorated("boolean", provider)
    with capture_logs() as logs:
        results = [f(f"user-{i}") for i in range(100) for f in (garbage, boolean)]
    assert set(results) == {"old"}
    errors = stage_errors(logs)
    assert sorted(e["value"] for e in errors) == ["TYPE_MISMATCH", "banana"]
    assert all(e["source"].startswith("openfeature:") for e in errors)


def test_raising_openfeature_provider_is_reported() -> None:
    """A provider that raises on resolve gives the default stage and one event."""

    class Broken(InMemoryProvider):
        def resolve_string_details(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("flag service unreachable")

    domain = f"broken-{uuid.uuid4().hex}"
    api.set_provider(Broken({}), domain)
    provider = OpenFeatureStageProvider(api.get_client(domain))
    with capture_logs() as logs:
        for _ in range(20):
            assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert error["value"] == "GENERAL"


def test_flag_key_template_and_callable() -> None:
    """flag_key maps migration names to flag keys, by template or callable."""
    domain = f"keys-{uuid.uuid4().hex}"
    api.set_provider(
        InMemoryProvider({"migration-users.get": InMemoryFlag("a", {"a": "live"})}), domain
    )
    client = api.get_client(domain)
    template = OpenFeatureStageProvider(client, flag_key="migration-{name}")
    function = OpenFeatureStageProvider(client, flag_key=lambda name: "migration-" + name)
    assert template.get_stage("users.get") is Stage.LIVE
    assert function.get_stage("users.get") is Stage.LIVE
    with pytest.raises(ConfigurationError, match=r"must contain '\{name\}'"):
        OpenFeatureStageProvider(client, flag_key="fixed")
    with pytest.raises(TypeError, match="must be an OpenFeature client"):
        OpenFeatureStageProvider("client")  # type: ignore[arg-type]


def test_default_client_uses_the_global_provider() -> None:
    """Without a client, the provider registered with api.set_provider() answers."""
    api.set_provider(InMemoryProvider({"m": InMemoryFlag("a", {"a": "complete"})}))
    assert OpenFeatureStageProvider().get_stage("m") is Stage.COMPLETE


@pytest.mark.asyncio
async def test_async_evaluation() -> None:
    """aget_stage goes through the SDK's async evaluation."""
    flag = InMemoryFlag("off", {"off": "off", "on": "live"}, context_evaluator=by_user)
    provider = in_memory({"m": flag})
    assert await aresolve_stage(provider, "m", "vip") is Stage.LIVE
    assert await aresolve_stage(provider, "m", "other") is Stage.OFF

    async def new(user: str) -> str:
        return "new"

    @migration(new=new, name="m", provider=provider, context=lambda u: u)
    async def read(user: str) -> str:
        return "old"

    assert await read("vip") == "new"
    assert await read("other") == "old"


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without openfeature-sdk the error names pip install 'migratekit[openfeature]'."""
    monkeypatch.setitem(sys.modules, "openfeature", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'migratekit\[openfeature\]'"):
        OpenFeatureStageProvider()


def test_flagd_in_process_file_mode(tmp_path: Path) -> None:
    """flagd's in-process file resolver drives the stage, with targeting on the context."""
    try:
        from openfeature.contrib.provider.flagd import FlagdProvider
        from openfeature.contrib.provider.flagd.config import ResolverType
    except ImportError:
        require("openfeature-provider-flagd", "pip install openfeature-provider-flagd")
    path = tmp_path / "flags.json"
    flags = {
        "flags": {
            "users.get": {
                "state": "ENABLED",
                "variants": {"off": "off", "shadow": "shadow", "live": "live"},
                "defaultVariant": "shadow",
                "targeting": {"if": [{"==": [{"var": "targetingKey"}, "vip"]}, "live", "shadow"]},
            },
            "orders.save": {
                "state": "ENABLED",
                "variants": {"bad": "banana"},
                "defaultVariant": "bad",
            },
        }
    }
    path.write_text(json.dumps(flags))
    domain = f"flagd-{uuid.uuid4().hex}"
    flagd = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path))
    api.set_provider_and_wait(flagd, domain)
    try:
        provider = OpenFeatureStageProvider(api.get_client(domain))
        read = decorated("users.get", provider)
        assert resolve_stage(provider, "users.get", "vip") is Stage.LIVE
        assert resolve_stage(provider, "users.get", "someone") is Stage.SHADOW
        assert read("vip") == "new"
        with capture_logs() as logs:
            assert resolve_stage(provider, "orders.save", "x") is Stage.OFF
            assert resolve_stage(provider, "unknown", "x") is Stage.OFF
        (error,) = stage_errors(logs)
        assert error["value"] == "banana"
    finally:
        flagd.shutdown()


# --- flag keys that are wrong, many names, repr, contexts without a class ------------------


def test_flag_key_of_the_wrong_kind_is_refused() -> None:
    """flag_key that is neither a template nor a callable is a TypeError at once."""
    with pytest.raises(TypeError, match="'flag_key' must be a str with '\\{name\\}' in it"):
        OpenFeatureStageProvider(flag_key=42)  # type: ignore[arg-type]


def test_flag_key_callable_returning_no_str_gives_the_default() -> None:
    """A flag_key callable that returns no str: a TypeError from key_for, the default per call."""
    provider = in_memory({})
    provider.flag_key = lambda name: 42  # type: ignore[assignment, return-value]
    with pytest.raises(TypeError, match=r"flag_key\('m'\) returned 42"):
        provider.key_for("m")
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    assert [e["exc_type"] for e in stage_errors(logs)] == ["ConfigurationTypeError"]


def test_many_migration_names_all_get_their_flag() -> None:
    """Past the bound of remembered flag keys, names still map to their own flags."""
    provider = in_memory({"m-5000": InMemoryFlag("a", {"a": "live"})})
    keys = [provider.key_for(f"m-{i}") for i in range(5001)]
    assert keys[4999] == "m-4999"
    assert provider.get_stage("m-5000") is Stage.LIVE
    assert len(provider._keys) <= 4096


def test_repr_shows_the_template_or_a_callable() -> None:
    """The repr shows the flag key template, or <callable> for a function."""
    assert repr(OpenFeatureStageProvider(flag_key="mig-{name}")) == (
        "OpenFeatureStageProvider(flag_key='mig-{name}')")
    assert repr(OpenFeatureStageProvider(flag_key=str.upper)) == (
        "OpenFeatureStageProvider(flag_key='<callable>')")


def test_evaluation_context_of_a_mapping() -> None:
    """evaluation_context: the targeting key from the context, plain entries as attributes."""
    from migratekit.providers._openfeature import evaluation_context

    made = evaluation_context({"id": "u-1", "plan": "pro", "targeting_key": "t", "obj": object()})
    assert isinstance(made, EvaluationContext)
    assert made.targeting_key == "t"
    assert made.attributes == {"id": "u-1", "plan": "pro"}


def test_unnamed_openfeature_provider_is_named_openfeature() -> None:
    """A client whose provider cannot say its name: the event source says 'OpenFeature'."""

    class Client:
        def get_string_details(self, key: str, default: str, context: Any) -> Any:
            return api.get_client(f"nothing-{uuid.uuid4().hex}").get_string_details(
                key, default, context)

    provider = OpenFeatureStageProvider(Client())  # type: ignore[arg-type]
    api.set_provider(InMemoryProvider({"m": InMemoryFlag("a", {"a": "banana"})}))
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert error["source"] == "openfeature:OpenFeature flag m"


# --- hostile answers, bounded memory ---------------------------------------------------------


class Hostile:
    """An object whose str() and repr() raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


class Details:
    """Flag evaluation details as any client might answer them."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class Answering:
    """An OpenFeature client that answers the same details for every flag."""

    def __init__(self, details: Any) -> None:
        self.details = details

    def get_string_details(self, key: str, default: str, context: Any) -> Any:
        return self.details


@pytest.mark.parametrize(
    "details",
    [
        Details(error_code="GENERAL", error_message="m" * 1_000_000, value=""),
        Details(error_code=Hostile(), error_message=Hostile(), value=""),
        Details(error_code=None, reason=Hostile(), value="v" * 1_000_000),
        Details(error_code=None, reason=None, value=["x"] * 100_000),
        Details(error_code=None, reason=None, value=b"\x1b[31mlive"),
        Details(),
        None,
    ],
)
def test_hostile_details_give_the_default_and_a_bounded_error(details: Any) -> None:
    """Whatever a client answers, the error raised and its event stay short."""
    from migratekit.exceptions import StageError

    provider = OpenFeatureStageProvider(Answering(details))  # type: ignore[arg-type]
    with pytest.raises(StageError) as info:
        provider.get_stage("m")
    assert len(str(info.value)) < 600
    assert len(str(info.value.value)) < 100
    assert len(str(info.value.source)) < 400
    with capture_logs() as logs:
        assert resolve_stage(provider, "m", None) is Stage.OFF
    (error,) = stage_errors(logs)
    assert len(error["error"]) <= 200


def test_recent_names_keep_their_flag_key() -> None:
    """Past the bound of remembered flag keys, the most recent names are the ones kept."""
    provider = in_memory({})
    provider.flag_key = lambda name: f"flag-{name}"
    for index in range(5000):
        provider.key_for(f"m-{index}")
    assert len(provider._keys) == 4096
    assert provider._keys.get("m-4999") == "flag-m-4999"
    assert provider._keys.get("m-0") is None
