"""One SMPP 3.4 ESME session as a sans-IO state machine: bytes in, events out, bytes queued.

The session knows nothing of sockets, tasks or clocks. Feed it what the peer sent with
:meth:`Session.receive_data`; call its methods to bind, submit, answer and unbind; take the bytes
to write with :meth:`Session.data_to_send` (everything queued since the last call, so a caller
writes many PDUs with one ``send_all``); give it the time with every call and ask
:meth:`Session.next_deadline` when to call :meth:`Session.timers` next.

It owns what the protocol makes stateful: the state (one transition table), the
sequence numbers (§5.1.4: 1..0x7FFFFFFF), the window of outstanding submit_sm, each request's
response deadline, the idle enquire_link (§4.11), and when the peer last sent anything.

Dead links: a request whose response is overdue while nothing at all came from the peer for
the response timeout means the link is dead (:class:`PeerSilent`), however many requests are
outstanding; an overdue request while the peer is otherwise talking is that request's timeout
only (:class:`RequestTimedOut`). So a half-open link with submits outstanding is found within
``response_timeout`` of the first submit sent after the peer fell silent, and an idle one within
``enquire_link + response_timeout`` (its probe goes unanswered). It answers enquire_link, unbind and
commands we do not implement by itself. Calling a method the state forbids raises
:class:`LocalProtocolError` and changes nothing.

This module must not import trio (a test checks it).
"""

from __future__ import annotations

import enum
import struct
from typing import ClassVar

from smsgw.drivers.smpp.codec import (
    Framer,
    command_id_of,
    decode,
    encode,
    encode_header_only,
    encode_message_id_resp,
    encode_short_message,
)
from smsgw.drivers.smpp.errors import LocalProtocolError, RemoteProtocolError
from smsgw.drivers.smpp.events import (
    Abandoned,
    BindRejected,
    Bound,
    DataSmReceived,
    DeliverSmReceived,
    Event,
    Nacked,
    PeerSilent,
    PeerUnbound,
    ProtocolViolation,
    RequestTimedOut,
    SubmitResponse,
    Unbound,
)
from smsgw.drivers.smpp.pdu import (
    BIND_COMMANDS,
    BindMode,
    BindRequest,
    BindResponse,
    Cmd,
    DataSm,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    Status,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
    is_response,
)

__all__ = ["Session", "SessionState"]


class SessionState(enum.StrEnum):
    """Where a session is; ``closed`` is final (a new connection gets a new session)."""

    OPEN = "open"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


_S = SessionState
_BOUND = frozenset({_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX})
_BOUND_STATE: dict[BindMode, SessionState] = {
    "tx": _S.BOUND_TX,
    "rx": _S.BOUND_RX,
    "trx": _S.BOUND_TRX,
}

# The one transition table. Anything not listed is illegal; "close" is legal
# from every state and handled apart.
_TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (_S.OPEN, "bind"): _S.BINDING,
    (_S.BINDING, "bound:tx"): _S.BOUND_TX,
    (_S.BINDING, "bound:rx"): _S.BOUND_RX,
    (_S.BINDING, "bound:trx"): _S.BOUND_TRX,
    (_S.BINDING, "bind_failed"): _S.CLOSED,
    (_S.BINDING, "peer_unbind"): _S.CLOSED,
    (_S.BOUND_TX, "unbind"): _S.UNBINDING,
    (_S.BOUND_RX, "unbind"): _S.UNBINDING,
    (_S.BOUND_TRX, "unbind"): _S.UNBINDING,
    (_S.BOUND_TX, "peer_unbind"): _S.CLOSED,
    (_S.BOUND_RX, "peer_unbind"): _S.CLOSED,
    (_S.BOUND_TRX, "peer_unbind"): _S.CLOSED,
    (_S.UNBINDING, "unbind_resp"): _S.CLOSED,
    (_S.UNBINDING, "peer_unbind"): _S.CLOSED,
    # The SMSC role (the peer binds to us; see smsgw.drivers.smpp.server_session): a bind
    # request waits in BINDING for the caller's verdict; a refused one leaves the session open.
    (_S.OPEN, "peer_bind"): _S.BINDING,
    (_S.BINDING, "accept:tx"): _S.BOUND_TX,
    (_S.BINDING, "accept:rx"): _S.BOUND_RX,
    (_S.BINDING, "accept:trx"): _S.BOUND_TRX,
    (_S.BINDING, "reject"): _S.OPEN,
}

# Which requests may be sent / accepted in which state (SMPP 3.4 §2.3, table 2-1). Responses
# to the peer's requests are always allowed while not closed.
_MAY_SEND: dict[int, frozenset[SessionState]] = {
    Cmd.SUBMIT_SM: frozenset({_S.BOUND_TX, _S.BOUND_TRX}),
    Cmd.ENQUIRE_LINK: _BOUND,
    Cmd.DELIVER_SM: frozenset({_S.BOUND_RX, _S.BOUND_TRX}),
}
_MAY_RECEIVE: dict[int, frozenset[SessionState]] = {
    Cmd.DELIVER_SM: frozenset({_S.BOUND_RX, _S.BOUND_TRX, _S.UNBINDING}),
    Cmd.DATA_SM: _BOUND | {_S.UNBINDING},
    Cmd.SUBMIT_SM: frozenset({_S.BOUND_TX, _S.BOUND_TRX}),
}

_MAX_SEQUENCE = 0x7FFFFFFF
_DELIVER_SM_RESP = struct.Struct(">IIII").pack


class Session:
    """The ESME side of one SMPP connection (SMPP 3.4 §2).

    ``mode`` is the bind this session will ask for (``trx``, ``tx`` or ``rx``); ``window`` caps
    outstanding submit_sm; ``response_timeout`` is how long any request waits for its answer;
    ``enquire_link`` is the idle interval after which we probe the peer.

    :class:`~smsgw.drivers.smpp.server_session.ServerSession` is the same machine in the SMSC
    role: its window counts the deliver_sm it sent (:attr:`windowed`) instead of submit_sm.
    """

    windowed: ClassVar[int] = Cmd.SUBMIT_SM
    """The request the window counts and :meth:`close` lists as abandoned."""

    def __init__(
        self,
        mode: BindMode,
        *,
        window: int,
        response_timeout: float,
        enquire_link: float,
        now: float,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.mode: BindMode = mode
        self.window = window
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link
        self._state = _S.OPEN
        self._framer = Framer()
        self._out: list[bytes] = []
        self._seq = 0
        # sequence -> (deadline, command_id, sent_at); insertion order is deadline order
        # because every request gets the same timeout and time does not run backwards.
        self._pending: dict[int, tuple[float, int, float]] = {}
        self._submits = 0
        self._unflushed: set[int] = set()
        self._last_rx = now
        self._enquiring = False
        self.peer_system_id = ""

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the session is over (a new connection needs a new session)."""
        return self._state is _S.CLOSED

    @property
    def in_flight(self) -> int:
        """submit_sm sent and not yet answered."""
        return self._submits

    @property
    def window_free(self) -> int:
        """submit_sm that can be sent now (0 unless bound to transmit)."""
        if self._state is not _S.BOUND_TRX and self._state is not _S.BOUND_TX:
            return 0
        return self.window - self._submits

    @property
    def can_submit(self) -> bool:
        """True when bound as transmitter or transceiver."""
        return self._state is _S.BOUND_TRX or self._state is _S.BOUND_TX

    def _closed(self) -> bool:
        # A method, not an inline test: mypy would keep the narrowing from before _handle().
        return self._state is _S.CLOSED

    def _transition(self, event: str) -> None:
        new = _TRANSITIONS.get((self._state, event))
        if new is None:
            raise LocalProtocolError(f"{event!r} is not allowed in state {self._state}")
        self._state = new

    def _check_send(self, command_id: int) -> None:
        allowed = _MAY_SEND.get(command_id)
        if allowed is not None and self._state not in allowed:
            raise LocalProtocolError(f"cannot send 0x{command_id:08X} in state {self._state}")

    def _next_sequence(self) -> int:
        seq = self._seq + 1
        if seq > _MAX_SEQUENCE:
            seq = 1
        self._seq = seq
        return seq

    def _request(self, command_id: int, data: bytes, seq: int, now: float) -> None:
        self._pending[seq] = (now + self.response_timeout, command_id, now)
        self._out.append(data)

    # -- what we send ------------------------------------------------------------------------

    def bind(
        self,
        *,
        system_id: str,
        password: str = "",
        system_type: str = "",
        address_range: str = "",
        addr_ton: int = 0,
        addr_npi: int = 0,
        now: float,
    ) -> int:
        """Queue bind_transmitter/receiver/transceiver (§4.1) per ``mode``; returns its sequence.

        Raises :class:`LocalProtocolError` unless the session is open, or if a field is too long.
        """
        if self._state is not _S.OPEN:
            raise LocalProtocolError(f"cannot bind in state {self._state}")
        seq = self._next_sequence()
        data = encode(
            BindRequest(
                mode=self.mode,
                system_id=system_id,
                password=password,
                system_type=system_type,
                address_range=address_range,
                addr_ton=addr_ton,
                addr_npi=addr_npi,
            ),
            seq,
        )
        self._transition("bind")
        self._request(BIND_COMMANDS[self.mode], data, seq, now)
        return seq

    def submit(self, pdu: SubmitSm, now: float) -> int:
        """Queue one submit_sm (§4.4); returns its sequence number.

        Raises :class:`LocalProtocolError` when not bound to transmit, when the window is full
        or when ``pdu`` cannot be encoded; the session is unchanged then.
        """
        if self._state is not _S.BOUND_TRX and self._state is not _S.BOUND_TX:
            raise LocalProtocolError(f"cannot submit in state {self._state}")
        if self._submits >= self.window:
            raise LocalProtocolError(f"window of {self.window} submit_sm is full")
        seq = self._seq + 1
        if seq > _MAX_SEQUENCE:
            seq = 1
        data = encode_short_message(Cmd.SUBMIT_SM, pdu, seq)
        self._seq = seq
        self._pending[seq] = (now + self.response_timeout, Cmd.SUBMIT_SM, now)
        self._out.append(data)
        self._submits += 1
        self._unflushed.add(seq)
        return seq

    def answer(self, sequence: int, status: int = Status.ROK) -> None:
        """Queue the deliver_sm_resp (§4.6.2) for the deliver_sm with ``sequence``.

        Call it only once what the deliver_sm carried is stored: the SMSC forgets it then.
        """
        if self._state is _S.CLOSED:
            raise LocalProtocolError("cannot answer: the session is closed")
        # One per receipt: the 17-octet PDU (header + empty message_id) packed directly.
        self._out.append(_DELIVER_SM_RESP(17, Cmd.DELIVER_SM_RESP, status, sequence) + b"\0")

    def answer_data_sm(self, sequence: int, status: int = Status.ROK) -> None:
        """Queue the data_sm_resp (§4.7.2) for the data_sm with ``sequence``."""
        if self._state is _S.CLOSED:
            raise LocalProtocolError("cannot answer: the session is closed")
        self._out.append(encode_message_id_resp(Cmd.DATA_SM_RESP, sequence, status))

    def enquire_link(self, now: float) -> int:
        """Queue an enquire_link (§4.11.1) now; returns its sequence."""
        self._check_send(Cmd.ENQUIRE_LINK)
        seq = self._next_sequence()
        self._request(Cmd.ENQUIRE_LINK, encode_header_only(Cmd.ENQUIRE_LINK, seq), seq, now)
        self._enquiring = True
        return seq

    def unbind(self, now: float) -> int:
        """Queue unbind (§4.2.1); submits still outstanding may still be answered."""
        self._transition("unbind")
        seq = self._next_sequence()
        self._request(Cmd.UNBIND, encode_header_only(Cmd.UNBIND, seq), seq, now)
        return seq

    def close(self) -> list[Abandoned]:
        """Mark the session closed (connection gone) and list the submits left unanswered."""
        self._state = _S.CLOSED
        windowed = self.windowed
        lost = [
            Abandoned(seq, seq not in self._unflushed, sent_at)
            for seq, (_, cmd, sent_at) in self._pending.items()
            if cmd == windowed
        ]
        self._pending.clear()
        self._submits = 0
        self._unflushed.clear()
        self._out.clear()
        return lost

    @property
    def has_data_to_send(self) -> bool:
        """True when :meth:`data_to_send` would return bytes."""
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one buffer (b"" when nothing is)."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._unflushed.clear()
        return data

    # -- time ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`timers` has something to do next (None: nothing scheduled)."""
        deadline: float | None = None
        if self._pending:
            deadline = next(iter(self._pending.values()))[0]
        if self._state in _BOUND and not self._enquiring:
            probe = self._last_rx + self.enquire_link_interval
            if deadline is None or probe < deadline:
                deadline = probe
        return deadline

    @property
    def last_received(self) -> float:
        """When the peer last sent anything (the session's start if it never did)."""
        return self._last_rx

    def timers(self, now: float) -> list[Event]:
        """Fire what is due at ``now``: a silent peer, response timeouts, the idle enquire_link.

        A :class:`PeerSilent` comes alone: the session is dead and its requests stay listed
        for :meth:`close`.
        """
        events: list[Event] = []
        pending = self._pending
        if (
            pending
            and now - self._last_rx >= self.response_timeout
            and next(iter(pending.values()))[0] <= now
        ):
            return [PeerSilent(self._last_rx, len(pending))]
        while pending:
            seq = next(iter(pending))
            deadline, cmd, sent_at = pending[seq]
            if deadline > now:
                break
            del pending[seq]
            if cmd == self.windowed:
                self._submits -= 1
                self._unflushed.discard(seq)
            elif cmd == Cmd.ENQUIRE_LINK:
                self._enquiring = False
            events.append(RequestTimedOut(seq, cmd, sent_at))
        if (
            self._state in _BOUND
            and not self._enquiring
            and now >= self._last_rx + self.enquire_link_interval
        ):
            self.enquire_link(now)
        return events

    # -- what we receive ---------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray, now: float) -> list[Event]:
        """Feed bytes from the peer; returns the events they make, in order.

        A framing error or a PDU that does not parse closes the session: the events before it
        are returned, then a fatal :class:`ProtocolViolation`, and a generic_nack is queued.
        Raises :class:`LocalProtocolError` if the session is already closed.
        """
        if self._state is _S.CLOSED:
            raise LocalProtocolError("receive_data on a closed session")
        frames, framing_error = self._framer.feed(data)
        if frames or framing_error:
            self._last_rx = now
        events: list[Event] = []
        for frame in frames:
            try:
                pdu = decode(frame)
            except RemoteProtocolError as exc:
                self._fatal(exc, events)
                return events
            self._handle(pdu, now, events)
            if self._closed():
                return events
        if framing_error is not None:
            self._fatal(framing_error, events)
        return events

    def _fatal(self, exc: RemoteProtocolError, events: list[Event]) -> None:
        self._out.append(encode_header_only(Cmd.GENERIC_NACK, exc.sequence, exc.nack_status))
        events.append(ProtocolViolation(exc.kind, str(exc), True))
        self._state = _S.CLOSED

    def _handle(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        if type(pdu) is SubmitSmResp:
            entry = self._pending.pop(pdu.sequence, None)
            if entry is None or entry[1] != Cmd.SUBMIT_SM:
                self._unexpected_response(pdu.sequence, entry, events)
                return
            self._submits -= 1
            self._unflushed.discard(pdu.sequence)
            events.append(SubmitResponse(pdu.sequence, pdu.status, pdu.message_id, entry[2]))
        elif type(pdu) is DeliverSm:
            if self._state not in _MAY_RECEIVE[Cmd.DELIVER_SM]:
                self._refuse(Cmd.DELIVER_SM_RESP, pdu.sequence, "deliver_sm", events)
            else:
                events.append(DeliverSmReceived(pdu))
        elif type(pdu) is EnquireLink:
            self._out.append(encode_header_only(Cmd.ENQUIRE_LINK_RESP, pdu.sequence))
        elif type(pdu) is EnquireLinkResp:
            entry = self._pending.pop(pdu.sequence, None)
            if entry is None or entry[1] != Cmd.ENQUIRE_LINK:
                self._unexpected_response(pdu.sequence, entry, events)
            self._enquiring = False
        elif type(pdu) is DataSm:
            if self._state not in _MAY_RECEIVE[Cmd.DATA_SM]:
                self._refuse(Cmd.DATA_SM_RESP, pdu.sequence, "data_sm", events)
            else:
                events.append(DataSmReceived(pdu))
        elif type(pdu) is BindResponse:
            self._on_bind_resp(pdu, events)
        elif type(pdu) is Unbind:
            self._out.append(encode_header_only(Cmd.UNBIND_RESP, pdu.sequence))
            if (self._state, "peer_unbind") in _TRANSITIONS:
                self._transition("peer_unbind")
            else:
                self._state = _S.CLOSED
            events.append(PeerUnbound())
        elif type(pdu) is UnbindResp:
            entry = self._pending.pop(pdu.sequence, None)
            if self._state is _S.UNBINDING:
                self._transition("unbind_resp")
                events.append(Unbound())
            else:
                self._unexpected_response(pdu.sequence, entry, events)
        elif type(pdu) is GenericNack:
            self._on_nack(pdu, events)
        elif type(pdu) is UnknownPdu:
            if not is_response(pdu.cmd) and pdu.cmd != Cmd.ALERT_NOTIFICATION:
                self._out.append(
                    encode_header_only(Cmd.GENERIC_NACK, pdu.sequence, Status.RINVCMDID)
                )
            events.append(
                ProtocolViolation("unknown_command", f"command_id 0x{pdu.cmd:08X}", False)
            )
        else:
            # A request only an SMSC receives (submit_sm, bind ...): not for an ESME.
            cmd = command_id_of(pdu)
            if not is_response(cmd):
                self._out.append(
                    encode_header_only(cmd | 0x80000000, pdu.sequence, Status.RINVBNDSTS)
                )
            events.append(ProtocolViolation("unexpected", f"command_id 0x{cmd:08X}", False))

    def _refuse(self, resp_cmd: int, seq: int, name: str, events: list[Event]) -> None:
        self._out.append(encode_message_id_resp(resp_cmd, seq, Status.RINVBNDSTS))
        events.append(ProtocolViolation("unexpected", f"{name} in state {self._state}", False))

    def _unexpected_response(
        self, seq: int, entry: tuple[float, int, float] | None, events: list[Event]
    ) -> None:
        if entry is not None:  # a response of the wrong type: put the request back
            self._pending[seq] = entry
            # ... where it was: timers() reads deadlines in insertion order, and a request
            # moved to the end would time out late (a peer repeating it: never).
            self._pending = dict(sorted(self._pending.items(), key=lambda kv: kv[1][0]))
        events.append(
            ProtocolViolation("unexpected_response", f"no request with sequence {seq}", False)
        )

    def _on_bind_resp(self, pdu: BindResponse, events: list[Event]) -> None:
        entry = self._pending.pop(pdu.sequence, None)
        if self._state is not _S.BINDING or entry is None:
            self._unexpected_response(pdu.sequence, entry, events)
            return
        if pdu.status != Status.ROK:
            self._transition("bind_failed")
            events.append(BindRejected(pdu.status))
            return
        self._transition("bound:" + self.mode)
        self.peer_system_id = pdu.system_id
        events.append(Bound(self.mode, pdu.system_id))

    def _on_nack(self, pdu: GenericNack, events: list[Event]) -> None:
        entry = self._pending.pop(pdu.sequence, None)
        if entry is None:
            # A nack for something we never sent (or sequence 0: "your PDU was unreadable").
            events.append(
                ProtocolViolation(
                    "generic_nack", f"status 0x{pdu.status:08X} for {pdu.sequence}", False
                )
            )
            return
        _, cmd, sent_at = entry
        status = pdu.status or Status.RSYSERR
        if cmd == Cmd.SUBMIT_SM:
            self._submits -= 1
            self._unflushed.discard(pdu.sequence)
            events.append(SubmitResponse(pdu.sequence, status, "", sent_at))
        elif self._state is _S.BINDING:
            self._transition("bind_failed")
            events.append(BindRejected(status))
        else:
            if cmd == Cmd.ENQUIRE_LINK:
                self._enquiring = False
            events.append(Nacked(pdu.sequence, cmd, status))
