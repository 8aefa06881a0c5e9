"""Properties of the SMS TPDU codec (drivers/modem/sms_pdu.py) and what the inbox does with
a decoded PDU (drivers/modem/inbox.py's pure steps, drivers/modem/receipts.py).

Any PDU line a modem prints (random hex, mutated SMS-DELIVER and SMS-STATUS-REPORT vectors,
lines that are not hex at all) decodes or raises :class:`PduError`, and so does reading its
text, its time stamps and matching its report; SMS-DELIVER, SMS-STATUS-REPORT, SMS-SUBMIT and
the time stamps round-trip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.modem.receipts import ReceiptBook, receipt_state
from smsgw.drivers.modem.sms_pdu import (
    Address,
    Deliver,
    PduError,
    StatusReport,
    Submit,
    decode_pdu,
    decode_scts,
    decode_tpdu,
    decode_user_text,
    encode_deliver,
    encode_scts,
    encode_smsc,
    encode_status_report,
    encode_submit,
    submit_for_text,
)
from smsgw.drivers.text import encode_gsm7, pack_septets, udh_concat
from smsgw.drivers.text.gsm7 import BASIC, EXTENSION
from tests.property_helpers import budget, mutated

GSM = BASIC.replace("\x1b", "") + "".join(EXTENSION)
gsm_text = st.text(GSM, max_size=70)
numbers = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
# As the wire says it: "+" is international (TOA 0x91), bare digits unknown/ISDN (0x81).
addresses = numbers.map(lambda n: Address(n) if n.startswith("+") else Address(n, ton=0))
# Zones in quarter hours as TS 23.040 §9.2.3.11 writes them (at most 79 quarters either way).
zones = st.integers(-79, 79).map(lambda q: dt.timezone(dt.timedelta(minutes=15 * q)))
stamps = st.builds(
    lambda t, z: t.replace(tzinfo=z),
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59)).map(
        lambda t: t.replace(microsecond=0)
    ),
    zones,
)
originators = addresses | st.text(GSM, min_size=1, max_size=11).filter(
    lambda s: len(encode_gsm7(s)) <= 11
).map(lambda s: Address(s, ton=5, npi=0))


@st.composite
def delivers(draw: st.DrawFn) -> tuple[Deliver, str]:
    """An SMS-DELIVER and the text it carries."""
    ucs2 = draw(st.booleans())
    concat = draw(st.none() | st.tuples(st.integers(0, 255), st.integers(2, 9)))
    udh = b"" if concat is None else udh_concat(concat[0], concat[1], 1, 8)
    if ucs2:
        text = draw(st.text(max_size=60).filter(lambda t: len(t.encode("utf-16-be")) <= 130))
        ud = udh + text.encode("utf-16-be")
        udl, dcs = len(ud), 0x08
    else:
        text = draw(gsm_text)
        septets = encode_gsm7(text)
        fill = (7 - len(udh) * 8 % 7) % 7 if udh else 0
        ud = udh + pack_septets(septets, fill)
        udl, dcs = (len(udh) * 8 + fill) // 7 + len(septets), 0x00
    d = Deliver(
        originator=draw(originators),
        dcs=dcs,
        scts=draw(stamps),
        user_data=ud,
        udl=udl,
        udhi=bool(udh),
        pid=draw(st.integers(0, 255)),
        more_messages=draw(st.booleans()),
        status_report_indication=draw(st.booleans()),
    )
    return d, text


reports = st.builds(
    StatusReport,
    mr=st.integers(0, 255),
    recipient=addresses,
    scts=stamps,
    discharge=stamps,
    status=st.integers(0, 255),
)
smscs = st.none() | st.from_regex(r"\+[0-9]{5,15}", fullmatch=True)


def _line(smsc: str | None, tpdu: bytes) -> str:
    return (encode_smsc(smsc) + tpdu).hex().upper()


valid_lines = st.one_of(
    st.builds(_line, smscs, delivers().map(lambda dt_: encode_deliver(dt_[0]))),
    st.builds(_line, smscs, reports.map(encode_status_report)),
)


def _as_the_inbox_does(line: str) -> None:
    """decode, then what the inbox reads from the result; only PduError may come out."""
    try:
        _, tpdu = decode_pdu(line)
        if isinstance(tpdu, Deliver | Submit):
            decode_user_text(tpdu.dcs, tpdu.udhi, tpdu.user_data, tpdu.udl)
    except PduError:
        return
    if isinstance(tpdu, StatusReport):
        receipt_state(tpdu.status)
        assert isinstance(tpdu.discharge.timestamp(), float)
        book = ReceiptBook("m0")
        book.record(tpdu.mr, "+4917012345678", 0.0)
        assert book.match(tpdu, 1.0).startswith(f"m0:{tpdu.mr}:")
    elif isinstance(tpdu, Deliver):
        assert isinstance(tpdu.originator.number, str) and isinstance(tpdu.scts, dt.datetime)


# -- round trips -----------------------------------------------------------------------------


@budget(300)
@given(delivers(), smscs)
def test_deliver_round_trips(vector: tuple[Deliver, str], smsc: str | None) -> None:
    d, sent = vector
    got_smsc, back = decode_pdu(_line(smsc, encode_deliver(d)))
    assert got_smsc == smsc and back == d
    udh, text = decode_user_text(back.dcs, back.udhi, back.user_data, back.udl)
    assert (udh is not None) == d.udhi and text == sent


@budget(200)
@given(reports, smscs)
def test_status_report_round_trips(r: StatusReport, smsc: str | None) -> None:
    assert decode_pdu(_line(smsc, encode_status_report(r))) == (smsc, r)


@budget(200)
@given(stamps)
def test_time_stamps_round_trip(t: dt.datetime) -> None:
    assert decode_scts(encode_scts(t)) == t
    assert decode_scts(encode_scts(t)).utcoffset() == t.utcoffset()


@budget(200)
@given(
    st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),
    gsm_text,
    st.booleans(),
    st.integers(0, 255),
    st.none() | st.floats(0, 10**8),
)
def test_submit_round_trips(number: str, text: str, srr: bool, mr: int, vp: float | None) -> None:
    sub = submit_for_text(number, text, "gsm7", srr=srr, mr=mr, validity=vp)
    back = decode_tpdu(encode_submit(sub))
    assert isinstance(back, Submit)
    assert back.destination.number == number and back.destination.ton == (
        1 if number.startswith("+") else 0
    )
    assert back == dataclasses.replace(sub, destination=back.destination)
    assert decode_user_text(back.dcs, back.udhi, back.user_data, back.udl) == (None, text)


# -- hostile lines ----------------------------------------------------------------------------


@budget(300)
@given(st.binary(max_size=200).map(lambda b: b.hex().upper()))
def test_random_octets_decode_or_raise_pdu_error(line: str) -> None:
    _as_the_inbox_does(line)


@budget(300)
@given(mutated(valid_lines.map(bytes.fromhex), max_ops=5).map(lambda b: b.hex().upper()))
def test_mutated_delivers_and_reports_decode_or_raise_pdu_error(line: str) -> None:
    _as_the_inbox_does(line)


@budget(100)
@given(st.text(max_size=80))
def test_lines_that_are_not_hex_raise_pdu_error(line: str) -> None:
    _as_the_inbox_does(line)
