"""
Stages read as string flags through OpenFeature, so that any flag service with
an OpenFeature provider (LaunchDarkly, flagd, Unleash, ...) can drive migrations.

Needs the ``openfeature-sdk`` package: ``pip install 'migratekit[openfeature]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from migratekit._resolve import parse_stage
from migratekit._text import SHOWN_LIMIT, shown_repr, shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError, StageError
from migratekit.providers._base import BoundedCache, Description, context_key

if TYPE_CHECKING:
    from openfeature.client import OpenFeatureClient
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagEvaluationDetails

__all__ = ["OpenFeatureStageProvider", "evaluation_context"]

INSTALL_HINT = "pip install 'migratekit[openfeature]'"

# The value asked for when the flag cannot be evaluated. The SDK hands it back
# with an error code, and since it is no stage it can never be taken for one.
_NO_VALUE = ""

# Flag keys kept per migration name: get_stage may be asked about any number of names.
_KEYS_LIMIT = 4096

# Types an evaluation context attribute may hold, per the OpenFeature spec.
_ATTRIBUTE_TYPES = (str, int, float, bool, list, dict, tuple)


def _import_openfeature() -> tuple[Any, Any]:
    try:
        # Imported on first use: openfeature-sdk is an optional dependency.
        from openfeature import api  # noqa: PLC0415
        from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "OpenFeatureStageProvider needs the 'openfeature-sdk' package, which is not "
            f"installed; run `{INSTALL_HINT}`"
        ) from None
    return api, EvaluationContext


class OpenFeatureStageProvider:
    """
    Reads each migration's stage from a string flag, through the OpenFeature SDK.

    The flag's value is a stage name (``"off"``, ``"shadow"``, ...). Its key
    is *flag_key* with ``{name}`` replaced by the migration's name (by
    default the name itself: migration ``users.get`` reads flag
    ``users.get``), or what *flag_key* returns when it is a callable.

    *client* is an ``OpenFeatureClient``; by default
    ``openfeature.api.get_client(domain)``, evaluated through whichever
    provider the application registered (``api.set_provider(...)``).

    The call's context becomes the evaluation context, so flag services can
    target users and tenants and roll out by percentage: ``None`` gives no
    evaluation context (the SDK's global and client contexts still apply);
    an ``EvaluationContext`` is used as it is; anything else gives an
    evaluation context whose targeting key is
    :func:`~migratekit.providers.context_key` of it, with a mapping's other
    entries as attributes.

    A flag that does not exist or is disabled means "no opinion": the
    default stage, or the next provider of a
    :class:`~migratekit.providers.FallbackStageProvider`. Any other failure
    (provider not ready, a flag that is not a string, a value that is not a
    stage, an SDK that raises) gives the default stage and one
    ``migration.stage_error`` event per distinct failure.

    Each call evaluates the flag, which runs the SDK's hooks and the
    provider's resolution; wrap this provider in a
    :class:`~migratekit.providers.CachedStageProvider` when that costs more
    than a migration call can spare. ``aget_stage`` uses the SDK's async
    evaluation.
    """

    __slots__ = ("_context_class", "_keys", "client", "flag_key")

    def __init__(
        self,
        client: OpenFeatureClient | None = None,
        /,
        *,
        flag_key: str | Callable[[str], str] = "{name}",
        domain: str | None = None,
    ) -> None:
        api, self._context_class = _import_openfeature()
        if isinstance(flag_key, str):
            if "{name}" not in flag_key:
                raise ConfigurationError(
                    "OpenFeatureStageProvider: 'flag_key' must contain '{name}', replaced by "
                    f"the migration's name (got {flag_key!r}); e.g. flag_key='migration-{{name}}'"
                )
        elif not callable(flag_key):
            raise ConfigurationTypeError(
                "OpenFeatureStageProvider: 'flag_key' must be a str with '{name}' in it or a "
                f"callable taking the migration's name (got {flag_key!r} that is a "
                f"{type(flag_key).__name__})"
            )
        if client is None:
            client = api.get_client(domain)
        elif not callable(getattr(client, "get_string_details", None)):
            raise ConfigurationTypeError(
                "OpenFeatureStageProvider: 'client' must be an OpenFeature client (got "
                f"{client!r} that is a {type(client).__name__}); e.g. "
                "openfeature.api.get_client(), or leave it out"
            )
        self.client = client
        self.flag_key = flag_key
        self._keys: BoundedCache[str, str] = BoundedCache(_KEYS_LIMIT)

    def key_for(self, name: str) -> str:
        """The flag key that holds migration *name*'s stage."""
        key = self._keys.get(name)
        if key is None:
            flag_key = self.flag_key
            key = flag_key.replace("{name}", name) if isinstance(flag_key, str) else flag_key(name)
            if not isinstance(key, str):
                raise ConfigurationTypeError(
                    f"OpenFeatureStageProvider: flag_key({shown_repr(name)}) returned "
                    f"{shown_repr(key)}, which is not a str; it must return the flag key "
                    "of the migration"
                )
            self._keys[name] = key
        return key

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage the flag of *name* evaluates to for *context*."""
        key = self.key_for(name)
        details = self.client.get_string_details(key, _NO_VALUE, self._evaluation_context(context))
        return self._stage(key, details)

    async def aget_stage(self, name: str, context: Any = None) -> Stage | None:
        """:meth:`get_stage` through the SDK's async evaluation."""
        key = self.key_for(name)
        details = await self.client.get_string_details_async(
            key, _NO_VALUE, self._evaluation_context(context)
        )
        return self._stage(key, details)

    def describe(self, name: str, context: Any = None) -> Description:
        """The stage the flag of *name* evaluates to for *context*, and the flag."""
        stage = self.get_stage(name, context)
        return Description(stage, self, f"flag {shown_repr(self.key_for(name), 255)}")

    def _evaluation_context(self, context: Any) -> EvaluationContext | None:
        if context is None:
            return None
        context_class = self._context_class
        if isinstance(context, context_class):
            return context  # type: ignore[no-any-return]
        return evaluation_context(context, context_class)

    def _stage(self, key: str, details: FlagEvaluationDetails[str]) -> Stage | None:
        # Everything in *details* comes from the flag service and its SDK
        # provider: any type, any size. Only bounded forms of it are shown,
        # and kept in the errors raised (which a cache may keep).
        code = getattr(details, "error_code", None)
        if code is not None:
            code_name = _text(getattr(code, "value", code), SHOWN_LIMIT)
            if code_name == "FLAG_NOT_FOUND":
                return None
            message = _text(getattr(details, "error_message", None) or "no message", 200)
            raise StageError(
                f"OpenFeature could not evaluate flag {shown_repr(key)} ({code_name}: "
                f"{message}); expected a string flag whose value is a stage name",
                source=self._source(key),
                value=code_name,
            )
        reason = getattr(details, "reason", None)
        if _text(getattr(reason, "value", reason), SHOWN_LIMIT) == "DISABLED":
            return None
        value = getattr(details, "value", None)
        stage = parse_stage(value) if isinstance(value, str) else None
        if stage is None:
            raise StageError(
                f"OpenFeature flag {shown_repr(key)} is {shown_repr(value)}, which is not a "
                f"stage; expected one of {', '.join(s.value for s in Stage)} (any case)",
                source=self._source(key),
                value=shown_value(value),
            )
        return stage

    def _source(self, key: str) -> str:
        try:
            provider = _text(self.client.provider.get_metadata().name, SHOWN_LIMIT)
        except Exception:
            provider = "OpenFeature"
        return f"openfeature:{provider} flag {_text(key, 255)}"

    def __repr__(self) -> str:
        flag_key = self.flag_key if isinstance(self.flag_key, str) else "<callable>"
        return f"OpenFeatureStageProvider(flag_key={flag_key!r})"


def _text(value: object, limit: int) -> str:
    """*value* from a flag service as a bounded, printable str."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            return f"<{type(value).__name__} whose str() raised>"
    shown = shown_value(value, limit)
    return shown if isinstance(shown, str) else f"<{type(value).__name__}>"


def evaluation_context(context: Any, context_class: Any = None) -> EvaluationContext:
    """
    The OpenFeature evaluation context for a migration call's *context*.

    Its targeting key is :func:`~migratekit.providers.context_key` of
    *context*; a mapping's other entries whose keys are strings and whose
    values OpenFeature accepts become attributes.
    """
    if context_class is None:
        context_class = _import_openfeature()[1]
    key = context_key(context)
    attributes: dict[str, Any] = {}
    if isinstance(context, Mapping):
        attributes = {
            field: value
            for field, value in context.items()
            if isinstance(field, str)
            and field not in ("targeting_key", "targetingKey")
            and isinstance(value, _ATTRIBUTE_TYPES)
        }
    return context_class(targeting_key=key, attributes=attributes)  # type: ignore[no-any-return]
