"""Properties of the SMPP receipt reader and id normaliser (drivers/smpp/receipts.py).

Any receipt text gives a :class:`ParsedReceipt` or :class:`ReceiptError`; any deliver_sm or
data_sm (random TLVs, any data_coding, any bytes) the same; ids normalise without raising;
and a receipt written in the Appendix B layout (or a variant SMSCs send) reads back to what
was written.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.smpp.pdu import DataSm, DeliverSm, Tag
from smsgw.drivers.smpp.receipts import (
    IdNormaliser,
    ParsedReceipt,
    ReceiptError,
    parse_receipt,
    parse_receipt_text,
)
from tests.property_helpers import budget, mutated, mutated_text

STATES = {"DELIVRD": "delivered", "UNDELIV": "undelivered", "EXPIRED": "expired",
          "REJECTD": "rejected", "ACCEPTD": "accepted", "ENROUTE": "accepted",
          "DELETED": "undelivered", "UNKNOWN": "unknown"}  # fmt: skip
ids = st.text("0123456789abcdefABCDEF-", min_size=1, max_size=64) | st.uuids().map(str)
# Receipt dates (YYMMDDhhmm or with seconds), UTC: 2000-2099.
dates = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31, 23, 59, 59)
)


def _text(mid: str, stat: str, err: str, done: str, variant: int) -> str:
    if variant == 0:  # Appendix B, verbatim
        return (
            f"id:{mid} sub:001 dlvrd:001 submit date:{done} done date:{done} "
            f"stat:{stat} err:{err} text:hello"
        )
    if variant == 1:  # another order, underscores, Text: with capital
        return f"stat:{stat} id:{mid} done_date:{done} err:{err} Text:id:999 stat:UNDELIV"
    return f"ID:{mid} DONE DATE:{done} STAT:{stat} ERR:{err}"  # upper case, no text


@budget(300)
@given(
    ids,
    st.sampled_from(sorted(STATES)),
    st.sampled_from(["000", "0", "001", "0x0B", "ff"]),
    dates,
    st.booleans(),
    st.integers(0, 2),
)
def test_a_written_receipt_reads_back(
    mid: str, stat: str, err: str, when: dt.datetime, seconds: bool, variant: int
) -> None:
    done = when.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")
    r = parse_receipt_text(_text(mid, stat, err, done, variant))
    assert r.message_id == mid and r.state == STATES[stat] and not r.id_from_tlv
    digits = err.lower().removeprefix("0x")
    expected_err = "" if not digits.strip("0") else ("0x" if "x" in err else "") + digits.upper()
    assert r.error_code == expected_err
    t = when.replace(second=when.second if seconds else 0, microsecond=0)
    assert r.done_at == calendar.timegm(t.timetuple())


_seed_texts = st.builds(
    _text,
    ids,
    st.sampled_from(sorted(STATES)),
    st.sampled_from(["000", "0x0B"]),
    st.sampled_from(["2601011200", "260101120059", "20260101120059"]),
    st.integers(0, 2),
)


@budget(300)
@given(st.text(max_size=300) | mutated_text(_seed_texts, max_ops=6))
def test_any_text_reads_or_raises_receipt_error(text: str) -> None:
    try:
        r = parse_receipt_text(text)
    except ReceiptError:
        return
    assert isinstance(r, ParsedReceipt) and r.message_id and not r.message_id.isspace()
    assert r.done_at is None or 0 <= r.done_at < 7258118400  # 1970..2199


tlv_values = st.lists(
    st.tuples(
        st.sampled_from(
            [
                Tag.RECEIPTED_MESSAGE_ID,
                Tag.MESSAGE_STATE,
                Tag.NETWORK_ERROR_CODE,
                Tag.MESSAGE_PAYLOAD,
                0x1400,
            ]
        )
        | st.integers(0, 0xFFFF),
        st.binary(max_size=70),
    ),
    max_size=5,
).map(tuple)
short_messages = st.binary(max_size=254) | _seed_texts.map(lambda t: t.encode("latin-1"))


@budget(300)
@given(
    st.booleans(),
    short_messages,
    tlv_values,
    st.integers(0, 255),
    st.sampled_from(["auto", "hex", "decimal", "string"]),
)
def test_any_receipt_pdu_reads_or_raises_receipt_error(
    data_sm: bool, sm: bytes, tlvs: tuple[tuple[int, bytes], ...], dc: int, fmt: str
) -> None:
    pdu: DeliverSm | DataSm = (
        DataSm(esm_class=4, data_coding=dc, tlvs=((Tag.MESSAGE_PAYLOAD, sm), *tlvs))
        if data_sm
        else DeliverSm(esm_class=4, data_coding=dc, short_message=sm, tlvs=tlvs)
    )
    try:
        parsed = parse_receipt(pdu)
    except ReceiptError:
        return
    receipt = IdNormaliser(fmt).receipt("op", parsed)  # type: ignore[arg-type]
    assert receipt.route == "op" and receipt.carrier_id == receipt.carrier_id.strip()


@budget(200)
@given(
    st.text(max_size=100) | mutated_text(ids), st.sampled_from(["auto", "hex", "decimal", "string"])
)
def test_ids_normalise_without_raising(value: str, fmt: str) -> None:
    n = IdNormaliser(fmt)  # type: ignore[arg-type]
    for got in (n.from_response(value), n.from_receipt_text(value)):
        assert isinstance(got, str)
        assert len(got) <= max(len(value), 78)  # a number never grows past its decimal form


@budget(200)
@given(st.integers(0, 16**64 - 1))
def test_hex_and_decimal_ids_meet_in_one_form(n: int) -> None:
    assert IdNormaliser("decimal").from_response(f"{n:X}") == IdNormaliser(
        "decimal"
    ).from_receipt_text(str(n))
    assert IdNormaliser("hex").from_response(str(n)) == IdNormaliser("hex").from_receipt_text(
        f"{n:x}"
    )


@budget(100)
@given(mutated(st.just(b"id:0A1B2C3D stat:DELIVRD err:000"), max_ops=3), st.sampled_from([0, 8]))
def test_ucs2_and_latin1_receipt_bodies_read_or_raise(body: bytes, dc: int) -> None:
    with contextlib.suppress(ReceiptError):
        parse_receipt(DeliverSm(esm_class=4, data_coding=dc, short_message=body))


def test_a_four_digit_year_out_of_range_is_no_date() -> None:
    # Found by the property above: "done date:00000101000000" raised ValueError from
    # calendar.timegm (year 0), which the SMPP link does not catch; it ended the link.
    r = parse_receipt_text("id:0A done date:00000101000000 stat:DELIVRD")
    assert r.message_id == "0A" and r.state == "delivered" and r.done_at is None
    assert parse_receipt_text("id:1 done date:00010101000000 stat:DELIVRD").done_at is None
    assert parse_receipt_text("id:1 done date:20260101120000 stat:DELIVRD").done_at == 1767268800
