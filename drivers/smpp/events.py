"""Events a :class:`~smsgw.drivers.smpp.session.Session` reports, as frozen values.

Each is something the trio layer must act on: report an outcome, store a receipt and then answer
it, drop the connection. Requests we answer by ourselves (enquire_link, the peer's unbind, PDUs
we do not implement) produce no event, only bytes to send, unless they say something the driver
has to know (the peer unbinding).
"""

from __future__ import annotations

import msgspec

from smsgw.drivers.smpp.pdu import (
    BindMode,
    BindRequest,
    CancelSm,
    DataSm,
    DeliverSm,
    QuerySm,
    SubmitSm,
)

__all__ = [
    "Abandoned",
    "BindRejected",
    "BindRequested",
    "Bound",
    "CancelRequested",
    "DataSmReceived",
    "DeliverResponse",
    "DeliverSmReceived",
    "Event",
    "Nacked",
    "PeerSilent",
    "PeerUnbound",
    "ProtocolViolation",
    "QueryRequested",
    "RequestTimedOut",
    "SubmitResponse",
    "SubmitSmReceived",
    "Unbound",
]


class Bound(msgspec.Struct, frozen=True):
    """Our bind was accepted; the session is now bound in ``mode``."""

    mode: BindMode
    system_id: str
    """The SMSC's system_id from bind_*_resp."""


class BindRejected(msgspec.Struct, frozen=True):
    """The SMSC refused our bind with ``status`` (§4.1.2); the session is closed."""

    status: int


class SubmitResponse(msgspec.Struct, frozen=True):
    """The answer to one submit_sm: submit_sm_resp, or a generic_nack naming its sequence.

    ``status`` 0 means accepted with ``message_id`` (as the SMSC wrote it, not normalised).
    """

    sequence: int
    status: int
    message_id: str
    sent_at: float


class RequestTimedOut(msgspec.Struct, frozen=True):
    """No response to request ``sequence`` within the response timeout.

    For a submit_sm the part may or may not have left; for an enquire_link or unbind the link
    is as good as dead.
    """

    sequence: int
    command_id: int
    sent_at: float


class PeerSilent(msgspec.Struct, frozen=True):
    """A request is overdue and nothing at all came from the peer for the response timeout:
    the link is dead (half-open: TCP up, the SMSC silent). Drop the connection; the requests
    still outstanding are listed by ``Session.close``."""

    last_received: float
    """When the peer last sent anything (or the session started)."""
    outstanding: int
    """Requests without an answer, submit_sm and others."""


class DeliverSmReceived(msgspec.Struct, frozen=True):
    """A deliver_sm arrived; answer it with ``Session.answer(pdu.sequence, ...)`` once handled."""

    pdu: DeliverSm


class DataSmReceived(msgspec.Struct, frozen=True):
    """A data_sm arrived; answer it with ``Session.answer_data_sm`` once handled."""

    pdu: DataSm


class Nacked(msgspec.Struct, frozen=True):
    """The peer generic_nack'ed one of our requests other than a submit_sm."""

    sequence: int
    command_id: int
    status: int


class PeerUnbound(msgspec.Struct, frozen=True):
    """The peer sent unbind; we answered it and the session is closed."""


class Unbound(msgspec.Struct, frozen=True):
    """Our unbind was answered; the session is closed."""


class ProtocolViolation(msgspec.Struct, frozen=True):
    """The peer sent something wrong (counted as ``smsgw_protocol_errors_total{kind}``).

    ``fatal``: the session is closed and the connection must be dropped (a bad length, a PDU
    that does not parse). Otherwise we answered it (generic_nack or an error status) and go on.
    """

    kind: str
    detail: str
    fatal: bool


class Abandoned(msgspec.Struct, frozen=True):
    """A submit_sm that will never get an answer because the session closed.

    ``maybe_sent`` is False only when its bytes were never handed out by ``data_to_send``.
    """

    sequence: int
    maybe_sent: bool
    sent_at: float


class BindRequested(msgspec.Struct, frozen=True):
    """(SMSC role) The peer asked to bind; answer with ``accept_bind`` or ``reject_bind``."""

    pdu: BindRequest


class SubmitSmReceived(msgspec.Struct, frozen=True):
    """(SMSC role) A submit_sm arrived; answer it with ``answer_submit`` once it is stored."""

    pdu: SubmitSm


class DeliverResponse(msgspec.Struct, frozen=True):
    """(SMSC role) The answer to one of our deliver_sm: deliver_sm_resp or a generic_nack
    naming it. ``status`` 0 means the peer took it."""

    sequence: int
    status: int
    sent_at: float


class QueryRequested(msgspec.Struct, frozen=True):
    """(SMSC role) A query_sm arrived; answer it with ``answer_query``."""

    pdu: QuerySm


class CancelRequested(msgspec.Struct, frozen=True):
    """(SMSC role) A cancel_sm arrived; answer it with ``answer_cancel``."""

    pdu: CancelSm


Event = (
    Bound
    | BindRejected
    | SubmitResponse
    | RequestTimedOut
    | PeerSilent
    | DeliverSmReceived
    | DataSmReceived
    | Nacked
    | PeerUnbound
    | Unbound
    | ProtocolViolation
    | BindRequested
    | SubmitSmReceived
    | DeliverResponse
    | QueryRequested
    | CancelRequested
)
"""Everything ``Session.receive_data`` and ``Session.timers`` return."""
