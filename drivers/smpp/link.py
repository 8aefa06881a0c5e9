"""One bind of an SMPP route: its connection loop, its session and the parts on it.

A :class:`Link` connects (TCP, TLS when ``tls = true``), binds, and serves its
:class:`~smsgw.drivers.smpp.session.Session` with three tasks — a reader feeding it bytes, a
writer sending what it queued (many PDUs per ``send_all``), a timer firing its deadlines
(response timeouts, the idle enquire_link) — until the connection is lost, then reconnects with
exponential backoff and jitter. What each session event means (outcome, receipt, answer,
pause, link death) is decided by the pure :func:`~smsgw.drivers.smpp.reactions.react`; the link
applies it, and inbound parts go to the driver, which joins them across binds.

A link dies when the connection breaks, the SMSC unbinds or sends garbage, or the session finds
the peer silent (a request overdue and nothing received for ``response_timeout``: a half-open
link). Its parts still outstanding get TEMPORARY outcomes marked ``resend`` (``maybe_sent`` once
their bytes were written), so the route sends them again at once on its other binds. Anything
unexpected that escapes a connection's tasks is contained the same way: logged once with the
route and bind, counted in ``smsgw_task_failures_total{task="smpp_link"}``, and the bind goes
down and reconnects like after any other loss; the route and the gateway go on.

Cancellation is shutdown: a bound link lets outstanding answers arrive (a few seconds at most),
unbinds and closes; every part still outstanding gets a TEMPORARY outcome.
"""

from __future__ import annotations

import functools
import logging
import math
import ssl
from typing import TYPE_CHECKING

import trio

from smsgw.drivers.backoff import backoff
from smsgw.drivers.link_control import LinkMarks, OperatorHold
from smsgw.drivers.seam import FailureKind, LinkState, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.events import Event
from smsgw.drivers.smpp.link_errors import LinkDown, link_error
from smsgw.drivers.smpp.pdu import BindMode, DataSm, DeliverSm
from smsgw.drivers.smpp.reactions import Answer, Rules, react
from smsgw.drivers.smpp.session import Session, SessionState
from smsgw.drivers.supervise import contained

if TYPE_CHECKING:
    from smsgw.drivers.smpp.client import SmppDriver

__all__ = ["SHUTDOWN_GRACE", "TASK", "Ack", "Link", "LinkDown"]

log = logging.getLogger("smsgw.smpp")

_BOUND = (SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX)
SHUTDOWN_GRACE = 5.0
"""Most seconds a link spends draining and unbinding when the driver is cancelled."""
TASK = "smpp_link"
"""The ``task`` label of ``smsgw_task_failures_total`` for a bind's tasks."""


class Link:
    """One bind: its connection loop, its session and the parts outstanding on it."""

    def __init__(self, driver: SmppDriver, name: str, mode: BindMode) -> None:
        self.driver = driver
        self.name = name
        self.mode: BindMode = mode
        self.marks = LinkMarks()
        """Since when up or not, the last error and its time (for the ops console)."""
        self.hold = OperatorHold()
        """An operator's disconnect (the ops console): no connection while held."""
        self._state: LinkState = "down"
        self._last_error = ""
        self.submitted = 0
        """Parts the SMSC accepted on this bind (submit_sm_resp with status 0)."""
        self.session: Session | None = None
        self.parts: dict[int, OutboundPart] = {}
        self.paused_until = 0.0
        self.reconnects = 0
        self.throttles = 0
        self._wake_writer = trio.Event()
        self._wake_timer = trio.Event()
        self._down: str | None = None
        self._was_bound = False
        cfg = driver.config
        self._rules = Rules(
            route=driver.name,
            statuses=driver.statuses,
            ids=driver.ids,
            response_timeout=cfg.response_timeout,
            throttle_pause=cfg.throttle_pause,
        )
        m, route = driver.metrics, driver.name
        self._up_gauge = m.link_up.labels(route, name)
        self._up_gauge.set(0)

    @property
    def state(self) -> LinkState:
        return self._state

    @state.setter
    def state(self, value: LinkState) -> None:
        self.marks.state_changed(self._state, value)
        self._state = value

    @property
    def last_error(self) -> str:
        """Why the link is not up now ("" once bound again); :attr:`marks` keeps the last."""
        return self._last_error

    @last_error.setter
    def last_error(self, value: str) -> None:
        self.marks.error(value)
        self._last_error = value

    # -- capacity ----------------------------------------------------------------------------

    def free(self) -> int:
        """submit_sm this link can take now: 0 unless bound to transmit and not paused."""
        s = self.session
        if s is None or self.state != "up" or self.paused_until:
            return 0
        return s.window_free

    def flush(self) -> None:
        """Have the writer send what the session queued (one send_all for all of it)."""
        self._wake_writer.set()
        self._wake_timer.set()

    # -- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, bind and serve; after any loss back off and do it again. Returns only by
        cancellation (after unbinding, when bound)."""
        cfg = self.driver.config
        failures = 0
        context = f"route {self.driver.name} {self.name}"
        while True:
            await self.hold.wait_released()
            self.state = "connecting"
            was_bound = False
            try:
                if not await contained(
                    TASK, self._attempt, on_failure=self.driver.task_failed, context=context
                ):
                    self.last_error = "internal error on this bind (logged); reconnecting"
            finally:
                was_bound = self._was_bound
                self._set_down()
            failures = 0 if was_bound else failures + 1
            log.warning(
                "smpp route %s %s: link down (%s); reconnecting", self.driver.name, self.name,
                self.last_error or "closed",
            )  # fmt: skip
            self.reconnects += 1
            self.driver.metrics.reconnects.labels(self.driver.name, self.name).inc()
            delay = backoff(failures + 1, cfg.reconnect_min, cfg.reconnect_max, self.driver.rng)
            await self.hold.backoff(delay)

    async def _attempt(self) -> None:
        """One connection, with the ways it is expected to end turned into ``last_error``."""
        try:
            await self._connect_and_serve()
        except Exception as exc:
            down = link_error(exc, "connect")
            if down is None:
                raise
            self.last_error = down.reason

    def _set_down(self) -> None:
        if self.state == "up":
            self.driver.notify_capacity()
        self.state = "down"
        self._up_gauge.set(0)

    async def _open(self) -> trio.abc.Stream:
        cfg = self.driver.config
        with trio.fail_after(cfg.response_timeout):
            if self.driver.connect is not None:
                return await self.driver.connect()
            tcp = await trio.open_tcp_stream(cfg.host, cfg.port)  # TCP_NODELAY by default
            if not cfg.tls:
                return tcp
            ctx = _tls_context(cfg.tls_ca, cfg.tls_verify)
            stream = trio.SSLStream(tcp, ctx, server_hostname=cfg.host)
            try:
                await stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            return stream

    async def _connect_and_serve(self) -> bool:
        """One connection's life; returns whether it got bound. Raises when it broke."""
        cfg = self.driver.config
        stream = await self._open()
        now = trio.current_time()
        session = Session(
            self.mode,
            window=cfg.window,
            response_timeout=cfg.response_timeout,
            enquire_link=cfg.enquire_link,
            now=now,
        )
        self.session = session
        self._down = None
        self._was_bound = False
        try:
            session.bind(
                system_id=cfg.system_id,
                password=cfg.password,
                system_type=cfg.system_type,
                address_range=cfg.address_range,
                now=now,
            )
            self.flush()
            async with trio.open_nursery() as nursery:
                self.hold.serving(nursery.cancel_scope)  # an operator's disconnect: unbind
                nursery.start_soon(self._writer, session, stream, nursery.cancel_scope)
                nursery.start_soon(self._timer, session, nursery.cancel_scope)
                await self._reader(session, stream)
                nursery.cancel_scope.cancel()
            if self._down:
                raise LinkDown(self._down)
            return self._was_bound
        except BaseException as exc:
            if self._down is None and not _only_cancelled(exc):
                # Not a shutdown: no drain and unbind, and the parts go to the other binds.
                self._down = f"internal error: {type(exc).__name__}"
            raise
        finally:
            with trio.CancelScope(shield=True):
                await self._close(session, stream)

    async def _close(self, session: Session, stream: trio.abc.Stream) -> None:
        """Unbind if still bound (shutdown), report what is left, close the stream."""
        grace = min(SHUTDOWN_GRACE, self.driver.config.response_timeout)
        with trio.move_on_after(grace):
            try:
                if self._down is None and session.state in _BOUND:
                    # Cancelled while bound: shutdown. Let outstanding answers arrive, unbind.
                    await self._drain_and_unbind(session, stream)
                elif session.has_data_to_send:
                    # Going down for a reason: still tell the peer why (the generic_nack).
                    await stream.send_all(session.data_to_send())
            except Exception as exc:
                if link_error(exc, "close") is None:
                    raise
        lost = session.close()
        outcomes = []
        # A link that failed gives its parts to the route's other binds at once; at shutdown
        # they go back to the queue.
        resend = self._down is not None
        for a in lost:
            part = self.parts.pop(a.sequence, None)
            if part is not None:
                outcomes.append(
                    Outcome(
                        part_id=part.part_id,
                        failure=FailureKind.TEMPORARY,
                        code="link_down",
                        reason=f"bind {self.name} lost before the answer"
                        if a.maybe_sent
                        else f"bind {self.name} lost before sending",
                        maybe_sent=a.maybe_sent,
                        resend=resend,
                    )
                )
        for part in self.parts.values():  # cannot happen; never leave a part without outcome
            outcomes.append(
                Outcome(
                    part_id=part.part_id,
                    failure=FailureKind.TEMPORARY,
                    code="link_down",
                    maybe_sent=True,
                    resend=resend,
                )
            )
        self.parts.clear()
        self.session = None
        if outcomes:
            with trio.move_on_after(SHUTDOWN_GRACE):
                await self.driver.sink().outcomes(outcomes)
        await trio.aclose_forcefully(stream)

    async def _drain_and_unbind(self, session: Session, stream: trio.abc.Stream) -> None:
        self.state = "down"  # no new submits while draining
        self.driver.notify_capacity()
        while session.in_flight and not session.closed:
            await self._read_once(session, stream)
        if session.closed:
            return
        session.unbind(trio.current_time())
        await stream.send_all(session.data_to_send())
        while not session.closed:
            await self._read_once(session, stream)

    async def _read_once(self, session: Session, stream: trio.abc.Stream) -> None:
        data = await stream.receive_some(65536)
        if not data:
            raise LinkDown("the SMSC closed the connection")
        await self._process(session, session.receive_data(data, trio.current_time()))
        out = session.data_to_send()
        if out:
            await stream.send_all(out)

    # -- the three tasks of a connection --------------------------------------------------

    async def _reader(self, session: Session, stream: trio.abc.Stream) -> None:
        try:
            while session.state is not SessionState.CLOSED and self._down is None:
                data = await stream.receive_some(65536)
                if not data:
                    self._down = "the SMSC closed the connection"
                    return
                await self._process(session, session.receive_data(data, trio.current_time()))
                self.flush()
        except Exception as exc:
            down = link_error(exc, "read")
            if down is None:
                raise
            self._down = down.reason

    async def _writer(
        self, session: Session, stream: trio.abc.Stream, scope: trio.CancelScope
    ) -> None:
        timeout = self.driver.config.response_timeout
        while True:
            await self._wake_writer.wait()
            self._wake_writer = trio.Event()
            data = session.data_to_send()
            if not data:
                continue
            # Shielded: a send cut in half by cancellation would leave half a PDU on the wire
            # and make the unbind that follows garbage. A peer that stops reading still
            # cannot hold us for longer than the response timeout.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout) as cs:
                try:
                    await stream.send_all(data)
                except Exception as exc:
                    down = link_error(exc, "write")
                    if down is None:
                        raise
                    self._down = down.reason
                    scope.cancel()
                    return
            if cs.cancelled_caught:
                self._down = "write timed out: the SMSC stopped reading"
                scope.cancel()
                return

    async def _timer(self, session: Session, scope: trio.CancelScope) -> None:
        while True:
            deadline = session.next_deadline()
            if self.paused_until and (deadline is None or self.paused_until < deadline):
                deadline = self.paused_until
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wake_timer.wait()
            self._wake_timer = trio.Event()
            now = trio.current_time()
            if self.paused_until and now >= self.paused_until:
                self.paused_until = 0.0
                self.driver.notify_capacity()
            events = session.timers(now)
            if events:
                try:
                    await self._process(session, events)
                except LinkDown as exc:
                    self._down = exc.reason
                    scope.cancel()
                    return
            if session.has_data_to_send:
                self._wake_writer.set()

    # -- events -> outcomes, receipts, inbound --------------------------------------------------

    async def _process(self, session: Session, events: list[Event]) -> None:
        """Apply :func:`~smsgw.drivers.smpp.reactions.react` to a batch of session events:
        outcomes first, then receipts and their answers, then inbound parts. Raises
        :class:`LinkDown` (after all that) when one of them says the link must go."""
        d = self.driver
        now = trio.current_time()
        outcomes: list[Outcome] = []
        receipts: list[Receipt] = []
        answers: list[Answer] = []  # sent once the receipts are stored
        mo: list[DeliverSm | DataSm] = []
        down: str | None = None
        for ev in events:
            r = react(ev, self.parts, self._rules, now)
            if r.settles is not None:
                del self.parts[r.settles]
            if r.outcome is not None:
                outcomes.append(r.outcome)
                if r.outcome.failure is None:
                    self.submitted += 1
            if r.receipt is not None:
                receipts.append(r.receipt)
            if r.answer is not None:
                answers.append(r.answer)
            if r.inbound is not None:
                mo.append(r.inbound)
            if r.protocol_error is not None:
                d.protocol_error(r.protocol_error.kind, r.protocol_error.detail)
            if r.pause:
                self.throttles += 1
                self.paused_until = now + r.pause
                self._wake_timer.set()  # so the pause ends on time
            if r.bound_to is not None:
                self._bound(r.bound_to)
            if r.down is not None:
                down = r.down
        if outcomes:
            # Shielded (within a grace period): these parts' answers are already consumed; an
            # outcome lost to shutdown would leave them "sending" until the store times out.
            with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_GRACE):
                await d.sink().outcomes(outcomes)
            d.notify_capacity()
        if receipts:
            await d.sink().receipts(receipts)
        for a in answers:
            self.answer(session, a.sequence, a.is_data, a.status)
        if mo:
            await d.take_inbound(self, session, mo, now)
        if down is not None:
            raise LinkDown(down)

    def _bound(self, system_id: str) -> None:
        self._was_bound = True
        log.info(
            "smpp route %s %s: bound as %s to %s", self.driver.name, self.name, self.mode,
            system_id,
        )  # fmt: skip
        self.state = "up"
        self._up_gauge.set(1)
        self.last_error = ""
        self.driver.notify_capacity()

    def answer(self, session: Session, seq: int, is_data: bool, status: int) -> None:
        """Queue the answer to an inbound deliver_sm/data_sm on ``session`` if it still lives."""
        if session.state is SessionState.CLOSED:
            return  # the connection went while we stored it: the SMSC will send it again
        try:
            if is_data:
                session.answer_data_sm(seq, status)
            else:
                session.answer(seq, status)
        except LocalProtocolError:
            return
        self._wake_writer.set()


class Ack:
    """Where to send the answer to one inbound part, once it may be acknowledged."""

    __slots__ = ("is_data", "link", "sequence", "session")

    def __init__(self, link: Link, session: Session, sequence: int, is_data: bool) -> None:
        self.link = link
        self.session = session
        self.sequence = sequence
        self.is_data = is_data


def _only_cancelled(exc: BaseException) -> bool:
    """True for cancellation (alone or grouped): the driver is shutting down."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled | KeyboardInterrupt | SystemExit)


@functools.cache
def _tls_context(cafile: str, verify: bool) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (or the system's CAs), or trusting anything when
    ``verify`` is off: built once, shared by the route's binds."""
    ctx = ssl.create_default_context(cafile=cafile or None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
