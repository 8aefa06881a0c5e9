"""Receipts in the variants real SMSCs send, id normalisation, the status table, addressing."""

from __future__ import annotations

import calendar
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.seam import Receipt
from smsgw.drivers.smpp.addressing import AddressError, Addressing, classify_address, to_display
from smsgw.drivers.smpp.codec import decode
from smsgw.drivers.smpp.pdu import DataSm, DeliverSm, Tag
from smsgw.drivers.smpp.receipts import (
    IdNormaliser,
    ReceiptError,
    is_receipt,
    parse_receipt,
    parse_receipt_text,
)
from smsgw.drivers.smpp.status import StatusTable

T_2101011201 = float(calendar.timegm((2021, 1, 1, 12, 1, 0)))


@pytest.mark.parametrize(
    ("text", "mid", "state", "err", "done"),
    [
        # Appendix B, to the letter
        (
            "id:0123456789 sub:001 dlvrd:001 submit date:2101011200 done date:2101011201 "
            "stat:DELIVRD err:000 text:Hello there",
            "0123456789",
            "delivered",
            "",
            T_2101011201,
        ),
        # dates with seconds, capital Text:, long hex id
        (
            "id:4F3A2B1C0D9E8F7A sub:001 dlvrd:000 submit date:210101120000 "
            "done date:210101120100 stat:UNDELIV err:0x1A Text:Hello",
            "4F3A2B1C0D9E8F7A",
            "undelivered",
            "0x1A",
            T_2101011201,
        ),
        # no text at all, err in decimal
        (
            "id:77 sub:001 dlvrd:000 submit date:2101011200 done date:2101011201 "
            "stat:EXPIRED err:027",
            "77",
            "expired",
            "027",
            T_2101011201,
        ),
        # fields in another order, underscores, four-digit year
        (
            "stat:REJECTD err:0B id:b1946ac9-2f5f-4a3e done_date:20210101120100 sub:1 dlvrd:0",
            "b1946ac9-2f5f-4a3e",
            "rejected",
            "0B",
            T_2101011201,
        ),
        # lower-case keys, long state words, no dates
        ("ID:abc stat:delivered err:0", "abc", "delivered", "", None),
        # an intermediate notification
        ("id:5 stat:ENROUTE", "5", "accepted", "", None),
        # the text quotes something that looks like fields: the first occurrence wins
        (
            "id:9 sub:001 dlvrd:001 submit date:2101011200 done date:2101011201 "
            "stat:DELIVRD err:000 text:id:1 stat:UNDELIV",
            "9",
            "delivered",
            "",
            T_2101011201,
        ),
        # a bad date is dropped, not fatal; an unheard-of state is unknown
        ("id:1 done date:2113011299 stat:WEIRD", "1", "unknown", "", None),
    ],
)
def test_receipt_text_variants(
    text: str, mid: str, state: str, err: str, done: float | None
) -> None:
    r = parse_receipt_text(text)
    assert (r.message_id, r.state, r.error_code, r.done_at) == (mid, state, err, done)


def test_receipt_text_without_id_is_an_error() -> None:
    with pytest.raises(ReceiptError):
        parse_receipt_text("sub:001 dlvrd:001 stat:DELIVRD")


def _receipt(text: bytes = b"", tlvs: tuple[tuple[int, bytes], ...] = ()) -> DeliverSm:
    return DeliverSm(esm_class=0x04, short_message=text, tlvs=tlvs)


def test_tlvs_win_over_text() -> None:
    pdu = _receipt(
        b"id:0000000255 stat:UNDELIV err:001",
        (
            (Tag.RECEIPTED_MESSAGE_ID, b"FF\0"),
            (Tag.MESSAGE_STATE, b"\x02"),
            (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x22"),
        ),
    )
    r = parse_receipt(pdu)
    assert (r.message_id, r.id_from_tlv, r.state, r.error_code) == ("FF", True, "delivered", "001")


def test_tlv_only_receipt_and_network_error_code() -> None:
    pdu = _receipt(
        b"",
        (
            (Tag.RECEIPTED_MESSAGE_ID, b"a1\0"),
            (Tag.MESSAGE_STATE, b"\x05"),
            (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x22"),
        ),
    )
    r = parse_receipt(pdu)
    assert (r.message_id, r.state, r.error_code, r.done_at) == (
        "a1",
        "undelivered",
        "net3:34",
        None,
    )


def test_receipt_text_in_message_payload_and_data_sm() -> None:
    text = b"id:12 stat:DELIVRD err:000"
    assert parse_receipt(_receipt(tlvs=((Tag.MESSAGE_PAYLOAD, text),))).message_id == "12"
    data_sm = DataSm(esm_class=0x04, tlvs=((Tag.MESSAGE_PAYLOAD, text),))
    assert parse_receipt(data_sm).state == "delivered"


def test_ucs2_receipt_text() -> None:
    pdu = DeliverSm(
        esm_class=4, data_coding=8, short_message="id:7 stat:DELIVRD".encode("utf-16-be")
    )
    assert parse_receipt(pdu).message_id == "7"


def test_receipt_with_nothing_to_match_is_an_error() -> None:
    with pytest.raises(ReceiptError):
        parse_receipt(_receipt(b"delivered, thanks"))


def test_receipt_bit() -> None:
    assert is_receipt(0x04) and is_receipt(0x08) and is_receipt(0x20) and is_receipt(0x44)
    assert not is_receipt(0x00) and not is_receipt(0x40) and not is_receipt(0x03)


def test_receipt_from_raw_bytes_with_vendor_tlv() -> None:
    text = b"id:ABC sub:001 dlvrd:001 submit date:2101011200 done date:2101011201 stat:DELIVRD"
    body = (
        b"\x00\x01\x01" + b"4917012345678\x00" + b"\x05\x00" + b"Shop\x00"
        + b"\x04\x00\x00" + b"\x00\x00" + b"\x00\x00\x00\x00" + bytes([len(text)]) + text
        + struct.pack(">HH", 0x1501, 3) + b"xyz"
        + struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 4) + b"ABC\x00"
    )  # fmt: skip
    data = struct.pack(">IIII", 16 + len(body), 5, 0, 42) + body
    pdu = decode(data)
    assert isinstance(pdu, DeliverSm) and is_receipt(pdu.esm_class)
    receipt = IdNormaliser("auto").receipt("op", parse_receipt(pdu))
    assert receipt == Receipt(route="op", carrier_id="abc", state="delivered", done_at=T_2101011201)


# -- id normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "resp_id", "text_id"),
    [
        ("auto", "000A1B", "a1b"),
        ("auto", "12345", "0000012345"),
        ("auto", "AbC-12", "abc-12"),
        ("auto", "0", "0000000000"),
        ("decimal", "3ADE68B1", "0987654321"),  # hex in submit_sm_resp, decimal in receipts
        ("hex", "987654321", "3ade68b1"),  # decimal in submit_sm_resp, hex in receipts
        ("string", " Ab01 ", "Ab01"),
    ],
)
def test_ids_normalise_to_the_same_key(fmt: str, resp_id: str, text_id: str) -> None:
    n = IdNormaliser(fmt)  # type: ignore[arg-type]
    assert n.from_response(resp_id) == n.from_receipt_text(text_id)


def test_string_ids_keep_their_case() -> None:
    n = IdNormaliser("string")
    assert n.from_response("Ab") != n.from_receipt_text("ab")


def test_number_formats_fall_back_instead_of_failing() -> None:
    n = IdNormaliser("decimal")
    assert n.from_receipt_text("not-a-number") == "not-a-number"


def test_tlv_ids_are_read_in_the_submit_sm_resp_form() -> None:
    n = IdNormaliser("decimal")
    parsed = parse_receipt(_receipt(b"", ((Tag.RECEIPTED_MESSAGE_ID, b"3ADE68B1\0"),)))
    assert n.receipt("r", parsed).carrier_id == n.from_response("3ADE68B1") == "987654321"


@given(st.integers(0, 2**64))
def test_hex_and_decimal_forms_agree_for_any_number(n: int) -> None:
    assert IdNormaliser("decimal").from_response(f"{n:X}") == IdNormaliser(
        "decimal"
    ).from_receipt_text(f"{n:010d}")
    assert IdNormaliser("auto").from_response(f"{n:08X}") == IdNormaliser("auto").from_receipt_text(
        f"{n:x}"
    )


# -- status table -------------------------------------------------------------------------------


def test_status_table_classes() -> None:
    t = StatusTable()
    assert t.classify(0) == "ok"
    assert t.classify(0x58) == t.classify(0x14) == "throttled"
    assert t.classify(0x0B) == "permanent"
    assert t.classify(0x08) == "temporary"
    assert t.classify(0x04) == t.classify(0x0E) == "bind"
    assert t.classify(0x401) == "temporary"  # vendor codes are retried unless configured
    assert "ESME_RTHROTTLED" in t.describe(0x58)
    assert "vendor" in t.describe(0x401)


def test_status_overrides_refine_vendor_codes() -> None:
    t = StatusTable({"0x00000401": "permanent", "0x402": "throttled", "1027": "bind"})
    assert t.classify(0x401) == "permanent"
    assert t.classify(0x402) == "throttled"
    assert t.classify(0x403) == "bind"
    assert t.classify(0x404) == "temporary"


@pytest.mark.parametrize(
    ("overrides", "msg"),
    [
        ({"zz": "permanent"}, "not a number"),
        ({"0x401": "fatal"}, "not one of"),
        ({"0": "bind"}, "outside"),
    ],
)
def test_bad_status_overrides_are_named(overrides: dict[str, str], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        StatusTable(overrides)


# -- addressing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ton", "npi", "addr"),
    [
        ("+4917012345678", 1, 1, "4917012345678"),
        ("004917012345678", 1, 1, "4917012345678"),
        ("017012345678", 2, 1, "017012345678"),
        ("12345", 3, 0, "12345"),
        ("MyShop", 5, 0, "MyShop"),
        ("Shop 24", 5, 0, "Shop 24"),
    ],
)
def test_ton_npi_detection(value: str, ton: int, npi: int, addr: str) -> None:
    assert tuple(classify_address(value)) == (ton, npi, addr)


@pytest.mark.parametrize("value", ["", "+49 170", "+", "ThisIsTooLongForASender", "+" + "1" * 21])
def test_bad_addresses_raise(value: str) -> None:
    with pytest.raises(AddressError):
        classify_address(value)


def test_overrides_and_destination_rules() -> None:
    a = Addressing(source_ton=0, source_npi=1)
    assert tuple(a.source("MyShop")) == (0, 1, "MyShop")
    assert tuple(a.dest("+4917012345678")) == (1, 1, "4917012345678")
    assert tuple(Addressing(dest_ton=0).dest("+49170")) == (0, 1, "49170")
    with pytest.raises(AddressError):
        a.dest("MyShop")
    with pytest.raises(ValueError):
        Addressing(dest_npi=300)


def test_to_display() -> None:
    assert to_display(1, "4917012345678") == "+4917012345678"
    assert to_display(5, "Shop") == "Shop"
    assert to_display(3, "12345") == "12345"
