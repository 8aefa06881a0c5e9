"""The SMSC side of one SMPP 3.4 connection: the ESME session's machine in the server role.

:class:`ServerSession` is :class:`~smsgw.drivers.smpp.session.Session` with the other half of
the conversation: the peer binds to us (:class:`BindRequested`; the caller decides and calls
:meth:`ServerSession.accept_bind` or :meth:`ServerSession.reject_bind`), submits
(:class:`SubmitSmReceived`, answered by :meth:`ServerSession.answer_submit` once stored), asks
query_sm and cancel_sm, and we send deliver_sm (receipts, inbound) within a window, each with
a response deadline (:class:`DeliverResponse`, or ``RequestTimedOut`` from ``timers``).
Framing, sequence numbers, the transition table, enquire_link both ways, unbind and
generic_nack for commands nobody implements are the shared session's.

Like the ESME session it is sans-IO and must not import trio (a test checks it).
"""

from __future__ import annotations

from typing import ClassVar

from smsgw.drivers.smpp.codec import (
    encode,
    encode_header_only,
    encode_message_id_resp,
    encode_short_message,
)
from smsgw.drivers.smpp.codec_server import (
    decode_cancel_sm,
    decode_query_sm,
    encode_query_sm_resp,
)
from smsgw.drivers.smpp.errors import LocalProtocolError, RemoteProtocolError
from smsgw.drivers.smpp.events import (
    BindRequested,
    CancelRequested,
    DataSmReceived,
    DeliverResponse,
    Event,
    ProtocolViolation,
    QueryRequested,
    SubmitSmReceived,
)
from smsgw.drivers.smpp.pdu import (
    BindMode,
    BindRequest,
    BindResponse,
    Cmd,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    Pdu,
    Status,
    SubmitSm,
    UnknownPdu,
)
from smsgw.drivers.smpp.session import _MAY_RECEIVE, _MAY_SEND, Session, SessionState

__all__ = ["ServerSession"]

_S = SessionState
_RECEIVE_STATES = frozenset({_S.BOUND_RX, _S.BOUND_TRX})
_TRANSMIT_STATES = frozenset({_S.BOUND_TX, _S.BOUND_TRX})


class ServerSession(Session):
    """One ESME bound (or binding) to us, seen from the SMSC (SMPP 3.4 §2.2).

    ``window`` caps the deliver_sm sent and not yet answered; ``response_timeout`` and
    ``enquire_link`` mean what they mean for the ESME session. Calling a method the state
    forbids raises :class:`LocalProtocolError` and changes nothing.
    """

    windowed: ClassVar[int] = Cmd.DELIVER_SM

    def __init__(
        self, *, window: int, response_timeout: float, enquire_link: float, now: float
    ) -> None:
        super().__init__(
            "trx", window=window, response_timeout=response_timeout, enquire_link=enquire_link,
            now=now,
        )  # fmt: skip
        self._bind_seq: int | None = None
        self._bind_mode: BindMode = "trx"
        self.system_id = ""
        """The system_id of the accepted bind ("" until then)."""

    # -- state -----------------------------------------------------------------------------

    @property
    def can_deliver(self) -> bool:
        """True when bound as receiver or transceiver (deliver_sm may go out)."""
        return self.state in _RECEIVE_STATES

    @property
    def can_receive_submit(self) -> bool:
        """True when bound as transmitter or transceiver."""
        return self.state in _TRANSMIT_STATES

    @property
    def window_free(self) -> int:
        """deliver_sm that can be sent now (0 unless bound to receive)."""
        if self.state not in _RECEIVE_STATES:
            return 0
        return self.window - self._submits

    @property
    def can_submit(self) -> bool:
        """Always False: an SMSC never sends submit_sm."""
        return False

    # -- answers to the peer's requests ------------------------------------------------------

    def accept_bind(self, sequence: int, *, system_id: str) -> None:
        """Answer the pending bind with ESME_ROK and our ``system_id`` (§4.1.2); the session is
        bound in the mode the peer asked for. Raises unless that bind is pending."""
        mode = self._pending_bind(sequence)
        resp = BindResponse(mode=mode, system_id=system_id, sc_interface_version=0x34)
        self._out.append(encode(resp, sequence))
        self._transition("accept:" + mode)
        self._bind_seq = None
        self.mode = mode

    def reject_bind(self, sequence: int, status: int) -> None:
        """Answer the pending bind with error ``status`` (ESME_RINVPASWD, ESME_RBINDFAIL ...);
        the session is open again (the caller usually closes the connection)."""
        mode = self._pending_bind(sequence)
        if status == Status.ROK:
            raise LocalProtocolError("reject_bind needs an error status")
        self._out.append(encode(BindResponse(mode=mode, status=status), sequence))
        self._transition("reject")
        self._bind_seq = None

    def _pending_bind(self, sequence: int) -> BindMode:
        if self.state is not _S.BINDING or self._bind_seq != sequence:
            raise LocalProtocolError(f"no bind with sequence {sequence} is waiting")
        return self._bind_mode

    def _answerable(self) -> None:
        if self.closed:
            raise LocalProtocolError("cannot answer: the session is closed")

    def answer_submit(self, sequence: int, status: int = Status.ROK, message_id: str = "") -> None:
        """Queue the submit_sm_resp (§4.4.2) for ``sequence``: ``message_id`` on success, no
        body on an error. Call it only once the message is committed."""
        self._answerable()
        self._out.append(encode_message_id_resp(Cmd.SUBMIT_SM_RESP, sequence, status, message_id))

    def answer_data_sm(self, sequence: int, status: int = Status.ROK, message_id: str = "") -> None:
        """Queue the data_sm_resp (§4.7.2) for ``sequence``, with ``message_id`` on success."""
        self._answerable()
        self._out.append(encode_message_id_resp(Cmd.DATA_SM_RESP, sequence, status, message_id))

    def answer_query(
        self,
        sequence: int,
        status: int = Status.ROK,
        *,
        message_id: str = "",
        final_date: str = "",
        message_state: int = 0,
        error_code: int = 0,
    ) -> None:
        """Queue the query_sm_resp (§4.8.2); ``message_state`` is a §5.2.28 value."""
        self._answerable()
        self._out.append(
            encode_query_sm_resp(
                sequence,
                status,
                message_id=message_id,
                final_date=final_date,
                message_state=message_state,
                error_code=error_code,
            )
        )

    def answer_cancel(self, sequence: int, status: int = Status.ROK) -> None:
        """Queue the cancel_sm_resp (§4.9.2)."""
        self._answerable()
        self._out.append(encode_header_only(Cmd.CANCEL_SM_RESP, sequence, status))

    # -- what we send ------------------------------------------------------------------------

    def deliver(self, pdu: DeliverSm, now: float) -> int:
        """Queue one deliver_sm (§4.6.1) within the window; returns its sequence.

        Raises :class:`LocalProtocolError` when not bound to receive, when the window is full
        or when ``pdu`` cannot be encoded; the session is unchanged then.
        """
        if self.state not in _MAY_SEND[Cmd.DELIVER_SM]:
            raise LocalProtocolError(f"cannot deliver in state {self.state}")
        if self._submits >= self.window:
            raise LocalProtocolError(f"window of {self.window} deliver_sm is full")
        seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        data = encode_short_message(Cmd.DELIVER_SM, pdu, seq)
        self._seq = seq
        self._request(Cmd.DELIVER_SM, data, seq, now)
        self._submits += 1
        self._unflushed.add(seq)
        return seq

    # -- what we receive ---------------------------------------------------------------------

    def _handle(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        if type(pdu) is SubmitSm:
            if self.state in _MAY_RECEIVE[Cmd.SUBMIT_SM]:
                events.append(SubmitSmReceived(pdu))
            else:
                self._refuse(Cmd.SUBMIT_SM_RESP, pdu.sequence, "submit_sm", events)
        elif type(pdu) is DeliverSmResp:
            self._on_deliver_resp(pdu.sequence, pdu.status, events)
        elif type(pdu) is BindRequest:
            self._on_bind(pdu, events)
        elif type(pdu) is DataSm:
            if self.state in _TRANSMIT_STATES:
                events.append(DataSmReceived(pdu))
            else:
                self._refuse(Cmd.DATA_SM_RESP, pdu.sequence, "data_sm", events)
        elif type(pdu) is DeliverSm:
            self._refuse(Cmd.DELIVER_SM_RESP, pdu.sequence, "deliver_sm", events)
        elif type(pdu) is GenericNack and self._is_deliver(pdu.sequence):
            self._on_deliver_resp(pdu.sequence, pdu.status or Status.RSYSERR, events)
        elif type(pdu) is UnknownPdu and pdu.cmd in (Cmd.QUERY_SM, Cmd.CANCEL_SM):
            self._on_query_or_cancel(pdu, events)
        else:
            super()._handle(pdu, now, events)

    def _is_deliver(self, sequence: int) -> bool:
        entry = self._pending.get(sequence)
        return entry is not None and entry[1] == Cmd.DELIVER_SM

    def _on_deliver_resp(self, sequence: int, status: int, events: list[Event]) -> None:
        entry = self._pending.pop(sequence, None)
        if entry is None or entry[1] != Cmd.DELIVER_SM:
            self._unexpected_response(sequence, entry, events)
            return
        self._submits -= 1
        self._unflushed.discard(sequence)
        events.append(DeliverResponse(sequence, status, entry[2]))

    def _on_bind(self, pdu: BindRequest, events: list[Event]) -> None:
        if self.state is _S.OPEN:
            self._transition("peer_bind")
            self._bind_seq = pdu.sequence
            self._bind_mode = pdu.mode
            events.append(BindRequested(pdu))
            return
        # §4.1: a bind on a session that is bound (or binding) is ESME_RALYBND; while
        # unbinding, the bind status is simply wrong.
        status = Status.RINVBNDSTS if self.state is _S.UNBINDING else Status.RALYBND
        self._out.append(encode(BindResponse(mode=pdu.mode, status=status), pdu.sequence))
        events.append(ProtocolViolation("unexpected", f"bind in state {self.state}", False))

    def _on_query_or_cancel(self, pdu: UnknownPdu, events: list[Event]) -> None:
        resp = pdu.cmd | 0x80000000
        if self.state not in _TRANSMIT_STATES:
            self._out.append(encode_header_only(resp, pdu.sequence, Status.RINVBNDSTS))
            events.append(
                ProtocolViolation("unexpected", f"0x{pdu.cmd:08X} in state {self.state}", False)
            )
            return
        try:
            if pdu.cmd == Cmd.QUERY_SM:
                events.append(QueryRequested(decode_query_sm(pdu)))
            else:
                events.append(CancelRequested(decode_cancel_sm(pdu)))
        except RemoteProtocolError as exc:
            # The PDU was framed by its length: the stream is fine, only this request is not.
            self._out.append(encode_header_only(Cmd.GENERIC_NACK, pdu.sequence, exc.nack_status))
            events.append(ProtocolViolation(exc.kind, str(exc), False))
