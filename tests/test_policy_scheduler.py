"""Deferred marketing leaves at the recipient's opening, with the real scheduler on trio's
virtual clock (a fixed wall clock that moves with it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import trio
import trio.testing

from smsgw.drivers.seam import Driver, DriverState, OutboundPart, Outcome, Sink
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink, Scheduler
from tests.helpers import hold_clock_while_busy
from tests.policy_helpers import BERLIN, HONOLULU, SHANGHAI, at, message, policy_store

EPOCH = at("2027-01-15T18:30:00")  # 19:30 in Berlin, 08:30 in Honolulu, 02:30 in Shanghai


def wall() -> float:
    return EPOCH + trio.current_time()


class Carrier(Driver):
    """Accepts every part at once and notes the wall-clock time it arrived."""

    name = "sim"

    def __init__(self) -> None:
        self.got: list[tuple[float, OutboundPart]] = []
        self._sink: Sink | None = None
        self._arrived = trio.Event()

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        self._sink = sink
        task_status.started()
        await trio.sleep_forever()

    def capacity(self) -> int:
        return 100

    async def wait_capacity(self) -> None:
        await trio.lowlevel.checkpoint()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        assert self._sink is not None
        self.got += [(wall(), p) for p in parts]
        self._arrived.set()
        self._arrived = trio.Event()
        await self._sink.outcomes([Outcome(part_id=p.part_id, carrier_id="c") for p in parts])

    async def wait_for(self, n: int) -> None:
        while len(self.got) < n:
            await self._arrived.wait()

    def state(self) -> DriverState:
        return DriverState(up=True, window=100)


async def test_each_message_leaves_at_its_recipients_opening(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with policy_store(tmp_path / "q.db") as ps, trio.open_nursery() as nursery:
        nursery.start_soon(hold_clock_while_busy, ps.store)
        carrier = Carrier()
        scheduler = Scheduler(ps.store, ps.metrics, wall)
        runner = RouteRunner(
            "sim", carrier, RouteLimiter(100, 100, trio.current_time()), ps.store, ps.metrics, wall
        )
        scheduler.add(runner)
        await nursery.start(carrier.run, RouteSink(runner, ps.store, ps.metrics, wall))
        await nursery.start(scheduler.run)
        berlin, honolulu, shanghai = await ps.accept(
            message(BERLIN, wall()),  # open: leaves now
            message(HONOLULU, wall()),  # waits for 09:00 local, 19:00 UTC
            message(SHANGHAI, wall()),  # waits for 09:00 local, 01:00 UTC tomorrow
        )
        assert berlin.result is not None and berlin.result.status == "queued"
        assert honolulu.deferred_until == at("2027-01-15T19:00:00")
        assert shanghai.deferred_until == at("2027-01-16T01:00:00")
        with trio.fail_after(3600):
            await carrier.wait_for(2)
        arrived = {p.to: t for t, p in carrier.got}
        assert arrived[BERLIN] < EPOCH + 1
        # Released by the scheduler's first tick at or after the opening, not before it.
        assert at("2027-01-15T19:00:00") <= arrived[HONOLULU] < at("2027-01-15T19:00:02")
        assert shanghai.result is not None
        row = await ps.store.get("shop", shanghai.result.id)
        assert row is not None and row.status == "deferred"
        nursery.cancel_scope.cancel()
