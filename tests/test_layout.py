"""
The layout of the package (README, Development): no module imports itself
back through others, no module or class grows past what one reader holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "migratekit"
MODULE_LINES = 650  # "about 600", likewise
CLASS_LINES = 260  # "about 250": the issue that set it (15) allows a little over


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """The migratekit modules *module* imports when it is imported (not later, in a function)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            continue
        for statement in node.body + node.orelse if isinstance(node, ast.If) else [node]:
            if isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    anchor = package.split(".")[: len(package.split(".")) - statement.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in statement.names:
                    name = f"{base}.{alias.name}"
                    found.add(name if name in MODULES else base)
    # An import of a.b.c runs a and a.b first; a module's own packages are under way already.
    edges = set()
    for name in found:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            if target in MODULES and target != module and not module.startswith(target + "."):
                edges.add(target)
    return edges


def test_no_module_imports_itself_back() -> None:
    """The import graph of migratekit has no cycle: each module can be read before its users."""
    graph = {module: _imports(module, path) for module, path in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = [*trail[trail.index(module):], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_classes_stay_small(module: str) -> None:
    """No module over about 600 lines, no class over about 250: past that, it is two things."""
    source = MODULES[module].read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MODULE_LINES, f"{module} has grown past {MODULE_LINES}"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= CLASS_LINES, f"{module}.{node.name} is {length} lines"
