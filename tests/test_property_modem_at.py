"""Properties of the AT conversation and line parsers (drivers/modem/at.py, lines.py,
responses.py): whatever a modem prints.

Random bytes and mutated real-looking exchanges, fed in random pieces in every state of the
conversation (idle, waiting for a result, waiting for the ``>`` prompt, after the PDU), give
events, or :class:`LineTooLong` once per overlong line; memory stays under the documented caps
(a line of :data:`MAX_LINE` bytes, a response of :data:`MAX_RESPONSE` bytes); every command
ends by its deadline. The information-line parsers return a value or None for any text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.modem.at import (
    MAX_LINE,
    MAX_RESPONSE,
    AtConversation,
    Command,
    CommandTimeout,
    Event,
    Prompt,
    RemoteProtocolError,
    Response,
    State,
    StrayLine,
    Urc,
)
from smsgw.drivers.modem.lines import is_pdu_header, parse_final, urc_name
from smsgw.drivers.modem.responses import (
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
from tests.property_helpers import budget, mutated, mutated_text

# Exchanges written for this project after what real modems send (see test_modem_at.py).
PDU = "07919471060040340409D0C8721E0E0000624022311030800AC8329BFD065DDF723619"
EXCHANGES = [
    b"AT+CSQ\r\r\n+CSQ: 24,99\r\n\r\nOK\r\n",
    b"\r\n+CMTI: \"SM\",3\r\nAT+CMGS=23\r\r\n> ",
    b"\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n",
    b"\r\n+CMGL: 1,0,,26\r\n" + PDU.encode() + b"\r\n+CMGL: 2,1,,26\r\n" + PDU.encode()
    + b"\r\n\r\nOK\r\n",
    b"\r\n+CMT: ,26\r\n" + PDU.encode() + b"\r\n",
    b"\r\n+CDS: 25\r\n0006D60B911326880736F4111011719551401110117195714000\r\n",
    b"\r\n^RSSI: 15\r\nA\r\n^BOOT:1,0,0,4,0\r\nT+CGMI\r\r\nhuawei\r\n\r\nOK\r\n",
    b"\r\n+CME ERROR: 515\r\n\r\nCOMMAND NOT SUPPORT\r\n\r\n+CMS ERROR: \xb38\r\n",
    b"\r\nRDY\r\n\r\n+CPIN: SIM PIN\r\n\r\nSMS Ready\r\n\r\nRING\r\n\r\nNO CARRIER\r\n",
    b"\r\n+CPIN: READY\r\n",
]  # fmt: skip
streams = st.one_of(
    st.binary(max_size=600),
    mutated(st.sampled_from(EXCHANGES), max_ops=6),
    st.lists(mutated(st.sampled_from(EXCHANGES), max_ops=2), max_size=4).map(b"".join),
)
COMMANDS = [
    Command("AT+CSQ", timeout=5.0),
    Command("AT+CPIN?", timeout=5.0, settle=0.5),
    Command("AT+CMGL=4", timeout=5.0),
    Command("AT+CGMI", timeout=5.0),
    Command("AT+CMGS=23", timeout=5.0, prompt=True),
]


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    out, pos = [], 0
    for step in cuts:
        out.append(data[pos : pos + step])
        pos += step
    out.append(data[pos:])
    return out


class Driver:
    """What AtPort does with a conversation, minus the tty: feed, drain, poll, bound-check."""

    def __init__(self) -> None:
        self.conv = AtConversation()
        self.events: list[Event] = []
        self.errors: list[RemoteProtocolError] = []

    def drain(self) -> None:
        while True:
            try:
                ev = self.conv.next_event()
            except RemoteProtocolError as e:
                self.errors.append(e)
                continue
            if ev is None:
                break
            assert isinstance(ev, Response | Prompt | CommandTimeout | Urc | StrayLine)
            self.events.append(ev)
        # The caps: a partial line, and what one command has collected so far.
        assert len(self.conv._buf) <= MAX_LINE
        pending = self.conv._pending
        if pending is not None:
            assert sum(len(line) for line in pending.lines) <= MAX_RESPONSE

    def feed(self, data: bytes, now: float) -> None:
        self.conv.receive_data(data, now)
        self.drain()


@budget(300)
@given(streams, st.integers(0, len(COMMANDS)), st.lists(st.integers(1, 64), max_size=10))
def test_any_bytes_in_any_state_give_events_and_every_command_ends(
    data: bytes, which: int, cuts: list[int]
) -> None:
    d = Driver()
    cmd = COMMANDS[which] if which < len(COMMANDS) else None
    if cmd is not None:
        d.conv.send_command(cmd, 0.0)
    for piece in _pieces(data, cuts):
        d.feed(piece, 1.0)
        if cmd is not None and cmd.prompt and d.conv.state is State.PROMPTED:
            d.conv.send_pdu(PDU, 1.0, 5.0)  # as the driver does on a Prompt
    d.conv.poll(100.0)
    d.drain()
    assert d.conv.pending is None and d.conv.state is State.IDLE
    assert d.conv.deadline is None
    if cmd is not None:  # the command ended exactly once: a result or a timeout
        ends = [e for e in d.events if isinstance(e, Response | CommandTimeout)]
        assert len(ends) == 1 and ends[0].command == cmd
    # The conversation is still usable afterwards (a half line left over may end it first).
    before = len(d.events)
    d.conv.send_command(Command("AT"), 200.0)
    d.feed(b"\r\nOK\r\n", 200.0)
    (r,) = [e for e in d.events[before:] if isinstance(e, Response)]
    assert r.command.text == "AT"


@pytest.mark.parametrize("width", [100, MAX_LINE])
@pytest.mark.parametrize("ok", [True, False])
def test_a_modem_that_never_stops_talking_stays_within_the_caps(width: int, ok: bool) -> None:
    # Found by the property above: the information lines of one command grew without bound
    # until its timeout (a babbling USB modem: megabytes a second for up to send_timeout).
    d = Driver()
    d.conv.send_command(Command("AT+CMGL=4", timeout=60.0), 0.0)
    count = MAX_RESPONSE // (width - 12) + 20
    d.feed(b"".join(b"%d:" % i + b"x" * (width - 12) + b"\r\n" for i in range(count)), 1.0)
    assert [e.kind for e in d.errors] == ["response_too_long"]  # once, not once a line
    d.feed(b"\r\nOK\r\n" if ok else b"", 2.0)
    d.conv.poll(100.0)
    d.drain()
    (end,) = [e for e in d.events if isinstance(e, Response | CommandTimeout)]
    assert isinstance(end, Response) == ok
    assert sum(len(line) for line in end.lines) <= MAX_RESPONSE


# -- the line and information parsers -----------------------------------------------------

any_text = st.text(max_size=200) | mutated_text(
    st.sampled_from(
        [
            "+CMS ERROR: 38",
            '+CME ERROR: "SIM busy"',
            "+CMT: ,26",
            "^RSSI: 15",
            '+CREG: 2,1,"5E25","605F",2',
            '+CPMS: "SM",3,30,"SM",3,30',
            "+CMGL: 1,0,,26",
            '+COPS: 0,0,"Vodafone.de",7',
        ]
    )
)
PARSERS: list[Callable[[str], Any]] = [
    parse_final,
    urc_name,
    is_pdu_header,
    fields,
    csq_to_dbm,
    parse_creg,
    lambda v: parse_creg(v, query=False),
    parse_cops,
    parse_cpin,
    parse_cpms,
    parse_cmti,
    parse_cmgs,
    parse_csms,
]


@budget(300)
@given(any_text)
def test_every_line_parser_takes_any_text(text: str) -> None:
    for parser in PARSERS:
        parser(text)
    final = parse_final(text)
    if final is not None and final.code is not None:
        assert 0 <= final.code <= 99999
    dbm = csq_to_dbm(text)
    assert dbm is None or -113 <= dbm <= -51
    mr = parse_cmgs(text)
    assert mr is None or 0 <= mr <= 255


@budget(200)
@given(st.lists(any_text | st.just(PDU) | st.text("0123456789ABCDEF", max_size=40), max_size=8))
def test_stored_message_listings_take_any_lines(lines: list[str]) -> None:
    for entry in parse_cmgl(lines):
        assert entry.index >= 0 and re.fullmatch("[0-9A-F]+", entry.pdu)
    got = parse_cmgr(lines, 3)
    assert got is None or got.index == 3
    parse_identity(lines)
    parse_identity(lines, ("+CGSN", "^ICCID"))
