"""The SMPP server's trio layer: a TCP (optionally TLS) listener, one task pair per
connection over a :class:`~smsgw.drivers.smpp.server_session.ServerSession`.

A connection's reader feeds the session and answers what needs no store (binds, the
window, the bucket, malformed texts); whole messages go to the connection's accept task,
which takes every message waiting into one :meth:`Store.accept_screened` call (the same
accept path, policy and commit as ``POST /v1/messages``) and answers each submit_sm only
after that commit. Writes are coalesced: everything the session queued goes out in one
``send_all``.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import trio
from prometheus_client import Metric

from smsgw.config.schema import Config, KeyConfig
from smsgw.config.smpp_server import SmppServerConfig
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.events import (
    BindRequested,
    CancelRequested,
    DataSmReceived,
    DeliverResponse,
    Event,
    PeerSilent,
    PeerUnbound,
    ProtocolViolation,
    QueryRequested,
    RequestTimedOut,
    SubmitSmReceived,
    Unbound,
)
from smsgw.drivers.smpp.pdu import Cmd, Status
from smsgw.drivers.smpp.server_session import ServerSession
from smsgw.drivers.text import TextError
from smsgw.gateway.accept import Acceptor, Prepared
from smsgw.gateway.errors import GatewayError
from smsgw.gateway.schemas import SendRequest
from smsgw.gateway.smpp_server.accounts import Account, Accounts, BindFailures
from smsgw.gateway.smpp_server.inbound import InboundAccounts
from smsgw.gateway.smpp_server.receipts import HeldState, held_pdu
from smsgw.gateway.smpp_server.submits import Joined, Joiner, read_piece, status_for
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.policy import Policy
from smsgw.queue.store.health import StoreFatal, StoreUnavailable
from smsgw.queue.store.interface import Store

__all__ = ["SmppServer"]

log = logging.getLogger("smsgw.smpp_server")

Token = tuple[bool, int]
"""(data_sm?, sequence): which request to answer."""

_RESULTS = ("accepted", "throttled", "refused", "error")
_STATE = {  # our statuses -> message_state (SMPP 3.4 §5.2.28)
    "queued": 1, "scheduled": 1, "deferred": 1, "sending": 1, "submitted": 1,
    "delivered": 2, "expired": 3, "cancelled": 4, "undelivered": 5, "failed": 5,
    "rejected": 8,
}  # fmt: skip


def _smpp_time(unix: float) -> str:
    """An absolute SMPP time (§7.1.1) in UTC: YYMMDDhhmmsstnnp."""
    return datetime.fromtimestamp(unix, UTC).strftime("%y%m%d%H%M%S") + "000+"


class SmppServer:
    """Serves ``[smpp_server]``: bind with :meth:`serve` under ``nursery.start``."""

    def __init__(
        self,
        server: SmppServerConfig,
        config: Config,
        store: Store,
        acceptor: Acceptor,
        policy: Policy,
        metrics: Metrics,
        *,
        wall: Callable[[], float],
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self.server = server
        self.config = config
        self.store = store
        self.acceptor = acceptor
        self.policy = policy
        self.wall = wall
        self.shutting_down = shutting_down
        self.accounts = Accounts(server.accounts, config.keys, trio.current_time())
        self.failures = BindFailures()
        self.national = bool(config.policy.default_country)
        self.metrics = metrics
        names = [a.system_id for a in self.accounts]
        metrics.prime(
            {
                "smpp_server_submits": [(n, r) for n in names for r in _RESULTS],
                "smpp_server_bind_failures": [("credentials",), ("bind_failed",)],
            }
        )
        self._results = {
            (n, r): metrics.smpp_server_submits.labels(n, r) for n in names for r in _RESULTS
        }
        metrics.add_collector(self.collect)
        self.held = {n: HeldState() for n in names}
        self._wake = trio.Event()
        store.on_smpp_held = self.wake
        store.smpp_account_of = InboundAccounts(server.accounts, policy.matcher).account_for

    def wake(self) -> None:
        """Something changed for held receipts: new ones, a bind, an answer."""
        self._wake.set()

    def count(self, account: Account, status: int, n: int = 1) -> None:
        """Count ``n`` answered submits of ``account`` by their command_status."""
        if status == Status.ROK:
            result = "accepted"
        elif status in (Status.RTHROTTLED, Status.RMSGQFUL):
            result = "throttled"
        elif status in (Status.RSYSERR, Status.RSUBMITFAIL):
            result = "error"
        else:
            result = "refused"
        self._results[account.system_id, result].inc(n)

    def collect(self) -> Iterable[Metric]:
        """The live gauges: binds and bucket tokens per account (read at each scrape)."""
        binds = Metrics.gauge_family(
            "smsgw_smpp_server_binds", "Sessions bound to the SMPP server, by account.",
            ["account"],
        )  # fmt: skip
        tokens = Metrics.gauge_family(
            "smsgw_smpp_server_tokens", "Parts an account may submit now (its bucket).",
            ["account"],
        )  # fmt: skip
        now = trio.current_time()
        for acct in self.accounts:
            binds.add_metric([acct.system_id], acct.binds)
            tokens.add_metric([acct.system_id], acct.bucket.tokens(now))
        return [binds, tokens]

    async def serve(
        self, host: str, port: int, *, task_status: trio.TaskStatus[tuple[str, int]]
    ) -> None:
        """Listen on ``host:port`` (0: any free port); ``task_status.started`` gets the
        bound address. Runs until cancelled; a cancelled connection is simply closed."""
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(
            await trio.open_tcp_listeners(port, host=host)
        )
        sockname = listeners[0].socket.getsockname()  # type: ignore[attr-defined]
        if self.server.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.server.tls_cert, self.server.tls_key)
            listeners = [trio.SSLListener(lst, ctx) for lst in listeners]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deliver_loop)
            task_status.started((sockname[0], sockname[1]))
            await trio.serve_listeners(self._connection, listeners)

    async def _deliver_loop(self) -> None:
        """Send held receipts to each account's receiving binds, in order, within their
        windows; wakes on new receipts, binds and answers (no polling), and once a minute
        expires receipts older than ``hold_hours``."""
        next_expire = 0.0
        while True:
            now = trio.current_time()
            wake = self._wake = trio.Event()
            try:
                if now >= next_expire:
                    before = self.wall() - self.server.hold_hours * 3600
                    await self.store.expire_smpp_held(before)
                    next_expire = now + 60.0
                soonest = next_expire
                for name, state in self.held.items():
                    soonest = min(soonest, await self._deliver_held(name, state, now))
            except (StoreUnavailable, StoreFatal):
                soonest = now + 5.0  # the store's own health watch reports it
            with trio.move_on_at(soonest):
                await wake.wait()

    async def _deliver_held(self, account: str, state: HeldState, now: float) -> float:
        conns: list[_Connection] = [
            c for c in state.receivers if c.session.can_deliver and c.session.window_free > 0
        ]
        retry = state.next_retry(now) or math.inf
        if not conns:
            return retry
        room = sum(c.session.window_free for c in conns)
        rows = await self.store.smpp_held_page(account, room, state.skip(now))
        sent: set[_Connection] = set()
        for row in rows:
            conn = next((c for c in conns if c.session.window_free > 0), None)
            if conn is None:
                break
            conns.remove(conn)
            conns.append(conn)  # round robin over the account's receivers
            try:
                seq = conn.session.deliver(held_pdu(row), trio.current_time())
            except LocalProtocolError:
                if not conn.session.closed:  # a field that cannot go out: not every wake
                    log.warning("smpp server: held %s cannot be sent", row.public_id)
                    state.retry_at[row.hid] = now + self.server.response_timeout
                continue
            conn.delivering[seq] = row.hid
            state.inflight[row.hid] = conn
            state.retry_at.pop(row.hid, None)
            sent.add(conn)
        for conn in sent:
            conn.wake_writer.set()
        return retry

    async def _connection(self, stream: trio.abc.Stream) -> None:
        conn = _Connection(self, stream)
        try:
            # A peer gone (reset, TLS closed without close_notify) ends its connection only;
            # the connection's nursery wraps what its tasks raise in a group.
            await conn.run()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
            pass
        finally:
            if conn.account is not None:
                conn.account.binds -= 1
                state = self.held[conn.account.system_id]
                if conn in state.receivers:
                    state.receivers.remove(conn)
                for hid in conn.delivering.values():
                    state.inflight.pop(hid, None)  # not acknowledged: held, sent again
                self.wake()
            conn.session.close()
            await trio.aclose_forcefully(stream)


def _peer_address(stream: trio.abc.Stream) -> str:
    inner = getattr(stream, "transport_stream", stream)
    sock = getattr(inner, "socket", None)
    try:
        return str(sock.getpeername()[0]) if sock is not None else ""
    except OSError:
        return ""


class _Connection:
    def __init__(self, server: SmppServer, stream: trio.abc.Stream) -> None:
        self.server = server
        self.stream = stream
        s = server.server
        self.session = ServerSession(
            window=50,
            response_timeout=s.response_timeout,
            enquire_link=s.enquire_link,
            now=trio.current_time(),
        )
        self.address = _peer_address(stream)
        self.account: Account | None = None
        self.window = 1
        self.outstanding = 0
        """submit_sm of this bind taken and not yet answered."""
        self.joiner: Joiner[Token] = Joiner()
        self._send_lock = trio.Lock()
        self.delivering: dict[int, int] = {}
        """deliver_sm sequence -> held receipt (hid) it carries."""
        self.wake_writer = trio.Event()
        self._to_accept, self._accepting = trio.open_memory_channel[Joined[Token]](math.inf)

    async def flush(self) -> None:
        async with self._send_lock:
            data = self.session.data_to_send()
            if data:
                await self.stream.send_all(data)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._accept_loop)
            nursery.start_soon(self._writer_loop)
            try:
                await self._read_loop()
            finally:
                nursery.cancel_scope.cancel()

    async def _writer_loop(self) -> None:
        """Writes what the deliverer queued on this session (it never writes itself)."""
        while True:
            await self.wake_writer.wait()
            self.wake_writer = trio.Event()
            await self.flush()

    async def _read_loop(self) -> None:
        session = self.session
        while not session.closed:
            deadline = min(
                session.next_deadline() or math.inf, self.joiner.next_deadline() or math.inf
            )
            data: bytes | bytearray | None = None
            with trio.move_on_at(deadline):
                data = await self.stream.receive_some(65536)
                if not data:
                    return
            now = trio.current_time()
            events = session.timers(now) if data is None else session.receive_data(data, now)
            for tokens in self.joiner.expire(now):
                self._answer(tokens, Status.RSUBMITFAIL, "")
            await self._on_deliveries(events, now)
            for event in events:
                if not await self._on_event(event, now):
                    await self.flush()
                    return
            await self.flush()

    async def _on_deliveries(self, events: list[Event], now: float) -> None:
        """Answers to our deliver_sm: drop the acknowledged receipts (one commit), let the
        refused and timed-out ones go again (a refused one after the response timeout)."""
        if self.account is None or not self.delivering:
            return
        state = self.server.held[self.account.system_id]
        acked: list[int] = []
        for e in events:
            if isinstance(e, DeliverResponse):
                hid = self.delivering.pop(e.sequence, None)
                if hid is None:
                    continue
                if e.status == Status.ROK:
                    acked.append(hid)
                else:
                    state.inflight.pop(hid, None)
                    state.retry_at[hid] = now + self.server.server.response_timeout
            elif isinstance(e, RequestTimedOut) and e.command_id == Cmd.DELIVER_SM:
                hid = self.delivering.pop(e.sequence, None)
                if hid is not None:
                    state.inflight.pop(hid, None)
        if acked:
            try:
                await self.server.store.drop_smpp_held(acked)
            finally:
                for hid in acked:
                    state.inflight.pop(hid, None)
        self.server.wake()

    async def _on_event(self, event: Event, now: float) -> bool:
        """Act on one event; False when the connection is to be closed."""
        if isinstance(event, SubmitSmReceived | DataSmReceived):
            self._on_submit(event, now)
        elif isinstance(event, BindRequested):
            return await self._on_bind(event)
        elif isinstance(event, QueryRequested):
            await self._on_query(event)
        elif isinstance(event, CancelRequested):
            await self._on_cancel(event)
        elif isinstance(event, PeerUnbound | Unbound | PeerSilent):
            return False
        elif isinstance(event, ProtocolViolation):
            log.info("smpp server: protocol error from %s: %s", self.address, event.detail)
            return not event.fatal
        return True

    async def _on_bind(self, event: BindRequested) -> bool:
        srv, pdu = self.server, event.pdu
        status, acct = srv.accounts.decide(pdu.system_id, pdu.password, self.address)
        if acct is None:
            reason = "credentials" if status == Status.RINVPASWD else "bind_failed"
            srv.metrics.smpp_server_bind_failures.labels(reason).inc()
            delay = srv.failures.failed(self.address, trio.current_time())
            if delay:
                await trio.sleep(delay)
            self.session.reject_bind(pdu.sequence, status)
            return False
        srv.failures.succeeded(self.address)
        acct.binds += 1
        self.account = acct
        self.window = acct.config.window
        self.session.accept_bind(pdu.sequence, system_id=srv.server.system_id)
        if self.session.can_deliver:
            srv.held[acct.system_id].receivers.append(self)
            srv.wake()
        return True

    def _answer(self, tokens: list[Token], status: int, message_id: str) -> None:
        if self.account is not None:
            self.server.count(self.account, status, len(tokens))
        for is_data, seq in tokens:
            if is_data:
                self.session.answer_data_sm(seq, status, message_id)
            else:
                self.session.answer_submit(seq, status, message_id)

    def _on_submit(self, event: SubmitSmReceived | DataSmReceived, now: float) -> None:
        token: Token = (isinstance(event, DataSmReceived), event.pdu.sequence)
        if self.outstanding >= self.window:
            self._answer([token], Status.RTHROTTLED, "")
            return
        try:
            piece = read_piece(event.pdu, national=self.server.national)
        except TextError:
            self._answer([token], Status.RSUBMITFAIL, "")
            return
        joined = self.joiner.feed(piece, token, now)
        if joined is not None:
            self.outstanding += len(joined.tokens)
            self._to_accept.send_nowait(joined)

    async def _accept_loop(self) -> None:
        while True:
            batch = [await self._accepting.receive()]
            while True:
                try:
                    batch.append(self._accepting.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await self._accept(batch)
            finally:
                self.outstanding -= sum(len(j.tokens) for j in batch)
            await self.flush()

    async def _accept(self, batch: list[Joined[Token]]) -> None:
        srv, acct = self.server, self.account
        assert acct is not None
        key: KeyConfig = acct.key
        wall, now = srv.wall(), trio.current_time()
        good: list[tuple[Joined[Token], Prepared]] = []
        for joined in batch:
            p = joined.piece
            req = SendRequest(
                to=p.to,
                text=p.text,
                sender=p.sender or None,
                msg_class=p.msg_class,  # type: ignore[arg-type]
            )
            try:
                prepared = srv.acceptor.prepare(key, req, wall)
            except GatewayError as e:
                self._answer(joined.tokens, status_for(e.code), "")
                continue
            if srv.shutting_down() or not srv.store.health.up:
                self._answer(joined.tokens, Status.RSYSERR, "")
                continue
            if srv.store.active_total + len(good) + 1 > srv.config.store.max_queued:
                self._answer(joined.tokens, Status.RMSGQFUL, "")
                continue
            if not acct.bucket.take(len(prepared.msg.segments), now):
                self._answer(joined.tokens, Status.RTHROTTLED, "")
                continue
            good.append((joined, prepared))
        if not good:
            return
        wants = [joined.piece.receipt for joined, _ in good]

        try:
            results = await srv.store.accept_screened(
                [(p.msg, p.facts) for _, p in good],
                srv.policy,
                receipts_to=acct.system_id,
                wants_receipt=wants,
            )
        except (StoreUnavailable, StoreFatal):
            for joined, prepared in good:
                acct.bucket.give_back(len(prepared.msg.segments), now)
                self._answer(joined.tokens, Status.RSYSERR, "")
            return
        for (joined, prepared), screened in zip(good, results, strict=True):
            if screened.refusal is not None or screened.result is None:
                acct.bucket.give_back(len(prepared.msg.segments), now)
                code = screened.refusal.code if screened.refusal is not None else "refused"
                self._answer(joined.tokens, status_for(code), "")
            else:
                self._answer(joined.tokens, Status.ROK, screened.result.id)

    async def _on_query(self, event: QueryRequested) -> None:
        assert self.account is not None
        pdu = event.pdu
        row = await self.server.store.get(self.account.key.name, pdu.message_id)
        if row is None:
            self.session.answer_query(pdu.sequence, Status.RQUERYFAIL)
            return
        final = row.status in ("delivered", "expired", "cancelled", "undelivered", "failed")
        self.session.answer_query(
            pdu.sequence,
            message_id=row.id,
            final_date=_smpp_time(row.updated_at) if final or row.status == "rejected" else "",
            message_state=_STATE.get(row.status, 7),
        )

    async def _on_cancel(self, event: CancelRequested) -> None:
        assert self.account is not None
        pdu = event.pdu
        status = await self.server.store.cancel(
            self.account.key.name, pdu.message_id, self.server.wall()
        )
        ok = status == "cancelled"
        self.session.answer_cancel(pdu.sequence, Status.ROK if ok else Status.RCANCELFAIL)
