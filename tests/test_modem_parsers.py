"""Information-line parsers, the error table and receipt bookkeeping (all sans-IO)."""

from __future__ import annotations

import datetime as dt

import pytest

from smsgw.drivers.modem import bringup
from smsgw.drivers.modem.error_codes import ErrorClass, classify, classify_result
from smsgw.drivers.modem.receipts import DailyCap, ReceiptBook, receipt_state
from smsgw.drivers.modem.responses import (
    StoredPdu,
    csq_to_dbm,
    fields,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cmti,
    parse_cops,
    parse_cpin,
    parse_cpms,
    parse_creg,
    parse_csms,
    parse_identity,
)
from smsgw.drivers.modem.sms_pdu import Address, StatusReport


def test_fields_handle_quotes_and_broken_quotes() -> None:
    assert fields('2,1,"5E25","605F",2') == ["2", "1", "5E25", "605F", "2"]
    assert fields('0,0,"Vodafone, DE",7') == ["0", "0", "Vodafone, DE", "7"]
    assert fields('2,1,"5E25') == ["2", "1", "5E25"]


@pytest.mark.parametrize(
    ("value", "stat"),
    [
        ("2,1,4CA,81DE445", 1),  # Huawei: unquoted hex LAC/CI
        ('0,1,"5E25","605F"', 1),
        ('0,1,"5E25","605F",2', 1),
        ('2,5,"2AF5","0B88E350",2', 5),  # roaming
        ("0,0", 0),
        ('2,1,"","605F"', 1),
        ('2,1,"0B,"0100701",7', 1),  # mismatched quotes
        ('2,1,"5E25', 1),  # unterminated quote
        ("", None),
        (None, None),
    ],
)
def test_creg_variants(value: str | None, stat: int | None) -> None:
    assert parse_creg(value) == stat


def test_creg_urc_form() -> None:
    assert parse_creg("5", query=False) == 5
    assert parse_creg('1,"5E25","605F"', query=False) == 1


def test_csq() -> None:
    assert csq_to_dbm("24,99") == -65
    assert csq_to_dbm("0,0") == -113
    assert csq_to_dbm("31,0") == -51
    assert csq_to_dbm("99,99") is None
    assert csq_to_dbm(None) is None


def test_cops_cpin_csms_cmgs() -> None:
    assert parse_cops('0,0,"Telekom.de",7') == "Telekom.de"
    assert parse_cops("0") is None
    assert parse_cpin("SIM PIN") == "SIM PIN"
    assert parse_cpin('"READY"') == "READY"
    assert parse_csms("1,1,1,1") == 1
    assert parse_csms("1,1,1") is None  # the answer to AT+CSMS=1, not the query
    assert parse_cmgs("142") == 142
    assert parse_cmgs('12,"22/12/01,07:33:58+04"') == 12
    assert parse_cmgs("300") is None


def test_cpms_set_and_query_forms() -> None:
    assert parse_cpms("1,20,1,20,1,20") == (1, 20)
    assert parse_cpms('"SM",3,30,"SM",3,30,"SM",3,30') == (3, 30)
    assert parse_cpms("") is None


def test_cmti_cdsi() -> None:
    assert parse_cmti('"SM",1') == ("SM", 1)
    assert parse_cmti('"SR",0') == ("SR", 0)
    assert parse_cmti("garbage") is None


def test_identity_with_and_without_prefix() -> None:
    assert parse_identity(["huawei"]) == "huawei"
    assert parse_identity(["+CGSN: 356938035643809"], ("+CGSN",)) == "356938035643809"
    assert parse_identity(['+CGMI: "Quectel"']) == "Quectel"
    assert parse_identity([" WAVECOM MODEM"]) == "WAVECOM MODEM"  # leading space (Wavecom)
    assert parse_identity(["^ICCID: 89490200001234567890"], ("^ICCID",)) == "89490200001234567890"
    assert parse_identity([]) is None


def test_cmgr_odd_headers() -> None:
    pdu = "0006D60B911326880736F4111011719551401110117195714000"
    assert parse_cmgr(["+CMGR: ,,27", pdu], 3) == StoredPdu(3, None, pdu)
    assert parse_cmgr(["+CMGR: 1,,23", pdu.lower()], 0) == StoredPdu(0, 1, pdu)
    assert parse_cmgr(["+CMGR: 1,,23"], 0) is None


def test_cmgl_pairs_and_broken_pairs() -> None:
    lines = ["+CMGL: 1,0,,23", "0011", "+CMGL: 2,1,,24", "+CMGL: 4,1,,5", "00AA"]
    assert parse_cmgl(lines) == [StoredPdu(1, 0, "0011"), StoredPdu(4, 1, "00AA")]


def test_error_table() -> None:
    assert classify("CMS", 38).kind is ErrorClass.TEMPORARY
    assert classify("CMS", 1).kind is ErrorClass.PERMANENT
    assert classify("CME", 515).kind is ErrorClass.BUSY
    assert classify("CME", 14).kind is ErrorClass.BUSY
    assert classify("CMS", 314).kind is ErrorClass.BUSY
    assert classify("CMS", 330).modem_fault
    unknown = classify("CMS", 9999)
    assert unknown.kind is ErrorClass.TEMPORARY and not unknown.definite
    assert classify("CMS", 150).definite  # an unlisted TP-FCS still came from the SC
    assert classify_result("ERROR", None).kind is ErrorClass.TEMPORARY
    assert classify_result("+CME ERROR", 16).code == "CME 16"


@pytest.mark.parametrize(
    ("st", "state"),
    [(0, "delivered"), (1, "delivered"), (32, "accepted"), (33, "accepted"), (65, "undelivered"),
     (70, "expired"), (98, "undelivered"), (99, "expired"), (200, "unknown")],
)  # fmt: skip
def test_receipt_states(st: int, state: str) -> None:
    assert receipt_state(st)[0] == state


def _report(mr: int, number: str, ton: int = 1) -> StatusReport:
    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return StatusReport(mr=mr, recipient=Address(number, ton=ton), scts=t, discharge=t, status=0)


def test_receipt_book_matches_by_reference_and_number() -> None:
    book = ReceiptBook("m1")
    assert book.record(7, "+4917012345678", 100.0) == "m1:7:+4917012345678"
    book.record(7, "+4915199999999", 200.0)  # the reference wrapped: another number
    assert book.match(_report(7, "+4917012345678"), 300.0) == "m1:7:+4917012345678"
    # National form in the report: matched on the trailing digits of what we sent.
    assert book.match(_report(7, "015199999999", ton=2), 300.0) == "m1:7:+4915199999999"
    # Nothing recent: the report's own number, normalised to E.164 when international.
    assert book.match(_report(9, "4917000000000"), 300.0) == "m1:9:+4917000000000"


def test_daily_cap_rolls_over_at_utc_midnight() -> None:
    cap = DailyCap(2)
    day = dt.datetime(2024, 5, 1, 23, 59, tzinfo=dt.UTC).timestamp()
    assert not cap.reached(day)
    cap.take(day)
    cap.take(day)
    assert cap.reached(day)
    assert not cap.reached(day + 120)
    assert not DailyCap(0).reached(day)


def test_bringup_order_and_render() -> None:
    names = [s.name for s in bringup.SEQUENCE]
    assert names.index("sync") < names.index("reset") < names.index("echo_off")
    assert names.index("pin") < names.index("registration") < names.index("pdu_mode")
    assert names.index("indications") < names.index("stored")
    assert bringup.render('AT+CSCA="{smsc}",145', {"smsc": "+4917"}) == 'AT+CSCA="+4917",145'
    with pytest.raises(ValueError):
        bringup.render('AT+CSCA="{smsc}",145', {"smsc": '+49"\r'})
