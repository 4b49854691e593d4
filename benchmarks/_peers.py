"""
The peers, measured on the same cases: LaunchDarkly's ``Migrator`` (offline,
flags from its ``TestData`` source, no events sent) and ``laboratory`` (the
Python port of GitHub's Scientist, one candidate).

Both are benchmark-only dependencies; a peer that is not installed gives rows
that say so.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._cases import BARE_WRITE, WRAPT_WRITE
from benchmarks._harness import Case

__all__ = ["LaunchDarkly", "laboratory_cases"]

LD_GROUP = "LaunchDarkly Migrator"
LAB_GROUP = "laboratory"
LD_SHADOW_SERIAL = "LaunchDarkly read SHADOW, serial"
INSTALL = "pip install launchdarkly-server-sdk laboratory"


class LaunchDarkly:
    """An offline ``LDClient`` whose flags hold one migration stage each."""

    def __init__(self) -> None:
        self.client: Any = None
        self.problem: str | None = None
        try:
            from ldclient import Config, Context, LDClient
            from ldclient.impl.util import Result
            from ldclient.integrations.test_data import TestData
            from ldclient.migrations import ExecutionOrder, MigratorBuilder, Stage
        except ImportError as exc:
            self.problem = f"not installed ({INSTALL}): {exc}"
            return
        self.Stage = Stage
        self.ExecutionOrder = ExecutionOrder
        self.MigratorBuilder = MigratorBuilder
        self.Result = Result
        data = TestData.data_source()
        values = [stage.value for stage in Stage]
        for index, value in enumerate(values):
            data.update(data.flag(f"bench-{value}").variations(*values).variation_for_all(index))
        self.client = LDClient(
            Config("bench-sdk-key", update_processor_class=data, send_events=False,
                   diagnostic_opt_out=True)
        )
        self.context = Context.builder("bench-user").build()

    def migrator(self, order: Any, *, sleep: float = 0.0) -> Any:
        result = self.Result.success

        if sleep:
            def side(payload: Any) -> Any:
                time.sleep(sleep)
                return result(payload)
        else:
            def side(payload: Any) -> Any:
                return result(payload)

        builder = self.MigratorBuilder(self.client)
        builder.read_execution_order(order)
        builder.read(side, side, lambda old, new: old == new)
        builder.write(side, side)
        migrator = builder.build()
        if isinstance(migrator, str):  # the builder answers its error as a string
            raise RuntimeError(migrator)
        return migrator

    def cases(self) -> list[Case]:
        if self.client is None:
            return [Case("LaunchDarkly Migrator", LD_GROUP, "", skip=self.problem)]
        serial = self.migrator(self.ExecutionOrder.SERIAL)
        parallel = self.migrator(self.ExecutionOrder.PARALLEL)

        def case(label: str, migrator: Any, call: str, stage: str, **extra: Any) -> Case:
            namespace = {"m": migrator, "k": f"bench-{stage}", "ctx": self.context,
                         "d": self.Stage.OFF}
            return Case(label, LD_GROUP, f"m.{call}(k, ctx, d, 1)", namespace,
                        logging="none", **extra)

        return [
            case("LaunchDarkly read OFF", serial, "read", "off"),
            case(LD_SHADOW_SERIAL, serial, "read", "shadow"),
            case("LaunchDarkly read SHADOW, parallel", parallel, "read", "shadow",
                 note="builds a 2-thread pool per call"),
            case("LaunchDarkly write DUALWRITE", serial, "write", "dualwrite",
                 bare=BARE_WRITE, wrapt=WRAPT_WRITE),
        ]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def laboratory_cases() -> list[Case]:
    try:
        import laboratory  # type: ignore[import-untyped]
    except ImportError as exc:
        return [Case("laboratory", LAB_GROUP, "", skip=f"not installed ({INSTALL}): {exc}")]

    def candidate(self: Any, key: Any) -> Any:
        return key

    class Repo:
        @laboratory.Experiment.decorator(candidate=candidate)
        def get(self, key: Any) -> Any:
            return key

    return [Case("laboratory read, one candidate", LAB_GROUP, "obj.get(1)", {"obj": Repo()},
                 logging="none", note="always runs both; no stages")]
