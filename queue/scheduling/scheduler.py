"""The scheduler: one runner per route moving parts from the store to the route's driver.

A runner loops: wait for room in the driver, claim a modest batch of ready parts from the store
(priority order: otp, transactional, marketing; FIFO within a class; about
:data:`CLAIM_AHEAD` seconds of the route's rate), then hand them to the driver a slice at a
time, each slice at its token time. When nothing is ready it sleeps until the store says parts
became ready for its route (:meth:`Scheduler.wake`).

Pacing happens here, at the moment parts are handed over: a slice goes to the driver only when
the driver can put all of it on the wire at once (``len(slice) <= driver.capacity()``), and the
limiter records it at that moment. So what the carrier counts at its receive time is what the
limiter counted, whether parts waited for window room, for a throttle pause or for tokens: no
claim batch and no window wait can bunch them. A part a dead link lost comes back through
:meth:`RouteSink.outcomes` (``Outcome.resend``) and leaves again at once, paced like the rest,
on whichever of the route's links has room.

Drivers report back through a :class:`RouteSink`, which records outcomes, receipts and inbound
messages in the store and moves the metrics. A throttled outcome slows the route's limiter.

Time: the limiter runs on ``trio.current_time()`` (so tests use the autojump clock); rows get
wall-clock times from the injected ``wall`` function.

While the store cannot write (:class:`~smsgw.queue.store.health.StoreUnavailable`: disk full, I/O
error, read-only, locked) runners stop claiming, the sink holds each driver's call until what
it carries is stored (a carrier's answer is recorded late, never dropped; a receipt or inbound
message is acknowledged only once stored), and the timers skip their rounds; all of it resumes
when the store's probe finds it writable. Every runner and the timers are supervised
(:func:`~smsgw.drivers.supervise.supervised`): an unexpected exception is logged, counted in
``smsgw_task_failures_total{task}`` and the task restarts with backoff.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial

import trio
from prometheus_client import Counter

from smsgw.drivers.seam import Driver, FailureKind, InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.drivers.supervise import contained, supervised
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.store import Store
from smsgw.queue.store.health import StoreUnavailable, until_stored
from smsgw.words import CLASSES

__all__ = ["RECEIPT_RESULTS", "SUBMIT_ERROR_KINDS", "RouteRunner", "RouteSink", "Scheduler"]

RECEIPT_RESULTS = ("matched", "pending", "late", "duplicate", "unmatched")
"""``smsgw_receipts_total{result}``: every result this module counts (exported at 0 from the
start, see :mod:`smsgw.gateway.known_series`)."""
SUBMIT_ERROR_KINDS = ("throttled", "temporary", "permanent")
"""``smsgw_submit_errors_total{kind}``."""

CLAIM_BATCH = 200
CLAIM_AHEAD = 0.2
"""Seconds of the route's rate claimed from the store at once (at least one slice). The parts
wait in the runner for their token times, so this also bounds how long a code waits behind
parts claimed before it arrived."""
IDLE_POLL = 1.0
"""Seconds a runner with nothing ready waits before looking again without being woken."""
HOLD_MAX = 2.0
PROMOTE_EVERY = 0.25
"""Seconds between looks for scheduled and deferred parts whose time came (a timer fires at
most this late, plus the store call); the other timers run once a second."""
PROMOTE_ROUNDS = 200
"""Store calls (each a bounded batch) one look may make to catch up a backlog of due parts."""
"""Seconds a runner holding claimed parts waits for room before asking whether the route is
down; if it is, the parts go back to the queue (TEMPORARY, not sent) so failover can move them."""
MAX_RESENDS = 1
"""Times a part a dead link lost is sent again at once; after that it waits out a retry."""
GIVE_BACK_GRACE = 5.0
"""Most seconds spent giving held parts back to the store on shutdown."""

InboundHook = Callable[[Sequence[InboundMessage], Sequence[str]], Awaitable[None]]


class RouteRunner:
    """Feeds one route's driver, pacing parts onto its wire (see the module docstring)."""

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
        self._parts: dict[int, OutboundPart] = {}
        """Parts handed to the driver and still without a final outcome, by part id."""
        self._held: deque[OutboundPart] = deque()
        """Claimed (or lost by a dead link) and waiting for their token time."""
        self._resends: dict[int, int] = {}
        self._idle = trio.Event()
        self._idle.set()
        self.draining = False
        self.down_since: float | None = None
        self.claimed = 0
        self.resent = 0
        self.paused_since: float | None = None
        """Wall time an operator paused the route (it claims nothing until resumed)."""
        self._resumed = trio.Event()
        self._resumed.set()
        self._parked = trio.Event()
        self._claiming = False

    @property
    def in_flight(self) -> int:
        return len(self._sent_at)

    @property
    def held(self) -> int:
        """Parts claimed and waiting in the runner for their token time."""
        return len(self._held)

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
        """Claim and release until drained (returns) or cancelled (held parts go back)."""
        task_status.started()
        try:
            while True:
                if not self._held:
                    if self._stopping():
                        break
                    await self.driver.wait_capacity()
                    if self._stopping() or not await self._claim():
                        continue
                await self._release()
        finally:
            if self._held:
                with trio.CancelScope(shield=True), trio.move_on_after(GIVE_BACK_GRACE):
                    await self._give_back("shutdown before it left")

    async def _claim(self) -> bool:
        """Claim what may leave in the next :data:`CLAIM_AHEAD` seconds; False if none came."""
        now = trio.current_time()
        ready = self.limiter.next_time(now)
        if ready > now:  # paused by a throttle, or the window is full: claim nothing yet
            await trio.sleep_until(ready)
            return False
        ahead = max(self.limiter.slice, self.limiter.ahead(now, CLAIM_AHEAD))
        n = min(CLAIM_BATCH, self.driver.capacity(), ahead)
        if n <= 0:
            return False
        if self.paused_since is not None:  # an operator's pause: no claim until resumed
            await self._resumed.wait()
            return False
        self._wake = trio.Event()
        # Outcomes could not be recorded while the store is down: claim nothing new.
        await self.store.health.wait_up()
        self._claiming = True
        try:
            parts = await self.store.claim(self.name, n, self.wall())
        except StoreUnavailable:
            return False
        finally:
            self._claiming = False
            if self.paused:
                self._parked.set()
        if not parts:
            with trio.move_on_after(IDLE_POLL):
                await self._wake.wait()
            return False
        self.claimed += len(parts)
        self._held.extend(parts)
        self._idle = trio.Event()
        return True

    async def _release(self) -> None:
        """Hand the held parts to the driver a slice at a time, each at its token time.

        A slice never exceeds the driver's capacity, so the driver puts all of it on the wire
        at once and the limiter's record is the wire's.
        """
        held, limiter = self._held, self.limiter
        while held:
            room = self.driver.capacity()
            if room <= 0:
                await self._wait_room()
                continue
            now = trio.current_time()
            allowed = limiter.available(now)
            want = min(len(held), room, limiter.slice)
            if allowed < want:
                await trio.sleep_until(limiter.next_time(now, want))
                continue
            k = min(allowed, room, len(held))
            parts = [held.popleft() for _ in range(k)]
            limiter.take(k, now)
            for p in parts:
                self._sent_at[p.part_id] = now
                self._parts[p.part_id] = p
            await self.driver.submit(parts)

    async def _wait_room(self) -> None:
        with trio.move_on_after(HOLD_MAX):
            await self.driver.wait_capacity()
            return
        if not self.driver.state().up:
            await self._give_back("the route went down before it left")

    async def _give_back(self, reason: str) -> None:
        """Return every held part to the queue as a TEMPORARY failure that did not leave."""
        parts = list(self._held)
        self._held.clear()
        outcomes = [
            Outcome(
                part_id=p.part_id, failure=FailureKind.TEMPORARY, code="not_sent", reason=reason
            )
            for p in parts
        ]
        await until_stored(
            self.store.health, lambda: self.store.record_outcomes(outcomes, self.wall())
        )
        self.settled(p.part_id for p in parts)

    def take_back(self, items: Sequence[Outcome]) -> tuple[list[Outcome], int]:
        """Parts a dead link lost (``resend``) go back to the front of the held queue, to leave
        again at once on the route's other links.

        Returns the outcomes to record as usual (not resent: unknown, already resent
        :data:`MAX_RESENDS` times, or the runner is draining) and how many of the taken back
        may have left already (duplicates risked).
        """
        if self.draining:
            return list(items), 0
        keep: list[Outcome] = []
        back: list[OutboundPart] = []
        risked = 0
        for o in items:
            part = self._parts.get(o.part_id) if o.resend else None
            if part is None or self._resends.get(o.part_id, 0) >= MAX_RESENDS:
                keep.append(o)
                continue
            self._resends[o.part_id] = self._resends.get(o.part_id, 0) + 1
            back.append(part)
            risked += o.maybe_sent
        if back:
            self._held.extendleft(reversed(back))
            self.resent += len(back)
            self._idle = trio.Event()
            self.wake()
        return keep, risked

    def settled(self, part_ids: Iterable[int]) -> None:
        """Parts got their outcome: observe latency, and signal idleness for draining."""
        now = trio.current_time()
        pop = self._sent_at.pop
        sent = []
        for pid in part_ids:
            sent.append(pop(pid, None))
            self._parts.pop(pid, None)
            if self._resends:
                self._resends.pop(pid, None)
        self.metrics.submit_latency.labels(self.name).observe_many(
            [now - t for t in sent if t is not None]
        )
        if not self._sent_at and not self._held:
            self._idle.set()

    async def drain(self) -> None:
        """Stop claiming; wait until every claimed part has left and has its outcome."""
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
        self._submitted: dict[str, Counter] = {
            c: metrics.parts_submitted.labels(route, c) for c in CLASSES
        }

    # Each call returns only once what it carries is stored; while the store is unavailable it
    # waits (and retries) instead of failing, so the driver neither drops an outcome nor acks
    # a receipt or an inbound message that is not on disk.

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        if any(o.resend for o in items):
            kept, risked = self.runner.take_back(items)
            if risked:
                self._dups.inc(risked)
            if not kept:
                return
            items = kept
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
        next_tick = trio.current_time()
        while True:
            # The store's probe watches an unavailable store; the next round tries again.
            with contextlib.suppress(StoreUnavailable):
                await self._promote(self.wall())
                if trio.current_time() >= next_tick:
                    await self._tick(tick)
                    tick += 1
                    next_tick += 1.0
            await trio.sleep(PROMOTE_EVERY)

    async def _promote(self, now: float) -> None:
        """Everything due by ``now`` becomes ready, a bounded batch per store call, so a
        backlog of timers (after a stop) is caught up at once rather than a batch a round."""
        for _ in range(PROMOTE_ROUNDS):
            if not await self.store.promote_due(now):
                return

    async def _tick(self, tick: int) -> None:
        now = self.wall()
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
            await self.store.expire_dedupe(now)

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
