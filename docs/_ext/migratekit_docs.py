"""
Pages of the reference generated from the code at build time, so they cannot drift from it.

- ``migratekit-events``: every event ``migratekit report`` reads, with its docstring and
  fields, and the stage table, read from ``migratekit/_schema.py`` (the one schema module).
- ``migratekit-cli``: the help of ``migratekit`` and of each subcommand, from
  ``migratekit._cli.build_parser()``, at 100 columns.
- ``migratekit-pytest-options``: the pytest plugin's options and marker, from its
  ``pytest_addoption`` and ``pytest_configure``.

Each directive writes Markdown and lets MyST parse it, so the generated text is rendered
(and checked under ``-n -W``) like a hand-written page; ``markdown(name)`` returns that
text, to read it without a build. tests/docs/test_site.py checks the built pages hold every
event, field, subcommand and option.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from migratekit import _schema, pytest_plugin
from migratekit._cli import build_parser

SCHEMA = Path(__file__).resolve().parents[2] / "migratekit" / "_schema.py"
HELP_COLUMNS = 100


def _roles_to_myst(text: str) -> str:
    """A docstring's reST, as MyST: ``:func:`x``` -> ``{func}`x```, double backquotes -> one."""
    text = re.sub(r":(\w+):`", r"{\1}`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _dedent(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines())


def schema_constants() -> dict[str, tuple[ast.expr, str]]:
    """Each top-level constant of the schema module: its value's AST and its docstring."""
    tree = ast.parse(SCHEMA.read_text(encoding="utf-8"))
    found: dict[str, tuple[ast.expr, str]] = {}
    body = tree.body
    for index, statement in enumerate(body):
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            name, value = statement.targets[0].id, statement.value
        elif (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
              and statement.value is not None):
            name, value = statement.target.id, statement.value
        else:
            continue
        doc = ""
        following = body[index + 1] if index + 1 < len(body) else None
        if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            doc = following.value.value
        found[name] = (value, doc)
    return found


def events_markdown() -> str:
    """The events and their fields, and the stage table, as Markdown."""
    constants = schema_constants()
    out = ["Generated from `migratekit/_schema.py` when the site is built.", ""]
    for name in sorted(n for n in constants if n.endswith("_EVENT")):
        event = getattr(_schema, name)
        prefix = name.removesuffix("_EVENT")
        out += [f"### `{event}`", "", _roles_to_myst(_dedent(constants[name][1])), ""]
        fields_name = f"{prefix}_FIELDS"
        if fields_name in constants:
            fields = getattr(_schema, fields_name)
            out += ["Fields: " + ", ".join(f"`{field}`" for field in fields) + ".", ""]
            doc = _dedent(constants[fields_name][1])
            if doc:
                out += [_roles_to_myst(doc), ""]
        if name == "SUMMARY_EVENT":
            for extra in ("SIDE_SUMMARY_FIELDS", "LATENCY_FIELDS"):
                fields = getattr(_schema, extra)
                out += [_roles_to_myst(_dedent(constants[extra][1])) + " "
                        + ", ".join(f"`{field}`" for field in fields) + ".", ""]
    out += ["### The stage table", "",
            "| Stage | authoritative | write runs second | read also runs |",
            "|---|---|---|---|"]
    for stage, authoritative, write_second, read_other in _schema.STAGE_TABLE:
        def side(origin: Any) -> str:
            return "-" if origin is None else str(origin.value)
        out.append(f"| {stage.name} | {side(authoritative)} | {side(write_second)} "
                   f"| {side(read_other)} |")
    return "\n".join(out) + "\n"


@contextmanager
def _columns(width: int) -> Iterator[None]:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_markdown() -> str:
    """``migratekit --help`` and each subcommand's ``--help``, as Markdown."""
    with _columns(HELP_COLUMNS):
        parser = build_parser()
        out = ["Generated from `migratekit._cli.build_parser()` when the site is built: the "
               "text of `--help`.", "", "## `migratekit`", "", "```text",
               parser.format_help().rstrip(), "```", ""]
        for name, sub in sorted(_subcommands(parser).items()):
            out += [f"## `migratekit {name}`", "", "```text", sub.format_help().rstrip(),
                    "```", ""]
            for child, subsub in sorted(_subcommands(sub).items()):
                out += [f"### `migratekit {name} {child}`", "", "```text",
                        subsub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


class _Recorder:
    """Stands in for pytest's parser and config: records options, groups and ini lines."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.ini_lines: list[tuple[str, str]] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _Recorder:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options.append((names, kwargs))

    def addinivalue_line(self, name: str, line: str) -> None:
        self.ini_lines.append((name, line))

    def getoption(self, name: str) -> Any:
        return None


def pytest_options_markdown() -> str:
    """The pytest plugin's command-line options and markers, as Markdown."""
    recorder = _Recorder()
    pytest_plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    configure: Callable[[Any], None] = pytest_plugin.pytest_configure
    configure(recorder)
    out = ["Generated from `migratekit.pytest_plugin` when the site is built.", "",
           "| Option | |", "|---|---|"]
    for names, kwargs in recorder.options:
        metavar = f" {kwargs['metavar']}" if "metavar" in kwargs else ""
        shown = ", ".join(f"`{name}{metavar}`" for name in names)
        out.append(f"| {shown} | {kwargs.get('help', '')} |")
    out += ["", "| Marker | |", "|---|---|"]
    for ini, line in recorder.ini_lines:
        if ini == "markers":
            marker, _, text = line.partition(":")
            out.append(f"| `@pytest.mark.{marker.strip()}` | {text.strip()} |")
    return "\n".join(out) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "migratekit-events": events_markdown,
    "migratekit-cli": cli_markdown,
    "migratekit-pytest-options": pytest_options_markdown,
}


def markdown(name: str) -> str:
    """What the directive *name* puts on its page."""
    return GENERATORS[name]()


def _directive(generate: Callable[[], str]) -> type[SphinxDirective]:
    class Generated(SphinxDirective):
        has_content = False

        def run(self) -> list[nodes.Node]:
            self.env.note_dependency(str(SCHEMA))
            container = nodes.container()
            self.state.nested_parse(StringList(generate().splitlines(), source="generated"),
                                    self.content_offset, container)
            return list(container.children)

    return Generated


def setup(app: Sphinx) -> dict[str, Any]:
    for name, generate in GENERATORS.items():
        app.add_directive(name, _directive(generate))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
