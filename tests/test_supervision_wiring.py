"""The outer level of supervision: route runners, each driver's run, the inbound path.

Each fake speaks the driver seam and fails the way a bug would (an exception nobody expected);
the gateway's task is counted in smsgw_task_failures_total{task}, restarted, and what it was
carrying is not forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import trio
import trio.testing

from smsgw.config.loader import parse
from smsgw.drivers.seam import Driver, DriverState, InboundMessage, OutboundPart, Outcome, Sink
from smsgw.gateway.service import Gateway
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink, Scheduler
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import gateway_toml
from tests.helpers import hold_clock_while_busy, new_message

EPOCH = 1_800_000_000.0


def wall() -> float:
    return EPOCH + trio.current_time()


class BuggyCarrier(Driver):
    """Answers every part at once, except that its first ``submit`` raises (a bug)."""

    name = "sim"

    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.calls = 0
        self.runs = 0
        self.fail_run_once = False
        self.delivered: list[int] = []

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        self.sink = sink
        self.runs += 1
        task_status.started()
        if self.fail_run_once and self.runs == 1:
            raise KeyError("a bug in the link's bookkeeping")
        await trio.sleep_forever()

    def capacity(self) -> int:
        return 100

    async def wait_capacity(self) -> None:
        await trio.lowlevel.checkpoint()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise IndexError("a bug in rendering the PDU")
        assert self.sink is not None
        self.delivered += [p.part_id for p in parts]
        await self.sink.outcomes(
            [Outcome(part_id=p.part_id, carrier_id=f"c{p.part_id}") for p in parts]
        )

    def state(self) -> DriverState:
        return DriverState(up=True, window=100)


def failures(metrics: Metrics, task: str) -> float:
    return metrics.registry.get_sample_value("smsgw_task_failures_total", {"task": task}) or 0.0


async def test_a_runner_that_fails_restarts_and_its_parts_are_not_forgotten(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    metrics = Metrics()
    store = SqliteStore(
        str(tmp_path / "q.db"), metrics=metrics, policy=DispatchPolicy(max_attempts={"sim": 5})
    )
    await store.open()
    carrier = BuggyCarrier()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold_clock_while_busy, store)
            scheduler = Scheduler(store, metrics, wall, submit_timeout=30)
            runner = RouteRunner(
                "sim", carrier, RouteLimiter(100, 100, trio.current_time()), store, metrics, wall
            )
            scheduler.add(runner)
            await nursery.start(carrier.run, RouteSink(runner, store, metrics, wall))
            await nursery.start(scheduler.run)
            ids = [r.id for r in await store.accept([new_message(i, now=wall()) for i in range(5)])]
            await trio.sleep(120)
            assert failures(metrics, "runner:sim") == 1
            # The parts the bug swallowed were taken back once stale and sent again.
            for public_id in ids:
                row = await store.get(None, public_id)
                assert row is not None and row.status == "submitted"
            assert sorted(set(carrier.delivered)) == sorted(carrier.delivered)
            assert (
                metrics.registry.get_sample_value("smsgw_duplicates_risked_total", {"route": "sim"})
                == 5
            )
            nursery.cancel_scope.cancel()
    finally:
        await store.close()


async def test_a_drivers_run_that_fails_is_restarted_by_the_gateway(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = parse(gateway_toml(tmp_path).encode(), "test.toml", {})
    gateway = Gateway(config)
    carrier = BuggyCarrier()
    carrier.calls = 1  # submit works; run fails once
    carrier.fail_run_once = True
    sink = cast(Sink, object())  # never called: run() fails before it uses the sink
    async with trio.open_nursery() as nursery:
        await nursery.start(
            gateway._supervised_start, "driver:sim", lambda **kw: carrier.run(sink, **kw)
        )
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert carrier.runs == 2
    assert failures(gateway.metrics, "driver:sim") == 1


async def test_a_bug_in_keyword_handling_does_not_stop_the_inbound_ack(tmp_path: Path) -> None:
    metrics = Metrics()
    store = SqliteStore(
        str(tmp_path / "q.db"), metrics=metrics, policy=DispatchPolicy(max_attempts={})
    )
    await store.open()
    try:
        runner = RouteRunner(
            "sim", BuggyCarrier(), RouteLimiter(1, 1, trio.current_time()), store, metrics, wall
        )

        async def buggy_keywords(items: Sequence[InboundMessage], ids: Sequence[str]) -> None:
            raise UnicodeEncodeError("latin-1", "€", 0, 1, "a bug in a reply")

        sink = RouteSink(runner, store, metrics, wall, buggy_keywords)
        msg = InboundMessage(
            route="sim", sender="+4917099999999", to="12345", text="STOP", received_at=wall()
        )
        await sink.inbound([msg])  # returns: the driver acknowledges, the message is stored
        assert [m.text for m in await store.inbound()] == ["STOP"]
        assert failures(metrics, "inbound") == 1
    finally:
        await store.close()


def test_known_task_names_are_exported_before_any_failure(tmp_path: Path) -> None:
    config = parse(gateway_toml(tmp_path).encode(), "test.toml", {})
    gateway = Gateway(config)
    names = gateway.task_names()
    assert {"timers", "stats", "webhooks", "store_probe", "inbound", "runner:sim"} <= set(names)
    assert "driver:sim" in names
    for task in names:
        assert (
            gateway.metrics.registry.get_sample_value("smsgw_task_failures_total", {"task": task})
            == 0.0
        )
