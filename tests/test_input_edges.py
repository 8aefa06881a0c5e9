"""Input at the edges of what is valid: far-future send_at, trailing newlines, lone UTF-16
surrogates, spreadsheet formulas in CSV exports. A real gateway, socket and SQLite file."""

from __future__ import annotations

import csv
import io
import time

import pytest

from smsgw.queue.consent.numbers import shape_ok
from smsgw.queue.model import rfc3339
from tests.conftest import OTHER_TOKEN, StartGateway
from tests.policy_helpers import BERLIN

TO = "+4917012345678"


def _from_now(seconds: float) -> str:
    return rfc3339(time.time() + seconds)


async def test_send_at_beyond_the_horizon_is_refused(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    for when in (_from_now(400 * 86400), "9999-12-31T23:59:59Z"):
        status, err = await gw.call(
            "POST", "/v1/messages", {"to": TO, "text": "x", "send_at": when}
        )
        assert status == 422 and isinstance(err, dict)
        assert (err["error"]["code"], err["error"]["field"]) == ("send_at_too_far", "send_at")
    status, ok = await gw.call(
        "POST", "/v1/messages", {"to": TO, "text": "x", "send_at": _from_now(300 * 86400)}
    )
    assert status == 202 and isinstance(ok, dict) and ok["status"] == "scheduled"
    assert gw.gateway.store.active_total == 1


async def test_the_horizon_is_configurable(start_gateway: StartGateway) -> None:
    gw = await start_gateway(extra="[limits]\nmax_send_ahead = 3600")
    items = [
        {"to": TO, "text": "x", "send_at": _from_now(1800)},
        {"to": TO, "text": "x", "send_at": _from_now(7200)},
    ]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict)
    first, second = body["messages"]
    assert first["status"] == "scheduled"
    assert second["error"]["code"] == "send_at_too_far"
    assert second["error"]["field"] == "messages[1].send_at"


@pytest.mark.parametrize("sender", ["Shop\n", "+4915112345678\n", "12345\n", "MyShop\n"])
async def test_a_trailing_newline_is_not_a_valid_sender(
    start_gateway: StartGateway, sender: str
) -> None:
    gw = await start_gateway()
    for token in ("test-token-0123456789abcdef", OTHER_TOKEN):
        status, err = await gw.call(
            "POST", "/v1/messages", {"to": TO, "text": "x", "from": sender}, token=token
        )
        assert status == 422 and isinstance(err, dict)
        assert (err["error"]["code"], err["error"]["field"]) == ("invalid_sender", "from")
    assert gw.gateway.store.active_total == 0


def test_the_number_shape_check_refuses_a_trailing_newline() -> None:
    assert shape_ok(TO) and not shape_ok(TO + "\n")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/messages", rb'{"to":"+4917012345678","text":"hi \ud83d"}', "text"),
        ("/v1/messages", rb'{"to":"+4917012345678","text":"\udc00 there"}', "text"),
        (
            "/v1/messages",
            rb'{"to":"+4917012345678","text":"x","client_ref":"\ud800"}',
            "client_ref",
        ),
        (
            "/v1/messages",
            rb'{"messages":[{"to":"+4917012345678","text":"ok"},'
            rb'{"to":"+4917012345678","text":"bad \ud800\u0041"}]}',
            "messages[1].text",
        ),
        ("/v1/messages", rb'{"to":"+4917012345678","text":"x","\ud800":1}', "\\ud800"),
        ("/v1/optouts", rb'{"number":"+4915112345678","note":"\ud800"}', "note"),
        ("/v1/messages/preview", rb'{"text":"\udfff"}', "text"),
    ],
)
async def test_a_lone_surrogate_is_a_422_naming_the_field(
    start_gateway: StartGateway, path: str, body: bytes, field: str
) -> None:
    gw = await start_gateway()
    status, err = await gw.call("POST", path, raw=body)
    assert status == 422 and isinstance(err, dict), err
    assert (err["error"]["code"], err["error"]["field"]) == ("invalid_text", field)
    assert gw.gateway.store.active_total == 0
    _, page = await gw.call("GET", "/v1/optouts")
    assert page == {"optouts": [], "next": None}


async def test_a_surrogate_pair_is_an_emoji_not_an_error(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, body = await gw.call(
        "POST", "/v1/messages", raw=rb'{"to":"+4917012345678","text":"thanks \ud83d\ude00"}'
    )
    assert status == 202 and isinstance(body, dict) and body["encoding"] == "ucs2"
    status, err = await gw.call("POST", "/v1/messages", raw=b'{"to": "+49170')
    assert status == 400 and isinstance(err, dict)
    assert err["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "note",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\tTAB",
        "\rCR",
    ],
)
async def test_csv_export_neutralises_formulas_and_imports_back(
    start_gateway: StartGateway, note: str
) -> None:
    gw = await start_gateway()
    await gw.call("POST", "/v1/optouts", {"number": BERLIN, "note": note})
    status, data = await gw.call("GET", "/v1/optouts?format=csv")
    assert status == 200 and isinstance(data, bytes)
    header, row = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert header[0] == "number" and row[0] == "'" + BERLIN and row[-1] == "'" + note
    # No cell a spreadsheet would run: none starts with = + - @ TAB or CR.
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    # The export imports back as it was (the quote is dropped again).
    await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all")
    status, body = await gw.call(
        "POST", "/v1/optouts", raw=data, headers=[("Content-Type", "text/csv")]
    )
    assert status == 200 and body == {"imported": 1, "added": 1}
    _, one = await gw.call("GET", f"/v1/optouts/{BERLIN}")
    assert isinstance(one, dict) and one["optouts"][0]["note"] == note
