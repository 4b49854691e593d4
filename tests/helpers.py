"""
What several test modules share: the stage table written out as a
specification (DESIGN.md's, independently of migratekit's own copy), and the
questions asked of it.
"""

from __future__ import annotations

from migratekit import Operation, Stage

OLD, NEW = "old", "new"
READ, WRITE = Operation.READ, Operation.WRITE

#            stage              read runs     read returns  write runs, in order
TABLE: dict[Stage, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    Stage.OFF:       ((OLD,),       OLD,          (OLD,)),
    Stage.DUALWRITE: ((OLD,),       OLD,          (OLD, NEW)),
    Stage.SHADOW:    ((OLD, NEW),   OLD,          (OLD, NEW)),
    Stage.LIVE:      ((NEW, OLD),   NEW,          (NEW, OLD)),
    Stage.RAMPDOWN:  ((NEW,),       NEW,          (NEW, OLD)),
    Stage.COMPLETE:  ((NEW,),       NEW,          (NEW,)),
}  # fmt: skip


def authoritative(stage: Stage) -> str:
    """The side a read returns; the side a write runs first."""
    return TABLE[stage][1]


def other(origin: str) -> str:
    """The other side."""
    return NEW if origin == OLD else OLD


def planned(stage: Stage, operation: Operation) -> tuple[str, ...]:
    """The sides *stage* runs for *operation*, in order."""
    runs, _, writes = TABLE[stage]
    return runs if operation is READ else writes
