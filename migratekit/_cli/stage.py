"""
``migratekit stage``: which stage a migration is in and who says so; change
stages in Redis or a stage file, on the record.

::

    migratekit stage NAME [--env] [--file PATH] [--redis URL] [--context KEY]
    migratekit stage set NAME STAGE (--redis URL | --file PATH) [--actor WHO] [--reason WHY]
                                    [--log FILE]
    migratekit stage unset NAME (--redis URL | --file PATH) [--actor WHO] [--reason WHY]
                                [--log FILE]
    migratekit stage get NAME (--redis URL | --file PATH)
    migratekit stage list (--redis URL | --file PATH)
    migratekit stage history NAME|'*' (--redis URL | --file PATH) [--limit N]

``stage NAME`` asks the providers named by ``--env``, ``--file`` and
``--redis``, in the order given, as a fallback chain (environment variables
alone when none is given), and prints the stage with the provider and the
variable, file key or Redis key that set it.

``set`` and ``unset`` record each change in the store's audit trail (the
Redis stream ``migratekit:audit``, or ``<file>.audit.jsonl``), which
``history`` prints, and log a ``migration.stage_change`` event: through the
application's structlog set-up when there is one, else as a JSON line on
standard error (``--log FILE`` appends it to FILE instead), for a log
pipeline to keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import structlog

from migratekit._cli._logging import json_lines
from migratekit._config import settings
from migratekit._text import shown_value
from migratekit.exceptions import ConfigurationError
from migratekit.providers._audit import HISTORY_LIMIT, StageChange
from migratekit.providers._base import require_stage

# Each action, and how many words it takes after it.
_ACTIONS = {"show": 1, "set": 2, "unset": 1, "get": 1, "list": 0, "history": 1}
# Words people type to remove a stage: 'stage del NAME' was read as
# 'stage show' with two names, and said so.
_REMOVALS = ("del", "delete", "rm", "remove", "clear", "reset")
_CHANGES = ("set", "unset")

OK = 0
PROBLEM = 1
FAILED = 2


def add_parser(subparsers: Any) -> None:
    """Add the ``stage`` subcommand."""
    parser = subparsers.add_parser(
        "stage",
        help="show which stage a migration is in, and who says so; change stages, on the record",
        description=(
            "Show the stage a migration resolves to right now and which provider set it "
            "(`migratekit stage users.get`), or read and change the stages kept in Redis or "
            "a stage file (`migratekit stage set users.get shadow --redis URL --reason ...`, "
            "`unset`, `get`, `list`). Every set and unset is recorded with its time, the "
            "stage before and after, who and why (`migratekit stage history users.get`), "
            "and logged as a migration.stage_change event (a JSON line on standard error "
            "unless structlog is set up)."
        ),
        usage=(
            "migratekit stage [show] NAME [--env] [--file PATH] [--redis URL] "
            "[--context KEY] [--format {text,json}]\n"
            "       migratekit stage set NAME STAGE (--redis URL | --file PATH) "
            "[--actor WHO] [--reason WHY] [--log FILE]\n"
            "       migratekit stage unset NAME (--redis URL | --file PATH) "
            "[--actor WHO] [--reason WHY] [--log FILE]\n"
            "       migratekit stage get NAME (--redis URL | --file PATH)\n"
            "       migratekit stage list (--redis URL | --file PATH)\n"
            "       migratekit stage history NAME|'*' (--redis URL | --file PATH) [--limit N]"
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
        help="prefix of the Redis keys (default: %(default)s); changes are recorded in "
        "the stream beside them (migratekit:audit)",
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
    record = parser.add_argument_group("set and unset: what the audit trail records")
    record.add_argument("--actor", metavar="WHO", help="who makes the change (default: user@host)")
    record.add_argument("--reason", metavar="WHY", help="why the change is made")
    record.add_argument(
        "--log",
        metavar="FILE",
        help="append the migration.stage_change event to FILE as a JSON line "
        "(default: standard error, unless structlog is set up)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=HISTORY_LIMIT,
        metavar="N",
        help="history: the last N changes (default: %(default)s; 0 for all)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``migratekit stage``; returns the exit status."""
    words: list[str] = list(args.words)
    if words[0] in _ACTIONS:
        action = words.pop(0)
    elif len(words) > 1:
        return _usage(_not_an_action(words[0]))
    else:
        action = "show"
    expected = _ACTIONS[action]
    if len(words) != expected:
        return _usage(
            f"'stage {action}' takes {expected} argument{'s' if expected != 1 else ''} "
            f"(got {len(words)}: {' '.join(_word(word) for word in words) or 'none'})"
        )
    for option in ("actor", "reason", "log"):
        if getattr(args, option) is not None and action not in _CHANGES:
            return _usage(f"--{option} is for 'stage set' and 'stage unset' only")
    if args.limit < 0:
        return _usage(f"--limit must be 0 (all) or more (got {args.limit})")
    try:
        if args.default_stage is not None:
            settings.default_stage = require_stage("--default-stage", args.default_stage)
        if action == "show":
            return _show(args, words[0])
        store = _store(args, action)
        if action in _CHANGES:
            stage = None if action == "unset" else require_stage("STAGE", words[1])
            return _change(args, store, words[0], stage)
        if action == "get":
            return _get(args, store, words[0])
        if action == "history":
            return _history(args, store, words[0])
        return _list(args, store)
    except ConfigurationError as exc:
        return _usage(str(exc))


def _not_an_action(word: str) -> str:
    if word.lower() in _REMOVALS:
        fix = (
            "to remove a migration's stage, so that it follows '*' again: "
            "migratekit stage unset NAME --redis URL (or --file PATH)"
        )
    else:
        fix = "e.g. migratekit stage users.get, or migratekit stage set users.get shadow --file F"
    return (
        f"{_word(word)!r} is not an action of 'stage' (show, set, unset, get, list, "
        f"history), and 'stage NAME' takes one name; {fix}"
    )


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


def _store(args: argparse.Namespace, action: str) -> Any:
    """The one Redis server or stage file that *action* works on."""
    sources = args.sources or []
    if len(sources) != 1 or sources[0][0] == "env":
        example = {"get": "NAME ", "list": "", "history": "NAME ", "unset": "NAME "}.get(
            action, "NAME STAGE "
        )
        raise ConfigurationError(
            f"'stage {action}' works on Redis or a stage file and needs exactly one --redis URL "
            f"or --file PATH (got {' '.join('--' + kind for kind, _ in sources) or 'none'}); "
            f"e.g. migratekit stage {action} {example}--redis redis://localhost:6379/0"
        )
    kind, where = sources[0]
    if kind == "file":
        from migratekit.providers._stagefile import StageFile  # noqa: PLC0415

        return StageFile(where)
    return _build("redis", where, args)


def _failed(store: Any, exc: Exception) -> int:
    """Say in one line why *store* could not be read or changed; the exit status."""
    print(f"migratekit stage: {_printable(store_failure(store, exc))}", file=sys.stderr)
    return FAILED


def store_failure(store: Any, exc: Exception) -> str:
    """One line on why *store* (a stage file, Redis) could not be read or changed."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    if getattr(store, "journal", None) is None:  # Redis
        # A server that answers an error (a key of another type, a script refused) is reached.
        answered = any(kind.__name__ == "ResponseError" for kind in type(exc).__mro__)
        said = "Redis at {} answered" if answered else "cannot reach Redis at {}"
        message = f"{said.format(store.where)}: {shown_value(first, 200)}"
    elif isinstance(exc, OSError):
        where = "" if exc.filename is None else f" ({shown_value(str(exc.filename), 255)})"
        message = f"stage file {store.path}: {exc.strerror or first}{where}"
    else:  # a StageError, which says it all
        message = str(shown_value(first, 400))
    return message


@contextlib.contextmanager
def _events_to(path: str | None) -> Iterator[None]:
    """
    Send migratekit's events, while in use, to *path* as JSON lines
    (appended); with no *path*, where structlog is set up to send them (a
    program calling ``main()`` did it), else to standard error as JSON
    lines: the command is the application here, and standard output is for
    people. The previous configuration is restored after.
    """
    if path is None and structlog.is_configured():
        yield
        return
    with json_lines(path):
        yield


def _change(args: argparse.Namespace, store: Any, name: str, stage: Any) -> int:
    try:
        with _events_to(args.log):
            change: StageChange = store.change_stage(
                name, stage, actor=args.actor, reason=args.reason
            )
    except ConfigurationError:
        raise
    except OSError as exc:
        if exc.filename is not None and exc.filename == args.log:
            return _usage(f"cannot append to --log {args.log}: {exc.strerror or exc}")
        return _failed(store, exc)
    except Exception as exc:
        return _failed(store, exc)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "migration": name,
                    "stage": change.new,
                    "previous": _json_value(change.old),
                    "change": change.as_dict(),
                }
            )
        )
    else:
        was = "unset" if change.old is None else _shown(change.old)
        print(f"{name}: {change.new or 'unset'}  (was {was}; {change.source})")
    return OK


def _get(args: argparse.Namespace, store: Any, name: str) -> int:
    try:
        raw = store.raw_stage(name)
    except Exception as exc:
        return _failed(store, exc)
    if args.format == "json":
        key = name if hasattr(store, "journal") else store.key_for(name)
        print(json.dumps({"migration": name, "key": key, "value": _json_value(raw)}))
    else:
        shown = "unset" if raw is None else _shown(raw)
        print(f"{name}: {shown}  ({store.source_of(name)})")
    return OK


def _list(args: argparse.Namespace, store: Any) -> int:
    try:
        stages = store.stages()
    except Exception as exc:
        return _failed(store, exc)
    if args.format == "json":
        listed = {_json_value(name): _json_value(value) for name, value in stages.items()}
        print(json.dumps({"stages": listed}))
    elif not stages:
        if hasattr(store, "journal"):
            print(f"no stages in {store.path}")
        else:
            print(f"no stages under {store.prefix!r} at {store.where}")
    else:
        shown = [(_shown(name), _shown(value)) for name, value in stages.items()]
        width = max(len(name) for name, _ in shown)
        for name, value in shown:
            print(f"{name:<{width}}  {value}")
    return OK


def _history(args: argparse.Namespace, store: Any, name: str) -> int:
    # '*' asks for every migration's changes (those of the '*' key among them).
    try:
        changes = store.stage_history(None if name == "*" else name, args.limit or None)
    except Exception as exc:
        return _failed(store, exc)
    if args.format == "json":
        print(json.dumps({"changes": [change.as_dict() for change in changes]}))
        return OK
    if not changes:
        trail = getattr(store, "journal", None) or f"{store.where} {store.audit_key}"
        whose = "any migration" if name == "*" else _shown(name)
        print(f"no stage changes recorded for {whose} in {trail}")
    for change in changes:
        print(_history_line(change))
    return OK


def _history_line(change: StageChange) -> str:
    old = "unset" if change.old is None else _shown(change.old)
    new = "unset" if change.new is None else change.new
    line = (
        f"{change.time}  {_shown(change.migration)}  {old} -> {new}  "
        f"{_shown(change.action)} by {_shown(change.actor)}"
    )
    if change.reason is not None:
        line += f": {shown_value(change.reason, _REASON_SHOWN)}"
    return line


_REASON_SHOWN = 1000
