"""What a command_status means for the part and for the bind (SMPP 3.4 §5.1.3).

Each code is one of:

* ``ok``: accepted;
* ``throttled``: the carrier asks us to slow down (ESME_RTHROTTLED, ESME_RMSGQFUL): the part is
  retried and the route slows down; it never fails a message;
* ``temporary``: retry later with backoff (system error, a temporary application error);
* ``permanent``: this part can never be sent as it is (bad address, bad parameters);
* ``bind``: the session itself is wrong (bind status, credentials): retry the part, and
  re-establish the session.

Vendor codes (0x400-0x4FF, §5.1.3 "reserved for SMSC vendor specific errors") and codes this
table does not know are ``temporary``: retrying costs an attempt, failing wrongly costs a
customer's message. A route's ``status_overrides`` refines any code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

__all__ = ["DESCRIPTIONS", "StatusClass", "StatusTable", "format_status", "parse_status_code"]

StatusClass = Literal["ok", "throttled", "temporary", "permanent", "bind"]

# code: (class, ESME name and description as in §5.1.3 table 5-2)
_TABLE: dict[int, tuple[StatusClass, str]] = {
    0x00: ("ok", "ESME_ROK No Error"),
    0x01: ("permanent", "ESME_RINVMSGLEN Message Length is invalid"),
    0x02: ("permanent", "ESME_RINVCMDLEN Command Length is invalid"),
    0x03: ("permanent", "ESME_RINVCMDID Invalid Command ID"),
    0x04: ("bind", "ESME_RINVBNDSTS Incorrect BIND Status for given command"),
    0x05: ("bind", "ESME_RALYBND ESME Already in Bound State"),
    0x06: ("permanent", "ESME_RINVPRTFLG Invalid Priority Flag"),
    0x07: ("permanent", "ESME_RINVREGDLVFLG Invalid Registered Delivery Flag"),
    0x08: ("temporary", "ESME_RSYSERR System Error"),
    0x0A: ("permanent", "ESME_RINVSRCADR Invalid Source Address"),
    0x0B: ("permanent", "ESME_RINVDSTADR Invalid Dest Addr"),
    0x0C: ("permanent", "ESME_RINVMSGID Message ID is invalid"),
    0x0D: ("bind", "ESME_RBINDFAIL Bind Failed"),
    0x0E: ("bind", "ESME_RINVPASWD Invalid Password"),
    0x0F: ("bind", "ESME_RINVSYSID Invalid System ID"),
    0x11: ("permanent", "ESME_RCANCELFAIL Cancel SM Failed"),
    0x13: ("permanent", "ESME_RREPLACEFAIL Replace SM Failed"),
    0x14: ("throttled", "ESME_RMSGQFUL Message Queue Full"),
    0x15: ("permanent", "ESME_RINVSERTYP Invalid Service Type"),
    0x33: ("permanent", "ESME_RINVNUMDESTS Invalid number of destinations"),
    0x34: ("permanent", "ESME_RINVDLNAME Invalid Distribution List name"),
    0x40: ("permanent", "ESME_RINVDESTFLAG Destination flag is invalid"),
    0x42: ("permanent", "ESME_RINVSUBREP Invalid 'submit with replace' request"),
    0x43: ("permanent", "ESME_RINVESMCLASS Invalid esm_class field data"),
    0x44: ("permanent", "ESME_RCNTSUBDL Cannot Submit to Distribution List"),
    0x45: ("temporary", "ESME_RSUBMITFAIL submit_sm or submit_multi failed"),
    0x48: ("permanent", "ESME_RINVSRCTON Invalid Source address TON"),
    0x49: ("permanent", "ESME_RINVSRCNPI Invalid Source address NPI"),
    0x50: ("permanent", "ESME_RINVDSTTON Invalid Destination address TON"),
    0x51: ("permanent", "ESME_RINVDSTNPI Invalid Destination address NPI"),
    0x53: ("bind", "ESME_RINVSYSTYP Invalid system_type field"),
    0x54: ("permanent", "ESME_RINVREPFLAG Invalid replace_if_present flag"),
    0x55: ("permanent", "ESME_RINVNUMMSGS Invalid number of messages"),
    0x58: ("throttled", "ESME_RTHROTTLED Throttling error (ESME has exceeded allowed limits)"),
    0x61: ("permanent", "ESME_RINVSCHED Invalid Scheduled Delivery Time"),
    0x62: ("permanent", "ESME_RINVEXPIRY Invalid message validity period (Expiry time)"),
    0x63: ("permanent", "ESME_RINVDFTMSGID Predefined Message Invalid or Not Found"),
    0x64: ("temporary", "ESME_RX_T_APPN ESME Receiver Temporary App Error Code"),
    0x65: ("permanent", "ESME_RX_P_APPN ESME Receiver Permanent App Error Code"),
    0x66: ("permanent", "ESME_RX_R_APPN ESME Receiver Reject Message Error Code"),
    0x67: ("temporary", "ESME_RQUERYFAIL query_sm request failed"),
    0xC0: ("permanent", "ESME_RINVOPTPARSTREAM Error in the optional part of the PDU Body"),
    0xC1: ("permanent", "ESME_ROPTPARNOTALLWD Optional Parameter not allowed"),
    0xC2: ("permanent", "ESME_RINVPARLEN Invalid Parameter Length"),
    0xC3: ("permanent", "ESME_RMISSINGOPTPARAM Expected Optional Parameter missing"),
    0xC4: ("permanent", "ESME_RINVOPTPARAMVAL Invalid Optional Parameter Value"),
    0xFE: ("temporary", "ESME_RDELIVERYFAILURE Delivery Failure (used for data_sm_resp)"),
    0xFF: ("temporary", "ESME_RUNKNOWNERR Unknown Error"),
}

DESCRIPTIONS: Mapping[int, str] = {code: desc for code, (_, desc) in _TABLE.items()}
"""Name and description of each command_status in SMPP 3.4 §5.1.3."""

_CLASSES = ("throttled", "temporary", "permanent", "bind")


_CODE = re.compile(r"0[xX](?P<hex>[0-9A-Fa-f]{1,8})|(?P<dec>[1-9][0-9]{0,9}|0)")


def parse_status_code(text: str) -> int | None:
    """A command_status written ``0x00000401``, ``0x401`` or ``1025`` (blanks around it are
    allowed), or None for anything else: no sign, underscore or non-ASCII digit."""
    m = _CODE.fullmatch(text.strip())
    if m is None:
        return None
    return int(m["hex"], 16) if m["hex"] is not None else int(m["dec"])


def format_status(code: int) -> str:
    """The code as the project writes it in outcomes and logs: ``0x00000058``."""
    return f"0x{code:08X}"


class StatusTable:
    """The §5.1.3 classification with one route's overrides on top.

    ``overrides`` maps a code written as text (``"0x00000401"``, ``"0x401"`` or ``"1025"``) to a
    class; :meth:`__init__` raises ``ValueError`` naming the bad key or value, so a config
    loader can report it before anything connects.
    """

    __slots__ = ("_classes",)

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        classes: dict[int, StatusClass] = {code: cls for code, (cls, _) in _TABLE.items()}
        for key, value in (overrides or {}).items():
            code = parse_status_code(key)
            if code is None:
                raise ValueError(f"status_overrides key {key!r} is not a number")
            if not 0 < code <= 0xFFFFFFFF:
                raise ValueError(f"status_overrides key {key!r} is outside 1..0xFFFFFFFF")
            if value not in _CLASSES:
                raise ValueError(f"status_overrides[{key!r}] = {value!r}: not one of {_CLASSES}")
            classes[code] = value  # type: ignore[assignment]
        self._classes = classes

    def classify(self, code: int) -> StatusClass:
        """The class of ``code``; unknown codes (vendor 0x400-0x4FF included) are temporary."""
        return self._classes.get(code, "temporary")

    @staticmethod
    def describe(code: int) -> str:
        """A human reason for ``code`` (the spec's name and description, or "vendor ...")."""
        desc = DESCRIPTIONS.get(code)
        if desc is not None:
            return desc
        if 0x400 <= code <= 0x4FF:
            return f"SMSC vendor specific error {format_status(code)}"
        return f"reserved command_status {format_status(code)}"
