"""The scheduler: one runner per route moving parts from the store to the route's driver.

A runner loops: wait for room in the driver, wait for the route's limiter to allow parts,
claim that many ready parts from the store (priority order: otp, transactional, marketing;
FIFO within a class), hand them to the driver. When nothing is ready it sleeps until the store
says parts became ready for its route (:meth:`Scheduler.wake`).

Drivers report back through a :class:`RouteSink`, which records outcomes, receipts and inbound
messages in the store and moves the metrics. A throttled outcome slows the route's limiter.

Time: the limiter runs on ``trio.current_time()`` (so tests use the autojump clock); rows get
wall-clock times from the injected ``wall`` function.

While the store cannot write (:class:`~smsgw.queue.health.StoreUnavailable`: disk full, I/O
error, read-only, locked) runners stop claiming, the sink holds each driver's call until what
it carries is stored (a carrier's answer is recorded late, never dropped; a receipt or inbound
message is acknowledged only once stored), and the timers skip their rounds; all of it resumes
when the store's probe finds it writable. Every runner and the timers are supervised
(:func:`~smsgw.drivers.supervise.supervised`): an unexpected exception is logged, counted in
``smsgw_task_failures_total{task}`` and the task restarts with backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial

import trio

from smsgw.drivers.seam import Driver, InboundMessage, Outcome, Receipt
from smsgw.drivers.supervise import contained, supervised
from smsgw.metrics.instruments import Metrics
from smsgw.queue.health import StoreUnavailable, until_stored
from smsgw.queue.limiter import RouteLimiter
from smsgw.queue.store import Store

__all__ = ["RECEIPT_RESULTS", "SUBMIT_ERROR_KINDS", "RouteRunner", "RouteSink", "Scheduler"]

RECEIPT_RESULTS = ("matched", "pending", "late", "duplicate", "unmatched")
"""``smsgw_receipts_total{result}``: every result this module counts (exported at 0 from the
start, see :mod:`smsgw.gateway.known_series`)."""
SUBMIT_ERROR_KINDS = ("throttled", "temporary", "permanent")
"""``smsgw_submit_errors_total{kind}``."""

CLAIM_BATCH = 200
IDLE_POLL = 1.0
"""Seconds a runner with nothing ready waits before looking again without being woken."""

InboundHook = Callable[[Sequence[InboundMessage], Sequence[str]], Awaitable[None]]


class RouteRunner:
    """Feeds one route's driver."""

    def __init__(
        self,
        name: str,
        driver: Driver,
        limiter: RouteLimiter,
        store: Store,
        metrics: Metrics,
        wall: Callable[[], float],
    ) -> None:
        self.name = name
        self.driver = driver
        self.limiter = limiter
        self.store = store
        self.metrics = metrics
        self.wall = wall
        self._wake = trio.Event()
        self._sent_at: dict[int, float] = {}
        self._idle = trio.Event()
        self._idle.set()
        self.draining = False
        self.down_since: float | None = None
        self.claimed = 0
        self.paused_since: float | None = None
        """Wall time an operator paused the route (it claims nothing until resumed)."""
        self._resumed = trio.Event()
        self._resumed.set()
        self._parked = trio.Event()
        self._claiming = False

    @property
    def in_flight(self) -> int:
        return len(self._sent_at)

    def wake(self) -> None:
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def pause(self, at: float) -> None:
        """Stop claiming for this route (an operator's pause); parts already handed to the
        driver still get their outcomes. Idempotent."""
        if self.paused_since is None:
            self.paused_since = at
            self._resumed = trio.Event()
            self._parked = trio.Event()
            if not self._claiming:
                self._parked.set()

    def resume(self) -> None:
        """Claim again (idempotent)."""
        self.paused_since = None
        self._resumed.set()

    async def wait_parked(self) -> None:
        """Once paused: return when no claim is under way (one that began before the pause
        may finish and its parts leave); from then on none starts until :meth:`resume`."""
        await self._parked.wait()

    def _stopping(self) -> bool:
        return self.draining

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.draining:
            await self.driver.wait_capacity()
            if self._stopping():
                break
            now = trio.current_time()
            allowed = self.limiter.available(now)
            if allowed <= 0:
                await trio.sleep_until(self.limiter.next_time(now))
                continue
            n = min(allowed, self.driver.capacity(), CLAIM_BATCH)
            if n <= 0:
                continue
            if self.paused_since is not None:  # an operator's pause: no claim until resumed
                await self._resumed.wait()
                continue
            self._wake = trio.Event()
            # Outcomes could not be recorded while the store is down: claim nothing new.
            await self.store.health.wait_up()
            self._claiming = True
            try:
                parts = await self.store.claim(self.name, n, self.wall())
            except StoreUnavailable:
                continue
            finally:
                self._claiming = False
                if self.paused:
                    self._parked.set()
            if not parts:
                with trio.move_on_after(IDLE_POLL):
                    await self._wake.wait()
                continue
            self.limiter.take(len(parts), now)
            self.claimed += len(parts)
            sent = trio.current_time()
            for p in parts:
                self._sent_at[p.part_id] = sent
            self._idle = trio.Event()
            await self.driver.submit(parts)

    def settled(self, part_ids: Iterable[int]) -> None:
        """Parts got their outcome: observe latency, and signal idleness for draining."""
        now = trio.current_time()
        pop = self._sent_at.pop
        sent = [pop(pid, None) for pid in part_ids]
        self.metrics.submit_latency.labels(self.name).observe_many(
            [now - t for t in sent if t is not None]
        )
        if not self._sent_at:
            self._idle.set()

    async def drain(self) -> None:
        """Stop claiming and wait until every part handed to the driver has its outcome."""
        self.draining = True
        self._wake.set()
        await self._idle.wait()


class RouteSink:
    """The :class:`~smsgw.drivers.seam.Sink` a route's driver reports to."""

    def __init__(
        self,
        runner: RouteRunner,
        store: Store,
        metrics: Metrics,
        wall: Callable[[], float],
        on_inbound: InboundHook | None = None,
    ) -> None:
        self.runner = runner
        self.store = store
        self.metrics = metrics
        self.wall = wall
        self.on_inbound = on_inbound
        route = runner.name
        self._throttled = metrics.submit_errors.labels(route, "throttled")
        self._temporary = metrics.submit_errors.labels(route, "temporary")
        self._permanent = metrics.submit_errors.labels(route, "permanent")
        self._dups = metrics.duplicates_risked.labels(route)
        self._route_throttled = metrics.route_throttled.labels(route)
        self._submitted = {
            c: metrics.parts_submitted.labels(route, c)
            for c in ("otp", "transactional", "marketing")
        }

    # Each call returns only once what it carries is stored; while the store is unavailable it
    # waits (and retries) instead of failing, so the driver neither drops an outcome nor acks
    # a receipt or an inbound message that is not on disk.

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        summary = await until_stored(
            self.store.health, lambda: self.store.record_outcomes(items, self.wall())
        )
        self.runner.settled(o.part_id for o in items)
        for _, msg_class in summary.submitted:
            self._submitted[msg_class].inc()
        if summary.throttled:
            self._throttled.inc(summary.throttled)
            self._route_throttled.inc()
            self.runner.limiter.throttled(trio.current_time())
        if summary.temporary:
            self._temporary.inc(summary.temporary)
        if summary.permanent:
            self._permanent.inc(summary.permanent)
        if summary.duplicates_risked:
            self._dups.inc(summary.duplicates_risked)
        if summary.receipts_late:
            self.metrics.receipts.labels(self.runner.name, "late").inc(summary.receipts_late)
        if summary.requeued_now:
            self.runner.wake()

    async def receipts(self, items: Sequence[Receipt]) -> None:
        summary = await until_stored(
            self.store.health, lambda: self.store.record_receipts(items, self.wall())
        )
        route = self.runner.name
        if summary.matched:
            self.metrics.receipts.labels(route, "matched").inc(summary.matched)
        if summary.pending:
            self.metrics.receipts.labels(route, "pending").inc(summary.pending)
        if summary.duplicate:
            self.metrics.receipts.labels(route, "duplicate").inc(summary.duplicate)

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        ids = await until_stored(self.store.health, lambda: self.store.add_inbound(items))
        self.metrics.inbound.labels(self.runner.name).inc(len(items))
        hook = self.on_inbound
        if hook is not None:
            # The messages are stored: whatever goes wrong in keyword handling must not stop
            # the driver from acknowledging them (a resent copy would be stored twice).
            await contained(
                "inbound",
                lambda: hook(items, ids),
                on_failure=self._failed,
                context=f"{len(items)} inbound message(s) on route {self.runner.name}",
            )

    def _failed(self, task: str) -> None:
        self.metrics.task_failures.labels(task).inc()


class Scheduler:
    """All route runners plus the timers that promote, expire, recover and fail over."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        wall: Callable[[], float],
        *,
        submit_timeout: float = 120.0,
        failover_after: float = 10.0,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.wall = wall
        self.submit_timeout = submit_timeout
        self.failover_after = failover_after
        self.runners: dict[str, RouteRunner] = {}
        store.on_ready = self.wake

    def add(self, runner: RouteRunner) -> None:
        self.runners[runner.name] = runner

    def wake(self, routes: Iterable[str]) -> None:
        for name in routes:
            runner = self.runners.get(name)
            if runner is not None:
                runner.wake()

    def is_up(self, route: str) -> bool:
        runner = self.runners.get(route)
        return runner is not None and runner.driver.state().up

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover what a crash left in flight, then run every route and the timers.

        Reports started at once; if the store cannot write yet, recovery waits for it and the
        runners wait for recovery (parts left ``sending`` must be queued before any is
        claimed again).
        """
        recovered = trio.Event()
        async with trio.open_nursery() as nursery:
            try:
                await self._recover()
                recovered.set()
            except StoreUnavailable:
                later = partial(self._recover_later, recovered)
                nursery.start_soon(self._supervised, "recovery", later)
            for runner in self.runners.values():
                feed = partial(self._run_runner, runner, recovered)
                nursery.start_soon(self._supervised, f"runner:{runner.name}", feed)
            nursery.start_soon(self._supervised, "timers", partial(self._timers, recovered))
            task_status.started()

    async def _supervised(self, name: str, fn: Callable[[], Awaitable[object]]) -> None:
        await supervised(name, fn, on_failure=self._failed)

    def _failed(self, task: str) -> None:
        self.metrics.task_failures.labels(task).inc()

    async def _recover(self) -> None:
        recovered = await self.store.recover_in_flight(self.wall())
        for route in recovered:
            self.metrics.duplicates_risked.labels(route).inc()
        for runner in self.runners.values():
            if runner.driver.forgets_on_restart:
                await runner.driver.resume(await self.store.awaiting_receipts(runner.name))

    async def _recover_later(self, done: trio.Event) -> None:
        await until_stored(self.store.health, self._recover)
        done.set()
        await trio.sleep_forever()  # a supervised task does not return

    @staticmethod
    async def _run_runner(runner: RouteRunner, recovered: trio.Event) -> None:
        await recovered.wait()
        await runner.run()
        await trio.sleep_forever()  # drained for shutdown: stay, a supervised task does not end

    async def drain(self, deadline: float) -> None:
        """Stop claiming everywhere; wait for outstanding outcomes until ``deadline``."""
        with trio.move_on_at(deadline):
            async with trio.open_nursery() as nursery:
                for runner in self.runners.values():
                    nursery.start_soon(runner.drain)

    async def _timers(self, recovered: trio.Event) -> None:
        await recovered.wait()
        tick = 0
        while True:
            # The store's probe watches an unavailable store; the next round tries again.
            with contextlib.suppress(StoreUnavailable):
                await self._tick(tick)
            tick += 1
            await trio.sleep(1.0)

    async def _tick(self, tick: int) -> None:
        now = self.wall()
        await self.store.promote_due(now)
        if tick % 5 == 0:
            await self.store.expire_overdue(now)
            # After an outage, outcomes the sinks held are still being written: a part is not
            # stale (taken back and sent again) for its wait on the store.
            health = self.store.health
            if health.up and trio.current_time() - health.recovered_at >= self.submit_timeout:
                stale = await self.store.recover_in_flight(now, now - self.submit_timeout)
                for route in stale:
                    self.metrics.duplicates_risked.labels(route).inc()
            await self._failover(now)
        if tick % 60 == 0:
            for route in await self.store.expire_pending_receipts(now):
                self.metrics.receipts.labels(route, "unmatched").inc()

    async def _failover(self, now: float) -> None:
        t = trio.current_time()
        for name, runner in self.runners.items():
            up = runner.driver.state().up
            if up:
                runner.down_since = None
                continue
            if runner.down_since is None:
                runner.down_since = t
            if t - runner.down_since >= self.failover_after:
                moved = await self.store.reroute(name, self.is_up, now)
                for target, count in moved.items():
                    self.metrics.failovers.labels(name, target).inc(count)
