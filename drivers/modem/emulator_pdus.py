"""The SMS PDUs the modem emulator reads from its host and writes to it, as pure functions:
the SMS-SUBMIT behind ``AT+CMGS``, and the SMS-DELIVER and SMS-STATUS-REPORT it stores or
sends as ``+CMT``/``+CDS``."""

from __future__ import annotations

import datetime as dt

from smsgw.drivers.modem.sms_pdu import (
    Address,
    Deliver,
    PduError,
    StatusReport,
    Submit,
    decode_smsc,
    decode_submit_text,
    decode_tpdu,
    encode_deliver,
    encode_smsc,
    encode_status_report,
    submit_for_text,
)
from smsgw.drivers.text import is_decimal, udh_concat
from smsgw.drivers.text.udh import Udh

__all__ = ["deliver_pdu", "read_submit", "status_report_pdu", "tpdu_length"]


def read_submit(pdu_hex: str, tpdu_len: int) -> tuple[Submit, Udh | None, str]:
    """The SMS-SUBMIT the host sent after ``AT+CMGS=<tpdu_len>``: the TPDU, its user data
    header and its text. Raises :class:`PduError` (or ValueError for bad hex)."""
    _, tpdu = decode_smsc(bytes.fromhex(pdu_hex))
    if len(tpdu) != tpdu_len:
        raise PduError("length mismatch")
    sub = decode_tpdu(tpdu)
    if not isinstance(sub, Submit):
        raise PduError("not a SUBMIT")
    udh, text = decode_submit_text(sub)
    return sub, udh, text


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def deliver_pdu(
    smsc: str, own_number: str, sender: str, text: str, concat: tuple[int, int, int] | None
) -> str:
    """An SMS-DELIVER of ``text`` from ``sender`` (a number, or alphanumeric) to
    ``own_number``, with its SMSC address, in hex; ``concat`` is (ref, total, seq)."""
    gsm = all(ord(ch) < 128 for ch in text)
    udh = udh_concat(concat[0], concat[1], concat[2], 8) if concat else b""
    sub = submit_for_text(own_number, text, "gsm7" if gsm else "ucs2", udh=udh)
    orig = Address(sender) if is_decimal(sender.lstrip("+"), 20) else Address(sender, ton=5, npi=0)
    d = Deliver(orig, sub.dcs, _now(), sub.user_data, sub.udl, udhi=bool(udh))
    return (encode_smsc(smsc) + encode_deliver(d)).hex().upper()


def status_report_pdu(smsc: str, mr: int, to: str, status: int) -> str:
    """An SMS-STATUS-REPORT for message reference ``mr`` to ``to``, in hex."""
    now = _now()
    rep = StatusReport(mr=mr, recipient=Address(to), scts=now, discharge=now, status=status)
    return (encode_smsc(smsc) + encode_status_report(rep)).hex().upper()


def tpdu_length(pdu_hex: str) -> int:
    """The TPDU's length in octets (what ``+CMT:``/``+CDS:`` announce): the PDU less its SMSC
    address."""
    return len(pdu_hex) // 2 - (int(pdu_hex[:2], 16) + 1)
