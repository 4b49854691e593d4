"""
The docs site builds strictly, shows the pages generated from the code, and renders.

The build is the one CI runs (``sphinx-build -n -W``: a warning, a broken link or a
reference to a missing name fails it); Chromium takes screenshots of the home page and of
the report's page, decoded here to check the theme's styles were applied.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from migratekit import _schema
from migratekit._cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
WIDTH, HEIGHT = 1200, 900


def _require(what: str, reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI: {reason}; .ci/run must install it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for the module as CI builds it."""
    if not all(importlib.util.find_spec(name) for name in ("sphinx", "myst_parser", "furo")):
        _require("the docs extra", "Sphinx, MyST or Furo is missing: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "--keep-going", "-q", "-b", "html",
         str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


def _text(page: str) -> str:
    """The visible text of a page, roughly: tags out, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.slow
def test_every_page_is_built_and_every_stylesheet_exists(site: Path) -> None:
    sources = sorted(p.relative_to(DOCS).with_suffix(".html") for p in DOCS.rglob("*.md")
                     if not any(part.startswith(("_", ".")) for part in p.relative_to(DOCS).parts))
    assert len(sources) >= 25
    for page in sources:
        html = (site / page).read_text(encoding="utf-8")
        sheets = re.findall(r'<link rel="stylesheet"[^>]*href="([^"?]+)', html)
        assert any("furo" in sheet for sheet in sheets), page
        for sheet in sheets:
            assert ((site / page).parent / sheet).resolve().is_file(), (page, sheet)
    assert (site / "_images" / "report.png").is_file()  # the report's picture


@pytest.mark.slow
def test_the_events_page_is_the_schema(site: Path) -> None:
    """Every event the report reads, and each of its fields, is on the events page."""
    page = _text((site / "reference" / "events.html").read_text(encoding="utf-8"))
    for name in _schema.EVENT_NAMES:
        assert name in page
    constants = vars(_schema)
    fields = [field for key, value in constants.items() if key.endswith("_FIELDS")
              for field in value]
    assert fields
    for field in fields:
        assert field in page, field
    for stage in _schema.STAGE_ORDER:
        assert f"{stage.name}" in page


def _options(parser: argparse.ArgumentParser) -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _options(sub)
    return found


@pytest.mark.slow
def test_the_cli_page_is_the_parser(site: Path) -> None:
    """Every subcommand and every option of ``migratekit`` is on the command line's page."""
    page = _text((site / "reference" / "cli.html").read_text(encoding="utf-8"))
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name in action.choices:
                assert f"migratekit {name}" in page, name
    options = _options(parser)
    assert "--check" in options
    assert "--seed" in options
    for option in options:
        assert option in page, option


@pytest.mark.slow
def test_the_pytest_plugin_options_are_on_the_testing_page(site: Path) -> None:
    page = _text((site / "reference" / "testing.html").read_text(encoding="utf-8"))
    for option in ("--migratekit-stage STAGE", "--migratekit-strict",
                   "@pytest.mark.migratekit_not_strict"):
        assert option in page


# -- screenshots ---------------------------------------------------------------------------------


def _pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows (RGB or RGBA bytes) of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    assert color in (2, 6)
    assert header[12] == 0  # not interlaced
    channels = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    if channels == 4:
        rows = [b"".join(row[i:i + 3] for i in range(0, len(row), 4)) for row in rows]
    return width, height, rows


def _pixel(rows: list[bytes], x: int, y: int) -> tuple[int, int, int]:
    r, g, b = rows[y][x * 3:x * 3 + 3]
    return r, g, b


def _screenshot(page: Path, shot: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _require("chromium", "chromium is not installed (apt-get install chromium)")
    assert chromium is not None
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={profile}", f"--screenshot={shot}",
                    f"--window-size={WIDTH},{HEIGHT}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "reference/report.html"])
def test_the_page_renders_with_its_styles(site: Path, page: str, tmp_path: Path) -> None:
    """
    The theme is applied: Furo's sidebar is shaded, the article is white, the title is
    large and dark. Unstyled, the whole left of the page would be white.
    """
    shot = tmp_path / "shot.png"
    _screenshot(site / page, shot, tmp_path / "profile")
    width, height, rows = _pixels(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    sidebar = _pixel(rows, 20, HEIGHT - 20)
    article = _pixel(rows, WIDTH - 30, HEIGHT // 2)
    assert sidebar != (255, 255, 255), sidebar
    assert all(channel >= 230 for channel in sidebar), sidebar  # a light shade
    assert article == (255, 255, 255), article
    title_row = rows[52]  # the page's title, set in large dark type
    dark = sum(1 for x in range(345, 700) if max(title_row[x * 3:x * 3 + 3]) < 80)
    assert dark >= 40, dark
