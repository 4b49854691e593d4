"""
``migratekit stage``: which stage a migration is in and who says so; set stages in Redis.

::

    migratekit stage NAME [--env] [--file PATH] [--redis URL] [--context KEY]
    migratekit stage set NAME STAGE --redis URL
    migratekit stage get NAME --redis URL
    migratekit stage list --redis URL

``stage NAME`` asks the providers named by ``--env``, ``--file`` and
``--redis``, in the order given, as a fallback chain (environment variables
alone when none is given), and prints the stage with the provider and the
variable, file key or Redis key that set it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from migratekit._config import settings
from migratekit._text import shown_value
from migratekit.exceptions import ConfigurationError
from migratekit.providers._base import require_stage

_ACTIONS = ("show", "set", "get", "list")

OK = 0
PROBLEM = 1
FAILED = 2


def add_parser(subparsers: Any) -> None:
    """Add the ``stage`` subcommand."""
    parser = subparsers.add_parser(
        "stage",
        help="show which stage a migration is in, and who says so; set stages in Redis",
        description=(
            "Show the stage a migration resolves to right now and which provider set it "
            "(`migratekit stage users.get`), or read and change the stages kept in Redis "
            "(`migratekit stage set users.get shadow --redis URL`, `get`, `list`)."
        ),
        usage=(
            "migratekit stage [show] NAME [--env] [--file PATH] [--redis URL] "
            "[--context KEY] [--format {text,json}]\n"
            "       migratekit stage set NAME STAGE --redis URL\n"
            "       migratekit stage get NAME --redis URL\n"
            "       migratekit stage list --redis URL"
        ),
    )
    parser.add_argument("words", nargs="+", metavar="ARGS", help=argparse.SUPPRESS)
    sources = parser.add_argument_group(
        "where stages come from (asked in the order given; --env when none is given)"
    )
    sources.add_argument(
        "--env",
        dest="sources",
        action="append_const",
        const=("env", None),
        help="environment variables MIGRATEKIT_STAGE_<NAME> and MIGRATEKIT_STAGE",
    )
    sources.add_argument(
        "--file",
        dest="sources",
        action="append",
        type=lambda path: ("file", path),
        metavar="PATH",
        help="a JSON or TOML file mapping migration names (and '*') to stages",
    )
    sources.add_argument(
        "--redis",
        dest="sources",
        action="append",
        type=lambda url: ("redis", url),
        metavar="URL",
        help="Redis, e.g. redis://localhost:6379/0 (needs pip install 'migratekit[redis]')",
    )
    parser.add_argument(
        "--redis-prefix",
        default="migratekit:stage:",
        metavar="PREFIX",
        help="prefix of the Redis keys (default: %(default)s)",
    )
    parser.add_argument(
        "--context",
        metavar="KEY",
        help="the call's context (a user or tenant key), for providers that target by it",
    )
    parser.add_argument(
        "--default-stage",
        metavar="STAGE",
        help="the stage used when no provider sets one (default: off)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``migratekit stage``; returns the exit status."""
    words: list[str] = list(args.words)
    action = (
        words.pop(0) if (words[0] in _ACTIONS and len(words) > 1) or words == ["list"] else "show"
    )
    expected = {"show": 1, "set": 2, "get": 1, "list": 0}[action]
    if len(words) != expected:
        return _usage(
            f"'stage {action}' takes {expected} argument{'s' if expected != 1 else ''} "
            f"(got {len(words)}: {' '.join(_word(word) for word in words) or 'none'})"
        )
    try:
        if args.default_stage is not None:
            settings.default_stage = require_stage("--default-stage", args.default_stage)
        if action == "show":
            return _show(args, words[0])
        provider = _redis_only(args, action)
        if action == "set":
            return _set(args, provider, words[0], words[1])
        if action == "get":
            return _get(args, provider, words[0])
        return _list(args, provider)
    except ConfigurationError as exc:
        return _usage(str(exc))


def _word(word: str) -> str:
    # A URL typed where a name was expected (a --redis forgotten) may hold a
    # password: it is not repeated.
    if "://" in word:
        return "<a URL, not shown>"
    return str(shown_value(word, _SHOWN))


def _usage(message: str) -> int:
    print(f"migratekit stage: {_printable(message)}", file=sys.stderr)
    return FAILED


# What Redis holds is printed as read: it may be megabytes, or carry terminal
# escape sequences. Text output shows a bounded, escaped form of each name and
# value; JSON output escapes by itself, and cuts only what is too long to be a
# stage or a migration name anyway.
_SHOWN = 100
_JSON_LIMIT = 1024


def _shown(text: str) -> str:
    return str(shown_value(text, _SHOWN))


def _json_value(text: str | None) -> str | None:
    if text is None or len(text) <= _JSON_LIMIT:
        return text
    return str(shown_value(text, _JSON_LIMIT))


def _printable(message: str) -> str:
    # Messages are ours, but may quote what a provider or a server said.
    return message if message.isprintable() else repr(message)[1:-1]


def _build(kind: str, where: str, args: argparse.Namespace) -> Any:
    if kind == "env":
        from migratekit.providers import EnvStageProvider  # noqa: PLC0415

        return EnvStageProvider()
    if kind == "file":
        from migratekit.providers import FileStageProvider  # noqa: PLC0415

        return FileStageProvider(where)
    # Imported here: the redis extra may not be installed, and only --redis needs it.
    from migratekit.providers import RedisStageProvider  # noqa: PLC0415

    return RedisStageProvider(where, prefix=args.redis_prefix)


def _show(args: argparse.Namespace, name: str) -> int:
    from migratekit.providers import FallbackStageProvider  # noqa: PLC0415
    from migratekit.providers._explain import explain_stage  # noqa: PLC0415

    sources = args.sources or [("env", None)]
    providers = [_build(kind, where, args) for kind, where in sources]
    provider = providers[0] if len(providers) == 1 else FallbackStageProvider(*providers)
    explanation = explain_stage(provider, name, args.context)
    if args.format == "json":
        print(json.dumps(explanation.as_dict()))
    else:
        if explanation.is_default:
            said = "default stage: no provider set one"
        else:
            said = f"from {explanation.source}, {explanation.provider}"
        shown_context = "" if args.context is None else f" for context {args.context!r}"
        print(f"{name}{shown_context}: {explanation.stage.value}  ({said})")
        for problem in explanation.problems:
            print(f"migratekit stage: warning: {_printable(problem)}", file=sys.stderr)
    return PROBLEM if explanation.problems else OK


def _redis_only(args: argparse.Namespace, action: str) -> Any:
    sources = args.sources or []
    urls = [where for kind, where in sources if kind == "redis"]
    if len(urls) != 1 or len(sources) != 1:
        example = {"set": "NAME STAGE ", "get": "NAME ", "list": ""}[action]
        raise ConfigurationError(
            f"'stage {action}' works on Redis and needs exactly one --redis URL (got "
            f"{' '.join('--' + kind for kind, _ in sources) or 'none'}); e.g. "
            f"migratekit stage {action} {example}--redis redis://localhost:6379/0"
        )
    return _build("redis", urls[0], args)


def _redis_failed(provider: Any, exc: Exception) -> int:
    try:
        text = str(exc)
    except Exception:
        text = ""
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    print(
        f"migratekit stage: cannot reach Redis at {provider.where}: {shown_value(first, 200)}",
        file=sys.stderr,
    )
    return FAILED


def _set(args: argparse.Namespace, provider: Any, name: str, value: str) -> int:
    stage = require_stage("STAGE", value)
    try:
        previous = provider.raw_stage(name)
        provider.set_stage(name, stage)
    except Exception as exc:
        return _redis_failed(provider, exc)
    if args.format == "json":
        print(
            json.dumps(
                {"migration": name, "stage": stage.value, "previous": _json_value(previous)}
            )
        )
    else:
        was = "unset" if previous is None else _shown(previous)
        print(f"{name}: {stage.value}  (was {was}; {provider.where} {provider.key_for(name)})")
    return OK


def _get(args: argparse.Namespace, provider: Any, name: str) -> int:
    try:
        raw = provider.raw_stage(name)
    except Exception as exc:
        return _redis_failed(provider, exc)
    if args.format == "json":
        print(
            json.dumps(
                {"migration": name, "key": provider.key_for(name), "value": _json_value(raw)}
            )
        )
    else:
        shown = "unset" if raw is None else _shown(raw)
        print(f"{name}: {shown}  ({provider.where} {provider.key_for(name)})")
    return OK


def _list(args: argparse.Namespace, provider: Any) -> int:
    try:
        stages = provider.stages()
    except Exception as exc:
        return _redis_failed(provider, exc)
    if args.format == "json":
        listed = {_json_value(name): _json_value(value) for name, value in stages.items()}
        print(json.dumps({"stages": listed}))
    elif not stages:
        print(f"no stages under {provider.prefix!r} at {provider.where}")
    else:
        shown = [(_shown(name), _shown(value)) for name, value in stages.items()]
        width = max(len(name) for name, _ in shown)
        for name, value in shown:
            print(f"{name:<{width}}  {value}")
    return OK
