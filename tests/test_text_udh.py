"""User data headers (TS 23.040 §9.2.3.24) and inbound payload decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.text import (
    Concat,
    DecodeError,
    InvalidArgument,
    TextError,
    Udh,
    UdhError,
    alphabet,
    decode_payload,
    encode_gsm7,
    encode_ucs2,
    pack_septets,
    parse_udh,
    udh_concat,
)

# -- building ----------------------------------------------------------------------------


def test_concat_headers_byte_for_byte() -> None:
    assert udh_concat(0x2A, 3, 1) == bytes.fromhex("0500032A0301")
    assert udh_concat(0x2A, 3, 3, 8) == bytes.fromhex("0500032A0303")
    assert udh_concat(0x1234, 2, 2, 16) == bytes.fromhex("06080412340202")
    assert udh_concat(255, 255, 255) == bytes.fromhex("050003FFFFFF")
    assert udh_concat(0xFFFF, 1, 1, 16) == bytes.fromhex("060804FFFF0101")


@pytest.mark.parametrize(
    ("ref", "total", "seq", "bits"),
    [(256, 2, 1, 8), (-1, 2, 1, 8), (65536, 2, 1, 16), (1, 0, 1, 8), (1, 256, 1, 8),
     (1, 2, 0, 8), (1, 2, 3, 8), (1, 2, 1, 12)],
)  # fmt: skip
def test_concat_header_refuses_what_cannot_be_encoded(
    ref: int, total: int, seq: int, bits: int
) -> None:
    with pytest.raises(InvalidArgument) as e:
        udh_concat(ref, total, seq, bits)  # type: ignore[arg-type]
    assert e.value.code == "invalid_argument"


# -- parsing -----------------------------------------------------------------------------


def test_parse_8_and_16_bit_concat() -> None:
    udh, rest = parse_udh(bytes.fromhex("0500032A0302") + b"tail")
    assert udh.concat == Concat(ref=0x2A, total=3, seq=2, ref_bits=8)
    assert udh.elements == ((0x00, bytes.fromhex("2A0302")),)
    assert rest == b"tail"
    udh, rest = parse_udh(bytes.fromhex("06080412340201"))
    assert udh.concat == Concat(ref=0x1234, total=2, seq=1, ref_bits=16)
    assert rest == b""


def test_unknown_elements_are_kept_and_skipped() -> None:
    # port addressing (0x05, 4 octets), then an 8-bit concat, then an unknown 0x70 of 0 octets
    data = bytes.fromhex("0D" + "050400000000" + "0003070201" + "7000") + b"x"
    udh, rest = parse_udh(data)
    assert udh.concat == Concat(7, 2, 1, 8)
    assert [iei for iei, _ in udh.elements] == [0x05, 0x00, 0x70]
    assert rest == b"x"


@pytest.mark.parametrize(
    "header",
    [
        "050003070003",  # total 0
        "050003070200",  # seq 0
        "050003070203",  # seq past total
        "0400020702",  # an 8-bit concat element of the wrong length
    ],
)
def test_invalid_concat_elements_are_ignored(header: str) -> None:
    udh, _ = parse_udh(bytes.fromhex(header))
    assert udh.concat is None
    assert len(udh.elements) == 1


def test_the_last_valid_concat_wins() -> None:
    udh, _ = parse_udh(bytes.fromhex("0A00030102010003020202"))
    assert udh.concat == Concat(2, 2, 2, 8)


@pytest.mark.parametrize(
    "data",
    ["", "05000301", "0300", "02000304", "0103"],
)
def test_malformed_headers_are_typed_errors(data: str) -> None:
    with pytest.raises(UdhError) as e:
        parse_udh(bytes.fromhex(data))
    assert isinstance(e.value, DecodeError)
    assert e.value.code == "bad_udh"


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_random_headers_give_a_header_or_typed_error(data: bytes) -> None:
    try:
        udh, rest = parse_udh(data)
    except TextError:
        return
    assert isinstance(udh, Udh)
    assert data.endswith(rest) and len(rest) == len(data) - 1 - data[0]


# -- decoding payloads -------------------------------------------------------------------


def test_data_coding_tables() -> None:
    assert [alphabet(dc) for dc in (0, 1, 2, 3, 4, 8)] == [
        "gsm7",
        "latin1",
        "8bit",
        "latin1",
        "8bit",
        "ucs2",
    ]
    assert alphabet(6) == "iso8859_5" and alphabet(14) == "euc_kr"
    # TS 23.038 §4 groups
    assert alphabet(0x10) == "gsm7"  # general, class 0 (flash)
    assert alphabet(0x18) == "ucs2"
    assert alphabet(0x14) == "8bit"
    assert alphabet(0x28) == "compressed"
    assert alphabet(0xF0) == "gsm7" and alphabet(0xF4) == "8bit"
    assert alphabet(0xC0) == "gsm7" and alphabet(0xE0) == "ucs2"


def test_decode_smpp_forms() -> None:
    assert decode_payload(encode_gsm7("Hi €5 [x]"), 0) == (None, "Hi €5 [x]")
    assert decode_payload(encode_ucs2("Привет 😀"), 8) == (None, "Привет 😀")
    assert decode_payload("Ça coûte".encode("latin-1"), 3) == (None, "Ça coûte")
    assert decode_payload(b"plain", 1) == (None, "plain")
    assert decode_payload(bytes([0, 255, 10]), 4) == (None, "\x00\xff\n")
    assert decode_payload("Привет".encode("iso8859_5"), 6) == (None, "Привет")
    # data_coding 0 is the SMSC's default alphabet: octets over 0x7F mean Latin-1, not septets
    assert decode_payload("Grüße".encode("latin-1"), 0) == (None, "Grüße")
    # an SMSC whose default alphabet is Latin-1/ASCII: said per route
    assert decode_payload(b"a_b@c$", 0) == (None, "a§b¡c¤")
    assert decode_payload(b"a_b@c$", 0, smsc_default="latin1") == (None, "a_b@c$")
    assert decode_payload(b"a_b@", 0xF0, smsc_default="latin1") == (None, "a§b¡")  # GSM DCS
    assert decode_payload(bytearray(b"ok"), 0) == (None, "ok")
    udh, text = decode_payload(udh_concat(9, 2, 2) + encode_gsm7("{end}"), 0, udhi=True)
    assert udh is not None and udh.concat == Concat(9, 2, 2, 8) and text == "{end}"
    udh, text = decode_payload(udh_concat(300, 2, 1, 16) + encode_ucs2("ж"), 8, udhi=True)
    assert udh is not None and udh.concat == Concat(300, 2, 1, 16) and text == "ж"


def test_decode_packed_with_fill_bits() -> None:
    septets = encode_gsm7("hellohello")
    assert decode_payload(pack_septets(septets), 0, packed=True, septet_count=10) == (
        None,
        "hellohello",
    )
    # 8-bit reference header: 6 octets + 1 fill bit = 7 septets before the text
    udh = udh_concat(1, 2, 1)
    data = udh + pack_septets(septets, 1)
    got_udh, text = decode_payload(data, 0, udhi=True, packed=True, septet_count=7 + 10)
    assert got_udh is not None and got_udh.concat == Concat(1, 2, 1, 8) and text == "hellohello"
    assert (
        data.hex().upper() == "050003010201" + "D06536FB0D2A2FB3D96F"[:0] + data[6:].hex().upper()
    )
    # 16-bit reference header: 7 octets, no fill bits, 8 septets before the text
    udh = udh_concat(0xBEEF, 2, 2, 16)
    data = udh + pack_septets(septets, 0)
    got_udh, text = decode_payload(data, 0, udhi=True, packed=True, septet_count=8 + 10)
    assert got_udh is not None and got_udh.concat == Concat(0xBEEF, 2, 2, 16)
    assert text == "hellohello"
    # without a septet count every whole septet is read: exact when the septets fill the
    # octets, a trailing @ (seven zero padding bits) when they do not: pass TP-UDL
    assert decode_payload(pack_septets(encode_gsm7("12345678")), 0, packed=True)[1] == "12345678"
    assert decode_payload(pack_septets(encode_gsm7("1234567")), 0, packed=True)[1] == "1234567@"


def test_decode_errors_are_typed() -> None:
    with pytest.raises(DecodeError):
        decode_payload(b"\x00\x01", 0x28)  # compressed
    with pytest.raises(DecodeError):
        decode_payload(b"\x00" * 3, 0, packed=True, septet_count=9)  # septets past the data
    with pytest.raises(DecodeError):
        decode_payload(udh_concat(1, 2, 1) + b"\x00", 0, udhi=True, packed=True, septet_count=3)
    with pytest.raises(UdhError):
        decode_payload(b"\x09\x00\x03", 8, udhi=True)


def test_ucs2_malformed_input_is_replaced_not_lost() -> None:
    assert decode_payload(b"\x00A\x00", 8) == (None, "A\ufffd")  # odd length
    assert decode_payload(b"\xd8\x3d\x00A", 8) == (None, "\ufffdA")  # half an emoji


@settings(max_examples=300)
@given(
    st.binary(max_size=160),
    st.integers(0, 255),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(-5, 200),
)
def test_random_payloads_give_text_or_typed_error(
    data: bytes, dc: int, udhi: bool, packed: bool, count: int | None
) -> None:
    try:
        udh, text = decode_payload(data, dc, udhi=udhi, packed=packed, septet_count=count)
    except TextError:
        return
    assert (udh is None) != udhi
    assert isinstance(text, str)
    text.encode("utf-8")  # storable: no lone surrogates
