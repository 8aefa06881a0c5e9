"""The bring-up sequence of a modem, as data (sans-IO).

The driver walks :data:`SEQUENCE` in order. A :class:`Step` is one command with alternatives
tried in order until one answers OK (``ATZ`` else ``AT&F``; ``+CNMI`` variants that different
firmware accept); a :class:`Gate` is a piece of logic the driver owns (unlocking the SIM, waiting
for the network, reading stored messages), named here so the order lives in one place.

Why this order: ESC first, because a modem left at the ``>`` prompt by a crash takes every
byte as PDU text; reset and echo off before anything is parsed; identity early so that vendor
quirks (Huawei's URC noise) can be silenced before the slow steps; the SIM before anything that
needs it; registration before the SMS settings some modems refuse until they are attached;
stored messages last, once new-message indications are on, so nothing arrives unseen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SEQUENCE", "Gate", "Step", "render"]


@dataclass(frozen=True, slots=True)
class Step:
    """One command (with alternatives) of the bring-up.

    ``required``: if no alternative succeeds, the bring-up fails. ``when``: only run if that
    flag is set (``huawei``, ``smsc``). ``record``: the name of the identity field the answer
    fills. ``settle``: see :class:`smsgw.drivers.modem.at.Command` (modems that omit OK).
    Commands may hold ``{name}`` placeholders filled by :func:`render`.
    """

    name: str
    commands: tuple[str, ...]
    required: bool = True
    when: str | None = None
    record: str | None = None
    settle: float | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """A named piece of bring-up logic the driver implements (``pin``, ``registration``...)."""

    name: str


SEQUENCE: tuple[Step | Gate, ...] = (
    Gate("sync"),  # ESC, then AT until the modem answers
    Step("reset", ("ATZ", "AT&F")),
    Step("echo_off", ("ATE0",)),
    Step("verbose_errors", ("AT+CMEE=1",), required=False),
    Step("manufacturer", ("AT+CGMI",), required=False, record="manufacturer"),
    Step("model", ("AT+CGMM",), required=False, record="model"),
    Step("revision", ("AT+CGMR",), required=False, record="revision"),
    Step("imei", ("AT+CGSN",), required=False, record="imei"),
    Step("quiet", ("AT^CURC=0",), required=False, when="huawei"),
    Gate("pin"),
    Step("imsi", ("AT+CIMI",), required=False, record="imsi"),
    Step(
        "iccid",
        ("AT+CCID", "AT+ICCID", "AT+QCCID", "AT^ICCID?"),
        required=False,
        record="iccid",
    ),
    Gate("registration"),
    Step("pdu_mode", ("AT+CMGF=0",)),
    Step(
        "storage",
        ('AT+CPMS="SM","SM","SM"', 'AT+CPMS="ME","ME","ME"', 'AT+CPMS="SM","SM"', 'AT+CPMS="SM"'),
    ),
    # mt=1: new messages are stored and announced (+CMTI), so they survive until stored by
    # us; ds=1: status reports come directly (+CDS), else ds=2 stored (+CDSI).
    Step(
        "indications",
        ("AT+CNMI=2,1,0,1,0", "AT+CNMI=2,1,0,2,0", "AT+CNMI=1,1,0,1,0", "AT+CNMI=1,1,0,2,0"),
    ),
    Step("smsc", ('AT+CSCA="{smsc}",145',), when="smsc"),
    Step("service", ("AT+CSMS?",), required=False, record="service"),
    Step("operator", ("AT+COPS?",), required=False, record="operator"),
    Step("signal", ("AT+CSQ",), required=False, record="signal", settle=0.5),
    Gate("stored"),  # read what is already in storage
)
"""The whole bring-up, in order."""


def render(command: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders; values must be printable ASCII without quotes."""
    for key, val in values.items():
        if '"' in val or not all(" " <= ch <= "~" for ch in val):
            raise ValueError(f"{key} must be printable ASCII without quotes")
    return command.format_map(dict(values))
