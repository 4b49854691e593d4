"""
The ``migratekit`` command.

Each subcommand lives in its own module, which adds its parser with
``add_parser(subparsers)`` and sets ``func`` on it: a function taking the
parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from migratekit._cli import advance, demo, reconcile, report, stage
from migratekit._version import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``migratekit`` command, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="migratekit",
        description="Move a live system from an old technology to a new one, in stages.",
    )
    parser.add_argument("--version", action="version", version=f"migratekit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (advance, demo, reconcile, report, stage):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``migratekit`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = func(args)
    except KeyboardInterrupt:
        print("migratekit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `migratekit report big.log | head`: the reader went away, which is fine.
        return 0
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
