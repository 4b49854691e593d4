"""`migratekit stage` (being built)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Add the `stage` subcommand."""
    parser = subparsers.add_parser("stage", help="(not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("migratekit stage: not built yet", file=sys.stderr)
    return 2
