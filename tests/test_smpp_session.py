"""The sans-IO SMPP session, fed hand-built byte sequences with explicit times."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.events import (
    Abandoned,
    BindRejected,
    Bound,
    DataSmReceived,
    DeliverSmReceived,
    Nacked,
    PeerSilent,
    PeerUnbound,
    ProtocolViolation,
    RequestTimedOut,
    SubmitResponse,
    Unbound,
)
from smsgw.drivers.smpp.pdu import (
    BindMode,
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
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from smsgw.drivers.smpp.session import Session, SessionState

SM = SubmitSm(source_addr="Shop", destination_addr="4917012345678", short_message=b"hi")


def sent(session: Session) -> list[Pdu]:
    frames, err = Framer().feed(session.data_to_send())
    assert err is None
    return [decode(f) for f in frames]


def bound(mode: BindMode = "trx", window: int = 3) -> Session:
    s = Session(mode, window=window, response_timeout=10.0, enquire_link=30.0, now=0.0)
    seq = s.bind(system_id="shop", password="pw", now=0.0)
    [bind] = sent(s)
    assert isinstance(bind, BindRequest) and bind.mode == mode and bind.sequence == seq
    events = s.receive_data(encode(BindResponse(mode=mode, system_id="SMSC"), seq), 0.0)
    assert events == [Bound(mode, "SMSC")]
    return s


def test_bind_then_states_per_mode() -> None:
    assert bound("trx").state is SessionState.BOUND_TRX
    assert bound("tx").state is SessionState.BOUND_TX
    rx = bound("rx")
    assert rx.state is SessionState.BOUND_RX
    assert rx.window_free == 0
    with pytest.raises(LocalProtocolError):
        rx.submit(SM, 1.0)


def test_bind_rejected_closes() -> None:
    s = Session("trx", window=1, response_timeout=10, enquire_link=30, now=0)
    seq = s.bind(system_id="shop", password="bad", now=0)
    s.data_to_send()
    events = s.receive_data(encode(BindResponse(mode="trx", status=0x0E), seq), 1)
    assert events == [BindRejected(0x0E)]
    assert s.state is SessionState.CLOSED


def test_illegal_calls_raise_and_change_nothing() -> None:
    s = Session("trx", window=1, response_timeout=10, enquire_link=30, now=0)
    with pytest.raises(LocalProtocolError):
        s.submit(SM, 0)
    with pytest.raises(LocalProtocolError):
        s.unbind(0)
    with pytest.raises(LocalProtocolError):
        s.enquire_link(0)
    assert s.state is SessionState.OPEN
    assert s.data_to_send() == b""
    s.bind(system_id="x", now=0)
    with pytest.raises(LocalProtocolError):
        s.bind(system_id="x", now=0)


def test_window_and_out_of_order_responses() -> None:
    s = bound(window=3)
    seqs = [s.submit(SM, 1.0 + i) for i in range(3)]
    assert s.window_free == 0
    with pytest.raises(LocalProtocolError, match="window"):
        s.submit(SM, 2.0)
    pdus = sent(s)
    assert [p.sequence for p in pdus] == seqs and all(isinstance(p, SubmitSm) for p in pdus)
    # responses in reverse order, all in one chunk
    data = b"".join(encode(SubmitSmResp(message_id=f"id{q}"), q) for q in reversed(seqs))
    events = s.receive_data(data, 5.0)
    assert events == [SubmitResponse(q, 0, f"id{q}", 1.0 + seqs.index(q)) for q in reversed(seqs)]
    assert s.window_free == 3 and s.in_flight == 0


def test_generic_nack_for_a_submit_is_its_answer() -> None:
    s = bound()
    seq = s.submit(SM, 1.0)
    s.data_to_send()
    events = s.receive_data(encode(GenericNack(status=0x03), seq), 2.0)
    assert events == [SubmitResponse(seq, 0x03, "", 1.0)]
    assert s.window_free == 3


def test_response_timeout_fires_at_the_deadline() -> None:
    s = bound()
    seq = s.submit(SM, 1.0)
    s.data_to_send()
    # The peer is alive (it probes us), it just never answers this one submit.
    assert s.receive_data(encode(EnquireLink(), 77), 5.0) == []
    assert s.next_deadline() == 11.0
    assert s.timers(10.999) == []
    assert s.timers(11.0) == [RequestTimedOut(seq, Cmd.SUBMIT_SM, 1.0)]
    assert s.window_free == 3
    # the late response is now unexpected, counted, not a crash
    events = s.receive_data(encode(SubmitSmResp(message_id="late"), seq), 12.0)
    assert [type(e) for e in events] == [ProtocolViolation]
    assert isinstance(events[0], ProtocolViolation) and not events[0].fatal


def test_idle_enquire_link_and_its_timeout() -> None:
    s = bound()
    assert s.next_deadline() == 30.0
    assert s.timers(30.0) == []
    [probe] = sent(s)
    assert isinstance(probe, EnquireLink)
    assert s.next_deadline() == 40.0  # the probe's own response deadline
    assert s.timers(39.999) == []
    # Nothing came since the bind answer at 0: the link is dead.
    assert s.timers(40.0) == [PeerSilent(last_received=0.0, outstanding=1)]


def test_silent_peer_with_submits_outstanding_is_dead_one_timeout_after_the_first() -> None:
    s = bound(window=5)
    # The peer answers up to 3.0, then falls silent (a half-open link).
    first = s.submit(SM, 2.0)
    s.data_to_send()
    assert s.receive_data(encode(SubmitSmResp(message_id="a"), first), 3.0) != []
    seqs = [s.submit(SM, t) for t in (4.0, 4.5, 6.0)]
    s.data_to_send()
    assert s.last_received == 3.0
    assert s.next_deadline() == 14.0
    assert s.timers(13.999) == []
    # 10 s after the first unanswered submit (and 11 s of silence): dead, not three timeouts.
    assert s.timers(14.0) == [PeerSilent(last_received=3.0, outstanding=3)]
    lost = s.close()
    assert [a.sequence for a in lost] == seqs and all(a.maybe_sent for a in lost)


def test_overdue_request_while_the_peer_talks_is_only_a_timeout() -> None:
    s = bound(window=5)
    lost = s.submit(SM, 1.0)
    other = s.submit(SM, 1.0)
    s.data_to_send()
    # The peer answers the other submit at 9.0, so at 11.0 it was heard from 2 s ago.
    s.receive_data(encode(SubmitSmResp(message_id="b"), other), 9.0)
    assert s.timers(11.0) == [RequestTimedOut(lost, Cmd.SUBMIT_SM, 1.0)]
    assert not s.closed and s.window_free == 5


def test_enquire_link_answered_resets_idle() -> None:
    s = bound()
    s.timers(30.0)
    [probe] = sent(s)
    assert s.receive_data(encode(EnquireLinkResp(), probe.sequence), 31.0) == []
    assert s.next_deadline() == 61.0


def test_peer_enquire_link_is_answered_without_an_event() -> None:
    s = bound()
    assert s.receive_data(encode(EnquireLink(), 77), 1.0) == []
    assert sent(s) == [EnquireLinkResp(sequence=77)]


def test_deliver_sm_answered_only_when_told() -> None:
    s = bound()
    pdu = DeliverSm(sequence=5, esm_class=4, short_message=b"id:1 stat:DELIVRD")
    events = s.receive_data(encode(pdu), 1.0)
    assert events == [DeliverSmReceived(pdu)]
    assert s.data_to_send() == b""
    s.answer(5)
    assert sent(s) == [DeliverSmResp(sequence=5)]


def test_data_sm_received_and_answered() -> None:
    s = bound("rx")
    pdu = DataSm(sequence=6, esm_class=4)
    assert s.receive_data(encode(pdu), 1.0) == [DataSmReceived(pdu)]
    s.answer_data_sm(6)
    [resp] = sent(s)
    assert resp.sequence == 6 and resp.status == 0


def test_deliver_sm_on_a_transmitter_bind_is_refused() -> None:
    s = bound("tx")
    events = s.receive_data(encode(DeliverSm(sequence=8)), 1.0)
    assert [(type(e), e.fatal) for e in events] == [(ProtocolViolation, False)]  # type: ignore[union-attr]
    assert sent(s) == [DeliverSmResp(sequence=8, status=0x04)]


def test_unbind_drains_then_closes() -> None:
    s = bound()
    seq = s.submit(SM, 1.0)
    useq = s.unbind(2.0)
    assert s.state is SessionState.UNBINDING
    with pytest.raises(LocalProtocolError):
        s.submit(SM, 2.0)
    assert [type(p) for p in sent(s)] == [SubmitSm, Unbind]
    events = s.receive_data(
        encode(SubmitSmResp(message_id="x"), seq) + encode(UnbindResp(), useq), 3.0
    )
    assert events == [SubmitResponse(seq, 0, "x", 1.0), Unbound()]
    # mypy keeps s.state narrowed to UNBINDING across receive_data(), which changes it.
    assert s.state is SessionState.CLOSED  # type: ignore[comparison-overlap]


def test_peer_unbind_is_answered_and_closes() -> None:
    s = bound()
    assert s.receive_data(encode(Unbind(), 99), 1.0) == [PeerUnbound()]
    assert sent(s) == [UnbindResp(sequence=99)]
    assert s.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"", 2.0)


def test_close_lists_abandoned_submits_with_maybe_sent() -> None:
    s = bound()
    a = s.submit(SM, 1.0)
    s.data_to_send()
    b = s.submit(SM, 2.0)  # never handed out
    assert s.close() == [Abandoned(a, True, 1.0), Abandoned(b, False, 2.0)]
    assert s.state is SessionState.CLOSED


def test_garbage_length_is_fatal_with_generic_nack() -> None:
    s = bound()
    bad = struct.pack(">IIII", 70000, 5, 0, 31) + b"x" * 64
    events = s.receive_data(bad, 1.0)
    assert events == [
        ProtocolViolation("pdu_too_large", "command_length 70000 is outside 16..65536", True)
    ]
    assert sent(s) == [GenericNack(sequence=31, status=0x02)]
    assert s.state is SessionState.CLOSED


def test_malformed_body_is_fatal_but_earlier_events_survive() -> None:
    s = bound()
    seq = s.submit(SM, 1.0)
    s.data_to_send()
    good = encode(SubmitSmResp(message_id="ok"), seq)
    bad = struct.pack(">IIII", 20, Cmd.DELIVER_SM, 0, 9) + b"\x00\x01\x01\x34"
    events = s.receive_data(good + bad, 2.0)
    assert events[0] == SubmitResponse(seq, 0, "ok", 1.0)
    assert isinstance(events[1], ProtocolViolation) and events[1].fatal
    assert sent(s) == [GenericNack(sequence=9, status=0x02)]


def test_unknown_command_gets_generic_nack_and_the_session_goes_on() -> None:
    s = bound()
    query = struct.pack(">IIII", 17, Cmd.QUERY_SM, 0, 12) + b"\0"
    events = s.receive_data(query, 1.0)
    assert [(type(e), e.kind, e.fatal) for e in events] == [  # type: ignore[union-attr]
        (ProtocolViolation, "unknown_command", False)
    ]
    assert sent(s) == [GenericNack(sequence=12, status=0x03)]
    assert s.state is SessionState.BOUND_TRX


def test_nack_of_an_enquire_link() -> None:
    s = bound()
    seq = s.enquire_link(1.0)
    s.data_to_send()
    assert s.receive_data(encode(GenericNack(status=3), seq), 2.0) == [
        Nacked(seq, Cmd.ENQUIRE_LINK, 3)
    ]


def test_sequence_numbers_wrap_within_31_bits() -> None:
    s = bound(window=5)
    s._seq = 0x7FFFFFFE  # a long-lived bind, fast-forwarded
    assert [s.submit(SM, 1.0) for _ in range(3)] == [0x7FFFFFFF, 1, 2]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_random_bytes_give_events_or_a_fatal_violation_never_an_exception(
    chunks: list[bytes],
) -> None:
    s = bound()
    for chunk in chunks:
        if s.state is SessionState.CLOSED:
            break
        events = s.receive_data(chunk, 1.0)
        for e in events:
            if isinstance(e, ProtocolViolation) and e.fatal:
                # mypy keeps s.state narrowed to "not closed" across receive_data().
                assert s.state is SessionState.CLOSED  # type: ignore[comparison-overlap]


def test_sans_io_modules_never_import_trio() -> None:
    code = (
        "import sys\n"
        "import smsgw.drivers.smpp.session, smsgw.drivers.smpp.codec\n"
        "import smsgw.drivers.smpp.status, smsgw.drivers.smpp.addressing\n"
        "assert 'trio' not in sys.modules, 'trio was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_events_are_the_same_whole_and_byte_by_byte() -> None:
    def stream(s: Session) -> bytes:
        seqs = [s.submit(SM, 1.0) for _ in range(2)]
        s.data_to_send()
        return (
            encode(SubmitSmResp(message_id="b"), seqs[1])
            + encode(DeliverSm(sequence=40, esm_class=4, short_message=b"id:1 stat:DELIVRD"))
            + encode(EnquireLink(), 41)
            + encode(SubmitSmResp(message_id="a"), seqs[0])
        )

    whole = bound()
    data = stream(whole)
    expected = whole.receive_data(data, 2.0)
    assert len(expected) == 3
    split = bound()
    stream(split)
    got = []
    for i in range(len(data)):
        got += split.receive_data(data[i : i + 1], 2.0)
    assert got == expected
    assert split.data_to_send() == whole.data_to_send()  # the same enquire_link_resp
