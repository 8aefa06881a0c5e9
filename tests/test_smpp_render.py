"""Parts rendered as submit_sm per route settings, and inbound parts joined and acknowledged
(both sans-IO, times given explicitly)."""

from __future__ import annotations

import calendar
import struct
from typing import Any

import pytest

from smsgw.config.schema import SmppRouteConfig
from smsgw.drivers.seam import InboundMessage, OutboundPart
from smsgw.drivers.smpp.codec import decode, encode
from smsgw.drivers.smpp.inbound import InboundAssembler
from smsgw.drivers.smpp.mo_pdus import mo_pdus
from smsgw.drivers.smpp.pdu import DeliverSm, SubmitSm, Tag
from smsgw.drivers.smpp.render import Renderer, RenderError, smpp_absolute_time
from smsgw.drivers.text import encode_gsm7, encode_ucs2, plan, udh_concat

NOW = float(calendar.timegm((2025, 1, 1, 12, 0, 0)))


def cfg(**kw: Any) -> SmppRouteConfig:
    return SmppRouteConfig(name="op", host="h", system_id="s", **kw)


def part(**kw: Any) -> OutboundPart:
    fields: dict[str, Any] = {
        "part_id": 1,
        "message_id": "m",
        "route": "op",
        "to": "+4917012345678",
        "sender": "MyShop",
        "text": "Hello [world]",
        "encoding": "gsm7",
        "seq": 1,
        "total": 1,
        "ref": 0,
    }
    fields.update(kw)
    return OutboundPart(**fields)


def test_single_gsm7_part() -> None:
    sm = Renderer(cfg()).render(part(), NOW)
    assert (sm.source_addr_ton, sm.source_addr_npi, sm.source_addr) == (5, 0, "MyShop")
    assert (sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr) == (1, 1, "4917012345678")
    assert (sm.data_coding, sm.esm_class, sm.registered_delivery) == (0, 0, 1)
    assert sm.short_message == encode_gsm7("Hello [world]")  # escape pairs as septets
    assert sm.tlvs == () and sm.validity_period == ""
    # and it survives the wire
    assert decode(encode(sm, 3)) == SubmitSm(sequence=3, **{
        f: getattr(sm, f) for f in sm.__struct_fields__ if f not in ("sequence", "status")
    })  # fmt: skip


def test_latin1_data_coding_and_ucs2() -> None:
    assert Renderer(cfg(data_coding_gsm=3)).render(part(text="Grüße"), NOW).short_message == (
        "Grüße".encode("latin-1")
    )
    sm = Renderer(cfg()).render(part(text="Привет 👋", encoding="ucs2"), NOW)
    assert (sm.data_coding, sm.short_message) == (8, encode_ucs2("Привет 👋"))


def test_latin1_route_sends_euro_and_greek_in_the_gsm_alphabet() -> None:
    sm = Renderer(cfg(data_coding_gsm=3)).render(part(text="Preis: 5€ ΔΣ"), NOW)
    assert sm.data_coding == 0
    assert sm.short_message == b"Preis: 5\x1b\x65 \x10\x18"


def test_ia5_refuses_what_ascii_cannot_carry() -> None:
    assert Renderer(cfg(data_coding_gsm=1)).render(part(text="abc"), NOW).data_coding == 1
    with pytest.raises(RenderError, match="IA5"):
        Renderer(cfg(data_coding_gsm=1)).render(part(text="£5"), NOW)


@pytest.mark.parametrize("ref_bits", [8, 16])
def test_udh_concatenation(ref_bits: int) -> None:
    p = part(seq=2, total=3, ref=200 if ref_bits == 8 else 40000, ref_bits=ref_bits)
    sm = Renderer(cfg(concat="udh")).render(p, NOW)
    assert sm.esm_class == 0x40
    udh = udh_concat(p.ref, 3, 2, ref_bits)  # type: ignore[arg-type]
    assert sm.short_message == udh + encode_gsm7(p.text)


def test_sar_concatenation() -> None:
    sm = Renderer(cfg(concat="sar")).render(part(seq=2, total=3, ref=513), NOW)
    assert sm.esm_class == 0
    assert sm.short_message == encode_gsm7("Hello [world]")
    assert sm.tlvs == (
        (Tag.SAR_MSG_REF_NUM, struct.pack(">H", 513)),
        (Tag.SAR_TOTAL_SEGMENTS, b"\x03"),
        (Tag.SAR_SEGMENT_SEQNUM, b"\x02"),
    )


def test_message_payload() -> None:
    single = Renderer(cfg(concat="payload")).render(part(), NOW)
    assert single.short_message == b""
    assert single.tlvs == ((Tag.MESSAGE_PAYLOAD, encode_gsm7("Hello [world]")),)
    multi = Renderer(cfg(concat="payload")).render(part(seq=1, total=2, ref=9), NOW)
    assert [tag for tag, _ in multi.tlvs] == [
        Tag.SAR_MSG_REF_NUM,
        Tag.SAR_TOTAL_SEGMENTS,
        Tag.SAR_SEGMENT_SEQNUM,
        Tag.MESSAGE_PAYLOAD,
    ]


def test_priority_from_class() -> None:
    r = Renderer(cfg())
    got = {
        c: r.render(part(msg_class=c), NOW).priority_flag
        for c in ("otp", "transactional", "marketing")
    }
    assert got == {"otp": 2, "transactional": 1, "marketing": 0}


def test_validity_is_absolute_utc() -> None:
    sm = Renderer(cfg()).render(part(validity_until=NOW + 300.5), NOW)
    assert sm.validity_period == "250101120500500+"
    assert smpp_absolute_time(NOW) == "250101120000000+"
    with pytest.raises(RenderError, match="validity"):
        Renderer(cfg()).render(part(validity_until=NOW - 1), NOW)


def test_ton_npi_overrides_and_bad_addresses() -> None:
    sm = Renderer(cfg(source_ton=0, source_npi=1, dest_ton=0)).render(part(), NOW)
    assert (sm.source_addr_ton, sm.source_addr_npi, sm.dest_addr_ton, sm.dest_addr_npi) == (
        0,
        1,
        0,
        1,
    )
    with pytest.raises(RenderError):
        Renderer(cfg()).render(part(to="MyShop"), NOW)
    with pytest.raises(RenderError):
        Renderer(cfg()).render(part(sender="A sender name that is far too long"), NOW)
    with pytest.raises(RenderError):
        Renderer(cfg(concat="sar")).render(part(seq=3, total=2), NOW)


# -- inbound ------------------------------------------------------------------------------------


def mo(text: str, *, concat: str = "udh", sender: str = "+4917099999999") -> list[DeliverSm]:
    return mo_pdus(sender, "12345", text, concat=concat, ref=77)  # type: ignore[arg-type]


LONG = "Hello shop, please stop sending me offers. " * 5


def assembler(hold: float = 10.0) -> InboundAssembler[str]:
    return InboundAssembler("op", reassembly_timeout=300.0, hold=hold)


def test_single_part_is_stored_then_acked() -> None:
    [pdu] = mo("STOP")
    out = assembler().feed([(pdu, "ack1")], now=0.0, wall=NOW)
    assert out.messages == [
        InboundMessage(
            route="op", sender="+4917099999999", to="12345", text="STOP", received_at=NOW
        )
    ]
    assert out.acks == [("ack1", 0)]


@pytest.mark.parametrize("concat", ["udh", "sar"])
def test_parts_in_any_order_are_joined_and_acked_together(concat: str) -> None:
    pdus = mo(LONG, concat=concat)
    assert len(pdus) == plan(LONG).parts == 2
    a = assembler()
    first = a.feed([(pdus[1], "second")], now=0.0, wall=NOW)
    assert first.messages == [] and first.acks == []  # held until the whole message is stored
    out = a.feed([(pdus[0], "first")], now=1.0, wall=NOW)
    [msg] = out.messages
    assert (msg.text, msg.parts, msg.complete) == (LONG, 2, True)
    assert sorted(out.acks) == [("first", 0), ("second", 0)]


def test_ucs2_inbound() -> None:
    [pdu] = mo("Стоп 🛑")
    assert pdu.data_coding == 8
    assert assembler().feed([(pdu, "a")], 0.0, NOW).messages[0].text == "Стоп 🛑"


def test_held_part_is_acked_after_hold_and_stored_incomplete_after_timeout() -> None:
    pdus = mo(LONG)
    a = assembler(hold=10.0)
    a.feed([(pdus[0], "only")], now=0.0, wall=NOW)
    assert a.next_deadline() == 10.0
    assert a.expire(9.9, NOW).acks == []
    late = a.expire(10.0, NOW)
    assert late.acks == [("only", 0)] and late.messages == []
    assert a.next_deadline() == 300.0
    [msg] = a.expire(300.0, NOW).messages
    assert (msg.complete, msg.parts, msg.text) == (False, 1, plan(LONG).segments[0])


def test_undecodable_part_is_refused_permanently_and_counted() -> None:
    bad = DeliverSm(source_addr="1", esm_class=0x40, short_message=b"\x09\x00\x03")  # UDH overrun
    out = assembler().feed([(bad, "x")], 0.0, NOW)
    assert out.acks == [("x", 0x65)] and out.errors == ["bad_inbound"] and out.messages == []
