"""Properties of a bound SMPP session fed whatever a peer may send (drivers/smpp/session.py).

A bound session takes random bytes, mutated PDUs and well-formed PDUs with chosen or random
sequence numbers, interleaved with our submits and the passing of time. Whatever comes:

- only events come out (a fatal :class:`ProtocolViolation` closes the session; nothing raises);
- the window holds: ``0 <= in_flight <= window``;
- every submit_sm is answered exactly once: a response or nack, a timeout, or (at close) an
  :class:`Abandoned`; never twice, never not at all;
- a request times out when its deadline passes, not later;
- bytes to send are always whole PDUs.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.errors import LocalProtocolError
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
    BindResponse,
    Cmd,
    DataSm,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from smsgw.drivers.smpp.session import Session, SessionState
from tests.property_helpers import Draw, budget, mutated

TIMEOUT = 10.0
SM = SubmitSm(source_addr="Shop", destination_addr="4917012345678", short_message=b"hi")
_EVENTS = (
    Bound, BindRejected, SubmitResponse, RequestTimedOut, DeliverSmReceived, DataSmReceived,
    Nacked, PeerUnbound, Unbound, ProtocolViolation, PeerSilent,
)  # fmt: skip


class Ledger:
    """What we sent and how each submit was settled, checked against the session."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.now = 0.0
        self.open: dict[int, float] = {}  # submit seq -> deadline
        self.settled: dict[int, str] = {}
        self.requests: list[int] = []  # every sequence we used
        self.delivers: list[int] = []
        self.out = Framer()

    def take(self, events: list[Event]) -> None:
        for ev in events:
            assert isinstance(ev, _EVENTS)
            seq = None
            if isinstance(ev, SubmitResponse):
                seq = ev.sequence
            elif isinstance(ev, RequestTimedOut) and ev.command_id == Cmd.SUBMIT_SM:
                seq = ev.sequence
                assert self.open[seq] <= self.now  # never early
            elif isinstance(ev, DeliverSmReceived | DataSmReceived):
                self.delivers.append(ev.pdu.sequence)
            elif isinstance(ev, PeerSilent):
                # The link is dead: the driver drops the connection, and every submit still
                # open is listed as abandoned, once.
                assert ev.outstanding >= max(1, len(self.open))  # an overdue enquire_link too
                assert ev.last_received + TIMEOUT <= self.now  # never early
                abandoned = {a.sequence for a in self.s.close()}
                assert abandoned == set(self.open)
                for lost in abandoned:
                    self.settled[lost] = "Abandoned"
                self.open.clear()
                return
            if seq is not None:
                assert seq in self.open, f"submit {seq} settled twice or never sent"
                del self.open[seq]
                self.settled[seq] = type(ev).__name__
        self.check()

    def check(self) -> None:
        s = self.s
        assert 0 <= s.in_flight <= s.window
        assert s.in_flight == len(self.open)
        assert s.window_free == (s.window - s.in_flight if s.can_submit else 0)
        frames, error = self.out.feed(s.data_to_send())
        assert error is None
        for f in frames:
            decode(f)  # what we write is whole, valid PDUs

    def feed(self, data: bytes) -> None:
        if self.s.closed:
            return
        self.take(self.s.receive_data(data, self.now))


def _bound(window: int) -> Ledger:
    s = Session("trx", window=window, response_timeout=TIMEOUT, enquire_link=30.0, now=0.0)
    seq = s.bind(system_id="shop", password="pw", now=0.0)
    s.data_to_send()
    assert s.receive_data(encode(BindResponse(mode="trx", system_id="SMSC"), seq), 0.0) == [
        Bound("trx", "SMSC")
    ]
    return Ledger(s)


def _peer_pdu(draw: Draw, ledger: Ledger) -> Pdu:
    known = list(ledger.open) + ledger.requests[-4:]
    seq = draw(
        st.sampled_from(known) if bool(known) and draw(st.booleans()) else st.integers(0, 2**32 - 1)
    )
    status = draw(st.sampled_from([0, 0x58, 0x14, 0x08, 0x45]) | st.integers(0, 2**32 - 1))
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return SubmitSmResp(sequence=seq, message_id="" if status else f"{seq:X}", status=status)
    if kind == 1:
        return GenericNack(sequence=seq, status=status)
    if kind == 2:
        return EnquireLinkResp(sequence=seq)
    if kind == 3:
        return UnbindResp(sequence=seq)
    if kind == 4:
        return BindResponse(sequence=seq, mode="trx", status=status)
    if kind == 5:
        return DeliverSm(sequence=seq, esm_class=draw(st.sampled_from([0, 4])), short_message=b"x")
    if kind == 6:
        return DataSm(sequence=seq)
    if kind == 7:
        return EnquireLink(sequence=seq)
    if kind == 8:
        return Unbind(sequence=seq)
    if kind == 9:
        return SubmitSm(sequence=seq)  # a request only an SMSC takes
    if kind == 10:
        return UnknownPdu(sequence=seq, cmd=draw(st.sampled_from([3, 0x80000003, 0x102, 7])))
    return SubmitSmResp(sequence=seq, status=status)


_garbage = st.binary(max_size=64) | mutated(
    st.sampled_from(
        [
            encode(SubmitSmResp(message_id="0A"), 1),
            encode(DeliverSm(esm_class=4, short_message=b"id:1 stat:DELIVRD"), 9),
            encode(EnquireLink(), 3),
        ]
    ),
    length_fields=((0, 4),),
)


@budget(150)
@given(st.data(), st.integers(1, 4))
def test_a_bound_session_survives_any_peer_and_settles_every_submit(
    data: st.DataObject, window: int
) -> None:
    ledger = _bound(window)
    s = ledger.s
    for _ in range(data.draw(st.integers(1, 40))):
        step = data.draw(st.sampled_from(["submit", "submit", "tick", "pdu", "pdu", "bytes"]))
        if step == "submit":
            if s.can_submit and s.window_free:
                seq = s.submit(SM, ledger.now)
                ledger.open[seq] = ledger.now + TIMEOUT
                ledger.requests.append(seq)
                ledger.check()
        elif step == "tick":
            ledger.now += data.draw(st.sampled_from([0.0, 0.5, 5.0, TIMEOUT, 31.0]))
            if not s.closed:
                ledger.take(s.timers(ledger.now))
                # Whatever was due is settled now (no request waits past its deadline).
                assert all(d > ledger.now for d in ledger.open.values())
                # ... and the session asks to be woken by the next deadline at the latest.
                if ledger.open:
                    deadline = s.next_deadline()
                    assert deadline is not None and deadline <= min(ledger.open.values())
        elif step == "pdu":
            try:
                wire = encode(_peer_pdu(data.draw, ledger))
            except LocalProtocolError:
                continue
            cut = data.draw(st.integers(0, len(wire)))
            ledger.feed(wire[:cut])
            ledger.feed(wire[cut:])
        else:
            ledger.feed(data.draw(_garbage))
        if ledger.delivers and not s.closed and data.draw(st.booleans()):
            s.answer(ledger.delivers.pop(), 0)
            ledger.check()
        if s.closed:
            break
    abandoned = s.close()
    for a in abandoned:
        assert isinstance(a, Abandoned)
        assert a.sequence in ledger.open, "abandoned a submit that was already settled"
        del ledger.open[a.sequence]
    assert ledger.open == {}, "a submit was never settled"
    assert s.state is SessionState.CLOSED and s.in_flight == 0 and s.window_free == 0


@budget(100)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_random_bytes_only_close_a_session_with_a_protocol_violation(chunks: list[bytes]) -> None:
    ledger = _bound(3)
    s = ledger.s
    seq = s.submit(SM, 0.0)
    ledger.open[seq] = TIMEOUT
    for chunk in chunks:
        if s.closed:
            break
        events = s.receive_data(chunk, 0.0)
        ledger.take(events)
        ends = [
            e
            for e in events
            if isinstance(e, PeerUnbound) or (isinstance(e, ProtocolViolation) and e.fatal)
        ]
        assert bool(ends) == s.closed


def test_a_response_of_the_wrong_type_does_not_delay_a_submits_timeout() -> None:
    # Found by the property above: an enquire_link_resp carrying a submit's sequence put the
    # submit back at the end of the deadline queue, so it timed out only after every later
    # request (and never, while the peer kept doing it).
    ledger = _bound(2)
    s = ledger.s
    first = s.submit(SM, 0.0)
    s.submit(SM, 5.0)
    assert s.receive_data(encode(EnquireLinkResp(), first), 6.0)[0].kind == "unexpected_response"  # type: ignore[union-attr]
    assert s.timers(10.0) == [RequestTimedOut(first, Cmd.SUBMIT_SM, 0.0)]
    assert s.in_flight == 1
