"""Dispatch through a store outage: nothing sent twice, nothing forgotten, nothing acked early.

A carrier fake that holds parts until the test answers them (it speaks the driver seam, like a
real transport), a real store made read-only under the running scheduler (SQLite's own
SQLITE_READONLY), trio's virtual clock held still while the store's thread works.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import trio
import trio.testing

from smsgw.drivers.seam import (
    Driver,
    DriverState,
    InboundMessage,
    OutboundPart,
    Outcome,
    Receipt,
    Sink,
)
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink, Scheduler
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.helpers import hold_clock_while_busy, new_message

EPOCH = 1_800_000_000.0


def wall() -> float:
    return EPOCH + trio.current_time()


class HeldCarrier(Driver):
    """Takes up to ``window`` parts and answers only when the test says so; records what it
    acknowledged to its (imaginary) peer, which a driver does once the sink call returned."""

    name = "sim"
    forgets_on_restart = False

    def __init__(self, window: int) -> None:
        self.window = window
        self.held: list[OutboundPart] = []
        self.sent: list[OutboundPart] = []
        self.acked: list[str] = []
        self._sink: Sink | None = None
        self._room = trio.Event()
        self._sent_changed = trio.Event()
        self._acked_changed = trio.Event()

    def _ack(self, what: str) -> None:
        self.acked.append(what)
        self._acked_changed.set()
        self._acked_changed = trio.Event()

    async def wait_acked(self, n: int) -> None:
        while len(self.acked) < n:
            await self._acked_changed.wait()

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        self._sink = sink
        task_status.started()
        await trio.sleep_forever()

    def capacity(self) -> int:
        return self.window - len(self.held)

    async def wait_capacity(self) -> None:
        while self.capacity() <= 0:
            self._room = trio.Event()
            await self._room.wait()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        self.held += parts
        self.sent += parts
        self._sent_changed.set()
        self._sent_changed = trio.Event()

    def state(self) -> DriverState:
        return DriverState(up=True, window=self.window, in_flight=len(self.held))

    async def wait_sent(self, n: int) -> None:
        while len(self.sent) < n:
            await self._sent_changed.wait()

    async def answer(self) -> None:
        """The carrier accepted everything held (its window is free at once)."""
        batch, self.held = self.held, []
        self._room.set()
        assert self._sink is not None
        await self._sink.outcomes(
            [Outcome(part_id=p.part_id, carrier_id=f"c{p.part_id}") for p in batch]
        )
        self._ack("outcomes")

    async def receipts(self, parts: Sequence[OutboundPart]) -> None:
        assert self._sink is not None
        await self._sink.receipts(
            [Receipt(route="sim", carrier_id=f"c{p.part_id}", state="delivered") for p in parts]
        )
        self._ack("receipts")  # deliver_sm_resp goes out only now

    async def mo(self, text: str) -> None:
        assert self._sink is not None
        msg = InboundMessage(
            route="sim", sender="+4917099999999", to="12345", text=text, received_at=wall()
        )
        await self._sink.inbound([msg])
        self._ack("inbound")  # AT+CMGD / deliver_sm_resp only now


async def start(
    nursery: trio.Nursery, tmp: Path, carrier: HeldCarrier
) -> tuple[SqliteStore, Scheduler, Metrics]:
    metrics = Metrics()
    store = SqliteStore(
        str(tmp / "q.db"),
        metrics=metrics,
        policy=DispatchPolicy(max_attempts={"sim": 5}),
        synchronous="normal",
        busy_timeout=0.05,
    )
    await store.open()
    nursery.start_soon(hold_clock_while_busy, store)
    nursery.start_soon(store.watch_health)
    scheduler = Scheduler(store, metrics, wall)
    runner = RouteRunner(
        "sim", carrier, RouteLimiter(1000, 1000, trio.current_time()), store, metrics, wall
    )
    scheduler.add(runner)
    await nursery.start(carrier.run, RouteSink(runner, store, metrics, wall))
    await nursery.start(scheduler.run)
    return store, scheduler, metrics


async def statuses(store: SqliteStore, ids: list[str]) -> list[str]:
    out = []
    for public_id in ids:
        row = await store.get(None, public_id)
        assert row is not None
        out.append(row.status)
    return out


async def test_outcomes_receipts_and_inbound_wait_for_the_store_and_none_is_lost(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    carrier = HeldCarrier(window=10)
    async with trio.open_nursery() as nursery:
        store, scheduler, metrics = await start(nursery, tmp_path, carrier)
        ids = [r.id for r in await store.accept([new_message(i, now=wall()) for i in range(20)])]
        with trio.fail_after(30):
            await carrier.wait_sent(10)
        first = list(carrier.sent)

        # The file system goes read-only while ten parts are with the carrier.
        await store._writer.debug_reopen("ro")
        nursery.start_soon(carrier.answer)
        nursery.start_soon(carrier.receipts, first[:3])
        nursery.start_soon(carrier.mo, "STOP")
        with trio.fail_after(30):
            await store.health.wait_down()
        await trio.sleep(60)  # a minute of outage, timers and probe included
        # Nothing that is not stored was acknowledged, and nothing new was claimed although
        # the carrier's window is free.
        assert carrier.acked == []
        assert len(carrier.sent) == 10 and scheduler.runners["sim"].claimed == 10
        assert not store.health.up

        # Writable again: everything resumes by itself.
        await store._writer.debug_reopen("rw", now=False)
        with trio.fail_after(120):
            await store.health.wait_up()
            await carrier.wait_sent(20)
            await carrier.wait_acked(3)
        assert sorted(carrier.acked) == ["inbound", "outcomes", "receipts"]
        await carrier.answer()
        await carrier.receipts(carrier.sent)
        assert await statuses(store, ids) == ["delivered"] * 20
        # Each part went to the carrier exactly once: no duplicate SMS, none forgotten.
        sent_ids = [p.part_id for p in carrier.sent]
        assert len(sent_ids) == len(set(sent_ids)) == 20
        assert metrics.registry.get_sample_value(
            "smsgw_duplicates_risked_total", {"route": "sim"}
        ) in (None, 0.0)
        assert [m.text for m in await store.inbound()] == ["STOP"]
        assert metrics.registry.get_sample_value(
            "smsgw_task_failures_total", {"task": "runner:sim"}
        ) in (None, 0.0)
        nursery.cancel_scope.cancel()
    await store.close()


async def test_runners_and_timers_survive_an_outage_and_go_on(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    carrier = HeldCarrier(window=100)
    async with trio.open_nursery() as nursery:
        store, scheduler, metrics = await start(nursery, tmp_path, carrier)
        # Another process holds the database locked (an sqlite3 shell in a transaction).
        other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        # The runner is woken with work to look for; the timers tick every second.
        scheduler.wake(["sim"])
        with trio.fail_after(300):
            await store._writer.wait_refused({"claim", "promote_due"})
        await trio.sleep(20)
        other.execute("ROLLBACK")
        other.close()
        with trio.fail_after(60):
            await store.health.wait_up()
        # The same tasks, not restarted ones: no failure was counted, and they work.
        for task in ("runner:sim", "timers", "recovery"):
            assert metrics.registry.get_sample_value(
                "smsgw_task_failures_total", {"task": task}
            ) in (None, 0.0)
        [r] = await store.accept([new_message(1, now=wall())])
        [scheduled] = await store.accept([new_message(2, now=wall(), send_at=wall() + 5)])
        with trio.fail_after(60):
            await carrier.wait_sent(2)  # the runner claims; the timers promoted the scheduled
        assert {p.message_id for p in carrier.sent} == {r.id, scheduled.id}
        nursery.cancel_scope.cancel()
    await store.close()


async def test_recovery_at_start_waits_for_a_store_that_cannot_write(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    first = SqliteStore(
        str(tmp_path / "q.db"), metrics=Metrics(), policy=DispatchPolicy(max_attempts={})
    )
    await first.open()
    await first.accept([new_message(i, now=wall()) for i in range(5)])
    assert len(await first.claim("sim", 5, wall())) == 5  # in flight when the process died
    await first.close()

    carrier = HeldCarrier(window=100)
    async with trio.open_nursery() as nursery:
        metrics = Metrics()
        store = SqliteStore(
            str(tmp_path / "q.db"),
            metrics=metrics,
            policy=DispatchPolicy(max_attempts={"sim": 5}),
            busy_timeout=0.05,
        )
        await store.open()
        nursery.start_soon(hold_clock_while_busy, store)
        nursery.start_soon(store.watch_health)
        await store._writer.debug_reopen("ro")
        scheduler = Scheduler(store, metrics, wall)
        runner = RouteRunner(
            "sim", carrier, RouteLimiter(1000, 1000, trio.current_time()), store, metrics, wall
        )
        scheduler.add(runner)
        await nursery.start(carrier.run, RouteSink(runner, store, metrics, wall))
        with trio.fail_after(30):
            await nursery.start(scheduler.run)  # starts although recovery cannot write yet
        await trio.sleep(30)
        assert carrier.sent == []
        await store._writer.debug_reopen("rw", now=False)
        with trio.fail_after(120):
            await carrier.wait_sent(5)
        assert (
            metrics.registry.get_sample_value("smsgw_duplicates_risked_total", {"route": "sim"})
            == 5
        )
        nursery.cancel_scope.cancel()
    await store.close()
