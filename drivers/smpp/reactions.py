"""What a bind does about each session event, decided without I/O or a clock.

:func:`react` takes one :class:`~smsgw.drivers.smpp.events.Event` of an ESME session, the
parts outstanding on the bind (by sequence number), the route's :class:`Rules` and ``now``,
and returns a :class:`Reaction`: the outcome to report (and which part it settles), the
receipt to store, the deliver_sm/data_sm to answer once that is stored, the inbound part to
reassemble, the protocol error to count, how long to pause submitting, whether the bind is now
up, and why the link must go down. The trio link applies it; nothing here reads or writes
anything, so every branch is a plain function call in the tests.

A submit_sm answered with status 0 is submitted with the normalised carrier id. Any other
status is classified by the route's status table (a vendor status configured as ``ok`` still
carries no id, so it counts as temporary): ``throttled`` pauses the bind for
``throttle_pause`` seconds, ``bind`` takes the link down (the part is retried elsewhere). A
submit_sm without an answer is TEMPORARY and ``maybe_sent``; any other request without one, or
a peer silent with requests outstanding, means a dead link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from smsgw.drivers.seam import FailureKind, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.events import (
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
)
from smsgw.drivers.smpp.pdu import Cmd, DataSm, DeliverSm, Status
from smsgw.drivers.smpp.receipts import IdNormaliser, ReceiptError, is_receipt, parse_receipt
from smsgw.drivers.smpp.status import StatusTable, format_status

__all__ = ["NOTHING", "Answer", "ProtocolError", "Reaction", "Rules", "react"]

_FAILURES: Final = {
    "throttled": FailureKind.THROTTLED,
    "temporary": FailureKind.TEMPORARY,
    "permanent": FailureKind.PERMANENT,
    "bind": FailureKind.TEMPORARY,
}


@dataclass(frozen=True, slots=True)
class Rules:
    """One route's settings that the decisions depend on."""

    route: str
    """The route's name, carried by every receipt."""
    statuses: StatusTable
    """How each command_status is classified (with the route's overrides)."""
    ids: IdNormaliser
    """How carrier ids are written, so submits and receipts agree."""
    response_timeout: float
    """Seconds a request may go unanswered (named in a timed-out part's reason)."""
    throttle_pause: float
    """Seconds a bind stops submitting after ESME_RTHROTTLED or ESME_RMSGQFUL."""


class Answer(msgspec.Struct, frozen=True):
    """The response owed to an inbound deliver_sm (or data_sm when ``is_data``)."""

    sequence: int
    is_data: bool
    status: int = Status.ROK


class ProtocolError(msgspec.Struct, frozen=True):
    """Something to count in ``smsgw_protocol_errors_total{kind}`` and log with ``detail``."""

    kind: str
    detail: str


class Reaction(msgspec.Struct, frozen=True, kw_only=True):
    """What to do about one event; every field empty means "nothing".

    Applied in this order: drop the part ``settles`` from the outstanding ones and report
    ``outcome``; store ``receipt``, then send ``answer``; hand ``inbound`` to reassembly (it is
    answered once stored); count ``protocol_error``; stop submitting for ``pause`` seconds;
    mark the bind up as bound to ``bound_to``; finally take the link down when ``down`` says
    why.
    """

    settles: int | None = None
    """Sequence number of the outstanding part this event settles."""
    outcome: Outcome | None = None
    receipt: Receipt | None = None
    answer: Answer | None = None
    inbound: DeliverSm | DataSm | None = None
    protocol_error: ProtocolError | None = None
    pause: float = 0.0
    """Seconds to stop submitting on this bind (0: no pause)."""
    bound_to: str | None = None
    """The SMSC's system_id when this event bound the session."""
    down: str | None = None
    """Why the link must go down now (None: it goes on)."""


NOTHING: Final = Reaction()
"""The reaction to an event that needs none (our own unbind answered, an unknown sequence)."""


def react(event: Event, parts: Mapping[int, OutboundPart], rules: Rules, now: float) -> Reaction:
    """The reaction of an ESME bind to ``event``, given the ``parts`` outstanding on it by
    sequence number. Pure: reads nothing but its arguments, raises nothing."""
    if type(event) is SubmitResponse:
        return _submit_response(event, parts.get(event.sequence), rules)
    if type(event) is DeliverSmReceived or type(event) is DataSmReceived:
        return _inbound(event.pdu, type(event) is DataSmReceived, rules)
    if type(event) is RequestTimedOut:
        return _timed_out(event, parts.get(event.sequence), rules)
    if type(event) is PeerSilent:
        return Reaction(
            protocol_error=ProtocolError(
                "peer_silent", f"{event.outstanding} requests outstanding"
            ),
            down=f"nothing from the SMSC for {now - event.last_received:.1f} s with"
            f" {event.outstanding} requests outstanding: link presumed dead",
        )
    if type(event) is Bound:
        return Reaction(bound_to=event.system_id)
    if type(event) is ProtocolViolation:
        return Reaction(
            protocol_error=ProtocolError(event.kind, event.detail),
            down=f"protocol error: {event.detail}" if event.fatal else None,
        )
    if type(event) is BindRejected:
        return Reaction(
            protocol_error=ProtocolError("bind_rejected", format_status(event.status)),
            down=f"bind refused: {rules.statuses.describe(event.status)}",
        )
    if type(event) is PeerUnbound:
        return Reaction(down="the SMSC unbound")
    if type(event) is Nacked:
        return Reaction(protocol_error=ProtocolError("generic_nack", format_status(event.status)))
    # Unbound (our unbind answered: the session closes by itself) and the SMSC-role events,
    # which an ESME session never reports.
    return NOTHING


def _submit_response(ev: SubmitResponse, part: OutboundPart | None, rules: Rules) -> Reaction:
    if part is None:
        return NOTHING  # already settled (timed out, then answered late)
    if ev.status == 0:
        carrier_id = rules.ids.from_response(ev.message_id)
        return Reaction(
            settles=ev.sequence, outcome=Outcome(part_id=part.part_id, carrier_id=carrier_id)
        )
    cls = rules.statuses.classify(ev.status)
    if cls == "ok":  # a vendor status configured as harmless is still not an id
        cls = "temporary"
    outcome = Outcome(
        part_id=part.part_id,
        failure=_FAILURES[cls],
        code=format_status(ev.status),
        reason=rules.statuses.describe(ev.status),
    )
    if cls == "throttled":
        return Reaction(settles=ev.sequence, outcome=outcome, pause=rules.throttle_pause)
    if cls == "bind":
        down = f"submit refused with bind-level status {format_status(ev.status)}"
        return Reaction(settles=ev.sequence, outcome=outcome, down=down)
    return Reaction(settles=ev.sequence, outcome=outcome)


def _inbound(pdu: DeliverSm | DataSm, is_data: bool, rules: Rules) -> Reaction:
    if not is_receipt(pdu.esm_class):
        return Reaction(inbound=pdu)
    answer = Answer(pdu.sequence, is_data)
    try:
        receipt = rules.ids.receipt(rules.route, parse_receipt(pdu))
    except ReceiptError as exc:
        # Answered all the same: refusing it would only have the SMSC send it again.
        return Reaction(answer=answer, protocol_error=ProtocolError("bad_receipt", str(exc)))
    return Reaction(receipt=receipt, answer=answer)


def _timed_out(ev: RequestTimedOut, part: OutboundPart | None, rules: Rules) -> Reaction:
    if ev.command_id != Cmd.SUBMIT_SM:
        return Reaction(
            protocol_error=ProtocolError("response_timeout", f"0x{ev.command_id:08X}"),
            down=f"no answer to 0x{ev.command_id:08X}: link presumed dead",
        )
    if part is None:
        return NOTHING
    outcome = Outcome(
        part_id=part.part_id,
        failure=FailureKind.TEMPORARY,
        code="timeout",
        reason=f"no submit_sm_resp within {rules.response_timeout}s",
        maybe_sent=True,
    )
    return Reaction(settles=ev.sequence, outcome=outcome)
