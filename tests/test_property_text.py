"""Properties of the text decoders and reassembly (drivers/text/, drivers/smpp/inbound.py).

GSM 03.38 septets (packed and unpacked), UCS-2, user data headers and whole payloads under any
data coding: any bytes decode to text or raise a :class:`TextError`, and encode -> decode
round-trips. Reassembly (the text module's :class:`Reassembler` and the SMPP route's
:class:`InboundAssembler`, fed random and hostile parts): every part comes out in exactly one
message, every SMPP part is acknowledged exactly once, and what waits is bounded.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers import text as t
from smsgw.drivers.smpp.inbound import InboundAssembler
from smsgw.drivers.smpp.pdu import DataSm, DeliverSm, Tag
from smsgw.drivers.text.gsm7 import BASIC, EXTENSION
from tests.property_helpers import Draw, budget, mutated

GSM = BASIC.replace("\x1b", "") + "".join(EXTENSION)
gsm_text = st.text(GSM, max_size=200)
fills = st.integers(0, 6)


# -- round trips -----------------------------------------------------------------------------


@budget(200)
@given(gsm_text, fills)
def test_gsm7_round_trips_unpacked_and_packed(text: str, fill: int) -> None:
    septets = t.encode_gsm7(text)
    assert t.decode_gsm7(septets) == text
    packed = t.pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert t.unpack_septets(packed, len(septets), fill) == septets


@budget(200)
@given(st.text(max_size=100).filter(lambda s: not t.ucs2.has_lone_surrogate(s)))
def test_ucs2_round_trips(text: str) -> None:
    assert t.decode_ucs2(t.encode_ucs2(text)) == text
    assert t.ucs2_units(text) == len(t.encode_ucs2(text)) // 2


@budget(200)
@given(
    st.integers(0, 0xFFFF),
    st.integers(1, 255).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))),
    st.sampled_from([8, 16]),
    st.binary(max_size=20),
)
def test_concatenation_headers_round_trip(
    ref: int, total_seq: tuple[int, int], bits: int, rest: bytes
) -> None:
    total, seq = total_seq
    ref &= 0xFF if bits == 8 else 0xFFFF
    udh, tail = t.parse_udh(t.udh_concat(ref, total, seq, bits) + rest)  # type: ignore[arg-type]
    assert udh.concat == t.Concat(ref=ref, total=total, seq=seq, ref_bits=bits) and tail == rest


@budget(200)
@given(gsm_text.filter(lambda s: len(t.encode_gsm7(s)) <= 153), st.integers(0, 255))
def test_a_packed_part_with_its_header_round_trips(text: str, ref: int) -> None:
    udh = t.udh_concat(ref, 2, 1)
    septets = t.encode_gsm7(text)
    data = udh + t.pack_septets(septets, t.fill_bits_for(len(udh)))
    count = t.header_septets(len(udh)) + len(septets)
    head, got = t.decode_payload(data, 0, udhi=True, packed=True, septet_count=count)
    assert got == text and head is not None and head.concat == t.Concat(ref, 2, 1)


# -- any bytes -------------------------------------------------------------------------------


@budget(300)
@given(st.binary(max_size=200))
def test_septet_decoders_take_any_bytes(data: bytes) -> None:
    try:
        out = t.decode_gsm7(data)
    except t.DecodeError:
        assert any(b > 0x7F for b in data)
    else:
        assert isinstance(out, str)
    assert isinstance(t.decode_ucs2(data), str)
    for fill in (0, 3, 6):
        count = (8 * len(data) - fill) // 7 if data else 0
        septets = t.unpack_septets(data, max(0, count), fill)
        assert max(septets, default=0) <= 0x7F
        t.decode_gsm7(septets)  # unpacked septets always decode
    try:
        t.unpack_septets(data, len(data) * 2 + 1, 0)
    except t.DecodeError:
        pass
    else:
        raise AssertionError("more septets than the data holds")


udh_seeds = st.builds(
    lambda ref, n, body: t.udh_concat(ref, n, 1) + body,
    st.integers(0, 255),
    st.integers(1, 9),
    st.binary(max_size=30),
) | st.just(bytes.fromhex("0B0504158200000003AA0201FF") + b"hello")


@budget(300)
@given(st.binary(max_size=100) | mutated(udh_seeds, max_ops=5))
def test_headers_parse_or_raise_udh_error(data: bytes) -> None:
    try:
        udh, rest = t.parse_udh(data)
    except t.UdhError:
        return
    assert len(rest) <= len(data) - 1
    c = udh.concat
    assert c is None or (1 <= c.seq <= c.total and 0 <= c.ref <= 0xFFFF)


@budget(500)
@given(
    st.binary(max_size=160) | mutated(udh_seeds, max_ops=5),
    st.integers(0, 255),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(-5, 300),
    st.sampled_from(["gsm7", "latin1"]),
)
def test_payloads_under_any_data_coding_decode_or_raise_text_error(
    data: bytes, dc: int, udhi: bool, packed: bool, count: int | None, default: str
) -> None:
    try:
        udh, text = t.decode_payload(
            data,
            dc,
            udhi=udhi,
            packed=packed,
            septet_count=count if count is None or count >= 0 else None,
            smsc_default=default,  # type: ignore[arg-type]
        )
    except t.TextError as e:
        assert e.code in ("undecodable", "bad_udh")
        return
    assert isinstance(text, str) and (udh is None) == (not udhi)
    text.encode("utf-8")  # storable as JSON: no lone surrogate


# -- reassembly ------------------------------------------------------------------------------

part_descriptions = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # sender
        st.integers(0, 3),  # ref
        st.integers(0, 4),  # total (0 and 1: not concatenated)
        st.integers(0, 5),  # seq (0 and > total: an impossible element)
        st.floats(0, 50),  # time step
    ),
    max_size=40,
)


@budget(200)
@given(part_descriptions, st.integers(1, 6))
def test_reassembler_hands_out_every_part_once_and_stays_bounded(
    parts: list[tuple[str, int, int, int, float]], max_pending: int
) -> None:
    r = t.Reassembler(timeout=30.0, max_pending=max_pending)
    # A model of what waits: group -> (first part's time, sequence numbers in), oldest first.
    waiting: dict[tuple[str, int, int], tuple[float, set[int]]] = {}
    now = 0.0
    duplicates = 0
    out: list[t.Reassembled] = []
    for i, (who, ref, total, seq) in enumerate(p[:4] for p in parts):
        now += parts[i][4]
        concat = t.Concat(ref=ref, total=total, seq=seq) if total and seq else None
        if concat is not None and total > 1 and 1 <= seq <= total:
            g = (who, ref, total)
            if g not in waiting:
                if len(waiting) >= max_pending:
                    del waiting[next(iter(waiting))]  # the oldest is pushed out, incomplete
                waiting[g] = (now, set())
            if seq in waiting[g][1]:
                duplicates += 1  # a resent part: the first copy stands
            else:
                waiting[g][1].add(seq)
                if len(waiting[g][1]) == total:
                    del waiting[g]
        done = r.feed(who, concat, f"<{i}>", now)
        if done is not None:
            out.append(done)
        out += r.expire(now)
        for g in [g for g, (first, _) in waiting.items() if first + 30.0 <= now]:
            del waiting[g]
        assert len(r) == len(waiting) <= max_pending
    out += r.expire(now + 31.0)
    assert len(r) == 0 and r.next_deadline() is None
    pieces = [p + ">" for m in out for p in m.text.split(">") if p]
    assert len(pieces) == len(set(pieces)) == len(parts) - duplicates
    for m in out:
        assert m.parts == len(m.text.split(">")) - 1
        if m.complete:
            assert m.parts == m.total and m.missing == ()
        else:
            assert len(m.missing) == m.total - m.parts > 0


def _smpp_part(draw: Draw, i: int) -> DeliverSm | DataSm:
    kind = draw(st.integers(0, 3))
    sender = draw(st.sampled_from(["4917011111111", "4917022222222", "Shop"]))
    if kind == 0:  # UDH concatenation, maybe broken
        ref, total = draw(st.integers(0, 2)), draw(st.integers(1, 3))
        body = t.udh_concat(ref, total, draw(st.integers(1, total))) + f"p{i}".encode()
        body = draw(st.just(body) | mutated(st.just(body), max_ops=2))
        dc = draw(st.sampled_from([0, 3, 8, 0xF0]))
        return DeliverSm(
            sequence=i, source_addr_ton=1, source_addr=sender, esm_class=0x40,
            data_coding=dc, short_message=body,
        )  # fmt: skip
    if kind == 1:  # SAR TLVs, maybe with odd lengths
        sar_ref = draw(st.binary(min_size=1, max_size=3))
        sar_total = draw(st.binary(min_size=1, max_size=2))
        sar_seq = draw(st.binary(min_size=1, max_size=2))
        tlvs = ((Tag.SAR_MSG_REF_NUM, sar_ref), (Tag.SAR_TOTAL_SEGMENTS, sar_total),
                (Tag.SAR_SEGMENT_SEQNUM, sar_seq))  # fmt: skip
        return DeliverSm(sequence=i, source_addr=sender, short_message=f"s{i}".encode(), tlvs=tlvs)
    if kind == 2:  # data_sm with message_payload
        return DataSm(sequence=i, source_addr=sender, data_coding=draw(st.integers(0, 255)),
                      tlvs=((Tag.MESSAGE_PAYLOAD, draw(st.binary(max_size=40))),))  # fmt: skip
    esm, dc = draw(st.sampled_from([0, 0x40])), draw(st.integers(0, 255))
    body = draw(st.binary(max_size=40))
    return DeliverSm(
        sequence=i, source_addr=sender, esm_class=esm, data_coding=dc, short_message=body
    )


@budget(100)
@given(st.data())
def test_every_inbound_smpp_part_is_acknowledged_exactly_once(data: st.DataObject) -> None:
    asm: InboundAssembler[int] = InboundAssembler("op", reassembly_timeout=60.0, hold=20.0)
    n = data.draw(st.integers(0, 25))
    acked: list[int] = []
    now = 0.0
    for i in range(n):
        now += data.draw(st.sampled_from([0.0, 1.0, 15.0]))
        settled = asm.feed([(_smpp_part(data.draw, i), i)], now, 1e9 + now)
        settled_more = asm.expire(now, 1e9 + now)
        for s in (settled, settled_more):
            acked += [tok for tok, _ in s.acks]
            assert all(e == "bad_inbound" for e in s.errors)
            for m in s.messages:
                m.text.encode("utf-8")
                assert m.parts >= 1
    final = asm.expire(now + 100.0, 1e9 + now + 100.0)
    acked += [tok for tok, _ in final.acks]
    assert sorted(acked) == list(range(n)), "a part was acknowledged twice, or never"
    assert asm.next_deadline() is None


def test_a_header_with_no_text_after_it_is_an_empty_part() -> None:
    # Found by the properties above: an empty concatenated part (TP-UDL 7: the header's
    # septets only, no octet after the header) was "undecodable" (zero septets asked of zero
    # octets after 1 fill bit), so the modem inbox dropped it and counted bad_text.
    udh = t.udh_concat(9, 2, 2)
    assert t.decode_payload(udh, 0, udhi=True, packed=True, septet_count=7) == (
        t.parse_udh(udh)[0],
        "",
    )
    assert t.unpack_septets(b"", 0, 1) == b""
    # ... and without a TP-UDL to go by, it was an InvalidArgument (a negative septet count).
    assert t.decode_payload(udh, 0, udhi=True, packed=True)[1] == ""
