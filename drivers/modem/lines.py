"""Classifying one line from a modem: final result codes and unsolicited result codes.

Pure functions and tables, shared by :mod:`smsgw.drivers.modem.at` and the emulator. Sources:
V.250 §5.7 (final result codes), 3GPP TS 27.007 §9.2 and TS 27.005 §3.2.5 (+CME/+CMS ERROR),
TS 27.005 §3.4.1 and 27.007 §7-8 (URCs), and vendor manuals for the rest (Huawei ``^`` codes,
SIMCom and Quectel start-up lines).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from smsgw.drivers.text.digits import is_decimal, parse_decimal

__all__ = [
    "BOOT_URCS",
    "CALL_FINALS",
    "TWO_LINE_URCS",
    "FinalKind",
    "FinalResult",
    "is_pdu_header",
    "parse_final",
    "urc_name",
]

# Unsolicited result codes we know by prefix (27.005 §3.4.1, 27.007 §7-8, vendor manuals).
# Any "^NAME" line is a Huawei-style URC too, unless the pending command asked for it.
_URC_PREFIXES = frozenset(
    {
        "+CMTI", "+CMT", "+CDS", "+CDSI", "+CBM", "+CBMI", "+CREG", "+CEREG", "+CGREG",
        "+C5GREG", "+CPIN", "+CFUN", "+CLIP", "+CRING", "+CCWA", "+CUSD", "+CIEV", "+CTZV",
        "+CTZE", "+CTZU", "+CUSATP", "+CUSATEND", "+STIN", "+QIND", "+QUSIM", "+ZDONR",
        "+ZPASR", "+ZEND", "+ZUSIMR", "+PSUTTZ", "*PSUTTZ", "+CGEV", "+CPINR", "+SIMCARD",
        "+NITZ", "DST",
    }
)  # fmt: skip
_URC_WORDS = frozenset(
    {
        "RING", "RDY", "CALL READY", "SMS READY", "PB DONE", "NORMAL POWER DOWN",
        "UNDER-VOLTAGE POWER DOWN", "UNDER-VOLTAGE WARNNING", "OVER-VOLTAGE POWER DOWN",
        "OVER-VOLTAGE WARNNING", "POWERED DOWN", "NO CARRIER", "BUSY", "NO ANSWER",
        "NO DIALTONE", "START", "+PBREADY",
    }
)  # fmt: skip

BOOT_URCS = frozenset({"RDY", "^SYSSTART", "SMS READY", "CALL READY", "PB DONE", "START"})
"""URC names a modem prints when it (re)starts; seen mid-session they mean it rebooted."""

# URCs whose PDU-mode form is a header line followed by the PDU (27.005 §3.4.1).
TWO_LINE_URCS = frozenset({"+CMT", "+CDS", "+CBM"})
CALL_FINALS = {"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"}
_ERR = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)\Z", re.I)
# The text of an error in verbose form (AT+CMEE=2): printable ASCII with at least one letter.
_TEXT_ARG = re.compile(r"[ -~]*[A-Za-z][ -~]*")
_MAX_CODE_DIGITS = 5
"""27.007/27.005 codes and the vendor ones seen in the field are at most 3-4 digits."""

# Texts some modems send with AT+CMEE=2 (or regardless of it), mapped to their numbers
# (27.007 §9.2.1, 27.005 §3.2.5), so callers see one form.
_CME_TEXT = {
    "phone failure": 0,
    "operation not allowed": 3,
    "operation not supported": 4,
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "memory full": 20,
    "invalid index": 21,
    "not found": 22,
    "no network service": 30,
    "network timeout": 31,
    "unknown": 100,
    "unknown error": 100,
}


class FinalKind(enum.Enum):
    """Which final result code ended a command (V.250 §5.7.1, 27.007 §9.2, 27.005 §3.2.5)."""

    OK = "OK"
    ERROR = "ERROR"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"
    NOT_SUPPORTED = "COMMAND NOT SUPPORT"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"


@dataclass(frozen=True, slots=True)
class FinalResult:
    """A final result code; ``code`` is the number of a +CME/+CMS ERROR (None if absent)."""

    kind: FinalKind
    code: int | None = None
    line: str = ""
    implied: bool = False
    """True when no final code came and the command's ``settle`` time completed it."""
    malformed: bool = False
    """True when the error's argument is neither a number nor text (``+CMS ERROR: ³8``): the
    result still ends the command (as an unknown code), and the port counts a protocol error."""

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK

    def describe(self) -> str:
        """``"OK"``, ``"CMS 38"``, ``"CME 16"``, ``"ERROR"`` — the form used in outcomes."""
        if self.kind is FinalKind.CME_ERROR:
            return f"CME {self.code if self.code is not None else '?'}"
        if self.kind is FinalKind.CMS_ERROR:
            return f"CMS {self.code if self.code is not None else '?'}"
        return str(self.kind.value)


def parse_final(line: str) -> FinalResult | None:
    """The final result code ``line`` is, or None. Call-progress words count as finals.

    Never raises: an error whose argument is not ASCII digits has no code (and is
    ``malformed`` unless it is text).
    """
    up = line.upper()
    if up == "OK":
        return FinalResult(FinalKind.OK, line=line)
    if up == "ERROR":
        return FinalResult(FinalKind.ERROR, line=line)
    if up.startswith("COMMAND NOT SUPPORT"):
        return FinalResult(FinalKind.NOT_SUPPORTED, line=line)
    if up in CALL_FINALS:
        return FinalResult(FinalKind(up), line=line)
    m = _ERR.match(line)
    if m:
        kind = FinalKind.CME_ERROR if m.group(1).upper() == "CME" else FinalKind.CMS_ERROR
        arg = m.group(2).strip().strip('"')
        code = parse_decimal(arg, _MAX_CODE_DIGITS)
        malformed = False
        if code is None:
            code = _CME_TEXT.get(arg.lower()) if kind is FinalKind.CME_ERROR else None
            # Text (AT+CMEE=2) is a fair answer even when we do not know it; anything else in
            # the place of a number (a stray high byte, a control character) is a broken line.
            malformed = code is None and arg != "" and not _TEXT_ARG.fullmatch(arg)
        return FinalResult(kind, code=code, line=line, malformed=malformed)
    return None


def urc_name(line: str) -> str | None:
    """The URC name of ``line`` if it looks unsolicited by its prefix, else None."""
    up = line.upper()
    if up in _URC_WORDS:
        return up
    head, colon, _ = up.partition(":")
    head = head.strip()
    if colon and (head in _URC_PREFIXES or (head.startswith("^") and len(head) > 1)):
        return head
    if not colon and up.startswith("^") and up[1:].isalpha():
        return up  # e.g. "^SYSSTART"
    return None


def is_pdu_header(line: str) -> bool:
    """``+CMT: [<alpha>],<length>`` or ``+CDS: <length>``: the PDU follows on the next line."""
    _, _, rest = line.partition(":")
    parts = [x.strip() for x in rest.split(",")]
    return 1 <= len(parts) <= 2 and is_decimal(parts[-1], 3)
