"""What a modem's +CME/+CMS ERROR means for the part being sent and for the modem.

Codes come from 3GPP TS 27.007 §9.2 (+CME) and TS 27.005 §3.2.5 (+CMS; 0-127 are RP-cause
values of TS 24.011 Annex E-2, 128-255 TP-FCS values of TS 23.040 §9.2.3.22), plus the vendor
codes real modems are known to send (515 "please wait, init or command processing in
progress"). Three questions are answered for each code:

* ``kind``: BUSY (the modem is busy: try the same command again shortly), TEMPORARY (the part
  can be retried later, maybe elsewhere), PERMANENT (the part can never go as it is);
* ``modem_fault``: the modem or SIM needs attention (no SIM, PIN, SIM failure): take it out of
  service until it is brought up again;
* ``definite``: an error *after the PDU was written* proves the part did not leave (the network
  or SC refused it, or the modem refused the PDU before transmitting). Otherwise (ME failure,
  network timeout, ``500 unknown``) the part may have left anyway: a retry risks a duplicate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["PROTOCOL_ERROR_KINDS", "ErrorClass", "ErrorInfo", "classify", "classify_result"]

PROTOCOL_ERROR_KINDS = (
    "sim_locked", "cmgs_without_mr", "bad_urc", "direct_without_pdu", "bad_pdu", "cnma_refused",
    "bad_cmgr", "bad_text", "line_too_long", "urc_overflow", "stray_line",
    "bad_result_code", "response_too_long",
)  # fmt: skip
"""Every ``kind`` the modem driver counts in ``smsgw_protocol_errors_total{route, kind}``."""


class ErrorClass(enum.Enum):
    """How to react to one error code."""

    BUSY = "busy"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The meaning of one +CME/+CMS code; ``code`` is ``"CMS 38"`` style text."""

    code: str
    kind: ErrorClass
    reason: str
    modem_fault: bool = False
    definite: bool = False


_B, _T, _P = ErrorClass.BUSY, ErrorClass.TEMPORARY, ErrorClass.PERMANENT

# code -> (kind, reason, modem_fault, definite)
_CMS: dict[int, tuple[ErrorClass, str, bool, bool]] = {
    # TS 24.011 Annex E-2, RP-cause: the network answered, so the part did not leave.
    1: (_P, "unassigned (unallocated) number", False, True),
    8: (_P, "operator determined barring", False, True),
    10: (_P, "call barred", False, True),
    21: (_P, "short message transfer rejected", False, True),
    27: (_T, "destination out of service", False, True),
    28: (_P, "unidentified subscriber", False, True),
    29: (_P, "facility rejected", False, True),
    30: (_P, "unknown subscriber", False, True),
    38: (_T, "network out of order", False, True),
    41: (_T, "temporary failure", False, True),
    42: (_T, "congestion", False, True),
    47: (_T, "resources unavailable, unspecified", False, True),
    50: (_P, "requested facility not subscribed", False, True),
    69: (_P, "requested facility not implemented", False, True),
    81: (_T, "invalid short message transfer reference value", False, True),
    95: (_P, "invalid message, unspecified", False, True),
    96: (_P, "invalid mandatory information", False, True),
    97: (_P, "message type non-existent or not implemented", False, True),
    98: (_T, "message not compatible with short message protocol state", False, True),
    99: (_P, "information element non-existent or not implemented", False, True),
    111: (_T, "protocol error, unspecified", False, True),
    127: (_T, "interworking, unspecified", False, True),
    # TS 23.040 §9.2.3.22, TP-FCS.
    128: (_P, "telematic interworking not supported", False, True),
    143: (_P, "unspecified TP-PID error", False, True),
    144: (_P, "data coding scheme (alphabet) not supported", False, True),
    159: (_P, "unspecified TP-DCS error", False, True),
    176: (_P, "TPDU not supported", False, True),
    192: (_B, "SC busy", False, True),
    193: (_P, "no SC subscription", True, True),
    194: (_T, "SC system failure", False, True),
    195: (_P, "invalid SME address", False, True),
    196: (_P, "destination SME barred", False, True),
    197: (_T, "SM rejected, duplicate SM", False, True),
    198: (_P, "TP-VPF not supported", False, True),
    199: (_P, "TP-VP not supported", False, True),
    208: (_T, "SIM SMS storage full", False, True),
    211: (_T, "memory capacity exceeded", False, True),
    212: (_B, "SIM application toolkit busy", False, True),
    255: (_T, "unspecified error cause", False, True),
    # TS 27.005 §3.2.5, ME/TA errors.
    300: (_T, "ME failure", False, False),
    301: (_T, "SMS service of ME reserved", False, True),
    302: (_T, "operation not allowed", False, True),
    303: (_T, "operation not supported", False, True),
    304: (_P, "invalid PDU mode parameter", False, True),
    305: (_P, "invalid text mode parameter", False, True),
    310: (_T, "SIM not inserted", True, True),
    311: (_T, "SIM PIN required", True, True),
    312: (_T, "PH-SIM PIN required", True, True),
    313: (_T, "SIM failure", True, True),
    314: (_B, "SIM busy", False, True),
    315: (_T, "SIM wrong", True, True),
    316: (_T, "SIM PUK required", True, True),
    320: (_T, "memory failure", False, True),
    321: (_T, "invalid memory index", False, True),
    322: (_T, "memory full", False, True),
    330: (_T, "SMSC address unknown", True, True),
    331: (_T, "no network service", True, True),
    332: (_T, "network timeout", False, False),
    340: (_T, "no +CNMA acknowledgement expected", False, True),
    500: (_T, "unknown error", False, False),
    # Vendor codes seen in the field.
    512: (_T, "SIM not ready (vendor)", False, True),
    515: (_B, "please wait, init or command processing in progress", False, True),
}

_CME: dict[int, tuple[ErrorClass, str, bool, bool]] = {
    0: (_T, "phone failure", False, False),
    1: (_T, "no connection to phone", True, True),
    3: (_T, "operation not allowed", False, True),
    4: (_T, "operation not supported", False, True),
    10: (_T, "SIM not inserted", True, True),
    11: (_T, "SIM PIN required", True, True),
    12: (_T, "SIM PUK required", True, True),
    13: (_T, "SIM failure", True, True),
    14: (_B, "SIM busy", False, True),
    15: (_T, "SIM wrong", True, True),
    16: (_T, "incorrect password", True, True),
    17: (_T, "SIM PIN2 required", False, True),
    18: (_T, "SIM PUK2 required", False, True),
    20: (_T, "memory full", False, True),
    21: (_T, "invalid index", False, True),
    22: (_T, "not found", False, True),
    23: (_T, "memory failure", False, True),
    30: (_T, "no network service", True, True),
    31: (_T, "network timeout", False, False),
    32: (_T, "network not allowed, emergency calls only", True, True),
    100: (_T, "unknown", False, False),
    515: (_B, "please wait, init or command processing in progress", False, True),
}


def classify(family: str, code: int | None) -> ErrorInfo:
    """Look up ``family`` (``"CME"`` or ``"CMS"``) ``code``; unknown codes are TEMPORARY.

    An unknown or missing code is never PERMANENT (it must not fail a message on a modem's
    whim) and never ``definite`` (it must not hide a possible duplicate).
    """
    fam = family.upper()
    table = _CMS if fam == "CMS" else _CME
    label = f"{fam} {code if code is not None else '?'}"
    if code is not None and code in table:
        kind, reason, fault, definite = table[code]
        return ErrorInfo(label, kind, reason, fault, definite)
    if fam == "CMS" and code is not None and 128 <= code <= 255:
        # Unlisted TP-FCS values still came from the SC: it refused the part.
        return ErrorInfo(label, _T, "SC refused the short message", False, True)
    return ErrorInfo(label, _T, "unknown error code", False, False)


def classify_result(kind_name: str, code: int | None) -> ErrorInfo:
    """Classify a final result code that is not OK (``FinalKind.value`` and its code).

    Plain ``ERROR`` and ``COMMAND NOT SUPPORT`` are TEMPORARY and not definite after a PDU.
    """
    if kind_name == "+CME ERROR":
        return classify("CME", code)
    if kind_name == "+CMS ERROR":
        return classify("CMS", code)
    return ErrorInfo(kind_name, _T, kind_name.lower(), False, False)
