"""SMS transfer PDUs (3GPP TS 23.040 §9.2), sans-IO: SMS-SUBMIT out; SMS-DELIVER,
SMS-STATUS-REPORT (and stored SMS-SUBMIT) in.

A PDU as a modem takes and gives it in PDU mode (TS 27.005 §3.1) is the SMSC address (TS 24.011
§8.2.5.2 RP address: length in *octets*, ``00`` = "use the SMSC set with AT+CSCA") followed by
the TPDU. ``AT+CMGS=<n>`` counts only the TPDU (:func:`cmgs_pdu`).

Text is rendered with :mod:`smsgw.drivers.text` (GSM 03.38 septets, UCS-2, UDH); this module
lays out the octets around it. Every malformed input raises :class:`PduError`, never an
``IndexError``; user data shorter than its TP-UDL is decoded as far as it goes (a message is
worth more than a strict reading of a broken length).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from smsgw.drivers.text import Udh, decode_payload, encode_gsm7, encode_ucs2, pack_septets
from smsgw.words import Encoding

__all__ = [
    "Address",
    "Deliver",
    "PduError",
    "StatusReport",
    "Submit",
    "Tpdu",
    "cmgs_pdu",
    "dcs_alphabet",
    "decode_address",
    "decode_pdu",
    "decode_scts",
    "decode_smsc",
    "decode_tpdu",
    "decode_user_text",
    "encode_address",
    "encode_deliver",
    "encode_scts",
    "encode_smsc",
    "encode_status_report",
    "encode_submit",
    "relative_validity",
    "submit_for_text",
]

Alphabet = Literal["gsm7", "8bit", "ucs2"]

# TP-MTI, first octet bits 1-0 (§9.2.3.1), as seen by the MS (what a modem gives us).
MTI_DELIVER = 0
MTI_SUBMIT = 1
MTI_STATUS_REPORT = 2

_BCD = "0123456789*#abc"  # §9.1.2.3: semi-octets 10-14; 15 is the filler


class PduError(ValueError):
    """A PDU that cannot be decoded (or values that cannot be encoded)."""


@dataclass(frozen=True, slots=True)
class Address:
    """An address field (§9.1.2.5): ``number`` has a leading ``+`` when international."""

    number: str
    ton: int = 1
    npi: int = 1

    @property
    def alphanumeric(self) -> bool:
        return self.ton == 5


@dataclass(frozen=True, slots=True)
class Submit:
    """SMS-SUBMIT (§9.2.2.2). ``user_data`` is TP-UD (UDH included), ``udl`` is TP-UDL."""

    destination: Address
    dcs: int
    user_data: bytes
    udl: int
    mr: int = 0
    udhi: bool = False
    srr: bool = False
    pid: int = 0
    vp: int | None = None
    """Relative validity period octet (§9.2.3.12.1), or None for no TP-VP."""
    reject_duplicates: bool = False


@dataclass(frozen=True, slots=True)
class Deliver:
    """SMS-DELIVER (§9.2.2.1)."""

    originator: Address
    dcs: int
    scts: dt.datetime
    user_data: bytes
    udl: int
    udhi: bool = False
    pid: int = 0
    more_messages: bool = False
    status_report_indication: bool = False


@dataclass(frozen=True, slots=True)
class StatusReport:
    """SMS-STATUS-REPORT (§9.2.2.3): the fate of the SUBMIT with reference ``mr``."""

    mr: int
    recipient: Address
    scts: dt.datetime
    discharge: dt.datetime
    status: int
    """TP-ST (§9.2.3.15): 0x00-0x1F done, 0x20-0x3F still trying, 0x40-0x7F failed."""


Tpdu = Submit | Deliver | StatusReport


class _Reader:
    """Bounds-checked reads; every overrun is a :class:`PduError`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PduError(f"PDU ends inside {what} (need {n} octets at {self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


# -- addresses ---------------------------------------------------------------------------------


def _bcd_encode(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        out.append(_semi(digits[i + 1]) << 4 | _semi(digits[i]))
    return bytes(out)


def _semi(ch: str) -> int:
    if ch in "Ff":
        return 0xF
    i = _BCD.find(ch)
    if i < 0:
        raise PduError(f"{ch!r} cannot be a semi-octet digit")
    return i


def _bcd_decode(data: bytes, count: int) -> str:
    out: list[str] = []
    for b in data:
        for nib in (b & 0x0F, b >> 4):
            if len(out) < count and nib != 0xF:
                out.append(_BCD[nib])
    return "".join(out)


def encode_address(number: str) -> bytes:
    """TP-DA/TP-OA (§9.1.2.5): length in semi-octets, type of address, BCD digits.

    ``+4917...`` is international (TOA 0x91); bare digits are unknown/ISDN (0x81).
    """
    intl = number.startswith("+")
    digits = number[1:] if intl else number
    if not digits or not all(ch in _BCD for ch in digits) or len(digits) > 20:
        raise PduError(f"not a dialable number: {number!r}")
    toa = 0x91 if intl else 0x81
    return bytes([len(digits), toa]) + _bcd_encode(digits)


def decode_address(r: _Reader | bytes) -> Address:
    """Decode an address field; an alphanumeric one (TON 101) is GSM 7-bit packed text."""
    rd = r if isinstance(r, _Reader) else _Reader(r)
    semis = rd.octet("address length")
    toa = rd.octet("type of address")
    body = rd.take((semis + 1) // 2, "address digits")
    ton, npi = (toa >> 4) & 0x07, toa & 0x0F
    if ton == 5:
        septets = semis * 4 // 7
        _, text = decode_payload(body, 0, udhi=False, packed=True, septet_count=septets)
        return Address(text, ton, npi)
    digits = _bcd_decode(body, semis)
    return Address(("+" if ton == 1 and digits else "") + digits, ton, npi)


def encode_smsc(number: str | None) -> bytes:
    """The SMSC field before a TPDU: ``00`` (use AT+CSCA) or length in octets, TOA, BCD."""
    if not number:
        return b"\x00"
    addr = encode_address(number)
    return bytes([len(addr) - 1]) + addr[1:]


def decode_smsc(data: bytes) -> tuple[str | None, bytes]:
    """Split a modem PDU into (SMSC number or None, TPDU)."""
    rd = _Reader(data)
    n = rd.octet("SMSC length")
    if n == 0:
        return None, rd.rest()
    body = rd.take(n, "SMSC address")
    toa = body[0]
    digits = _bcd_decode(body[1:], 2 * (n - 1))
    return ("+" if (toa >> 4) & 0x07 == 1 else "") + digits, rd.rest()


# -- time stamps -------------------------------------------------------------------------------


def decode_scts(raw: bytes) -> dt.datetime:
    """TP-SCTS (§9.2.3.11): 7 swapped semi-octet pairs; zone in quarter hours, bit 3 = minus.

    Impossible dates (seen from broken modems) raise :class:`PduError`.
    """
    if len(raw) != 7:
        raise PduError("time stamp must be 7 octets")
    vals = [(b & 0x0F) * 10 + (b >> 4) for b in raw[:6]]
    tz_raw = raw[6]
    quarters = (tz_raw & 0x07) * 10 + (tz_raw >> 4)
    if tz_raw & 0x08:
        quarters = -quarters
    try:
        tz = dt.timezone(dt.timedelta(minutes=15 * quarters))
        return dt.datetime(2000 + vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], tzinfo=tz)
    except ValueError as e:
        raise PduError(f"bad time stamp: {e}") from None


def encode_scts(t: dt.datetime) -> bytes:
    """The inverse of :func:`decode_scts` (used by the emulator); naive times are UTC."""
    off = t.utcoffset() or dt.timedelta(0)
    quarters = int(off.total_seconds() // 900)
    vals = [t.year % 100, t.month, t.day, t.hour, t.minute, t.second]
    out = bytearray(((v % 10) << 4) | (v // 10) for v in vals)
    q = abs(quarters)
    out.append(((q % 10) << 4) | (q // 10) | (0x08 if quarters < 0 else 0))
    return bytes(out)


def relative_validity(seconds: float) -> int:
    """The TP-VP octet (§9.2.3.12.1) for at least ``seconds`` (5 min to 63 weeks)."""
    minutes = max(0.0, seconds) / 60
    if minutes <= 720:
        return max(0, math.ceil(minutes / 5) - 1)
    if minutes <= 1440:
        return 143 + math.ceil((minutes - 720) / 30)
    days = minutes / 1440
    if days <= 30:
        return 166 + math.ceil(days)
    return min(255, 192 + math.ceil(days / 7))


# -- data coding -------------------------------------------------------------------------------


def dcs_alphabet(dcs: int) -> Alphabet:
    """The character set a TP-DCS (TS 23.038 §4) announces; reserved values read as GSM 7-bit."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding (00xx) and automatic deletion (01xx)
        if dcs & 0x20:
            return "8bit"  # compressed: we cannot read it as text
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group in (0xC, 0xD):
        return "gsm7"
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def decode_user_text(dcs: int, udhi: bool, user_data: bytes, udl: int) -> tuple[Udh | None, str]:
    """The header and text of TP-UD; 8-bit data is returned as Latin-1 text.

    Raises :class:`PduError` when the user data cannot be read (a header longer than the data).
    """
    alphabet = dcs_alphabet(dcs)
    coding = {"gsm7": 0, "8bit": 4, "ucs2": 8}[alphabet]
    try:
        if alphabet == "gsm7":
            max_septets = len(user_data) * 8 // 7
            return decode_payload(
                user_data, coding, udhi=udhi, packed=True, septet_count=min(udl, max_septets)
            )
        return decode_payload(user_data[:udl], coding, udhi=udhi)
    except (ValueError, IndexError) as e:
        raise PduError(f"unreadable user data: {e}") from None


# -- encoding ----------------------------------------------------------------------------------


def encode_submit(s: Submit) -> bytes:
    """SMS-SUBMIT TPDU octets (§9.2.2.2), without the SMSC field."""
    if not 0 <= s.mr <= 255:
        raise PduError("TP-MR is one octet")
    if len(s.user_data) > 140:
        raise PduError("TP-UD longer than 140 octets")
    first = MTI_SUBMIT
    if s.reject_duplicates:
        first |= 0x04
    if s.vp is not None:
        first |= 0x10  # TP-VPF = 10: relative
    if s.srr:
        first |= 0x20
    if s.udhi:
        first |= 0x40
    out = bytearray([first, s.mr])
    out += encode_address(s.destination.number)
    out += bytes([s.pid, s.dcs])
    if s.vp is not None:
        out.append(s.vp)
    out.append(s.udl)
    out += s.user_data
    return bytes(out)


def submit_for_text(
    destination: str,
    text: str,
    encoding: Encoding,
    *,
    udh: bytes = b"",
    srr: bool = False,
    mr: int = 0,
    validity: float | None = None,
) -> Submit:
    """An SMS-SUBMIT for one segment of text, ready for :func:`encode_submit`.

    ``udh`` is the whole user data header including its length octet (from
    ``smsgw.drivers.text.udh_concat``). GSM 7-bit text after a header starts on a septet
    boundary: the fill bits of §9.2.3.24 are inserted. ``validity`` in seconds becomes a
    relative TP-VP. Raises :class:`PduError` when the segment does not fit in 140 octets.
    """
    encode_address(destination)  # refuse a bad number now, not when the PDU is laid out
    if encoding == "gsm7":
        septets = encode_gsm7(text)
        hdr_bits = len(udh) * 8
        fill = (7 - hdr_bits % 7) % 7 if udh else 0
        hdr_septets = (hdr_bits + fill) // 7
        body = pack_septets(septets, fill)
        ud = udh + body
        udl = hdr_septets + len(septets)
        dcs = 0x00
        if udl > 160:
            raise PduError(f"segment is {udl} septets; at most 160 fit")
    else:
        ud = udh + encode_ucs2(text)
        udl = len(ud)
        dcs = 0x08
    if len(ud) > 140:
        raise PduError(f"segment is {len(ud)} octets; at most 140 fit")
    return Submit(
        destination=Address(destination),
        dcs=dcs,
        user_data=ud,
        udl=udl,
        mr=mr,
        udhi=bool(udh),
        srr=srr,
        vp=relative_validity(validity) if validity is not None else None,
    )


def encode_deliver(d: Deliver) -> bytes:
    """SMS-DELIVER TPDU octets (§9.2.2.1); the emulator uses it to hand us messages."""
    first = MTI_DELIVER
    if not d.more_messages:
        first |= 0x04
    if d.status_report_indication:
        first |= 0x20
    if d.udhi:
        first |= 0x40
    out = bytearray([first])
    out += _encode_any_address(d.originator)
    out += bytes([d.pid, d.dcs]) + encode_scts(d.scts) + bytes([d.udl])
    return bytes(out + d.user_data)


def encode_status_report(r: StatusReport) -> bytes:
    """SMS-STATUS-REPORT TPDU octets (§9.2.2.3), without the optional tail."""
    out = bytearray([MTI_STATUS_REPORT | 0x04, r.mr])  # TP-MMS=1: no more messages
    out += _encode_any_address(r.recipient)
    out += encode_scts(r.scts) + encode_scts(r.discharge) + bytes([r.status])
    return bytes(out)


def _encode_any_address(a: Address) -> bytes:
    if a.alphanumeric:
        septets = encode_gsm7(a.number)
        body = pack_septets(septets, 0)
        semis = math.ceil(len(septets) * 7 / 4)
        return bytes([semis, 0xD0]) + body
    return encode_address(a.number)


def cmgs_pdu(tpdu: bytes, smsc: str | None = None) -> tuple[str, int]:
    """(hex PDU to type after the prompt, ``n`` for ``AT+CMGS=<n>``: TPDU octets only)."""
    return (encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)


# -- decoding ----------------------------------------------------------------------------------


def decode_tpdu(tpdu: bytes) -> Tpdu:
    """Decode a TPDU as an MS receives or stores it, by TP-MTI (DELIVER, SUBMIT, REPORT).

    Trailing octets after a status report or user data (padding some modems add) are ignored.
    """
    rd = _Reader(tpdu)
    first = rd.octet("first octet")
    mti = first & 0x03
    if mti == MTI_DELIVER:
        oa = decode_address(rd)
        pid = rd.octet("TP-PID")
        dcs = rd.octet("TP-DCS")
        scts = decode_scts(rd.take(7, "TP-SCTS"))
        udl = rd.octet("TP-UDL")
        ud = _user_data(rd, dcs, udl)
        return Deliver(
            originator=oa,
            dcs=dcs,
            scts=scts,
            user_data=ud,
            udl=udl,
            udhi=bool(first & 0x40),
            pid=pid,
            more_messages=not first & 0x04,  # TP-MMS: 0 means more are waiting
            status_report_indication=bool(first & 0x20),
        )
    if mti == MTI_SUBMIT:
        mr = rd.octet("TP-MR")
        da = decode_address(rd)
        pid = rd.octet("TP-PID")
        dcs = rd.octet("TP-DCS")
        vpf = (first >> 3) & 0x03
        vp: int | None = None
        if vpf == 2:
            vp = rd.octet("TP-VP")
        elif vpf in (1, 3):
            rd.take(7, "TP-VP")
        udl = rd.octet("TP-UDL")
        ud = _user_data(rd, dcs, udl)
        return Submit(
            destination=da,
            dcs=dcs,
            user_data=ud,
            udl=udl,
            mr=mr,
            udhi=bool(first & 0x40),
            srr=bool(first & 0x20),
            pid=pid,
            vp=vp,
            reject_duplicates=bool(first & 0x04),
        )
    if mti == MTI_STATUS_REPORT:
        mr = rd.octet("TP-MR")
        ra = decode_address(rd)
        scts = decode_scts(rd.take(7, "TP-SCTS"))
        discharge = decode_scts(rd.take(7, "TP-DT"))
        st = rd.octet("TP-ST")
        return StatusReport(mr=mr, recipient=ra, scts=scts, discharge=discharge, status=st)
    raise PduError(f"reserved TP-MTI {mti}")


def _user_data(rd: _Reader, dcs: int, udl: int) -> bytes:
    want = math.ceil(udl * 7 / 8) if dcs_alphabet(dcs) == "gsm7" else udl
    data = rd.rest()
    return data[:want]


def decode_pdu(pdu_hex: str) -> tuple[str | None, Tpdu]:
    """Decode a PDU line from +CMGR/+CMGL/+CMT/+CDS (SMSC field first)."""
    try:
        raw = bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError("PDU is not hex") from None
    smsc, tpdu = decode_smsc(raw)
    return smsc, decode_tpdu(tpdu)


def decode_submit_text(s: Submit) -> tuple[Udh | None, str]:
    """The header and text of a SUBMIT (the emulator uses it to see what was sent)."""
    return decode_user_text(s.dcs, s.udhi, s.user_data, s.udl)
