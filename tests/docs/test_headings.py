"""
No topic was lost when the README became a front page: every heading the README had
(at bb6edab, before the site) is a heading of the page that took it over.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)

# The README's headings before the site, in their order, and the page each one lives on.
MOVED = {
    "migratekit": "docs/index.md",
    "Try it": "docs/tutorial.md",
    "In fifteen lines": "docs/index.md",
    "The stages": "docs/explanation/stages.md",
    "Setting the stage with environment variables": "docs/reference/providers.md",
    "The decorator": "docs/reference/decorator.md",
    "Async, parallel and background shadows": "docs/reference/decorator.md",
    "Code you cannot edit": "docs/how-to/instrument.md",
    "Deciding per user or tenant": "docs/how-to/own-provider.md",
    "Migrator: the engine, with result types": "docs/reference/migrator.md",
    "Where the stage comes from: providers": "docs/reference/providers.md",
    "A file": "docs/reference/providers.md",
    "Redis, for a fleet": "docs/how-to/fleet.md",
    "Changing stages, on the record": "docs/how-to/advance.md",
    "OpenFeature: LaunchDarkly, flagd, Unleash, ...": "docs/how-to/fleet.md",
    "Percentage rollout": "docs/how-to/rollout.md",
    "Composing": "docs/how-to/fleet.md",
    "Which stage, and who said so": "docs/how-to/fleet.md",
    "Write your own provider": "docs/how-to/own-provider.md",
    "Events": "docs/reference/events.md",
    "Reading the logs: `migratekit report`": "docs/tutorial.md",
    "Summaries, per-call events, and counting each call once": "docs/reference/report.md",
    "Reading the logs from Python": "docs/reference/report.md",
    "Writing migratekit's events as JSON lines": "docs/how-to/json-logs.md",
    "Metrics: Prometheus and OpenTelemetry": "docs/reference/metrics.md",
    "OpenTelemetry": "docs/reference/metrics.md",
    "What it costs": "docs/reference/metrics.md",
    "The report from Prometheus: `migratekit report --prometheus URL`":
        "docs/how-to/dashboards.md",
    "Rules and a dashboard: `contrib/`": "docs/how-to/dashboards.md",
    "Backfill and reconcile": "docs/how-to/backfill.md",
    "Testing code that uses migratekit": "docs/reference/testing.md",
    "The pytest plugin: your whole test suite in SHADOW": "docs/how-to/test-suite-in-shadow.md",
    "Performance": "docs/explanation/performance.md",
    "Guarantees": "docs/explanation/guarantees.md",
    "Development": "docs/development.md",
}


def headings(path: Path) -> list[str]:
    """The Markdown headings of a page, those inside code blocks left out."""
    return HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def test_headings_ignore_code_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```python\n# a comment\n```\n\n## Section\n", encoding="utf-8")
    assert headings(page) == ["Title", "Section"]


@pytest.mark.parametrize(("heading", "page"), MOVED.items(), ids=list(MOVED))
def test_the_readme_heading_lives_on_its_page(heading: str, page: str) -> None:
    assert heading in headings(ROOT / page), f"{heading!r} is not a heading of {page}"


def test_the_readme_is_a_front_page() -> None:
    """About 150 lines, linking to every page of the site that a user looks for."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for page in sorted(set(MOVED.values()) | {"docs/design.md"}):
        if page != "docs/index.md":
            assert f"]({page})" in readme, page
