"""The contract as data (migratekit/_schema.py) against the specification and the events."""

from __future__ import annotations

from structlog.testing import capture_logs

from migratekit import Operation, Stage, _schema, configure, migration
from migratekit.providers import StaticStageProvider
from tests.helpers import TABLE, authoritative, planned


def test_the_stage_table_is_the_specification() -> None:
    """Every stage's authoritative side and the sides it runs, read and write, match the
    table written out independently in tests/helpers.py, in the stages' order."""
    assert _schema.STAGE_ORDER == tuple(TABLE) == tuple(Stage)
    for stage in Stage:
        assert _schema.authoritative(stage).value == authoritative(stage)
        for operation in Operation:
            other = _schema.other_side(stage, operation)
            sides = (authoritative(stage),) + (() if other is None else (other.value,))
            assert sides == planned(stage, operation), (stage, operation)
    assert _schema.NEXT_STAGE[Stage.SHADOW] is Stage.LIVE
    assert Stage.COMPLETE not in _schema.NEXT_STAGE


def test_events_carry_the_fields_the_schema_names() -> None:
    """A result, an op, a stage error and a dropped-shadow event carry at least their
    schema's fields, under the schema's event names."""

    class Bad:
        def get_stage(self, name: str, context: object = None) -> str:
            return "not a stage"

    configure(provider=StaticStageProvider("shadow"))

    @migration(new=lambda x: x + 1, name="schema.read")
    def read(x: int) -> int:
        return x

    @migration(new=lambda x: x, provider=Bad(), name="schema.bad")
    def bad(x: int) -> int:
        return x

    with capture_logs() as logs:
        read(1)
        bad(1)
    by_name = {name: [e for e in logs if e["event"] == name] for name in _schema.EVENT_NAMES}
    for name, fields in ((_schema.RESULT_EVENT, _schema.RESULT_FIELDS),
                         (_schema.OP_EVENT, _schema.OP_FIELDS),
                         (_schema.STAGE_ERROR_EVENT, _schema.STAGE_ERROR_FIELDS)):
        assert by_name[name], name
        for event in by_name[name]:
            assert set(fields) <= set(event), (name, set(fields) - set(event))
    assert {e["event"] for e in logs} <= _schema.EVENT_NAMES
