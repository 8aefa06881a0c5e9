"""Digits from outside are ASCII decimal, everywhere (issue 13).

``"³8".isdigit()`` is true and ``int("³8")`` raises: one such byte from a modem ended the
process, and ``GET /v1/optouts?after=²`` answered 500. ``int()`` also takes what is not a
number on the wire (``"٣"``, ``" 5"``, ``"1_0"``, ``"+5"``) and refuses more than 4,300
digits. Each input below goes through the real parser that meets it; the modem ones also
through an emulated modem on a real pty to the driver, which stays up and counts the line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from smsgw.config.loader import ConfigError, parse, parse_listen
from smsgw.drivers.modem.at import (
    AtConversation,
    Command,
    LocalProtocolError,
    Response,
    StrayLine,
)
from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.modem.lines import FinalKind, is_pdu_header, parse_final
from smsgw.drivers.modem.responses import (
    csq_to_dbm,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cmti,
    parse_cpms,
    parse_creg,
)
from smsgw.drivers.seam import FailureKind
from smsgw.drivers.smpp.addressing import AddressError, classify_address, to_display
from smsgw.drivers.smpp.receipts import IdNormaliser, parse_receipt_text
from smsgw.drivers.smpp.status import StatusTable, parse_status_code
from smsgw.drivers.text import is_decimal, parse_decimal
from smsgw.gateway.http_protocol import HttpLimits, RequestReader
from smsgw.queue.consent.keyword_handler import sender_number
from smsgw.queue.consent.quiet_hours import parse_hhmm
from tests.conftest import StartGateway
from tests.modem_helpers import fast, part, running_bank

THE_LINE = b"\r\n+CMS ERROR: \xb38\r\n"
"""The byte that ended the process: 0xB3 is a superscript three in Latin-1."""

# Not a number on the wire, though isdigit() or int() would take each of them.
NOT_NUMBERS = [
    "³8",  # superscript: isdigit() true, int() raises
    "²",
    "٣٨",  # Arabic-Indic: int() takes it
    "３８",  # fullwidth: int() takes it
    "3_8",  # int() takes underscores
    " 38",
    "38 ",
    "3 8",
    "+38",
    "-38",
    "",
    "9" * 5000,  # int() raises: more than 4,300 digits
]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_the_helper_takes_ascii_digits_only(text: str) -> None:
    assert parse_decimal(text) is None
    assert not is_decimal(text)


def test_the_helper_reads_ascii_digits() -> None:
    assert parse_decimal("0038") == 38
    assert parse_decimal("1" * 18) == int("1" * 18)
    assert parse_decimal("1" * 19) is None  # longer than asked for
    assert parse_decimal("1" * 19, 19) == int("1" * 19)


# -- the AT parser ----------------------------------------------------------------------------


def _events(conv: AtConversation) -> list[object]:
    out: list[object] = []
    while (ev := conv.next_event()) is not None:
        out.append(ev)
    return out


def test_the_line_ends_a_send_as_an_unknown_error_and_is_flagged() -> None:
    conv = AtConversation()
    conv.send_command(Command("AT+CMGS=20", prompt=True), 0.0)
    conv.receive_data(b"\r\n> ", 0.0)
    _events(conv)
    conv.send_pdu("0011000B911497", 0.0, 10.0)
    conv.receive_data(THE_LINE, 1.0)
    (ev,) = _events(conv)
    assert isinstance(ev, Response) and ev.pdu_sent
    assert ev.result.kind is FinalKind.CMS_ERROR
    assert ev.result.code is None and ev.result.malformed
    assert ev.result.describe() == "CMS ?"


def test_the_line_while_idle_is_a_stray_line() -> None:
    conv = AtConversation()
    conv.receive_data(THE_LINE + b"\r\nOK\r\n", 0.0)
    assert _events(conv) == [StrayLine("+CMS ERROR: ³8"), StrayLine("OK")]


@pytest.mark.parametrize("arg", [t for t in NOT_NUMBERS if t and t == t.strip()])
def test_error_codes_that_are_not_ascii_digits_have_no_code(arg: str) -> None:
    # (Blanks around the code are framing; modems send "+CMS ERROR:  38" too.)
    for family in ("CMS", "CME"):
        result = parse_final(f"+{family} ERROR: {arg}")
        assert result is not None and result.code is None


def test_error_codes_in_ascii_digits_and_text_still_read() -> None:
    for line in ("+CMS ERROR: 38", "+CMS ERROR:38", '+cms error: "38"'):
        r = parse_final(line)
        assert r is not None and r.code == 38 and not r.malformed
    r = parse_final("+CME ERROR: SIM busy")
    assert r is not None and r.code == 14 and not r.malformed
    r = parse_final("+CME ERROR: some vendor text")  # text we do not know: not broken
    assert r is not None and r.code is None and not r.malformed
    r = parse_final("+CMS ERROR:")
    assert r is not None and r.code is None and not r.malformed


def test_a_line_is_whole_a_trailing_newline_is_not_part_of_a_match() -> None:
    # "$" matches before a final "\n" too; the patterns are anchored with "\Z".
    assert parse_final("+CMS ERROR: 38\n") is None
    assert parse_cmgl(["+CMGL: 1,0,,20", "0791AB\n"]) == []
    assert parse_cmgr(["+CMGR: 0,,20", "0791AB\n"], 1) is None
    conv = AtConversation()
    conv.send_command(Command("AT+CMGS=20", prompt=True), 0.0)
    conv.receive_data(b"\r\n> ", 0.0)
    _events(conv)
    with pytest.raises(LocalProtocolError):
        conv.send_pdu("0011000B\n", 0.0, 10.0)


@pytest.mark.parametrize("bad", ["³", "٣", "1_5", "1 5", "+5"])
def test_information_lines_with_odd_digits_read_as_absent(bad: str) -> None:
    assert parse_cmgs(bad) is None
    assert parse_cmti(f'"SM",{bad}') is None
    assert csq_to_dbm(f"{bad},99") is None
    assert parse_creg(f"0,{bad}") is None
    assert parse_cpms(f"{bad},30") is None
    assert parse_cmgl([f"+CMGL: {bad},0,,20", "0791"]) == []
    assert not is_pdu_header(f"+CMT: ,{bad}")


# -- through an emulated modem on a pty, to the driver -----------------------------------------


async def test_the_line_as_a_send_result_fails_that_part_only(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    emu.fail_next_send(0, line=THE_LINE.strip())
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            (o,) = b.sink.outcomes_got
            # An unknown code after the PDU: retried later, and it may have left.
            assert o.failure is FailureKind.TEMPORARY and o.code == "CMS ?" and o.maybe_sent
            labels = {"route": "modems", "kind": "bad_result_code"}
            assert b.sample("smsgw_protocol_errors_total", **labels) == 1
            # The modem never went down, and its next part goes out.
            assert b.bank.modems[0].state == "up"
            assert b.sample("smsgw_reconnects_total", route="modems", link=b.link(0)) is None
            await b.bank.submit([part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            assert b.sink.outcomes_got[1].failure is None


async def test_the_line_out_of_the_blue_is_counted_and_the_modem_stays_up(
    tmp_path: Path,
) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await emu.say(THE_LINE)
            # Read before the next command goes out: a line that comes while a command waits
            # is that command's answer, which is the test above.
            while b.sample("smsgw_protocol_errors_total", route="modems", kind="stray_line") != 1:
                await b.bank.wait_changed()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.sink.outcomes_got[0].failure is None
            assert b.sample("smsgw_protocol_errors_total", route="modems", kind="stray_line") == 1
            assert b.bank.modems[0].state == "up"


async def test_a_pin_of_superscript_digits_stops_the_modem_without_sending_it(
    tmp_path: Path,
) -> None:
    emu = ModemEmulator(fast("generic", pin="1234"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], pin="²³⁴⁵") as b:
            modem = b.bank.modems[0]
            while modem.failed is None:
                await b.bank.wait_changed()
            assert "not 4 to 8 digits" in modem.failed
            assert emu.commands('AT+CPIN="') == []


# -- the HTTP API ----------------------------------------------------------------------------

# As a client sends them: percent-encoded UTF-8 (the request line is ASCII).
ODD_QUERY_VALUES = {
    "superscript": "%C2%B2",
    "arabic-indic": "%D9%A3",
    "fullwidth": "%EF%BC%93",
    "underscore": "1_0",
    "blank": "%201",
    "sign": "%2B1",
    "huge": "9" * 5000,
}


@pytest.mark.parametrize("value", list(ODD_QUERY_VALUES.values()), ids=list(ODD_QUERY_VALUES))
async def test_odd_digits_in_query_parameters_are_422_naming_the_field(
    start_gateway: StartGateway, value: str
) -> None:
    gw = await start_gateway()
    for path, name in [
        ("/v1/optouts", "after"),
        ("/v1/optouts", "limit"),
        ("/v1/messages", "after"),
        ("/v1/messages", "limit"),
        ("/v1/inbound", "after"),
        ("/v1/inbound", "limit"),
    ]:
        status, body = await gw.call("GET", f"{path}?{name}={value}")
        assert status == 422, (path, name, body)
        assert isinstance(body, dict) and body["error"]["field"] == name
    status, _ = await gw.call("GET", "/v1/optouts?after=0&limit=5")
    assert status == 200


def test_content_length_in_odd_digits_is_a_400() -> None:
    for length in (b"\xb23", b"+3", b"3_0", "٣".encode()):
        reader = RequestReader(HttpLimits(), "peer")
        reader.feed(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: " + length + b"\r\n\r\nabc", 0)
        assert reader.error == 400 and not reader.pending


# -- SMPP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["+٤٩١٧٠١٢٣٤٥٦٧", "٤٩١٧٠١٢٣٤٥٦٧٨٩", "+49²", "+4_9170"])
def test_addresses_in_odd_digits_are_refused(value: str) -> None:
    with pytest.raises(AddressError):
        classify_address(value)


def test_an_smsc_address_in_odd_digits_is_not_made_e164() -> None:
    assert to_display(1, "4917012345678") == "+4917012345678"
    assert to_display(1, "²³") == "²³"


@pytest.mark.parametrize("rid", ["١٢٣", "1_23", "+123", "0x7B"])
def test_receipt_ids_in_odd_digits_are_not_read_as_numbers(rid: str) -> None:
    # Read as a number, each would have matched the message whose id is 123 (0x7B).
    n = IdNormaliser("decimal")
    assert n.from_receipt_text(rid) != n.from_response("7B")
    assert IdNormaliser("hex").from_receipt_text(rid) != IdNormaliser("hex").from_response("123")
    assert parse_receipt_text(f"id:{rid} stat:DELIVRD").message_id == rid


@pytest.mark.parametrize("key", ["1_025", "١٠٢٥", "+1025", "0x_401", "0401", "0x"])
def test_status_override_keys_in_odd_digits_are_refused(key: str) -> None:
    assert parse_status_code(key) is None
    with pytest.raises(ValueError, match="not a number"):
        StatusTable({key: "bind"})


def test_receipt_dates_in_odd_digits_are_no_date() -> None:
    assert parse_receipt_text("id:1 done date:٢٦٠١٠١١٢٠٠ stat:DELIVRD").done_at is None
    assert parse_receipt_text("id:1 done date:2601011200 stat:DELIVRD").done_at is not None


# -- config and policy --------------------------------------------------------------------------


def _config(extra: str) -> str:
    return f"""
[[routes]]
name = "sim"
driver = "simulator"

[[routes]]
name = "op"
driver = "smpp"
host = "127.0.0.1"
system_id = "shop"
{extra}
"""


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[server]\nlisten = "127.0.0.1:٨٠٨٠"\n' + _config(""), "server.listen"),
        ('[server]\nlisten = "127.0.0.1:²"\n' + _config(""), "server.listen"),
        ('[server]\nlisten = "127.0.0.1:8_080"\n' + _config(""), "server.listen"),
        (
            _config("") + '[[rules]]\nroute = ["sim"]\nprefix = "+٤٩"\n',
            "rules[0].prefix",
        ),
        ('[policy]\nquiet_start = "٠٩:٠٠"\n' + _config(""), "policy.quiet_start"),
        (_config('status_overrides = {"1_025" = "bind"}'), "routes[1].status_overrides"),
        (_config('status_overrides = {"0x0" = "bind"}'), "routes[1].status_overrides"),
        (_config("source_ton = 300"), "routes[1].source_ton"),
        (_config('tls_ca = "ca\\u0000.pem"'), "routes[1].tls_ca"),
    ],
)
def test_config_refuses_odd_digits_naming_the_key(toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(toml.encode(), "smsgw.toml", {})
    assert e.value.key == key
    assert str(e.value).startswith(f"smsgw.toml: {key}: ")


def test_listen_ports_in_ascii_digits_still_parse() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)


@pytest.mark.parametrize("text", ["٠٩:٠٠", "０９:００", "0_:00", " 9:00"])
def test_quiet_hours_refuse_odd_digits(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(text)


def test_inbound_senders_in_odd_digits_are_kept_as_they_came() -> None:
    assert sender_number("4917012345678") == "+4917012345678"
    assert sender_number("²³⁴⁵⁶⁷⁸⁹") == "²³⁴⁵⁶⁷⁸⁹"
    assert sender_number("٤٩١٧٠١٢٣٤٥٦٧٨") == "٤٩١٧٠١٢٣٤٥٦٧٨"
