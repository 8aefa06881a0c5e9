"""What an ESME bind does about each session event (smsgw.drivers.smpp.reactions), decided
without sockets or a clock: one call of ``react`` per event, every branch."""

from __future__ import annotations

import calendar

import pytest

from smsgw.drivers.seam import FailureKind, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.events import (
    BindRejected,
    Bound,
    DataSmReceived,
    DeliverResponse,
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
from smsgw.drivers.smpp.pdu import Cmd, DataSm, DeliverSm, Status, Tag
from smsgw.drivers.smpp.reactions import NOTHING, Answer, ProtocolError, Reaction, Rules, react
from smsgw.drivers.smpp.receipts import IdNormaliser
from smsgw.drivers.smpp.status import StatusTable

NOW = 1000.0
RULES = Rules(
    route="smpp",
    statuses=StatusTable({"0x00000401": "permanent", "0x00000402": "throttled"}),
    ids=IdNormaliser("auto"),
    response_timeout=10.0,
    throttle_pause=2.5,
)
PART = OutboundPart(
    part_id=41,
    message_id="msg_1",
    route="smpp",
    to="4917012345678",
    sender="Shop",
    text="hi",
    encoding="gsm7",
    seq=1,
    total=1,
    ref=0,
)
PARTS = {7: PART}
RECEIPT_TEXT = (
    b"id:00A1B2 sub:001 dlvrd:001 submit date:2101011200 done date:2101011201 "
    b"stat:DELIVRD err:000 text:hi"
)
DONE = float(calendar.timegm((2021, 1, 1, 12, 1, 0)))


def _react(event: Event, parts: dict[int, OutboundPart] | None = None) -> Reaction:
    return react(event, PARTS if parts is None else parts, RULES, NOW)


def _failed(failure: FailureKind, status: int, reason: str) -> Outcome:
    return Outcome(part_id=41, failure=failure, code=f"0x{status:08X}", reason=reason)


def test_an_accepted_submit_settles_its_part_with_the_normalised_carrier_id() -> None:
    r = _react(SubmitResponse(sequence=7, status=0, message_id="000A1B", sent_at=NOW - 1))
    assert r == Reaction(settles=7, outcome=Outcome(part_id=41, carrier_id="a1b"))


def test_a_temporary_status_is_a_temporary_failure_and_the_link_goes_on() -> None:
    r = _react(SubmitResponse(sequence=7, status=Status.RSYSERR, message_id="", sent_at=NOW))
    reason = "ESME_RSYSERR System Error"
    assert r == Reaction(settles=7, outcome=_failed(FailureKind.TEMPORARY, 0x08, reason))


def test_a_permanent_status_fails_the_part_and_the_link_goes_on() -> None:
    r = _react(SubmitResponse(sequence=7, status=0x0B, message_id="", sent_at=NOW))
    reason = "ESME_RINVDSTADR Invalid Dest Addr"
    assert r == Reaction(settles=7, outcome=_failed(FailureKind.PERMANENT, 0x0B, reason))


def test_the_routes_overrides_classify_vendor_statuses() -> None:
    r = _react(SubmitResponse(sequence=7, status=0x401, message_id="", sent_at=NOW))
    assert r.outcome is not None and r.outcome.failure is FailureKind.PERMANENT
    assert r.outcome.reason == "SMSC vendor specific error 0x00000401"
    r = _react(SubmitResponse(sequence=7, status=0x402, message_id="", sent_at=NOW))
    assert r.outcome is not None and r.outcome.failure is FailureKind.THROTTLED
    assert r.pause == 2.5


def test_an_unknown_status_is_temporary_and_carries_no_carrier_id() -> None:
    r = _react(SubmitResponse(sequence=7, status=0x4FF, message_id="x", sent_at=NOW))
    reason = "SMSC vendor specific error 0x000004FF"
    assert r == Reaction(settles=7, outcome=_failed(FailureKind.TEMPORARY, 0x4FF, reason))


@pytest.mark.parametrize("status", [Status.RTHROTTLED, Status.RMSGQFUL])
def test_a_throttle_fails_the_part_as_throttled_and_pauses_the_bind(status: int) -> None:
    r = _react(SubmitResponse(sequence=7, status=status, message_id="", sent_at=NOW))
    assert r.settles == 7 and r.pause == 2.5 and r.down is None
    assert r.outcome is not None and r.outcome.failure is FailureKind.THROTTLED
    assert r.outcome.code == f"0x{status:08X}"


def test_a_bind_level_status_retries_the_part_and_takes_the_link_down() -> None:
    r = _react(SubmitResponse(sequence=7, status=Status.RINVBNDSTS, message_id="", sent_at=NOW))
    assert r.settles == 7 and r.pause == 0.0
    assert r.outcome is not None and r.outcome.failure is FailureKind.TEMPORARY
    assert r.down == "submit refused with bind-level status 0x00000004"


def test_an_answer_for_no_outstanding_part_does_nothing() -> None:
    late = SubmitResponse(sequence=8, status=Status.RTHROTTLED, message_id="", sent_at=NOW)
    assert _react(late) is NOTHING
    assert _react(SubmitResponse(sequence=7, status=0, message_id="1", sent_at=NOW), {}) is NOTHING


def test_react_does_not_touch_the_outstanding_parts() -> None:
    parts = {7: PART}
    _react(SubmitResponse(sequence=7, status=0, message_id="1", sent_at=NOW), parts)
    assert parts == {7: PART}


def test_a_receipt_is_stored_then_answered() -> None:
    pdu = DeliverSm(sequence=12, esm_class=0x04, short_message=RECEIPT_TEXT)
    r = _react(DeliverSmReceived(pdu))
    receipt = Receipt(route="smpp", carrier_id="a1b2", state="delivered", done_at=DONE)
    assert r == Reaction(receipt=receipt, answer=Answer(12, False))
    assert r.answer is not None and r.answer.status == Status.ROK


def test_a_receipt_in_a_data_sm_is_answered_with_a_data_sm_resp() -> None:
    pdu = DataSm(
        sequence=13,
        esm_class=0x04,
        tlvs=((Tag.RECEIPTED_MESSAGE_ID, b"00A1B2\0"), (Tag.MESSAGE_STATE, bytes([5]))),
    )
    r = _react(DataSmReceived(pdu))
    assert r.answer == Answer(13, True)
    assert r.receipt is not None and r.receipt.carrier_id == "a1b2"
    assert r.receipt.state == "undelivered"


def test_a_receipt_without_an_id_is_counted_and_still_answered() -> None:
    pdu = DeliverSm(sequence=14, esm_class=0x04, short_message=b"stat:DELIVRD err:000")
    r = _react(DeliverSmReceived(pdu))
    assert r.receipt is None and r.answer == Answer(14, False) and r.down is None
    assert r.protocol_error is not None and r.protocol_error.kind == "bad_receipt"


@pytest.mark.parametrize(
    "event",
    [
        DeliverSmReceived(DeliverSm(sequence=15, short_message=b"STOP")),
        DataSmReceived(DataSm(sequence=16, tlvs=((Tag.MESSAGE_PAYLOAD, b"STOP"),))),
    ],
)
def test_an_inbound_message_goes_to_reassembly_unanswered(
    event: DeliverSmReceived | DataSmReceived,
) -> None:
    assert _react(event) == Reaction(inbound=event.pdu)


def test_a_submit_without_an_answer_may_have_left() -> None:
    r = _react(RequestTimedOut(sequence=7, command_id=Cmd.SUBMIT_SM, sent_at=NOW - 10))
    outcome = Outcome(
        part_id=41,
        failure=FailureKind.TEMPORARY,
        code="timeout",
        reason="no submit_sm_resp within 10.0s",
        maybe_sent=True,
    )
    assert r == Reaction(settles=7, outcome=outcome)
    assert _react(RequestTimedOut(7, Cmd.SUBMIT_SM, NOW), {}) is NOTHING


def test_any_other_request_without_an_answer_means_a_dead_link() -> None:
    r = _react(RequestTimedOut(sequence=3, command_id=Cmd.ENQUIRE_LINK, sent_at=NOW - 10))
    assert r == Reaction(
        protocol_error=ProtocolError("response_timeout", "0x00000015"),
        down="no answer to 0x00000015: link presumed dead",
    )


def test_a_silent_peer_means_a_dead_link() -> None:
    r = _react(PeerSilent(last_received=NOW - 12.5, outstanding=3))
    assert r == Reaction(
        protocol_error=ProtocolError("peer_silent", "3 requests outstanding"),
        down="nothing from the SMSC for 12.5 s with 3 requests outstanding: link presumed dead",
    )


def test_bound_marks_the_bind_up() -> None:
    assert _react(Bound("trx", "SMSC")) == Reaction(bound_to="SMSC")


def test_a_rejected_bind_is_counted_and_takes_the_link_down() -> None:
    r = _react(BindRejected(Status.RINVPASWD))
    assert r == Reaction(
        protocol_error=ProtocolError("bind_rejected", "0x0000000E"),
        down="bind refused: ESME_RINVPASWD Invalid Password",
    )


def test_protocol_violations_are_counted_and_only_fatal_ones_end_the_link() -> None:
    r = _react(ProtocolViolation(kind="bad_pdu", detail="short body", fatal=False))
    assert r == Reaction(protocol_error=ProtocolError("bad_pdu", "short body"))
    r = _react(ProtocolViolation(kind="bad_length", detail="length 3", fatal=True))
    assert r == Reaction(
        protocol_error=ProtocolError("bad_length", "length 3"), down="protocol error: length 3"
    )


def test_the_smsc_unbinding_takes_the_link_down() -> None:
    assert _react(PeerUnbound()) == Reaction(down="the SMSC unbound")


def test_a_generic_nack_is_counted_and_the_link_goes_on() -> None:
    r = _react(Nacked(sequence=4, command_id=Cmd.ENQUIRE_LINK, status=Status.RINVCMDID))
    assert r == Reaction(protocol_error=ProtocolError("generic_nack", "0x00000003"))


def test_our_unbind_answered_and_smsc_role_events_need_nothing() -> None:
    assert _react(Unbound()) is NOTHING
    assert _react(DeliverResponse(sequence=1, status=0, sent_at=NOW)) is NOTHING
