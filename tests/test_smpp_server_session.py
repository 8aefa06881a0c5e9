"""The sans-IO SMPP session in the SMSC role, fed hand-built byte sequences with explicit times.

The peer's PDUs come from our codec and, for query_sm and cancel_sm, from smpplib (a third
party's encoder), so a reading that only agrees with itself would fail here.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import smpp as smpplib_smpp

from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.events import (
    Abandoned,
    BindRequested,
    CancelRequested,
    DataSmReceived,
    DeliverResponse,
    PeerSilent,
    PeerUnbound,
    ProtocolViolation,
    QueryRequested,
    RequestTimedOut,
    SubmitSmReceived,
    Unbound,
)
from smsgw.drivers.smpp.pdu import (
    BindRequest,
    BindResponse,
    Cmd,
    DataSm,
    DeliverSm,
    DeliverSmResp,
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
)
from smsgw.drivers.smpp.server_session import ServerSession
from smsgw.drivers.smpp.session import SessionState

SM = SubmitSm(source_addr="Shop", destination_addr="4917012345678", short_message=b"hi")
RECEIPT = DeliverSm(
    source_addr="4917012345678", esm_class=4, short_message=b"id:msg_1 stat:DELIVRD"
)


def sent(session: ServerSession) -> list[Pdu]:
    frames, err = Framer().feed(session.data_to_send())
    assert err is None
    return [decode(f) for f in frames]


def fresh(window: int = 2) -> ServerSession:
    return ServerSession(window=window, response_timeout=10.0, enquire_link=30.0, now=0.0)


def bound(mode: str = "trx", window: int = 2) -> ServerSession:
    s = fresh(window)
    bind = BindRequest(mode=mode, system_id="shop", password="secret")  # type: ignore[arg-type]
    [event] = s.receive_data(encode(bind, 7), 0.0)
    assert isinstance(event, BindRequested) and event.pdu.password == "secret"
    assert s.state is SessionState.BINDING
    s.accept_bind(7, system_id="smsgw")
    [resp] = sent(s)
    assert resp == BindResponse(sequence=7, mode=mode, system_id="smsgw", sc_interface_version=0x34)  # type: ignore[arg-type]
    return s


class _Seq:
    sequence = 0

    def next_sequence(self) -> int:
        return 0


def smpplib_pdu(command: str, sequence: int, **fields: Any) -> bytes:
    pdu: Any = smpplib_smpp.make_pdu(command, client=_Seq(), **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


def test_bind_in_each_mode_sets_the_state_and_what_may_flow() -> None:
    assert bound("trx").state is SessionState.BOUND_TRX
    tx = bound("tx")
    assert tx.state is SessionState.BOUND_TX and tx.can_receive_submit and not tx.can_deliver
    with pytest.raises(LocalProtocolError):
        tx.deliver(RECEIPT, 1.0)
    rx = bound("rx")
    assert rx.state is SessionState.BOUND_RX and rx.can_deliver and rx.window_free == 2
    [event] = rx.receive_data(encode(SM, 3), 1.0)
    assert isinstance(event, ProtocolViolation) and not event.fatal
    assert sent(rx) == [SubmitSmResp(sequence=3, status=Status.RINVBNDSTS)]


def test_a_rejected_bind_is_answered_with_its_status_and_leaves_the_session_open() -> None:
    s = fresh()
    s.receive_data(encode(BindRequest(mode="tx", system_id="shop", password="bad"), 1), 0.0)
    s.reject_bind(1, Status.RINVPASWD)
    assert sent(s) == [BindResponse(sequence=1, mode="tx", status=Status.RINVPASWD)]
    assert s.state is SessionState.OPEN
    with pytest.raises(LocalProtocolError):
        s.accept_bind(1, system_id="smsgw")


def test_a_second_bind_gets_already_bound_and_changes_nothing() -> None:
    s = bound("trx")
    [event] = s.receive_data(encode(BindRequest(mode="rx", system_id="shop"), 9), 1.0)
    assert isinstance(event, ProtocolViolation) and not event.fatal
    assert sent(s) == [BindResponse(sequence=9, mode="rx", status=Status.RALYBND)]
    assert s.state is SessionState.BOUND_TRX


def test_a_bind_while_the_first_is_being_decided_is_already_bound_too() -> None:
    s = fresh()
    s.receive_data(encode(BindRequest(mode="trx", system_id="a"), 1), 0.0)
    s.receive_data(encode(BindRequest(mode="trx", system_id="b"), 2), 0.0)
    assert sent(s) == [BindResponse(sequence=2, mode="trx", status=Status.RALYBND)]
    s.accept_bind(1, system_id="smsgw")
    assert s.state is SessionState.BOUND_TRX


def test_submit_before_bind_is_refused_with_bind_status() -> None:
    s = fresh()
    [event] = s.receive_data(encode(SM, 4), 0.0)
    assert isinstance(event, ProtocolViolation)
    assert sent(s) == [SubmitSmResp(sequence=4, status=Status.RINVBNDSTS)]


def test_submit_sm_is_an_event_answered_with_the_message_id() -> None:
    s = bound()
    [event] = s.receive_data(encode(SM, 11), 1.0)
    assert event == SubmitSmReceived(SM.__class__(**{**_fields(SM), "sequence": 11}))
    s.answer_submit(11, message_id="msg_abc")
    s.answer_submit(12, Status.RTHROTTLED)
    assert sent(s) == [
        SubmitSmResp(sequence=11, message_id="msg_abc"),
        SubmitSmResp(sequence=12, status=Status.RTHROTTLED),
    ]


def _fields(pdu: SubmitSm) -> dict[str, Any]:
    return {f: getattr(pdu, f) for f in pdu.__struct_fields__}


def test_deliver_sm_goes_out_within_the_window_and_each_answer_frees_a_slot() -> None:
    s = bound(window=2)
    a = s.deliver(RECEIPT, 1.0)
    b = s.deliver(RECEIPT, 1.0)
    assert s.window_free == 0
    with pytest.raises(LocalProtocolError, match="window"):
        s.deliver(RECEIPT, 1.0)
    out = sent(s)
    assert [p.sequence for p in out] == [a, b] and all(isinstance(p, DeliverSm) for p in out)
    events = s.receive_data(encode(DeliverSmResp(), b) + encode(DeliverSmResp(), a), 2.0)
    assert events == [DeliverResponse(b, 0, 1.0), DeliverResponse(a, 0, 1.0)]
    assert s.window_free == 2


def test_a_generic_nack_for_a_deliver_sm_is_its_answer() -> None:
    s = bound()
    seq = s.deliver(RECEIPT, 1.0)
    s.data_to_send()
    events = s.receive_data(encode(GenericNack(status=Status.RX_T_APPN), seq), 2.0)
    assert events == [DeliverResponse(seq, Status.RX_T_APPN, 1.0)]
    assert s.window_free == 2


def test_an_unanswered_deliver_sm_times_out_while_the_peer_talks() -> None:
    s = bound()
    seq = s.deliver(RECEIPT, 1.0)
    s.data_to_send()
    s.receive_data(encode(EnquireLink(), 50), 9.0)  # the peer is alive, only silent on this
    assert s.next_deadline() == 11.0
    assert s.timers(11.0) == [RequestTimedOut(seq, Cmd.DELIVER_SM, 1.0)]
    assert s.window_free == 2 and not s.closed


def test_a_silent_peer_with_deliveries_outstanding_is_dead_and_they_are_abandoned() -> None:
    s = bound()
    seq = s.deliver(RECEIPT, 1.0)
    s.data_to_send()
    [event] = s.timers(11.0)
    assert isinstance(event, PeerSilent)
    assert s.close() == [Abandoned(seq, True, 1.0)]


def test_a_late_deliver_sm_resp_is_unexpected_not_counted_twice() -> None:
    s = bound()
    seq = s.deliver(RECEIPT, 1.0)
    s.data_to_send()
    s.receive_data(encode(EnquireLink(), 50), 9.0)
    s.timers(11.0)
    [event] = s.receive_data(encode(DeliverSmResp(), seq), 12.0)
    assert isinstance(event, ProtocolViolation) and event.kind == "unexpected_response"
    assert s.window_free == 2


def test_query_sm_from_a_third_party_encoder_is_read() -> None:
    s = bound()
    data = smpplib_pdu(
        "query_sm", 21, message_id="msg_abc", source_addr_ton=1, source_addr_npi=1,
        source_addr="4917012345678",
    )  # fmt: skip
    [event] = s.receive_data(data, 1.0)
    assert isinstance(event, QueryRequested)
    assert event.pdu.message_id == "msg_abc" and event.pdu.source_addr == "4917012345678"
    assert event.pdu.sequence == 21
    s.answer_query(21, message_id="msg_abc", final_date="261205101500000+", message_state=2)
    raw = s.data_to_send()
    assert raw == struct.pack(">IIII", 16 + 8 + 17 + 2, Cmd.QUERY_SM_RESP, 0, 21) + (
        b"msg_abc\x00" + b"261205101500000+\x00" + b"\x02\x00"
    )
    s.answer_query(22, Status.RQUERYFAIL)
    assert s.data_to_send() == struct.pack(">IIII", 16, Cmd.QUERY_SM_RESP, Status.RQUERYFAIL, 22)


def test_cancel_sm_is_read_and_answered() -> None:
    s = bound()
    # smpplib has no cancel_sm: the §4.9.1 layout by hand.
    body = b"\x00" + b"msg_x\x00" + b"\x05\x00Shop\x00" + b"\x01\x01" + b"4917012345678\x00"
    data = struct.pack(">IIII", 16 + len(body), Cmd.CANCEL_SM, 0, 31) + body
    [event] = s.receive_data(data, 1.0)
    assert isinstance(event, CancelRequested)
    assert (event.pdu.message_id, event.pdu.destination_addr) == ("msg_x", "4917012345678")
    s.answer_cancel(31, Status.RCANCELFAIL)
    assert s.data_to_send() == struct.pack(">IIII", 16, Cmd.CANCEL_SM_RESP, Status.RCANCELFAIL, 31)


def test_a_truncated_query_sm_is_nacked_and_the_session_goes_on() -> None:
    s = bound()
    [event] = s.receive_data(struct.pack(">IIII", 18, Cmd.QUERY_SM, 0, 5) + b"ab", 1.0)
    assert isinstance(event, ProtocolViolation) and not event.fatal
    [nack] = sent(s)
    assert isinstance(nack, GenericNack) and nack.sequence == 5 and nack.status != 0
    assert s.state is SessionState.BOUND_TRX


def test_query_sm_before_bind_gets_bind_status() -> None:
    s = fresh()
    s.receive_data(smpplib_pdu("query_sm", 3, message_id="m", source_addr="x"), 0.0)
    assert s.data_to_send() == struct.pack(">IIII", 16, Cmd.QUERY_SM_RESP, Status.RINVBNDSTS, 3)


def test_unknown_commands_get_generic_nack_invalid_command() -> None:
    s = bound()
    [event] = s.receive_data(struct.pack(">IIII", 16, Cmd.SUBMIT_MULTI, 0, 8), 1.0)
    assert isinstance(event, ProtocolViolation) and event.kind == "unknown_command"
    assert sent(s) == [GenericNack(sequence=8, status=Status.RINVCMDID)]


def test_enquire_link_both_ways() -> None:
    s = bound()
    assert s.receive_data(encode(EnquireLink(), 40), 5.0) == []
    assert sent(s) == [EnquireLinkResp(sequence=40)]
    assert s.next_deadline() == 35.0
    assert s.timers(35.0) == []
    [probe] = sent(s)
    assert isinstance(probe, EnquireLink)
    assert s.receive_data(encode(EnquireLinkResp(), probe.sequence), 36.0) == []
    assert s.next_deadline() == 66.0


def test_the_peer_unbinds() -> None:
    s = bound()
    assert s.receive_data(encode(Unbind(), 60), 1.0) == [PeerUnbound()]
    assert sent(s) == [UnbindResp(sequence=60)]
    assert s.closed


def test_we_unbind_and_the_peer_answers() -> None:
    s = bound()
    seq = s.unbind(1.0)
    assert sent(s) == [Unbind(sequence=seq)]
    assert s.receive_data(encode(UnbindResp(), seq), 2.0) == [Unbound()]
    assert s.closed


def test_data_sm_from_a_transmitter_is_an_event_and_answered_with_an_id() -> None:
    s = bound("tx")
    data_sm = DataSm(source_addr="Shop", destination_addr="4917012345678")
    [event] = s.receive_data(encode(data_sm, 70), 1.0)
    assert isinstance(event, DataSmReceived) and event.pdu.destination_addr == "4917012345678"
    s.answer_data_sm(70, message_id="msg_d")
    [resp] = sent(s)
    assert resp.sequence == 70 and getattr(resp, "message_id", None) == "msg_d"


def test_an_esme_sending_deliver_sm_to_us_is_refused() -> None:
    s = bound()
    [event] = s.receive_data(encode(RECEIPT, 80), 1.0)
    assert isinstance(event, ProtocolViolation)
    assert sent(s) == [DeliverSmResp(sequence=80, status=Status.RINVBNDSTS)]


def test_events_are_the_same_whole_and_byte_by_byte() -> None:
    def stream() -> bytes:
        return (
            encode(SM, 11)
            + encode(EnquireLink(), 12)
            + smpplib_pdu("query_sm", 13, message_id="m1", source_addr="Shop")
            + encode(SM, 14)
        )

    whole = bound()
    expected = whole.receive_data(stream(), 1.0)
    assert len(expected) == 3
    piecewise = bound()
    got = []
    for byte in stream():
        got += piecewise.receive_data(bytes([byte]), 1.0)
    assert got == expected
    assert whole.data_to_send() == piecewise.data_to_send()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_random_bytes_give_events_or_a_fatal_violation_never_an_exception(
    chunks: list[bytes],
) -> None:
    s = bound()
    for chunk in chunks:
        if s.closed:
            break
        for e in s.receive_data(chunk, 1.0):
            if isinstance(e, ProtocolViolation) and e.fatal:
                assert s.closed


def test_query_and_cancel_stay_unknown_to_the_esme_role() -> None:
    data = smpplib_pdu("query_sm", 3, message_id="m", source_addr="x")
    assert isinstance(decode(data), UnknownPdu)


def test_the_server_session_never_imports_trio() -> None:
    code = (
        "import sys\n"
        "import smsgw.drivers.smpp.server_session, smsgw.drivers.smpp.codec_server\n"
        "assert 'trio' not in sys.modules, 'trio was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
