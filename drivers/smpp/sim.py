"""``smsgw smsc-sim``: an SMSC simulator speaking SMPP 3.4 on a real TCP port.

For users, a carrier to try a config against before the contract is live; for tests and
``smsgw bench``, a real peer on a loopback socket. It accepts binds for configured accounts
(or any account), answers submit_sm with message ids in hex or decimal, throttles, fails or
accepts each submit by configured fractions, sends delivery receipts at once or after a delay
(spread round-robin over the account's receiving binds, so a receipt often arrives on another
bind than its submit), marks a fraction of them undeliverable, and injects inbound (MO)
messages. Receipts and MO not acknowledged when a bind drops are sent again on another bind.

Faults: ``silent_after`` (or :meth:`SmscSim.go_silent`) turns a connection half-open: TCP
stays up, everything sent to it is read and ignored, nothing comes back (no responses, no
enquire_link_resp, no receipts), as a carrier's hung front end does.

For measuring the route's rate as the carrier sees it, ``log_submits`` keeps the receive time
(``trio.current_time()``) of every submit_sm in :attr:`SmscSim.submit_log`.

In-process use: ``sim = await nursery.start(serve_smsc_sim, settings)`` gives the running
:class:`SmscSim` (its ``port``, ``stats``, :meth:`SmscSim.inject_mo`,
:meth:`SmscSim.wait_until`, :meth:`SmscSim.drop_connections`). With ``listen=False`` it
serves in-memory connections only (:meth:`SmscSim.connect_memory`), for tests on trio's
virtual clock.
"""

from __future__ import annotations

import heapq
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
import trio
import trio.testing

from smsgw.drivers.smpp.codec import (
    Framer,
    decode,
    encode,
    encode_header_only,
    encode_message_id_resp,
    encode_short_message,
)
from smsgw.drivers.smpp.errors import RemoteProtocolError
from smsgw.drivers.smpp.pdu import (
    BindRequest,
    BindResponse,
    Cmd,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    Status,
    SubmitSm,
    Tag,
    Unbind,
    UnbindResp,
    is_response,
)

__all__ = ["SimSettings", "SimStats", "SmscSim", "main", "serve_smsc_sim"]


class SimSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the simulated carrier behaves. Fractions are probabilities per submit/receipt."""

    host: str = "127.0.0.1"
    port: int = 2775
    """0 picks a free port (see :attr:`SmscSim.port`)."""
    accounts: dict[str, str] = {}
    """system_id -> password; empty accepts any account."""
    system_id: str = "smsc-sim"
    receipts: bool = True
    receipt_delay: float = 0.0
    """Seconds from submit to receipt; 0 sends it right behind the submit_sm_resp."""
    response_delay: float = 0.0
    """Seconds before each submit_sm_resp (a slow carrier; fills the ESME's window)."""
    throttle: float = 0.0
    """Fraction of submits answered ESME_RTHROTTLED."""
    fail_temporary: float = 0.0
    """Fraction answered ESME_RSYSERR."""
    fail_permanent: float = 0.0
    """Fraction answered ESME_RINVDSTADR."""
    undeliverable: float = 0.0
    """Fraction of receipts saying UNDELIV."""
    id_format: Literal["hex", "decimal"] = "hex"
    """submit_sm_resp ids: ``0A1B2C3D`` (upper-case, 8 digits) or ``171715645``."""
    receipt_id_format: Literal["same", "decimal", "hex"] = "same"
    """Ids in receipt texts: as in submit_sm_resp, 10-digit decimal, or lower-case hex."""
    receipt_tlvs: bool = True
    """Also send receipted_message_id and message_state TLVs."""
    window: int = 100
    """deliver_sm outstanding per bind."""
    seed: int | None = None
    tls_cert: str = ""
    tls_key: str = ""
    """PEM files; both set serves SMPP over TLS."""
    silent_after: int = 0
    """The connection that receives this many-th submit_sm (counted over all connections) goes
    silent from it on: TCP open, nothing answered. 0: never."""
    log_submits: bool = False
    """Keep the receive time of every submit_sm in :attr:`SmscSim.submit_log`."""


class SimStats(msgspec.Struct, kw_only=True):
    """Counters, for tests and the bench."""

    connections: int = 0
    binds: int = 0
    bind_failures: int = 0
    unbinds: int = 0
    submits: int = 0
    accepted: int = 0
    throttled: int = 0
    failed: int = 0
    receipts_sent: int = 0
    receipts_acked: int = 0
    mo_sent: int = 0
    mo_acked: int = 0
    protocol_errors: int = 0
    bound_now: int = 0
    enquire_links: int = 0
    silenced: int = 0
    """Connections that went silent."""
    ignored: int = 0
    """Reads on silent connections, dropped unanswered."""


class _Conn:
    __slots__ = (
        "account",
        "closing",
        "framer",
        "inflight",
        "mode",
        "number",
        "outbox",
        "queue",
        "scope",
        "seq",
        "silent",
        "stream",
        "wake",
    )

    def __init__(self, stream: trio.abc.Stream, number: int) -> None:
        self.stream = stream
        self.number = number
        self.silent = False
        self.framer = Framer()
        self.outbox: list[bytes] = []
        self.wake = trio.Event()
        self.mode = ""
        self.account = ""
        self.queue: deque[DeliverSm] = deque()
        self.inflight: dict[int, DeliverSm] = {}
        self.seq = 0
        self.closing = False
        self.scope = trio.CancelScope()

    def send(self, data: bytes) -> None:
        if self.silent:
            return
        self.outbox.append(data)
        self.wake.set()


class _Account:
    __slots__ = ("pending", "receivers", "rr")

    def __init__(self) -> None:
        self.receivers: list[_Conn] = []
        self.pending: deque[DeliverSm] = deque()
        self.rr = 0


class SmscSim:
    """A running simulator; create it with :func:`serve_smsc_sim`."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.stats = SimStats()
        self.port = 0
        self._rng = random.Random(settings.seed)
        self._next_id = 0x10000000 + self._rng.randrange(0x1000000)
        self._accounts: dict[str, _Account] = {}
        self._conns: set[_Conn] = set()
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._due_changed = trio.Event()
        self._changed = trio.Event()
        self._tie = 0
        self._date = ("", 0)
        self._nursery: trio.Nursery | None = None
        self.submit_log: list[tuple[float, int]] = []
        """(receive time, connection number) of every submit_sm, with ``log_submits``."""

    # -- public ----------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[SimStats], bool]) -> None:
        """Return once ``predicate(stats)`` holds (checked after every change, no polling)."""
        while not predicate(self.stats):
            await self._changed.wait()

    def inject_mo(
        self,
        sender: str,
        to: str,
        text: str,
        *,
        system_id: str | None = None,
        concat: Literal["udh", "sar"] = "udh",
    ) -> int:
        """Queue an inbound message (split and encoded like a handset would) for delivery.

        Goes to ``system_id``'s receiving binds (default: every account that has ever bound, or
        the only configured one). Returns how many deliver_sm it took.
        """
        from smsgw.drivers.smpp.mo_pdus import mo_pdus  # needs smsgw.drivers.text

        pdus = mo_pdus(sender, to, text, concat=concat, ref=self._rng.randrange(256))
        targets = (
            [system_id] if system_id else (list(self._accounts) or list(self.settings.accounts))
        )
        for account in targets:
            for pdu in pdus:
                self._route(account, pdu)
        self.stats.mo_sent += len(pdus) * len(targets)
        self._notify()
        return len(pdus)

    def drop_connections(self) -> None:
        """Cut every connection at once (no unbind), as a crashing SMSC would."""
        for conn in list(self._conns):
            conn.scope.cancel()

    def go_silent(self) -> None:
        """Every open connection goes half-open: kept, read, never answered again."""
        for conn in self._conns:
            self._silence(conn)

    async def connect_memory(self) -> trio.abc.Stream:
        """A new connection to this simulator over an in-memory stream (no socket); the
        returned stream is the ESME's end. Needs :meth:`serve` running."""
        if self._nursery is None:
            raise RuntimeError("the simulator is not serving")
        client, server = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._handle, server)
        return client

    # -- serving ---------------------------------------------------------------------------

    async def serve(
        self,
        *,
        listen: bool = True,
        task_status: trio.TaskStatus[SmscSim] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and serve until cancelled; reports itself as started once listening.

        ``listen=False`` opens no socket: connections come from :meth:`connect_memory`.
        """
        s = self.settings
        if not listen:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._timer)
                task_status.started(self)
            return
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]]
        tcp = await trio.open_tcp_listeners(s.port, host=s.host)
        self.port = tcp[0].socket.getsockname()[1]
        if s.tls_cert and s.tls_key:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
            listeners = [trio.SSLListener(t, ctx, https_compatible=False) for t in tcp]
        else:
            listeners = tcp
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._timer)
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _silence(self, conn: _Conn) -> None:
        if not conn.silent:
            conn.silent = True
            conn.outbox.clear()
            self.stats.silenced += 1

    async def _handle(self, stream: trio.abc.Stream) -> None:
        self.stats.connections += 1
        conn = _Conn(stream, self.stats.connections)
        self._conns.add(conn)
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, conn)
                    await self._reader(conn)
                    if not conn.closing:
                        nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer reset the connection: that bind ends, the simulator goes on
        finally:
            self._detach(conn)
            await trio.aclose_forcefully(stream)

    async def _writer(self, conn: _Conn) -> None:
        while True:
            await conn.wake.wait()
            conn.wake = trio.Event()
            if conn.outbox and not conn.silent:
                data = b"".join(conn.outbox)
                conn.outbox.clear()
                await conn.stream.send_all(data)
            if conn.closing and not conn.outbox:
                return

    async def _reader(self, conn: _Conn) -> None:
        while not conn.closing:
            data = await conn.stream.receive_some(65536)
            if not data:
                return
            # Framed even when silent: the submits it ignores still reached the carrier.
            frames, framing_error = conn.framer.feed(data)
            if conn.silent:
                self.stats.ignored += 1
                self._log_ignored(conn, frames)
                self._notify()
                continue
            error: RemoteProtocolError | None = framing_error
            for i, frame in enumerate(frames):
                try:
                    pdu = decode(frame)
                except RemoteProtocolError as exc:
                    error = exc
                    break
                if self._on_pdu(conn, pdu):
                    if _went_silent(conn):  # at this submit: the rest are ignored
                        self._log_ignored(conn, frames[i + 1 :])
                    break
            if error is not None:
                self.stats.protocol_errors += 1
                conn.send(encode_header_only(Cmd.GENERIC_NACK, error.sequence, error.nack_status))
                conn.closing = True
            self._notify()

    def _log_ignored(self, conn: _Conn, frames: Sequence[bytes]) -> None:
        """Submits a silent connection read and dropped still count as received (rate log)."""
        if self.settings.log_submits:
            now = trio.current_time()
            for frame in frames:
                if int.from_bytes(frame[4:8], "big") == Cmd.SUBMIT_SM:
                    self.submit_log.append((now, conn.number))

    def _detach(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        if conn.mode:
            self.stats.bound_now -= 1
        account = self._accounts.get(conn.account)
        if account is not None and conn in account.receivers:
            account.receivers.remove(conn)
            # Unacknowledged receipts and MO go out again on another bind, in order.
            for pdu in [*conn.inflight.values(), *conn.queue]:
                self._route(conn.account, pdu)
        conn.inflight.clear()
        conn.queue.clear()
        self._notify()

    # -- protocol --------------------------------------------------------------------------

    def _on_pdu(self, conn: _Conn, pdu: object) -> bool:
        """Handle one PDU; True when the connection is closing or went silent."""
        t = type(pdu)
        if t is SubmitSm:
            self._on_submit(conn, pdu)  # type: ignore[arg-type]
        elif t is DeliverSmResp or t is DataSmResp or t is GenericNack:
            self._on_delivery_ack(conn, pdu.sequence, pdu.status)  # type: ignore[attr-defined]
        elif t is EnquireLink:
            self.stats.enquire_links += 1
            conn.send(encode_header_only(Cmd.ENQUIRE_LINK_RESP, pdu.sequence))  # type: ignore[attr-defined]
        elif t is BindRequest:
            self._on_bind(conn, pdu)  # type: ignore[arg-type]
        elif t is Unbind:
            conn.send(encode_header_only(Cmd.UNBIND_RESP, pdu.sequence))  # type: ignore[attr-defined]
            self.stats.unbinds += 1
            conn.closing = True
        elif t is UnbindResp:
            conn.closing = True
        else:
            cmd = getattr(pdu, "command_id", 0) or getattr(pdu, "cmd", 0)
            if not is_response(cmd):
                seq = getattr(pdu, "sequence", 0)
                conn.send(encode_header_only(Cmd.GENERIC_NACK, seq, Status.RINVCMDID))
        return conn.closing or conn.silent

    def _on_bind(self, conn: _Conn, pdu: BindRequest) -> None:
        accounts = self.settings.accounts
        if conn.mode:
            status = Status.RALYBND
        elif accounts and pdu.system_id not in accounts:
            status = Status.RINVSYSID
        elif accounts and accounts[pdu.system_id] != pdu.password:
            status = Status.RINVPASWD
        else:
            status = Status.ROK
        resp = BindResponse(
            mode=pdu.mode,
            status=status,
            system_id=self.settings.system_id,
            sc_interface_version=0x34 if status == 0 else None,
        )
        conn.send(encode(resp, pdu.sequence))
        if status:
            self.stats.bind_failures += 1
            return
        self.stats.binds += 1
        self.stats.bound_now += 1
        conn.mode, conn.account = pdu.mode, pdu.system_id
        account = self._accounts.setdefault(pdu.system_id, _Account())
        if pdu.mode != "tx":
            account.receivers.append(conn)
            while account.pending:
                self._route(pdu.system_id, account.pending.popleft())

    def _on_submit(self, conn: _Conn, pdu: SubmitSm) -> None:
        self.stats.submits += 1
        if self.settings.log_submits:
            self.submit_log.append((trio.current_time(), conn.number))
        if self.stats.submits == self.settings.silent_after:
            self._silence(conn)
            return
        if conn.mode not in ("tx", "trx"):
            conn.send(encode_message_id_resp(Cmd.SUBMIT_SM_RESP, pdu.sequence, Status.RINVBNDSTS))
            return
        s, r = self.settings, self._rng.random()
        if r < s.throttle:
            self.stats.throttled += 1
            status = Status.RTHROTTLED
        elif r < s.throttle + s.fail_temporary:
            status = Status.RSYSERR
        elif r < s.throttle + s.fail_temporary + s.fail_permanent:
            status = 0x0000000B  # ESME_RINVDSTADR
        else:
            status = 0
        if status:
            if status != Status.RTHROTTLED:
                self.stats.failed += 1
            self._later(
                s.response_delay,
                lambda: conn.send(encode_message_id_resp(Cmd.SUBMIT_SM_RESP, pdu.sequence, status)),
            )
            return
        n = self._next_id
        self._next_id += 1
        mid = f"{n:08X}" if s.id_format == "hex" else str(n)
        resp = encode_message_id_resp(Cmd.SUBMIT_SM_RESP, pdu.sequence, 0, mid)
        self._later(s.response_delay, lambda: conn.send(resp))
        self.stats.accepted += 1
        wants = pdu.registered_delivery & 0x03
        if not s.receipts or not wants:
            return
        delivered = self._rng.random() >= s.undeliverable
        if wants == 2 and delivered:  # receipts on failure only (§5.2.17)
            return
        receipt = self._receipt(pdu, n, mid, delivered)
        account = conn.account
        self._later(s.response_delay + s.receipt_delay, lambda: self._route(account, receipt))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            action()
            return
        self._tie += 1
        heapq.heappush(self._due, (trio.current_time() + delay, self._tie, action))
        self._due_changed.set()

    def _receipt(self, sub: SubmitSm, n: int, mid: str, delivered: bool) -> DeliverSm:
        fmt = self.settings.receipt_id_format
        text_id = mid if fmt == "same" else f"{n:010d}" if fmt == "decimal" else f"{n:x}"
        date = self._now_date()
        stat, err, dlvrd = ("DELIVRD", "000", "001") if delivered else ("UNDELIV", "001", "000")
        text = (
            f"id:{text_id} sub:001 dlvrd:{dlvrd} submit date:{date} done date:{date} "
            f"stat:{stat} err:{err} text:"
        )
        tlvs: tuple[tuple[int, bytes], ...] = ()
        if self.settings.receipt_tlvs:
            tlvs = (
                (Tag.RECEIPTED_MESSAGE_ID, mid.encode() + b"\0"),
                (Tag.MESSAGE_STATE, b"\x02" if delivered else b"\x05"),
            )
        return DeliverSm(
            source_addr_ton=sub.dest_addr_ton,
            source_addr_npi=sub.dest_addr_npi,
            source_addr=sub.destination_addr,
            dest_addr_ton=sub.source_addr_ton,
            dest_addr_npi=sub.source_addr_npi,
            destination_addr=sub.source_addr,
            esm_class=0x04,
            short_message=text.encode("latin-1"),
            tlvs=tlvs,
        )

    def _now_date(self) -> str:
        now = int(time.time())
        if self._date[1] != now:  # strftime once a second, not once a receipt
            self._date = (time.strftime("%y%m%d%H%M%S", time.gmtime(now)), now)
        return self._date[0]

    # -- deliveries (receipts and MO) ------------------------------------------------------

    def _route(self, account_name: str, pdu: DeliverSm) -> None:
        account = self._accounts.setdefault(account_name, _Account())
        receivers = account.receivers
        if not receivers:
            account.pending.append(pdu)
            return
        account.rr = (account.rr + 1) % len(receivers)
        conn = receivers[account.rr]
        conn.queue.append(pdu)
        self._pump(conn)

    def _pump(self, conn: _Conn) -> None:
        if conn.silent:
            return  # kept for it; sent again on another bind once it is gone
        window = self.settings.window
        while conn.queue and len(conn.inflight) < window:
            pdu = conn.queue.popleft()
            conn.seq = conn.seq % 0x7FFFFFFF + 1
            conn.inflight[conn.seq] = pdu
            conn.send(encode_short_message(Cmd.DELIVER_SM, pdu, conn.seq))
            if pdu.esm_class & 0x3C:
                self.stats.receipts_sent += 1

    def _on_delivery_ack(self, conn: _Conn, seq: int, status: int) -> None:
        pdu = conn.inflight.pop(seq, None)
        if pdu is None:
            return
        if status:  # refused: offer it again (a real SMSC retries later)
            conn.queue.append(pdu)
        elif pdu.esm_class & 0x3C:
            self.stats.receipts_acked += 1
        else:
            self.stats.mo_acked += 1
        self._pump(conn)

    async def _timer(self) -> None:
        while True:
            if not self._due:
                await self._due_changed.wait()
            else:
                with trio.move_on_at(self._due[0][0]):
                    await self._due_changed.wait()
            self._due_changed = trio.Event()
            now = trio.current_time()
            while self._due and self._due[0][0] <= now:
                heapq.heappop(self._due)[2]()
            self._notify()


async def serve_smsc_sim(
    settings: SimSettings, *, task_status: trio.TaskStatus[SmscSim] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run an SMSC simulator until cancelled; ``nursery.start`` returns the :class:`SmscSim`."""
    await SmscSim(settings).serve(task_status=task_status)


def main(argv: list[str]) -> int:
    """``smsgw smsc-sim [options]``: run until interrupted; returns the exit status.

    ``--help`` lists the options (see :mod:`smsgw.drivers.smpp.simcli`).
    """
    from smsgw.drivers.smpp.simcli import main as cli_main

    return cli_main(argv)


def _went_silent(conn: _Conn) -> bool:
    # A function, so the type checker does not carry the "not silent" narrowing from before
    # _on_pdu (which can make the connection silent) past the call.
    return conn.silent
