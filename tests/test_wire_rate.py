"""The route's rate held on the wire, measured where the carrier counts: at the SMSC simulator's
receive time of every submit_sm, across all binds.

The whole path runs: a real SQLite store, the scheduler's runner and limiter, the SMPP driver
with two binds, the SMSC simulator. On trio's virtual clock (autojump) the binds speak SMPP to
the simulator over in-memory streams, so every time is exact; one test does the same over a
real loopback socket on the real clock.

What is asserted, per route and over all its binds: never more than ``rate`` submits in any
sliding one-second window, never more than ``ceil(rate / 10) + burst`` in any sliding 100 ms,
and at least 98% of ``rate`` sustained under a backlog.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from smsgw.config.schema import SimulatorRouteConfig, SmppRouteConfig, TextConfig
from smsgw.drivers.seam import Driver, DriverState, OutboundPart, Sink
from smsgw.drivers.simulator import SimulatorDriver
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.sim import SimSettings, SmscSim
from smsgw.metrics.instruments import Metrics
from smsgw.queue.model import FINAL
from smsgw.queue.scheduling.limiter import RouteLimiter, default_burst
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink, Scheduler
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.helpers import hold_clock_while_busy, new_message
from tests.wire_helpers import max_in_window, sustained

EPOCH = 1_800_000_000.0


def wall() -> float:
    return EPOCH + trio.current_time()


@dataclass
class Route:
    store: SqliteStore
    runner: RouteRunner
    driver: Driver
    metrics: Metrics
    sim: SmscSim | None = None

    async def send(self, n: int, start: int = 0) -> None:
        await self.store.accept(
            [new_message(start + i, routes=(self.runner.name,), now=wall()) for i in range(n)]
        )

    def times(self) -> list[float]:
        assert self.sim is not None
        return [t for t, _ in self.sim.submit_log]


class Harness:
    def __init__(self, nursery: trio.Nursery, tmp: Path) -> None:
        self.nursery = nursery
        self.tmp = tmp
        self.stores: list[SqliteStore] = []

    async def route(self, driver: Driver, limiter: RouteLimiter) -> Route:
        metrics = driver.metrics if isinstance(driver, SmppDriver) else Metrics()
        store = SqliteStore(
            str(self.tmp / f"q{len(self.stores)}.db"),
            metrics=metrics,
            policy=DispatchPolicy(max_attempts={driver.name: 5}),
            synchronous="normal",
        )
        await store.open()
        self.stores.append(store)
        self.nursery.start_soon(hold_clock_while_busy, store)
        scheduler = Scheduler(store, metrics, wall)
        runner = RouteRunner(driver.name, driver, limiter, store, metrics, wall)
        scheduler.add(runner)
        await self.nursery.start(driver.run, RouteSink(runner, store, metrics, wall))
        await self.nursery.start(scheduler.run)
        return Route(store, runner, driver, metrics)

    async def smpp(
        self, rate: float, *, memory: bool = True, sim: dict[str, Any] | None = None, **kw: Any
    ) -> Route:
        """An SMPP route of two binds to a simulator: in memory (virtual clock) or on TCP."""
        settings = SimSettings(port=0, seed=3, log_submits=True, **(sim or {}))
        smsc = SmscSim(settings)
        await self.nursery.start(partial(smsc.serve, listen=not memory))
        config = SmppRouteConfig(
            **{
                "name": "op",
                "host": "127.0.0.1",
                "port": smsc.port or 1,
                "system_id": "shop",
                "binds": 2,
                "window": 50,
                "rate": rate,
                "reconnect_min": 0.01,
                "reconnect_max": 0.02,
                **kw,
            }
        )
        driver = SmppDriver(
            config, Metrics(), TextConfig(), connect=smsc.connect_memory if memory else None
        )
        limiter = RouteLimiter(
            rate, config.burst, trio.current_time(), throttle_pause=config.throttle_pause
        )
        route = await self.route(driver, limiter)
        route.sim = smsc
        await driver.wait_until(lambda: driver.capacity() == 100)  # both binds up
        return route


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery, tmp_path)
        yield h
        nursery.cancel_scope.cancel()
    for store in h.stores:
        await store.close()


def assert_on_the_wire(times: Sequence[float], rate: float, burst: int) -> None:
    assert max_in_window(times, 1.0) <= rate
    assert max_in_window(times, 0.1) <= math.ceil(rate / 10) + burst


def _by_status(tx: Any) -> dict[str, int]:
    rows = tx.conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


async def all_final(store: SqliteStore, n: int) -> dict[str, int]:
    """Wait until ``n`` messages are final; returns the count per status."""
    while True:
        version = store.version
        counts = await store.call(_by_status)
        if sum(counts.get(s, 0) for s in FINAL) >= n:
            return counts
        await store.wait_changed(version)


@pytest.mark.parametrize("rate", [50, 300, 1000])
async def test_backlog_over_two_binds_stays_under_the_rate_and_uses_it(
    harness: Harness, autojump_clock: trio.testing.MockClock, rate: int
) -> None:
    route = await harness.smpp(rate)
    assert route.sim is not None
    n = rate * 4
    await route.send(n)
    await route.sim.wait_until(lambda st: st.accepted >= n)
    times = route.times()
    assert len(times) == n
    assert {c for _, c in route.sim.submit_log} == {1, 2}  # spread over both binds
    assert_on_the_wire(times, rate, default_burst(rate))
    assert sustained(times) >= 0.98 * rate


async def test_after_an_idle_spell_the_first_second_is_no_burst(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    rate = 300
    route = await harness.smpp(rate)
    assert route.sim is not None
    await route.send(450)
    await route.sim.wait_until(lambda st: st.accepted >= 450)
    await trio.sleep(5.0)  # virtual: the bucket and the window refill completely
    resumed = trio.current_time()
    await route.send(450, start=450)
    await route.sim.wait_until(lambda st: st.accepted >= 900)
    times = route.times()
    assert_on_the_wire(times, rate, default_burst(rate))
    second = [t for t in times if t >= resumed]
    # The first 100 ms after the pause holds one burst plus 100 ms worth, not a second's worth.
    assert sum(1 for t in second if t < resumed + 0.1) <= default_burst(rate) + rate / 10


async def test_configured_burst_is_the_slice_allowance(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    rate, burst = 300, 30
    route = await harness.smpp(rate, burst=burst)
    assert route.sim is not None
    await route.send(600)
    await route.sim.wait_until(lambda st: st.accepted >= 600)
    times = route.times()
    assert_on_the_wire(times, rate, burst)
    assert max_in_window(times[:burst], 0.001) == burst  # it may use the burst it was given


async def test_throttling_backs_off_and_the_wire_still_holds(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    rate = 300
    route = await harness.smpp(rate, sim={"throttle": 0.05}, throttle_pause=0.5)
    assert route.sim is not None
    n = 900
    await route.send(n)
    await route.sim.wait_until(lambda st: st.accepted >= n)
    counts = await all_final(route.store, n)  # throttled parts were requeued, none failed
    assert counts.get("failed", 0) == 0
    times = route.times()
    assert len(times) == n + route.sim.stats.throttled
    assert_on_the_wire(times, rate, default_burst(rate))
    assert route.runner.limiter.throttle_events > 0
    # Each throttle pauses the whole route (both binds) for throttle_pause.
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) >= 0.5
    assert sustained(times) < 0.9 * rate  # it slowed down


async def test_a_silent_bind_is_dead_after_response_timeout_and_its_parts_go_to_the_other(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    rate = 300
    # The bind that gets the 100th submit goes half-open: TCP up, nothing answered.
    route = await harness.smpp(rate, sim={"silent_after": 100})
    sim = route.sim
    assert sim is not None
    n = 1200
    await route.send(n)
    await sim.wait_until(lambda st: st.silenced == 1)
    first_unanswered = trio.current_time()
    # Nothing from it for response_timeout (10 s) with submits outstanding: dead, requeued at
    # once onto the other bind, and reconnected (a third connection).
    await sim.wait_until(lambda st: st.connections == 3)
    detected = trio.current_time()
    assert 10.0 <= detected - first_unanswered <= 10.1
    await all_final(route.store, n)
    silent_conn = sim.submit_log[99][1]
    # From the 100th submit on (over all connections) that connection answered nothing.
    lost = sum(1 for i, (_, c) in enumerate(sim.submit_log) if c == silent_conn and i >= 99)
    assert lost >= 1
    # Every part the dead bind held was counted as a duplicate risk and sent again.
    assert route.metrics.registry.get_sample_value(
        "smsgw_duplicates_risked_total", {"route": "op"}
    ) == float(lost)
    assert route.runner.resent == lost
    assert sim.stats.accepted == n
    assert_on_the_wire(route.times(), rate, default_burst(rate))


async def test_real_socket_to_smsc_sim_holds_the_rate(harness: Harness) -> None:
    # The real clock and a real loopback socket: receive times as the simulator stamped them.
    rate = 300
    route = await harness.smpp(rate, memory=False)
    assert route.sim is not None
    n = 750
    with trio.fail_after(30):
        await route.send(n)
        await route.sim.wait_until(lambda st: st.accepted >= n)
    times = route.times()
    # On the real clock the simulator shares the test's event loop: under load it stamps a
    # read late, by tens of milliseconds, which the pacer's 10 ms guard is not meant to
    # absorb (the exact rule is asserted above on the virtual clock). So the windows here are
    # shortened by REAL_JITTER; the fault this guards against (bursts of ~290 submits within
    # 100 ms, 416-424 in one second at rate 300) still fails them by far.
    assert max_in_window(times, 1.0 - REAL_JITTER) <= rate
    assert max_in_window(times, 0.1 - REAL_JITTER) <= math.ceil(rate / 10) + default_burst(rate)


REAL_JITTER = 0.05
"""Seconds of receive-time jitter the real-socket test tolerates (see there)."""


class _Arrivals(Driver):
    """The built-in simulator route, with the time each part reached it noted (its 'wire')."""

    def __init__(self, inner: SimulatorDriver) -> None:
        self.inner = inner
        self.name = inner.name
        self.metrics = Metrics()
        self.times: list[float] = []

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        await self.inner.run(sink, task_status=task_status)

    def capacity(self) -> int:
        return self.inner.capacity()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        self.times += [trio.current_time()] * len(parts)
        await self.inner.submit(parts)

    def state(self) -> DriverState:
        return self.inner.state()

    async def wait_capacity(self) -> None:
        await self.inner.wait_capacity()


async def test_simulator_route_defaults_obey_the_rule_too(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    config = SimulatorRouteConfig(name="sim", latency=0.01, receipt_delay=0.05, seed=1)
    driver = _Arrivals(SimulatorDriver(config, Metrics()))
    limiter = RouteLimiter(config.rate, config.burst, trio.current_time())
    route = await harness.route(driver, limiter)
    n = 3000
    await route.send(n)
    await all_final(route.store, n)
    assert config.burst is not None
    assert_on_the_wire(driver.times, config.rate, config.burst)
    assert sustained(driver.times) >= 0.98 * config.rate
