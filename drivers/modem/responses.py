"""Reading information lines (the text between a command and its OK), sans-IO.

Every parser takes what real modems send, including the broken variants seen in the field:
missing spaces after colons, empty fields, unbalanced quotes, a doubled response. None raises:
what cannot be read is ``None`` (or an empty list), and the caller decides what that means.
Sources: 3GPP TS 27.007 (+CSQ §8.5, +CREG §7.2, +CEREG §10.1.22, +COPS §7.3, +CPIN §8.3,
+CGSN §5.4, +CIMI §5.6) and TS 27.005 (+CPMS §3.2.2, +CMGL §3.4.2, +CMGR §3.4.3, +CMGS §3.5.1,
+CMTI/+CDSI §3.4.1, +CSMS §3.2.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from smsgw.drivers.text.digits import parse_decimal

__all__ = [
    "StoredPdu",
    "csq_to_dbm",
    "fields",
    "parse_cmgl",
    "parse_cmgr",
    "parse_cmgs",
    "parse_cmti",
    "parse_cops",
    "parse_cpin",
    "parse_cpms",
    "parse_creg",
    "parse_csms",
    "parse_identity",
]

_HEX = re.compile(r"^[0-9A-Fa-f]+\Z")  # \Z: "$" also matches before a final "\n"


@dataclass(frozen=True, slots=True)
class StoredPdu:
    """One message read from modem storage: its index, <stat> (None if empty) and PDU."""

    index: int
    stat: int | None
    pdu: str


def fields(value: str) -> list[str]:
    """Split ``a,"b,c",d`` on commas outside quotes; strip blanks and quotes of each field.

    An unbalanced quote runs to the end of the line (what a broken +CREG looks like).
    """
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
            continue
        if ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


_MAX_DIGITS = 9
"""Indices, counts, references and signal values a modem reports fit in 9 digits."""


def _int(text: str) -> int | None:
    # ASCII digits only: "³8".isdigit() is true, and int() refuses it.
    return parse_decimal(text.strip(), _MAX_DIGITS)


def csq_to_dbm(value: str | None) -> int | None:
    """``+CSQ: <rssi>,<ber>`` to dBm (-113 + 2·rssi); ``99`` (unknown) is None."""
    if not value:
        return None
    rssi = _int(fields(value)[0])
    if rssi is None or rssi > 31:
        return None
    return -113 + 2 * rssi


def parse_creg(value: str | None, *, query: bool = True) -> int | None:
    """Registration <stat> from ``+CREG``/``+CEREG``/``+CGREG``.

    A query answer is ``<n>,<stat>[,...]``; a URC is ``<stat>[,...]``. A one-field query answer
    is read as ``<stat>`` (some modems omit <n>). 1 = home, 5 = roaming, 2 = searching,
    3 = denied, 0 = not searching, 4 = unknown.
    """
    if not value:
        return None
    f = fields(value)
    idx = 1 if query and len(f) >= 2 else 0
    return _int(f[idx]) if idx < len(f) else None


def parse_cops(value: str | None) -> str | None:
    """Operator name from ``+COPS: <mode>[,<format>,<oper>[,<AcT>]]``; None if absent."""
    if not value:
        return None
    f = fields(value)
    if len(f) >= 3 and f[2]:
        return f[2]
    return None


def parse_cpin(value: str | None) -> str | None:
    """``READY``, ``SIM PIN``, ``SIM PUK``, ... upper-cased; None if absent."""
    if value is None:
        return None
    return value.strip().strip('"').upper() or None


def parse_cpms(value: str | None) -> tuple[int, int] | None:
    """(used, total) of the first storage from a +CPMS set answer or query answer."""
    if not value:
        return None
    f = fields(value)
    nums = [_int(x) for x in f]
    if nums and nums[0] is None and len(f) >= 3:  # query form: "SM",3,30,...
        nums = nums[1:]
    if len(nums) >= 2 and nums[0] is not None and nums[1] is not None:
        return nums[0], nums[1]
    return None


def parse_cmti(args: str) -> tuple[str, int] | None:
    """(memory, index) from the arguments of +CMTI/+CDSI: ``"SM",3``."""
    f = fields(args)
    if len(f) >= 2:
        idx = _int(f[1])
        if idx is not None:
            return f[0].upper() or "SM", idx
    return None


def parse_cmgs(value: str | None) -> int | None:
    """The message reference from ``+CMGS: <mr>[,<scts>]``."""
    if not value:
        return None
    mr = _int(fields(value)[0])
    return mr if mr is not None and 0 <= mr <= 255 else None


def parse_csms(value: str | None) -> int | None:
    """<service> from ``+CSMS: <service>,<mt>,<mo>,<bm>`` (query form)."""
    if not value:
        return None
    f = fields(value)
    return _int(f[0]) if len(f) >= 4 else None


def parse_identity(lines: Sequence[str], prefixes: Sequence[str] = ()) -> str | None:
    """The value of a one-line identity answer (+CGMI, +CGSN, +CIMI, +CCID, ATI...).

    Takes the first line, minus any ``PREFIX:`` in ``prefixes`` (or any ``+X:``/``^X:``),
    stripped of quotes and blanks.
    """
    for line in lines:
        text = line.strip()
        up = text.upper()
        for p in prefixes:
            if up.startswith(p.upper() + ":"):
                text = text[len(p) + 1 :]
                break
        else:
            m = re.match(r"^[+^][A-Z]+:\s*(.*)$", text, re.I)
            if m:
                text = m.group(1)
        text = text.strip().strip('"').strip()
        if text:
            return text
    return None


def parse_cmgr(lines: Sequence[str], index: int) -> StoredPdu | None:
    """The PDU from ``+CMGR: [<stat>],[<alpha>],<length>`` and the next line."""
    for i, line in enumerate(lines):
        if line.upper().startswith("+CMGR"):
            head = line.split(":", 1)[1] if ":" in line else ""
            stat = _int(fields(head)[0])
            if i + 1 < len(lines) and _HEX.match(lines[i + 1]):
                return StoredPdu(index, stat, lines[i + 1].upper())
            return None
    return None


def parse_cmgl(lines: Sequence[str]) -> list[StoredPdu]:
    """Every ``+CMGL: <index>,<stat>,[<alpha>],<length>`` + PDU pair; broken pairs skipped."""
    out: list[StoredPdu] = []
    for i, line in enumerate(lines):
        if not line.upper().startswith("+CMGL"):
            continue
        head = line.split(":", 1)[1] if ":" in line else ""
        f = fields(head)
        idx = _int(f[0]) if f else None
        stat = _int(f[1]) if len(f) > 1 else None
        if idx is None or i + 1 >= len(lines) or not _HEX.match(lines[i + 1]):
            continue
        out.append(StoredPdu(idx, stat, lines[i + 1].upper()))
    return out
