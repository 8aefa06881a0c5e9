"""GSM 03.38 alphabet (TS 23.038 §6.2.1) and septet packing (TS 23.040 §9.2.3.24)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.text import (
    DecodeError,
    EncodeError,
    InvalidArgument,
    TextError,
    decode_gsm7,
    encode_gsm7,
    encode_latin1,
    fill_bits_for,
    header_septets,
    is_gsm7,
    non_gsm7_chars,
    pack_septets,
    unpack_septets,
)
from smsgw.drivers.text.gsm7 import BASIC, EXTENSION, scan_gsm7

GSM_CHARS = [c for c in BASIC if c != "\x1b"] + list(EXTENSION)
# Extension characters drawn often, so that escapes meet every boundary.
gsm_text = st.text(
    alphabet=st.sampled_from(GSM_CHARS) | st.sampled_from(list(EXTENSION)), max_size=400
)


# -- the table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "septet"),
    [
        ("@", 0x00),
        ("£", 0x01),
        ("$", 0x02),
        ("¥", 0x03),
        ("Ç", 0x09),  # capital C cedilla (the table's glyph), not ç
        ("\n", 0x0A),
        ("\r", 0x0D),
        ("Δ", 0x10),  # U+0394 GREEK CAPITAL LETTER DELTA
        ("_", 0x11),
        ("Φ", 0x12),
        ("Γ", 0x13),
        ("Λ", 0x14),
        ("Ω", 0x15),  # U+03A9, not the ohm sign
        ("Π", 0x16),
        ("Ψ", 0x17),
        ("Σ", 0x18),
        ("Θ", 0x19),
        ("Ξ", 0x1A),
        ("Æ", 0x1C),
        ("ß", 0x1E),
        ("É", 0x1F),
        (" ", 0x20),
        ("¤", 0x24),  # currency sign where ASCII has $
        ("¡", 0x40),  # where ASCII has @
        ("Ä", 0x5B),
        ("Ü", 0x5E),
        ("§", 0x5F),  # section sign where ASCII has _ (smpplib has a backtick here)
        ("¿", 0x60),
        ("ä", 0x7B),
        ("à", 0x7F),
        ("A", 0x41),
        ("z", 0x7A),
    ],
)
def test_basic_table_positions(char: str, septet: int) -> None:
    assert encode_gsm7(char) == bytes([septet])
    assert decode_gsm7(bytes([septet])) == char


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\x0c", 0x0A),
        ("^", 0x14),
        ("{", 0x28),
        ("}", 0x29),
        ("\\", 0x2F),
        ("[", 0x3C),
        ("~", 0x3D),
        ("]", 0x3E),
        ("|", 0x40),
        ("€", 0x65),
    ],
)
def test_extension_table_costs_two_septets(char: str, code: int) -> None:
    assert encode_gsm7(char) == bytes([0x1B, code])
    assert decode_gsm7(bytes([0x1B, code])) == char


@pytest.mark.parametrize(
    "char",
    [
        "`",  # ASCII, yet not in the alphabet
        "ç",  # small c cedilla: only the capital is in the table
        "\u2126",  # OHM SIGN, looks like Ω
        "\u2206",  # INCREMENT, looks like Δ
        "\u0391",  # GREEK CAPITAL ALPHA, looks like A
        "\u00b5",  # MICRO SIGN
        "\t",
        "’",
        "😀",
        "\x00",
    ],
)
def test_look_alikes_are_not_gsm(char: str) -> None:
    assert not is_gsm7("abc" + char)
    assert non_gsm7_chars("abc" + char + char) == [char]
    with pytest.raises(EncodeError) as e:
        encode_gsm7("abc" + char)
    assert e.value.code == "unencodable"
    assert "at 3" in str(e.value)


def test_every_gsm_char_round_trips_and_all_others_are_refused() -> None:
    for cp in range(0x3000):
        c = chr(cp)
        if c in GSM_CHARS:
            assert is_gsm7(c)
            assert decode_gsm7(encode_gsm7(c)) == c
        else:
            assert not is_gsm7(c), hex(cp)


def test_decoding_escapes_per_spec() -> None:
    # an escape before a code with no extension character: the basic character (note 3)
    assert decode_gsm7(b"\x1b\x41") == "A"
    # ESC ESC is reserved for a further table: shown as a space
    assert decode_gsm7(b"a\x1b\x1bb") == "a b"
    # a lone escape at the end: shown as a space
    assert decode_gsm7(b"ab\x1b") == "ab "
    assert decode_gsm7(b"") == ""


@pytest.mark.parametrize("data", [b"\x80", b"ab\xff", b"\x1b\x80", b"a\x1b\x28\xc0"])
def test_decoding_octets_over_0x7f_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        decode_gsm7(data)
    assert e.value.code == "undecodable"


@settings(max_examples=200)
@given(gsm_text)
def test_gsm_round_trip(text: str) -> None:
    septets = encode_gsm7(text)
    assert len(septets) == len(text) + sum(text.count(c) for c in EXTENSION)
    assert decode_gsm7(septets) == text
    packed = pack_septets(septets)
    assert len(packed) == (7 * len(septets) + 7) // 8
    assert decode_gsm7(unpack_septets(packed, len(septets))) == text


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_septets_give_text_or_typed_error(data: bytes) -> None:
    try:
        text = decode_gsm7(data)
    except TextError:
        assert any(b > 0x7F for b in data)
    else:
        assert isinstance(text, str)


def test_latin1_wire_form() -> None:
    assert encode_latin1("Ça coûte 5 $ @ 12:00") == "Ça coûte 5 $ @ 12:00".encode("latin-1")
    with pytest.raises(EncodeError):
        encode_latin1("5 €")  # GSM, but not Latin-1
    with pytest.raises(EncodeError):
        encode_latin1("ΔΩ")


# -- packing -----------------------------------------------------------------------------


def test_packing_vectors() -> None:
    # TS 23.038 §6.1.2.1.1 worked examples, checked by hand bit by bit
    assert pack_septets(encode_gsm7("hellohello")) == bytes.fromhex("E8329BFD4697D9EC37")
    assert pack_septets(encode_gsm7("Hello")) == bytes.fromhex("C8329BFD06")
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == encode_gsm7("hellohello")
    # eight septets fill seven octets exactly
    assert pack_septets(b"\x7f" * 8) == b"\xff" * 7
    assert pack_septets(b"") == b""


def test_fill_bits_after_a_header() -> None:
    assert fill_bits_for(6) == 1  # 05 00 03 rr tt ss: 48 bits, next septet boundary at 49
    assert fill_bits_for(7) == 0  # 06 08 04 rr rr tt ss: 56 bits, already on a boundary
    assert fill_bits_for(5) == 2
    assert fill_bits_for(0) == 0
    assert header_septets(6) == 7 and header_septets(7) == 8
    # 'A' = 0x41 after one fill bit: 1000 0010, then 'B' = 0x42 in the next 7 bits
    assert pack_septets(b"\x41", 1) == b"\x82"
    assert pack_septets(b"\x41\x42", 1) == b"\x82\x42"
    assert unpack_septets(b"\x82\x42", 2, 1) == b"\x41\x42"
    # with no text, the fill bits still take one octet (TP-UDL 7 septets = 7 octets)
    assert pack_septets(b"", 1) == b"\x00"


def _pack_by_bits(septets: bytes, fill: int) -> bytes:
    """An independent packer: a string of bits, least significant first."""
    bits = "0" * fill + "".join(format(s, "07b")[::-1] for s in septets)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))


@settings(max_examples=200)
@given(st.binary(max_size=170).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_packing_matches_a_bit_string_packer(septets: bytes, fill: int) -> None:
    packed = pack_septets(septets, fill)
    assert packed == _pack_by_bits(septets, fill)
    assert unpack_septets(packed, len(septets), fill) == septets


def test_packing_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidArgument):
        pack_septets(b"\x80")
    with pytest.raises(InvalidArgument):
        pack_septets(b"a", 7)
    with pytest.raises(InvalidArgument):
        unpack_septets(b"a", -1)
    with pytest.raises(DecodeError):
        unpack_septets(b"\x00" * 7, 9)  # 7 octets hold 8 septets


@settings(max_examples=200)
@given(st.binary(max_size=200), st.integers(-2, 250), st.integers(0, 6))
def test_random_packed_data_gives_septets_or_typed_error(
    data: bytes, count: int, fill: int
) -> None:
    try:
        septets = unpack_septets(data, count, fill)
    except TextError:
        assert count < 0 or fill + 7 * count > 8 * len(data)
    else:
        assert len(septets) == count and all(s <= 0x7F for s in septets)


# Characters that take each path of the fast check: ASCII, Latin-1, €, the U+0080 that
# stands in for € internally, Greek capitals (GSM but not Latin-1), and others.
_tricky = st.text(
    alphabet=st.sampled_from(list("aZ09 @$`[]{}\x0c\t\x80\x81€ÄéçßΔΩΣ\u2126жü😀’"))
    | st.characters(max_codepoint=0x3FF),
    max_size=60,
)


@settings(max_examples=300)
@given(_tricky)
def test_fast_checks_agree_with_the_table(text: str) -> None:
    expected = all(c in GSM_CHARS for c in text)
    assert is_gsm7(text) == expected
    if expected:
        ext = [i for i, c in enumerate(text) if c in EXTENSION]
        assert scan_gsm7(text) == ext
        septets = encode_gsm7(text)
        assert septets == b"".join(
            bytes([0x1B, EXTENSION[c]]) if c in EXTENSION else bytes([BASIC.index(c)]) for c in text
        )
        assert decode_gsm7(septets) == text
    else:
        assert scan_gsm7(text) is None
        assert non_gsm7_chars(text) == list(dict.fromkeys(c for c in text if c not in GSM_CHARS))
        with pytest.raises(EncodeError):
            encode_gsm7(text)
