"""
Sphinx configuration of migratekit's documentation site.

Build it strictly (every warning an error) as CI does::

    pip install -e '.[docs]'
    sphinx-build -W --keep-going -b html docs build/docs

Pages are Markdown (MyST); the API reference is autodoc over the docstrings,
which use reST roles (``:class:``, ``:func:``); ``docs/_ext/migratekit_docs.py``
renders the events and the command line straight from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from migratekit import __version__  # noqa: E402

project = "migratekit"
author = "The migratekit team"
copyright = "the migratekit team"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "migratekit_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.*", "README*"]
myst_heading_anchors = 4
myst_enable_extensions = ["deflist"]
suppress_warnings = ["myst.header"]  # pages moved from the README start sections at any level

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True  # defaults as written (`_UNSET`), not a sentinel's repr
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "furo"
html_title = f"migratekit {__version__}"
html_static_path: list[str] = []
pygments_style = "friendly"

# Every cross-reference must resolve (``-n``, with ``-W``): a docstring or page that names a
# missing object fails the build. Names of other projects (no intersphinx: the build runs
# offline), of private modules, and type variables are let through here, by pattern.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|os|enum|datetime|typing|types|redis|structlog|opentelemetry"
               r"|prometheus_client|openfeature|argparse|pathlib|asyncio)(\..*)?"),
    (r"py:.*", r"migratekit(\.\w+)*\._\w+(\..*)?"),  # a private module's names
    (r"py:.*", r"_wrappers\..*|T|P|R"),  # wrapt's own types; type variables
    (r"py:class", r"Metric|Meter|MeterProvider|CollectorRegistry|OpenFeatureClient"),
]
# Names docstrings cite that the site does not document yet (a module-relative name, or one
# only a private module defines). Shrink this list; never grow it to silence a new warning.
nitpick_ignore = [
    ("py:attr", "stage"),
    ("py:attr", "where"),
    ("py:meth", "change_stage"),
    ("py:meth", "stage_history"),
    ("py:func", "stage_of_raw"),
    ("py:func", "printable"),
    ("py:class", "MigratorFn"),
    ("py:class", "MigratorCompareFn"),
    ("py:class", "StageError"),
    ("py:class", "Entry"),
    ("py:class", "ConfigurationTypeError"),
    ("py:attr", "Report.skipped"),
    ("py:attr", "Report.kept_without_timestamp"),
    ("py:attr", "Report.entries"),
    ("py:attr", "EntryReport.held_by_path"),
    ("py:data", "PATHS_LIMIT"),
    ("py:data", "LATENCY_BUCKETS"),
]
