"""The SMPP route driver: ``binds`` sessions to one SMSC under trio.

Each bind is a :class:`~smsgw.drivers.smpp.link.Link` (connection loop, session, three tasks);
this module spreads parts over the links, answers capacity questions, and joins inbound parts
across binds. The protocol lives in the sans-IO session; the trio layer moves bytes, reads the
clock and translates events into the seam's outcomes, receipts and inbound messages.

Promises, per the seam:

* every part taken by :meth:`SmppDriver.submit` gets exactly one :class:`Outcome`: submitted
  with the normalised carrier id, or THROTTLED / TEMPORARY / PERMANENT from the route's status
  table; a response that never comes is TEMPORARY with ``maybe_sent=True``, and so is every
  part outstanding on a bind that drops;
* a receipt (deliver_sm/data_sm with a receipt esm_class) is stored with ``Sink.receipts``
  before its deliver_sm_resp is sent; inbound messages are reassembled across binds and stored
  with ``Sink.inbound`` before the parts are acknowledged (an incomplete message's parts are
  acknowledged after ``response_timeout`` so the SMSC does not resend them forever);
* ESME_RTHROTTLED/ESME_RMSGQFUL pause the bind for ``throttle_pause`` (the scheduler slows the
  route's bucket on the THROTTLED outcome);
* cancellation is shutdown: each bound link waits a little for outstanding responses, unbinds,
  and closes.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import trio

from smsgw.config.schema import SmppRouteConfig, TextConfig
from smsgw.drivers.seam import Driver, DriverState, FailureKind, OutboundPart, Outcome, Sink
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.inbound import InboundAssembler, Settled
from smsgw.drivers.smpp.link import SHUTDOWN_GRACE, TASK, Ack, Link
from smsgw.drivers.smpp.pdu import BindMode, DataSm, DeliverSm
from smsgw.drivers.smpp.receipts import IdNormaliser
from smsgw.drivers.smpp.render import Renderer, RenderError
from smsgw.drivers.smpp.session import Session
from smsgw.drivers.smpp.status import StatusTable
from smsgw.drivers.supervise import supervised
from smsgw.metrics.instruments import Metrics

__all__ = ["SmppDriver"]

log = logging.getLogger("smsgw.smpp")


class SmppDriver(Driver):
    """The ``smpp`` route driver (see the module docstring for what it promises).

    ``SmppDriver(config, metrics, text_config)``; start it with
    ``await nursery.start(driver.run, sink)``. Raises ``ValueError`` at construction for a bad
    ``status_overrides`` or TON/NPI override. ``connect``, when given, opens each bind's byte
    stream instead of TCP/TLS to ``host:port`` (tests use in-memory streams to an SMSC
    simulator on trio's virtual clock).
    """

    def __init__(
        self,
        config: SmppRouteConfig,
        metrics: Metrics,
        text_config: TextConfig | None = None,
        *,
        connect: Callable[[], Awaitable[trio.abc.Stream]] | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.metrics = metrics
        self.connect = connect
        self.text_config = text_config or TextConfig()
        self.statuses = StatusTable(config.status_overrides)
        self.ids = IdNormaliser(config.message_id_format)
        self.renderer = Renderer(config)
        self.rng = random.Random()
        self.inbound: InboundAssembler[Ack] = InboundAssembler(
            config.name,
            reassembly_timeout=self.text_config.reassembly_timeout,
            hold=config.response_timeout,
        )
        self._capacity = trio.Event()
        self._inbound_changed = trio.Event()
        self._sink: Sink | None = None
        self._rr = 0
        modes: list[tuple[str, BindMode]] = []
        for i in range(config.binds):
            if config.bind == "trx":
                modes.append((f"bind{i}", "trx"))
            else:
                modes += [(f"bind{i}-tx", "tx"), (f"bind{i}-rx", "rx")]
        self.links = [Link(self, name, mode) for name, mode in modes]
        self._tx_links = [link for link in self.links if link.mode != "rx"]

    # -- the seam ---------------------------------------------------------------------------

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        """Connect every bind and keep them up until cancelled; started at once (links come up
        in the background: :meth:`state` and :meth:`wait_capacity` tell when)."""
        self._sink = sink
        async with trio.open_nursery() as nursery:
            failed = self.task_failed
            for link in self.links:
                # Link.run contains each connection's failures itself; this is the backstop.
                nursery.start_soon(partial(supervised, TASK, link.run, on_failure=failed))
            nursery.start_soon(
                partial(supervised, "smpp_inbound", self._expire_inbound, on_failure=failed)
            )
            task_status.started()

    def capacity(self) -> int:
        """Free window over every bound transmitting link not paused by throttling."""
        return sum(link.free() for link in self._tx_links)

    async def wait_capacity(self) -> None:
        """Return once :meth:`capacity` is above zero; woken by an event, never by polling."""
        while self.capacity() <= 0:
            await self._capacity.wait()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checked whenever a link's state or window
        changes (for tests, the bench and anything that needs "all binds up")."""
        while not predicate():
            await self._capacity.wait()

    def notify_capacity(self) -> None:
        """Wake :meth:`wait_capacity` waiters (something that affects capacity changed)."""
        self._capacity.set()
        self._capacity = trio.Event()

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        """Queue ``parts`` on the binds with room, round-robin; waits while every window is full.

        A part that cannot be rendered (bad address, text the route cannot carry) gets a
        PERMANENT outcome at once. If cancelled while waiting, the parts not yet queued get
        TEMPORARY outcomes (so each part still gets exactly one).
        """
        failed: list[Outcome] = []
        i, n = 0, len(parts)
        try:
            while i < n:
                if self.capacity() <= 0:
                    await self.wait_capacity()
                    continue
                i = self._queue(parts, i, failed)
        except trio.Cancelled:
            failed += [
                Outcome(part_id=p.part_id, failure=FailureKind.TEMPORARY, reason="shutdown")
                for p in parts[i:]
            ]
            with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_GRACE):
                await self.sink().outcomes(failed)
            raise
        if failed:
            await self.sink().outcomes(failed)

    def _queue(self, parts: Sequence[OutboundPart], i: int, failed: list[Outcome]) -> int:
        now = trio.current_time()
        wall = time.time()
        links = [(link, link.free()) for link in self._tx_links]
        links = [(link, free) for link, free in links if free > 0]
        start = self._rr % len(links)
        self._rr += 1
        links = links[start:] + links[:start]
        free = [f for _, f in links]
        k, n, touched = 0, len(parts), set()
        while i < n and any(free):
            while not free[k]:
                k = (k + 1) % len(links)
            link = links[k][0]
            part = parts[i]
            i += 1
            session = link.session
            assert session is not None
            try:
                seq = session.submit(self.renderer.render(part, wall), now)
            except (RenderError, LocalProtocolError) as exc:
                failed.append(
                    Outcome(
                        part_id=part.part_id,
                        failure=FailureKind.PERMANENT,
                        code="unsendable",
                        reason=str(exc),
                    )
                )
                continue
            link.parts[seq] = part
            free[k] -= 1
            touched.add(k)
            k = (k + 1) % len(links)
        for k in touched:
            links[k][0].flush()
        return i

    def state(self) -> DriverState:
        """Per-bind state, window and parts in flight (cheap)."""
        links: list[dict[str, object]] = []
        window = in_flight = 0
        for link in self.links:
            s = link.session
            used = s.in_flight if s is not None else 0
            links.append(
                {
                    "name": link.name,
                    "state": link.state,
                    "mode": link.mode,
                    "in_flight": used,
                    "window": self.config.window if link.mode != "rx" else 0,
                    "throttled": bool(link.paused_until),
                    "throttles": link.throttles,
                    "reconnects": link.reconnects,
                    "error": link.last_error,
                    "submitted": link.submitted,
                    "held": link.hold.held,
                    **link.marks.as_dict(),
                }
            )
            if link.mode != "rx":
                window += self.config.window if link.state == "up" else 0
                in_flight += used
        up = any(link.state == "up" for link in self._tx_links)
        return DriverState(up=up, links=links, window=window, in_flight=in_flight)

    def hold_link(self, link: str, held: bool) -> bool:
        """Unbind the bind named ``link`` and keep it down (``held``), or let it bind again
        now; False if the route has no such bind."""
        for candidate in self.links:
            if candidate.name == link:
                if held:
                    candidate.last_error = "disconnected by an operator"
                    candidate.hold.hold()
                else:
                    candidate.hold.release()
                return True
        return False

    # -- helpers for links ----------------------------------------------------------------

    def sink(self) -> Sink:
        """The sink ``run`` was given."""
        if self._sink is None:
            raise RuntimeError("SmppDriver.run has not been started")
        return self._sink

    def task_failed(self, task: str) -> None:
        """Count an unexpected exception contained in one of this route's tasks (the
        supervisor logged it)."""
        self.metrics.task_failures.labels(task).inc()

    def protocol_error(self, kind: str, detail: str) -> None:
        """Count a protocol error by its bounded kind, and log it."""
        log.warning("smpp route %s: protocol error %s: %s", self.name, kind, detail)
        self.metrics.protocol_errors.labels(self.name, kind).inc()

    async def take_inbound(
        self, link: Link, session: Session, pdus: list[DeliverSm | DataSm], now: float
    ) -> None:
        """Feed inbound parts to the reassembler; store what completed, then acknowledge."""
        items = [(pdu, Ack(link, session, pdu.sequence, type(pdu) is DataSm)) for pdu in pdus]
        await self._settle(self.inbound.feed(items, now, time.time()))
        self._inbound_changed.set()

    async def _settle(self, done: Settled[Ack]) -> None:
        for kind in done.errors:
            self.protocol_error(kind, "inbound part could not be decoded")
        if done.messages:
            await self.sink().inbound(done.messages)
        for ack, status in done.acks:
            ack.link.answer(ack.session, ack.sequence, ack.is_data, status)

    async def _expire_inbound(self) -> None:
        while True:
            deadline = self.inbound.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._inbound_changed.wait()
            self._inbound_changed = trio.Event()
            await self._settle(self.inbound.expire(trio.current_time(), time.time()))
