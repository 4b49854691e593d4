"""Every Python example in README.md runs as written."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import migratekit

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1))
            for match in BLOCK.finditer(text)]


@pytest.fixture
def _pristine_environment() -> Iterator[None]:
    """README examples set MIGRATEKIT_* variables directly; put the environment back after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    migratekit.drain(10)
    migratekit.reset()


def test_readme_has_examples() -> None:
    """The README shows code, and this test finds it."""
    assert len(_blocks()) >= 5


@pytest.mark.usefixtures("_pristine_environment")
@pytest.mark.parametrize(("line", "code"), _blocks(), ids=lambda value: str(value)[:12])
def test_readme_example_runs(line: int, code: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example runs on its own, from a clean migratekit, in a scratch directory."""
    monkeypatch.chdir(tmp_path)
    migratekit.reset()
    namespace: dict[str, object] = {"__name__": f"readme_line_{line}"}
    try:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
        # An example that shows a test is run as one.
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                value()
    finally:
        for value in namespace.values():
            if isinstance(value, io.IOBase):
                value.close()
