"""Choosing the encoding and splitting into parts: counts, limits, never tearing a pair."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.text import (
    SMART_MAP,
    EncodeError,
    InvalidArgument,
    TooManyParts,
    decode_gsm7,
    decode_ucs2,
    encode_gsm7,
    encode_ucs2,
    fill_bits_for,
    header_septets,
    is_gsm7,
    pack_septets,
    plan,
    smart_replace,
    udh_concat,
)
from smsgw.drivers.text.gsm7 import BASIC, EXTENSION

GSM_CHARS = [c for c in BASIC if c != "\x1b"] + list(EXTENSION)
_gsm_alphabet = st.sampled_from(GSM_CHARS) | st.sampled_from(list(EXTENSION))
# Anything but lone surrogates, emoji and Cyrillic drawn often to meet part boundaries.
_any_alphabet = st.characters(exclude_categories=["Cs"]) | st.sampled_from(["😀", "ж", "a", "€"])
# Lengths drawn evenly up to several parts (plain st.text favours short strings).
gsm_text = st.integers(0, 700).flatmap(
    lambda n: st.text(alphabet=_gsm_alphabet, min_size=n, max_size=n)
)
any_text = st.integers(0, 300).flatmap(
    lambda n: st.text(alphabet=_any_alphabet, min_size=n, max_size=n)
)


def _cost(c: str, encoding: str) -> int:
    if encoding == "gsm7":
        return 2 if c in EXTENSION else 1
    return 2 if ord(c) > 0xFFFF else 1


def _fewest_parts(text: str, encoding: str, single: int, cap: int) -> int:
    """An independent count: dynamic programming over every place a part could end."""
    costs = [_cost(c, encoding) for c in text]
    if sum(costs) <= single:
        return 1
    n = len(text)
    best = [0] + [n + 1] * n
    for i in range(1, n + 1):
        units = 0
        for j in range(i - 1, -1, -1):
            units += costs[j]
            if units > cap:
                break
            best[i] = min(best[i], best[j] + 1)
    return best[n]


def _wire(
    text: str, encoding: str, total: int, seq: int, ref_bits: Literal[8, 16]
) -> tuple[bytes, int]:
    """One part's TP-UD as a modem sends it (header, fill bits, packed septets or UCS-2)
    and its TP-UDL (septets for GSM, header included; octets for UCS-2)."""
    udh = udh_concat(0xAB, total, seq, ref_bits) if total > 1 else b""
    if encoding == "gsm7":
        septets = encode_gsm7(text)
        ud = udh + pack_septets(septets, fill_bits_for(len(udh)) if udh else 0)
        return ud, (header_septets(len(udh)) if udh else 0) + len(septets)
    ud = udh + encode_ucs2(text)
    return ud, len(ud)


# -- hand-checked counts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "sizes"),
    [
        ("", "gsm7", 1, [0]),
        ("a" * 160, "gsm7", 1, [160]),
        ("a" * 161, "gsm7", 2, [153, 8]),
        ("a" * 306, "gsm7", 2, [153, 153]),
        ("a" * 307, "gsm7", 3, [153, 153, 1]),
        ("€" * 80, "gsm7", 1, [80]),  # 160 septets
        ("€" * 81, "gsm7", 2, [76, 5]),  # 76 × 2 = 152: a 77th would need 154
        ("a" * 152 + "€" + "b" * 10, "gsm7", 2, [152, 11]),  # the pair moves whole
        ("a" * 152 + "b" + "€" + "c" * 6, "gsm7", 2, [153, 7]),
        ("ж" * 70, "ucs2", 1, [70]),
        ("ж" * 71, "ucs2", 2, [67, 4]),
        ("ж" * 134, "ucs2", 2, [67, 67]),
        ("😀" * 35, "ucs2", 1, [35]),  # 70 code units
        ("😀" * 36, "ucs2", 2, [33, 3]),  # 33 × 2 = 66: a 34th would need 68
        ("ж" * 66 + "😀" + "ж" * 3, "ucs2", 2, [66, 4]),  # the surrogate pair moves whole
        ("Привет, " + "a" * 70, "ucs2", 2, [67, 11]),
    ],
)
def test_counts(text: str, encoding: str, parts: int, sizes: list[int]) -> None:
    p = plan(text, max_parts=255)
    assert (p.encoding, p.parts) == (encoding, parts)
    assert [len(s) for s in p.segments] == sizes
    assert "".join(p.segments) == p.text == text


def test_sixteen_bit_reference_leaves_one_unit_less() -> None:
    assert plan("a" * 306, ref_bits=16).parts == 3  # 152 + 152 + 2
    assert [len(s) for s in plan("a" * 306, ref_bits=16).segments] == [152, 152, 2]
    assert plan("a" * 160, ref_bits=16).parts == 1  # a single part has no header
    assert [len(s) for s in plan("ж" * 134, ref_bits=16).segments] == [66, 66, 2]


def test_units_and_ucs2_chars() -> None:
    p = plan("Grüße {ok} 10€")
    assert (p.encoding, p.units, p.ucs2_chars) == ("gsm7", 17, ())
    p = plan("Hi 😀 ça, ça 😀 ok")
    assert p.encoding == "ucs2"
    assert p.units == 18  # 16 characters, two of them surrogate pairs
    assert p.ucs2_chars == ("😀", "ç")
    assert not p.smart_replaced


def test_over_the_limit_says_how_many_and_never_truncates() -> None:
    assert plan("a" * 1530).parts == 10
    with pytest.raises(TooManyParts) as e:
        plan("a" * 1531)
    assert (e.value.parts, e.value.max_parts, e.value.code) == (11, 10, "too_many_parts")
    with pytest.raises(TooManyParts) as e:
        plan("€" * 1000, max_parts=3)  # 76 per part
    assert e.value.parts == 14
    with pytest.raises(TooManyParts) as e:
        plan("😀" * 10_000, max_parts=255)
    assert e.value.parts == 304  # 33 per part
    assert plan("a" * 153 * 255, max_parts=255).parts == 255
    with pytest.raises(TooManyParts):
        plan("a" * 161, max_parts=1)


def test_bad_arguments() -> None:
    for bad in (0, 256):
        with pytest.raises(InvalidArgument):
            plan("hi", max_parts=bad)
    with pytest.raises(InvalidArgument):
        plan("hi", ref_bits=12)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        plan("half a pair \ud83d")


# -- smart encoding ----------------------------------------------------------------------


def test_smart_encoding_replaces_typography_only_when_asked() -> None:
    text = "Your order “#123” ships today – thanks… see you\u00a0soon ‘Anna’"
    strict = plan(text)
    assert strict.encoding == "ucs2" and strict.parts == 1
    assert set(strict.ucs2_chars) == {"“", "”", "–", "…", "\u00a0", "‘", "’"}
    smart = plan(text, smart=True)
    assert smart.encoding == "gsm7" and smart.smart_replaced and smart.ucs2_chars == ()
    assert smart.text == "Your order \"#123\" ships today - thanks... see you soon 'Anna'"
    assert "".join(smart.segments) == smart.text


def test_smart_encoding_saves_parts() -> None:
    text = "Don’t miss our sale! " * 7  # 147 characters
    assert plan(text).parts == 3
    assert plan(text, smart=True).parts == 1


def test_smart_encoding_keeps_the_original_when_it_would_not_be_gsm() -> None:
    text = "“Thanks” 😀"
    p = plan(text, smart=True)
    assert (p.encoding, p.text, p.smart_replaced) == ("ucs2", text, False)
    assert p.ucs2_chars == ("“", "”", "😀")


def test_smart_encoding_never_costs_more_parts() -> None:
    text = "…" * 70  # 1 part in UCS-2; 210 septets (2 parts) as "..."
    p = plan(text, smart=True)
    assert (p.encoding, p.parts, p.smart_replaced) == ("ucs2", 1, False)


def test_smart_encoding_leaves_gsm_text_and_letters_alone() -> None:
    assert not plan("plain text", smart=True).smart_replaced
    p = plan("café ñ ç", smart=True)  # ç is not GSM and is a letter: not replaced
    assert (p.encoding, p.text) == ("ucs2", "café ñ ç")


# -- properties --------------------------------------------------------------------------


def _check_plan(text: str, ref_bits: Literal[8, 16]) -> None:
    p = plan(text, max_parts=255, ref_bits=ref_bits)
    assert "".join(p.segments) == p.text == text
    assert len(p.segments) == p.parts
    single, cap = (160, 153 if ref_bits == 8 else 152)
    if p.encoding == "ucs2":
        single, cap = (70, 67 if ref_bits == 8 else 66)
    assert p.parts == _fewest_parts(text, p.encoding, single, cap)
    for seq, seg in enumerate(p.segments, start=1):
        ud, udl = _wire(seg, p.encoding, p.parts, seq, ref_bits)
        assert len(ud) <= 140
        if p.encoding == "gsm7":
            assert udl <= 160
            septets = encode_gsm7(seg)
            # each part read alone gives its own text back: no half escape at either end
            assert not septets.endswith(b"\x1b") or septets.endswith(b"\x1b\x1b")
            assert decode_gsm7(septets) == seg
        else:
            units = encode_ucs2(seg)
            assert not 0xD8 <= units[-2] <= 0xDB if units else True  # no high half at the end
            assert not 0xDC <= units[0] <= 0xDF if units else True  # no low half at the start
            assert decode_ucs2(units) == seg


@settings(max_examples=200, deadline=None)
@given(gsm_text, st.sampled_from([8, 16]))
def test_gsm_plans_are_minimal_and_fit(text: str, ref_bits: Literal[8, 16]) -> None:
    assert plan(text, max_parts=255).encoding == "gsm7"
    _check_plan(text, ref_bits)


@settings(max_examples=200, deadline=None)
@given(any_text, st.sampled_from([8, 16]))
def test_any_plans_are_minimal_and_fit(text: str, ref_bits: Literal[8, 16]) -> None:
    _check_plan(text, ref_bits)


@settings(max_examples=200, deadline=None)
@given(st.one_of(gsm_text, any_text), st.integers(1, 4))
def test_over_the_limit_counts_exactly(text: str, max_parts: int) -> None:
    full = plan(text, max_parts=255)
    try:
        p = plan(text, max_parts=max_parts)
    except TooManyParts as e:
        assert (e.parts, e.max_parts) == (full.parts, max_parts)
        assert full.parts > max_parts
    else:
        assert p == full


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_ucs2_round_trip(text: str) -> None:
    assert decode_ucs2(encode_ucs2(text)) == text


def test_smart_map_replacements_are_gsm_and_never_replaced_again() -> None:
    for char, replacement in SMART_MAP.items():
        assert not is_gsm7(char), repr(char)
        assert is_gsm7(replacement), repr(char)
        assert not any(c in SMART_MAP for c in replacement)
    assert smart_replace("a\u00a0b\u200bc\tdé") == "a bc dé"
