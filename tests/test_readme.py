"""Every Python example in README.md and in the docs site (docs/**/*.md) runs as written."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import migratekit
from tests._redis import redis_binary, redis_server, require

__all__ = ["redis_binary", "redis_server"]  # fixtures, imported to be found by pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEEDS_REDIS = "REDIS_URL"  # an example that reads it is given a real redis-server
# What an example imports from the docs extra (pip install -e '.[docs]'): the module it
# needs when the text appears in the example.
NEEDS_MODULE = {"sqlalchemy": "sqlalchemy", "aiosqlite": "aiosqlite",
                "sqlalchemy.ext.asyncio": "greenlet", "import redis": "redis"}


def pages() -> list[Path]:
    """README.md and every Markdown page of the site, the built site's own files left out."""
    docs = sorted(path for path in DOCS.rglob("*.md")
                  if not any(part.startswith(("_", ".")) for part in path.relative_to(DOCS).parts))
    return [README, *docs]


def _blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1))
            for match in BLOCK.finditer(text)]


def _examples() -> list[tuple[str, int, str]]:
    return [(path.relative_to(ROOT).as_posix(), line, code)
            for path in pages() for line, code in _blocks(path)]


@pytest.fixture
def _pristine_environment() -> Iterator[None]:
    """Examples set MIGRATEKIT_* variables directly; put the environment back after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    migratekit.drain(10)
    migratekit.reset()


def test_readme_has_examples() -> None:
    """The README shows code, and this test finds it."""
    assert len(_blocks(README)) >= 1


def test_the_site_has_examples() -> None:
    """The pages are found, and so are their examples (a broken pattern would find none)."""
    found = {path for path, _, _ in _examples()}
    assert "docs/how-to/sqlalchemy-to-redis.md" in found
    assert "docs/reference/decorator.md" in found
    assert len(_examples()) >= 30


@pytest.mark.usefixtures("_pristine_environment")
@pytest.mark.parametrize(("page", "line", "code"), _examples(),
                         ids=[f"{page}:{line}" for page, line, _ in _examples()])
def test_example_runs(page: str, line: int, code: str, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each example runs on its own, from a clean migratekit, in a scratch directory."""
    for text, module_name in NEEDS_MODULE.items():
        if text in code and importlib.util.find_spec(module_name) is None:
            require(module_name, f"{module_name} is missing: pip install -e '.[docs]'")
    if NEEDS_REDIS in code:
        server = request.getfixturevalue("redis_server")
        monkeypatch.setenv(NEEDS_REDIS, server.url)
    monkeypatch.chdir(tmp_path)
    migratekit.reset()
    # A module of its own, as a script has: libraries that look classes' modules up in
    # sys.modules (SQLAlchemy's annotations, pickle) find it.
    module = types.ModuleType(f"example_{Path(page).stem.replace('-', '_')}_{line}")
    namespace = module.__dict__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        exec(compile(code, f"{page}:{line}", "exec"), namespace)
        # An example that shows a test is run as one.
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                value()
    finally:
        for value in namespace.values():
            if isinstance(value, io.IOBase):
                value.close()
