"""The built-in carrier simulator: a route that needs no SMSC contract and no modem.

It behaves like a carrier seen through the seam: parts are accepted after ``latency`` seconds
(or refused: a configurable fraction each of throttled, temporary and permanent failures), and
accepted parts get a delivery receipt ``receipt_delay`` seconds later (a fraction of them
undeliverable). Randomness comes from a seeded ``random.Random`` so tests can be exact.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Sequence

import trio

from smsgw.config.schema import SimulatorRouteConfig
from smsgw.drivers.seam import (
    Driver,
    DriverState,
    FailureKind,
    OutboundPart,
    Outcome,
    Receipt,
    ReceiptState,
    Sink,
)
from smsgw.metrics.instruments import Metrics

__all__ = ["SimulatorDriver"]

# The refusals a simulated carrier draws, in the order their config fractions are read.
_FAILURES = (
    (FailureKind.THROTTLED, "0x00000058", "simulated throttling"),
    (FailureKind.TEMPORARY, "0x00000008", "simulated system error"),
    (FailureKind.PERMANENT, "0x0000000B", "simulated invalid destination"),
)

_SHUTDOWN_GRACE = 5.0
"""Most seconds shutdown waits for the sink to take the outcomes still owed."""


class SimulatorDriver(Driver):
    """A simulated carrier with a window of ``config.window`` outstanding parts."""

    def __init__(self, config: SimulatorRouteConfig, metrics: Metrics) -> None:
        self.name = config.name
        self.config = config
        self._metrics = metrics
        self._rng = random.Random(config.seed)
        # Ids stay unique across restarts: a receipt resumed after a crash must not match a
        # part the new process submitted.
        self._ids = itertools.count(int(time.time() * 1000) << 16)
        self._pending: deque[tuple[float, OutboundPart]] = deque()
        self._receipts: list[tuple[float, int, Receipt]] = []
        self._in_flight = 0
        self._work = trio.Event()
        self._room = trio.Event()
        self._receipt_work = trio.Event()
        self._up = False
        self._held = False
        self.since = time.time()
        """Since when the carrier is reachable or not (unix seconds, for the ops console)."""
        self._link = metrics.link_up.labels(config.name, "sim")
        self.submitted = 0

    # -- the seam --------------------------------------------------------------------------

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        """Run until cancelled; reports started at once (a simulator is always reachable).
        Cancelled, it reports the parts it has not answered yet as TEMPORARY failures."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._accept_loop, sink)
            nursery.start_soon(self._receipt_loop, sink)
            self._set_up(not self._held)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._set_up(False)
                await self._give_back(sink)

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self.since = time.time()
        self._up = up
        self._link.set(1 if up else 0)
        if up:
            self._room.set()

    def hold_link(self, link: str, held: bool) -> bool:
        """The simulated carrier becomes unreachable (``held``) or reachable again; parts it
        has already taken are still answered."""
        if link != "sim":
            return False
        self._held = held
        self._set_up(not held)
        return True

    def capacity(self) -> int:
        return max(0, self.config.window - self._in_flight) if self._up else 0

    async def wait_capacity(self) -> None:
        while self.capacity() <= 0:
            if self._room.is_set():  # set by a drained window while held: wait for the next
                self._room = trio.Event()
            await self._room.wait()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        """Take the parts; each is answered ``latency`` seconds from now."""
        due = trio.current_time() + self.config.latency
        for part in parts:
            self._pending.append((due, part))
        self._in_flight += len(parts)
        if self._in_flight >= self.config.window:
            self._room = trio.Event()
        self._work.set()

    forgets_on_restart = True

    async def resume(self, awaiting: Sequence[str]) -> None:
        """Deliver (or not) what the simulated carrier had accepted before a crash."""
        due = trio.current_time() + self.config.receipt_delay
        for n, carrier_id in enumerate(awaiting, 1):  # negative keys: no part id collides
            heapq.heappush(self._receipts, (due, -n, self._receipt(carrier_id)))
        if self._receipts:
            self._receipt_work.set()

    def state(self) -> DriverState:
        return DriverState(
            up=self._up,
            links=[
                {
                    "name": "sim",
                    "state": "up" if self._up else "down",
                    "in_flight": self._in_flight,
                    "window": self.config.window,
                    "submitted": self.submitted,
                    "held": self._held,
                    "since": self.since,
                }
            ],
            window=self.config.window,
            in_flight=self._in_flight,
        )

    # -- the carrier -----------------------------------------------------------------------

    async def _accept_loop(self, sink: Sink) -> None:
        while True:
            if not self._pending:
                self._work = trio.Event()
                await self._work.wait()
                continue
            wait = self._pending[0][0] - trio.current_time()
            if wait > 0:
                await trio.sleep(wait)
            now = trio.current_time()
            batch: list[OutboundPart] = []
            while self._pending and self._pending[0][0] <= now:
                batch.append(self._pending.popleft()[1])
            outcomes = [self._answer(p) for p in batch]
            with trio.CancelScope(shield=True), trio.move_on_after(_SHUTDOWN_GRACE):
                # Answered: an outcome lost to shutdown would leave its part "sending".
                await sink.outcomes(outcomes)
            self._in_flight -= len(batch)
            self._room.set()
            self._schedule_receipts(outcomes, trio.current_time())

    async def _give_back(self, sink: Sink) -> None:
        """At shutdown, the parts not answered yet go back to the queue (TEMPORARY)."""
        parts = [part for _, part in self._pending]
        self._pending.clear()
        if not parts:
            return
        self._in_flight -= len(parts)
        outcomes = [
            Outcome(
                part_id=p.part_id,
                failure=FailureKind.TEMPORARY,
                code="shutdown",
                reason="the simulator stopped before answering",
            )
            for p in parts
        ]
        with trio.CancelScope(shield=True), trio.move_on_after(_SHUTDOWN_GRACE):
            await sink.outcomes(outcomes)

    def _answer(self, part: OutboundPart) -> Outcome:
        c, r = self.config, self._rng.random()
        for share, (failure, code, reason) in zip(
            (c.throttle, c.fail_temporary, c.fail_permanent), _FAILURES, strict=True
        ):
            if r < share:
                return Outcome(part_id=part.part_id, failure=failure, code=code, reason=reason)
            r -= share
        self.submitted += 1
        return Outcome(part_id=part.part_id, carrier_id=format(next(self._ids), "x"))

    def _schedule_receipts(self, outcomes: Sequence[Outcome], now: float) -> None:
        due = now + self.config.receipt_delay
        for o in outcomes:
            if o.carrier_id is not None:
                heapq.heappush(self._receipts, (due, o.part_id, self._receipt(o.carrier_id)))
        if self._receipts:
            self._receipt_work.set()

    def _receipt(self, carrier_id: str) -> Receipt:
        state: ReceiptState = (
            "undelivered" if self._rng.random() < self.config.undeliverable else "delivered"
        )
        return Receipt(
            route=self.name,
            carrier_id=carrier_id,
            state=state,
            error_code="" if state == "delivered" else "001",
        )

    async def _receipt_loop(self, sink: Sink) -> None:
        while True:
            if not self._receipts:
                self._receipt_work = trio.Event()
                await self._receipt_work.wait()
                continue
            wait = self._receipts[0][0] - trio.current_time()
            if wait > 0:
                await trio.sleep(wait)
            now = trio.current_time()
            batch: list[Receipt] = []
            while self._receipts and self._receipts[0][0] <= now:
                batch.append(heapq.heappop(self._receipts)[2])
            if batch:
                await sink.receipts(batch)
