"""Inbound multipart messages: any order, duplicates, timeouts that keep what arrived; and
whole messages through every wire form, part by part."""

from __future__ import annotations

import random
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.text import (
    Concat,
    InvalidArgument,
    Reassembled,
    Reassembler,
    decode_payload,
    encode_gsm7,
    encode_ucs2,
    fill_bits_for,
    header_septets,
    pack_septets,
    plan,
    udh_concat,
)


def _parts(n: int, ref: int = 7) -> list[tuple[Concat, str]]:
    return [(Concat(ref, n, i, 8), f"<{i}>") for i in range(1, n + 1)]


def test_parts_join_in_sequence_order_whatever_the_arrival_order() -> None:
    r = Reassembler(timeout=60)
    parts = _parts(3)
    assert r.feed("k", parts[2][0], parts[2][1], 10.0) is None
    assert r.feed("k", parts[0][0], parts[0][1], 11.0) is None
    assert len(r) == 1
    done = r.feed("k", parts[1][0], parts[1][1], 12.0)
    assert done == Reassembled("k", "<1><2><3>", 3, True, 10.0, 3, ())
    assert len(r) == 0
    assert r.expire(1000.0) == []


def test_duplicates_are_ignored_and_the_first_copy_stands() -> None:
    r = Reassembler()
    c1, c2 = Concat(1, 2, 1), Concat(1, 2, 2)
    assert r.feed("k", c1, "first ", 0.0) is None
    assert r.feed("k", c1, "again ", 1.0) is None
    done = r.feed("k", c2, "end", 2.0)
    assert done is not None and done.text == "first end"
    # a copy of a part of a message already delivered starts a new one: it is not lost
    assert r.feed("k", c2, "end", 3.0) is None
    late = r.expire(3.0 + 300.0)
    assert [(m.text, m.complete, m.missing) for m in late] == [("end", False, (1,))]


def test_single_parts_and_invalid_concat_come_straight_back() -> None:
    r = Reassembler()
    assert r.feed("k", None, "hello", 5.0) == Reassembled("k", "hello", 1, True, 5.0)
    assert r.feed("k", Concat(1, 1, 1), "one", 5.0) == Reassembled("k", "one", 1, True, 5.0)
    assert r.feed("k", Concat(1, 2, 0), "zero", 5.0) == Reassembled("k", "zero", 1, True, 5.0)
    assert r.feed("k", Concat(1, 2, 3), "past", 5.0) == Reassembled("k", "past", 1, True, 5.0)
    assert len(r) == 0


def test_keys_references_totals_and_sizes_keep_messages_apart() -> None:
    r = Reassembler()
    r.feed("alice", Concat(1, 2, 1), "A1", 0.0)
    r.feed("bob", Concat(1, 2, 1), "B1", 0.0)
    r.feed("alice", Concat(2, 2, 1), "a1", 0.0)
    r.feed("alice", Concat(1, 3, 1), "x1", 0.0)
    r.feed("alice", Concat(1, 2, 1, 16), "w1", 0.0)
    assert len(r) == 5
    done = r.feed("alice", Concat(1, 2, 2), "A2", 1.0)
    assert done is not None and done.text == "A1A2" and done.key == "alice"
    done = r.feed(("bob", "route"), Concat(1, 2, 2), "B2", 1.0)
    assert done is None  # a different key: no match
    assert len(r) == 5


def test_timeout_hands_out_what_arrived_in_order_never_loses_it() -> None:
    r = Reassembler(timeout=300)
    r.feed("k", Concat(9, 4, 4), "d", 100.0)
    r.feed("k", Concat(9, 4, 2), "b", 150.0)
    r.feed("other", Concat(1, 2, 1), "x", 200.0)
    assert r.next_deadline() == 400.0
    assert r.expire(399.9) == []
    out = r.expire(400.0)
    assert out == [Reassembled("k", "bd", 2, False, 100.0, 4, (1, 3))]
    assert r.next_deadline() == 500.0
    # a part arriving after its message was handed out starts afresh (and will time out too)
    r.feed("k", Concat(9, 4, 1), "a", 401.0)
    assert [m.text for m in r.expire(10_000.0)] == ["x", "a"]
    assert r.next_deadline() is None and len(r) == 0


def test_max_pending_pushes_the_oldest_out_at_the_next_expire() -> None:
    r = Reassembler(timeout=300, max_pending=2)
    r.feed("a", Concat(1, 2, 1), "a1", 0.0)
    r.feed("b", Concat(1, 2, 1), "b1", 1.0)
    r.feed("c", Concat(1, 2, 1), "c1", 2.0)
    assert len(r) == 2
    out = r.expire(3.0)
    assert [(m.key, m.text, m.complete) for m in out] == [("a", "a1", False)]
    done = r.feed("c", Concat(1, 2, 2), "c2", 4.0)
    assert done is not None and done.text == "c1c2"


def test_bad_settings() -> None:
    with pytest.raises(InvalidArgument):
        Reassembler(timeout=0)
    with pytest.raises(InvalidArgument):
        Reassembler(max_pending=0)


@settings(max_examples=200)
@given(
    st.lists(st.text(max_size=5), min_size=2, max_size=12),
    st.randoms(use_true_random=False),
    st.integers(0, 3),
)
def test_any_order_with_duplicates_gives_the_message_once(
    texts: list[str], rnd: random.Random, dups: int
) -> None:
    total = len(texts)
    arrivals = list(range(1, total + 1)) + [rnd.randint(1, total) for _ in range(dups)]
    rnd.shuffle(arrivals)
    r = Reassembler()
    done: list[Reassembled] = []
    seen: set[int] = set()
    for t, seq in enumerate(arrivals):
        got = r.feed("k", Concat(3, total, seq), texts[seq - 1], float(t))
        seen.add(seq)
        if got is not None:
            done.append(got)
            assert seen == set(range(1, total + 1))  # only when the last missing part came
            break
    assert len(done) == 1 and done[0].text == "".join(texts) and done[0].complete


@settings(max_examples=200)
@given(st.lists(st.text(max_size=5), min_size=2, max_size=12), st.data())
def test_missing_parts_time_out_with_the_rest_in_order(
    texts: list[str], data: st.DataObject
) -> None:
    total = len(texts)
    arrived = data.draw(st.sets(st.integers(1, total), min_size=1, max_size=total - 1))
    order = data.draw(st.permutations(sorted(arrived)))
    r = Reassembler(timeout=30)
    for t, seq in enumerate(order):
        assert r.feed("k", Concat(5, total, seq), texts[seq - 1], float(t)) is None
    assert r.expire(29.9) == []
    (out,) = r.expire(30.0)
    assert out.text == "".join(texts[i - 1] for i in sorted(arrived))
    assert (out.complete, out.parts, out.total) == (False, len(arrived), total)
    assert out.missing == tuple(i for i in range(1, total + 1) if i not in arrived)


# -- whole messages through the wire forms, part by part --------------------------------

MESSAGES = [
    "Order #1042 confirmed: 2× items, total 49,90 €. Track it at https://shop.example/t/1042"
    " — thanks for shopping with us!",
    "Your code is 493817. {Valid 5 min} [do not share] ~ support|help ^_^ \\o/ " * 5,
    "Привет! Ваш заказ отправлен 📦 и будет у вас завтра. Спасибо 🙏 " * 3,
    "€" * 200,
    "😀" * 100,
    "a" * 152 + "€" + "b" * 200,
]


def _smpp_parts(text: str, ref_bits: Literal[8, 16]) -> list[tuple[bytes, int]]:
    """short_message and data_coding of each part, as an SMSC would deliver them."""
    p = plan(text, max_parts=255, ref_bits=ref_bits)
    out = []
    for seq, seg in enumerate(p.segments, start=1):
        udh = udh_concat(77, p.parts, seq, ref_bits) if p.parts > 1 else b""
        if p.encoding == "gsm7":
            out.append((udh + encode_gsm7(seg), 0))
        else:
            out.append((udh + encode_ucs2(seg), 8))
    return out


def _modem_parts(text: str, ref_bits: Literal[8, 16]) -> list[tuple[bytes, int, int]]:
    """TP-UD, TP-DCS and TP-UDL of each part, as a modem reads them from a PDU."""
    p = plan(text, max_parts=255, ref_bits=ref_bits)
    out = []
    for seq, seg in enumerate(p.segments, start=1):
        udh = udh_concat(0x1234 if ref_bits == 16 else 0x12, p.parts, seq, ref_bits)
        udh = udh if p.parts > 1 else b""
        if p.encoding == "gsm7":
            septets = encode_gsm7(seg)
            ud = udh + pack_septets(septets, fill_bits_for(len(udh)) if udh else 0)
            udl = (header_septets(len(udh)) if udh else 0) + len(septets)
            assert udl <= 160
            out.append((ud, 0x00, udl))
        else:
            ud = udh + encode_ucs2(seg)
            out.append((ud, 0x08, len(ud)))
        assert len(ud) <= 140
    return out


@pytest.mark.parametrize("ref_bits", [8, 16])
@pytest.mark.parametrize("text", MESSAGES)
def test_smpp_wire_round_trip_in_shuffled_order(text: str, ref_bits: Literal[8, 16]) -> None:
    parts = _smpp_parts(text, ref_bits)
    random.Random(len(text)).shuffle(parts)
    r = Reassembler()
    results = []
    for data, dc in parts:
        udh, got = decode_payload(data, dc, udhi=len(parts) > 1)
        res = r.feed("route:+491700:+4930", udh.concat if udh else None, got, 0.0)
        if res is not None:
            results.append(res)
    assert [(m.text, m.complete, m.parts) for m in results] == [(text, True, len(parts))]


@pytest.mark.parametrize("ref_bits", [8, 16])
@pytest.mark.parametrize("text", MESSAGES)
def test_modem_wire_round_trip_in_shuffled_order(text: str, ref_bits: Literal[8, 16]) -> None:
    parts = _modem_parts(text, ref_bits)
    random.Random(len(text) + 1).shuffle(parts)
    r = Reassembler()
    results = []
    for ud, dcs, udl in parts:
        udh, got = decode_payload(ud, dcs, udhi=len(parts) > 1, packed=True, septet_count=udl)
        res = r.feed(("+4917012345678", 1), udh.concat if udh else None, got, 0.0)
        if res is not None:
            results.append(res)
    assert [(m.text, m.complete) for m in results] == [(text, True)]


def test_a_split_escape_from_a_careless_sender_still_reads() -> None:
    # Another sender put ESC at the end of part 1 and its code at the start of part 2; each
    # part decodes to text (a space for the lone ESC) rather than an error.
    p1 = udh_concat(1, 2, 1) + encode_gsm7("price ") + b"\x1b"
    p2 = udh_concat(1, 2, 2) + b"\x65" + encode_gsm7("5")
    r = Reassembler()
    _, t1 = decode_payload(p1, 0, udhi=True)
    udh2, t2 = decode_payload(p2, 0, udhi=True)
    r.feed("k", Concat(1, 2, 1), t1, 0.0)
    assert udh2 is not None
    done = r.feed("k", udh2.concat, t2, 0.0)
    assert done is not None and done.text == "price  e5"
