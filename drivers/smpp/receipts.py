"""Delivery receipts: telling them apart, reading them, and naming their message ids.

A deliver_sm or data_sm whose esm_class message type (bits 5-2, SMPP 3.4 §5.2.12) is not 0 is a
receipt or an acknowledgement, never an inbound message. What it says comes from the TLVs when
present (receipted_message_id §5.3.2.12, message_state §5.3.2.35, network_error_code
§5.3.2.31), otherwise from the text in short_message or message_payload, which Appendix B shows
as::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:E text: ...

Real SMSCs vary all of that: ids of any length (hex, decimal, UUIDs), dates with seconds or a
four-digit year, ``Text:`` or no text at all, fields in another order or with underscores, err
in decimal or hex. :func:`parse_receipt` reads every variant we know and raises
:class:`ReceiptError` only when no id can be found.

Ids are then normalised by :class:`IdNormaliser` so that the id reported in an Outcome and the
one in a Receipt are byte-for-byte equal (the store matches them exactly).
"""

from __future__ import annotations

import calendar
import re
from typing import Literal

import msgspec

from smsgw.drivers.seam import Receipt, ReceiptState
from smsgw.drivers.smpp.pdu import DataSm, DeliverSm, Tag
from smsgw.drivers.text.digits import is_decimal

__all__ = [
    "ESM_TYPE_MASK",
    "IdFormat",
    "IdNormaliser",
    "ParsedReceipt",
    "ReceiptError",
    "is_receipt",
    "parse_receipt",
    "parse_receipt_text",
]

ESM_TYPE_MASK = 0x3C
"""esm_class bits 5-2: 0 normal message; 0x04 SMSC delivery receipt, 0x08 SME delivery ack,
0x10 SME manual ack, 0x20 intermediate notification (§5.2.12)."""

IdFormat = Literal["auto", "hex", "decimal", "string"]


class ReceiptError(ValueError):
    """A receipt we cannot attribute to any message (no id in TLVs or text)."""


def is_receipt(esm_class: int) -> bool:
    """True when a deliver_sm/data_sm with this esm_class is a receipt, not a message."""
    return esm_class & ESM_TYPE_MASK != 0


class ParsedReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What a receipt says before id normalisation."""

    message_id: str
    id_from_tlv: bool
    """True when the id came from receipted_message_id (same form as submit_sm_resp)."""
    state: ReceiptState
    error_code: str = ""
    done_at: float | None = None


# Appendix B stat values, and the long forms and synonyms SMSCs use in their place.
_STATES: dict[str, ReceiptState] = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "UNDELIV": "undelivered",
    "UNDELIVERABLE": "undelivered",
    "UNDELIVERED": "undelivered",
    "FAILED": "undelivered",
    "DELETED": "undelivered",
    "EXPIRED": "expired",
    "REJECTD": "rejected",
    "REJECTED": "rejected",
    "ACCEPTD": "accepted",
    "ACCEPTED": "accepted",
    # Not final: the carrier still has it. The store keeps the part "submitted".
    "ENROUTE": "accepted",
    "BUFFRED": "accepted",
    "BUFFERED": "accepted",
    "UNKNOWN": "unknown",
}

# message_state TLV values (§5.2.28).
_TLV_STATES: dict[int, ReceiptState] = {
    1: "accepted",  # ENROUTE
    2: "delivered",
    3: "expired",
    4: "undelivered",  # DELETED
    5: "undelivered",
    6: "accepted",
    7: "unknown",
    8: "rejected",
}

_KEY = re.compile(
    r"(?:^|(?<=[\s,;]))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)


# The Appendix B layout most SMSCs send verbatim: one anchored match instead of a scan.
_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:\S* dlvrd:\S* submit date:\S* done date:(?P<done>\S*) "
    r"stat:(?P<stat>\S*) err:(?P<err>\S*)(?:\s|$)",
    re.IGNORECASE,
)


def _fields(text: str) -> dict[str, str]:
    m = _STANDARD.match(text)
    if m is not None:
        return {
            "id": m.group("id"),
            "done date": m.group("done"),
            "stat": m.group("stat"),
            "err": m.group("err"),
        }
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace("_", " ")
        if key.endswith("date") and " " not in key:
            key = key[:-4] + " date"
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if key not in fields:  # the first occurrence wins: "text:" may quote anything
            fields[key] = text[m.end() : end].strip()
    return fields


_HOURS: dict[str, float | None] = {}


def _smpp_date(value: str) -> float | None:
    """Unix time of a receipt date (YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss; UTC assumed,
    as Appendix B gives no zone)."""
    d = value.split()[0] if value else ""
    if not is_decimal(d, 14):
        return None
    if len(d) in (10, 12):
        # Receipts come in bursts from the same hour: cache the hour, add minutes and seconds.
        minute, second = int(d[8:10]), int(d[10:12]) if len(d) == 12 else 0
        if minute > 59 or second > 60:
            return None
        hour = d[:8]
        base = _HOURS.get(hour, -1.0)
        if base == -1.0:
            base = _hour_start(2000 + int(d[:2]), d[2:8])
            if len(_HOURS) > 4096:
                _HOURS.clear()
            _HOURS[hour] = base
        return None if base is None else base + minute * 60 + second
    if len(d) != 14:
        return None
    return _full_date(d)


_YEARS = range(1970, 2200)
"""Years a receipt date may name; 0000 (calendar raises) or 1066 is no date at all."""


def _hour_start(year: int, mdh: str) -> float | None:
    month, day, hour = int(mdh[0:2]), int(mdh[2:4]), int(mdh[4:6])
    if year not in _YEARS or not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24):
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    return float(calendar.timegm((year, month, day, hour, 0, 0, 0, 0, 0)))


def _full_date(d: str) -> float | None:
    base = _hour_start(int(d[:4]), d[4:10])
    minute, second = int(d[10:12]), int(d[12:14])
    if base is None or minute > 59 or second > 60:
        return None
    return base + minute * 60 + second


def _error_code(token: str) -> str:
    """The err field as the carrier wrote it (hex digits upper-cased), or "" when it says "no
    error" in any base (``000``, ``0``, ``0x00``)."""
    t = token.split()[0] if token else ""
    low = t.lower()
    hex_prefix = low.startswith("0x")
    digits = low[2:] if hex_prefix else low
    if not digits.strip("0"):
        return ""
    return "0x" + digits.upper() if hex_prefix else t.upper()


def _read_text(text: str) -> tuple[str, ReceiptState, str, float | None]:
    f = _fields(text)
    raw_id = f.get("id", "").split()
    if not raw_id:
        raise ReceiptError(f"no message id in receipt text {text[:80]!r}")
    stat = f.get("stat", "").split()
    state = _STATES.get(stat[0].upper(), "unknown") if stat else "unknown"
    return raw_id[0], state, _error_code(f.get("err", "")), _smpp_date(f.get("done date", ""))


def parse_receipt_text(text: str) -> ParsedReceipt:
    """Read an Appendix B style receipt text (any of its real variants).

    Raises :class:`ReceiptError` when the text has no ``id:``.
    """
    mid, state, err, done = _read_text(text)
    return ParsedReceipt(
        message_id=mid, id_from_tlv=False, state=state, error_code=err, done_at=done
    )


def _receipt_text(pdu: DeliverSm | DataSm) -> str:
    raw = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    if not raw:
        raw = pdu.tlv(Tag.MESSAGE_PAYLOAD) or b""
    if pdu.data_coding == 8:  # UCS-2 receipts exist (rare); everything else is ASCII
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def parse_receipt(pdu: DeliverSm | DataSm) -> ParsedReceipt:
    """What a receipt PDU says, TLVs first (they are structured), text for the rest.

    Raises :class:`ReceiptError` when neither receipted_message_id nor the text names an id.
    """
    tlv_id = tlv_state = net_err = None
    for tag, value in pdu.tlvs:
        if tag == Tag.RECEIPTED_MESSAGE_ID:
            tlv_id = value
        elif tag == Tag.MESSAGE_STATE:
            tlv_state = value
        elif tag == Tag.NETWORK_ERROR_CODE:
            net_err = value
    text = _receipt_text(pdu)
    message_id, state, error_code, done_at = "", "unknown", "", None
    if text:
        try:
            message_id, state, error_code, done_at = _read_text(text)
        except ReceiptError:
            if tlv_id is None:
                raise
    from_tlv = False
    if tlv_id is not None:
        tid = tlv_id.split(b"\0", 1)[0].decode("latin-1").strip()
        if tid:
            message_id, from_tlv = tid, True
    if not message_id:
        raise ReceiptError("receipt without receipted_message_id or an id in its text")
    if tlv_state is not None and len(tlv_state) == 1:
        state = _TLV_STATES.get(tlv_state[0], state)
    if not error_code and net_err is not None and len(net_err) == 3:
        code = int.from_bytes(net_err[1:3], "big")
        if code:
            error_code = f"net{net_err[0]}:{code}"
    return ParsedReceipt(
        message_id=message_id,
        id_from_tlv=from_tlv,
        state=state,  # type: ignore[arg-type]
        error_code=error_code,
        done_at=done_at,
    )


_HEX = frozenset("0123456789abcdefABCDEF")
# What int() would take besides: a sign, blanks, underscores, "0x", non-ASCII digits. An id is
# one of these or it is not a number (and falls back to the ``auto`` form).
_NUMBER = {10: re.compile(r"[0-9]{1,64}"), 16: re.compile(r"[0-9A-Fa-f]{1,64}")}


class IdNormaliser:
    """One route's rule for writing carrier message ids, so submit and receipt agree.

    ``fmt`` says how ids in receipt *texts* relate to submit_sm_resp ids (receipted_message_id
    TLVs are always in the submit_sm_resp form):

    * ``auto``: the same id, maybe in another case or with leading zeros; ids are lower-cased
      and hex-looking ids lose their leading zeros (``"000A1b"`` and ``"a1b"`` match);
    * ``decimal``: submit_sm_resp gives hex, receipt texts give the same number in decimal;
    * ``hex``: submit_sm_resp gives decimal, receipt texts give the same number in hex;
    * ``string``: ids are opaque; only surrounding blanks are removed.

    With ``decimal``/``hex`` the canonical form is the number in decimal. An id that does not
    parse as the expected number falls back to the ``auto`` form rather than failing.
    """

    __slots__ = ("fmt",)

    def __init__(self, fmt: IdFormat = "auto") -> None:
        if fmt not in ("auto", "hex", "decimal", "string"):
            raise ValueError(f"message_id_format {fmt!r} is not auto, hex, decimal or string")
        self.fmt = fmt

    @staticmethod
    def _auto(value: str) -> str:
        v = value.strip()
        if v and _HEX.issuperset(v):
            return v.lstrip("0").lower() or "0"
        return v.lower()

    def _number(self, value: str, base: int) -> str:
        v = value.strip()
        if _NUMBER[base].fullmatch(v) is None:
            return self._auto(value)
        return str(int(v, base))

    def from_response(self, message_id: str) -> str:
        """Canonical form of an id from submit_sm_resp or a receipted_message_id TLV."""
        fmt = self.fmt
        if fmt == "auto":
            return self._auto(message_id)
        if fmt == "string":
            return message_id.strip()
        return self._number(message_id, 16 if fmt == "decimal" else 10)

    def from_receipt_text(self, message_id: str) -> str:
        """Canonical form of an id read from a receipt's ``id:`` field."""
        fmt = self.fmt
        if fmt == "auto":
            return self._auto(message_id)
        if fmt == "string":
            return message_id.strip()
        return self._number(message_id, 10 if fmt == "decimal" else 16)

    def receipt(self, route: str, parsed: ParsedReceipt) -> Receipt:
        """The seam's :class:`Receipt` for ``parsed``, its id in canonical form."""
        cid = (
            self.from_response(parsed.message_id)
            if parsed.id_from_tlv
            else self.from_receipt_text(parsed.message_id)
        )
        return Receipt(
            route=route,
            carrier_id=cid,
            state=parsed.state,
            error_code=parsed.error_code,
            done_at=parsed.done_at,
        )
