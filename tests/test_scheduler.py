"""The scheduler on trio's virtual clock: priority, the rate contract, throttling, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.config.schema import SimulatorRouteConfig
from smsgw.drivers.seam import Driver, DriverState, OutboundPart, Outcome, Sink
from smsgw.drivers.simulator import SimulatorDriver
from smsgw.metrics.instruments import Metrics
from smsgw.queue.model import FINAL
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink, Scheduler
from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.helpers import hold_clock_while_busy, new_message

EPOCH = 1_800_000_000.0


def wall() -> float:
    return EPOCH + trio.current_time()


class RecordingDriver(Driver):
    """A carrier that accepts everything at once and remembers when each part arrived."""

    def __init__(self, name: str = "sim", window: int = 1000) -> None:
        self.name = name
        self.window = window
        self.log: list[tuple[float, OutboundPart]] = []
        self._sink: Sink | None = None
        self._in_flight = 0

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        self._sink = sink
        task_status.started()
        await trio.sleep_forever()

    def capacity(self) -> int:
        return self.window - self._in_flight

    async def wait_capacity(self) -> None:
        await trio.lowlevel.checkpoint()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        assert self._sink is not None
        now = trio.current_time()
        self.log += [(now, p) for p in parts]
        self._in_flight += len(parts)
        await self._sink.outcomes(
            [Outcome(part_id=p.part_id, carrier_id=f"id{p.part_id}") for p in parts]
        )
        self._in_flight -= len(parts)

    def state(self) -> DriverState:
        return DriverState(up=True, window=self.window, in_flight=self._in_flight)


class Harness:
    def __init__(self, nursery: trio.Nursery, tmp: Path) -> None:
        self.nursery = nursery
        self.tmp = tmp
        self.stores: list[Store] = []


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery, tmp_path)
        yield h
        nursery.cancel_scope.cancel()
    for store in h.stores:
        await store.close()


async def start(
    h: Harness, driver: Driver, rate: float, burst: int
) -> tuple[Store, Scheduler, Metrics]:
    nursery, tmp = h.nursery, h.tmp
    metrics = Metrics()
    store = SqliteStore(
        str(tmp / "q.db"),
        metrics=metrics,
        policy=DispatchPolicy(max_attempts={driver.name: 5}),
        synchronous="normal",
    )
    await store.open()
    h.stores.append(store)
    nursery.start_soon(hold_clock_while_busy, store)
    scheduler = Scheduler(store, metrics, wall)
    runner = RouteRunner(
        driver.name, driver, RouteLimiter(rate, burst, trio.current_time()), store, metrics, wall
    )
    scheduler.add(runner)
    await nursery.start(driver.run, RouteSink(runner, store, metrics, wall))
    await nursery.start(scheduler.run)
    return store, scheduler, metrics


async def test_codes_first_behind_a_marketing_backlog(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    driver = RecordingDriver()
    store, _, _ = await start(harness, driver, rate=50, burst=50)
    await store.accept([new_message(i, msg_class="marketing", now=wall()) for i in range(2000)])
    await trio.sleep(1.0)
    [otp] = await store.accept([new_message(99_999, msg_class="otp", now=wall())])
    with trio.fail_after(10):
        while not any(p.message_id == otp.id for _, p in driver.log):
            await store.wait_changed(store.version)
    position = next(i for i, (_, p) in enumerate(driver.log) if p.message_id == otp.id)
    # Only what had already been claimed in the second before it went ahead: about 2 x burst.
    assert position <= 150


async def test_route_never_exceeds_its_rate_in_any_second(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    driver = RecordingDriver()
    store, _, _ = await start(harness, driver, rate=20, burst=20)
    await store.accept([new_message(i, now=wall()) for i in range(200)])
    with trio.fail_after(60):
        while len(driver.log) < 200:
            await store.wait_changed(store.version)
    times = [t for t, _ in driver.log]
    for t0 in times:
        assert sum(1 for t in times if t0 <= t < t0 + 1.0) <= 20
    # ...and it uses the contract: 200 parts at 20/s take about 10 s, not much more.
    assert times[-1] - times[0] < 10.5


async def test_throttling_slows_the_route_and_fails_nothing(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    config = msgspec.convert(
        {
            "name": "sim",
            "driver": "simulator",
            "rate": 100,
            "burst": 20,
            "latency": 0.01,
            "receipt_delay": 0.1,
            "throttle": 0.3,
            "seed": 7,
        },
        SimulatorRouteConfig,
    )
    metrics_driver = Metrics()
    driver = SimulatorDriver(config, metrics_driver)
    store, scheduler, metrics = await start(harness, driver, rate=100, burst=20)
    results = await store.accept([new_message(i, now=wall()) for i in range(300)])
    with trio.fail_after(600):
        for r in results:
            while True:
                version = store.version
                row = await store.get(None, r.id)
                assert row is not None
                if row.status in FINAL:
                    break
                await store.wait_changed(version)
            assert row.status == "delivered"
    assert scheduler.runners["sim"].limiter.throttle_events > 0
    sample = metrics.registry.get_sample_value(
        "smsgw_submit_errors_total", {"route": "sim", "kind": "throttled"}
    )
    assert sample is not None and sample > 0


async def test_a_message_that_cannot_leave_in_time_expires(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    driver = RecordingDriver()
    store, _, _ = await start(harness, driver, rate=1, burst=1)
    accepted_at = trio.current_time()
    results = await store.accept(
        [new_message(i, msg_class="otp", now=wall(), validity=5) for i in range(20)]
    )
    await trio.sleep(30)
    statuses = []
    for r in results:
        row = await store.get(None, r.id)
        assert row is not None
        statuses.append(row.status)
    # About one per second left while valid; the rest expired in the queue, none sent late.
    assert 4 <= statuses.count("submitted") <= 7
    assert statuses.count("expired") == 20 - statuses.count("submitted")
    assert all(t - accepted_at < 5.0 for t, _ in driver.log)


async def test_the_timers_prune_dedupe_entries_whose_window_ended(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    from smsgw.queue.store.sqlite.writer import Tx

    driver = RecordingDriver()
    store, _, _ = await start(harness, driver, rate=50, burst=50)
    short, long = (
        msgspec.structs.replace(
            new_message(i, now=wall()), dedupe_key="welcome", dedupe_until=wall() + window
        )
        for i, window in ((1, 30.0), (2, 86400.0))
    )
    await store.accept([short, long])
    assert isinstance(store, SqliteStore)

    def held(tx: Tx) -> list[str]:
        return [n for (n,) in tx.conn.execute("SELECT to_number FROM dedupe ORDER BY to_number")]

    assert await store.call(held) == [short.to, long.to]
    await trio.sleep(65.0)  # past the window, and past the minute the timers prune at
    assert await store.call(held) == [long.to]
