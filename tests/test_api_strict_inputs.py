"""What the API reads exactly as its document writes it: query integers in ASCII digits, phone
numbers in E.164 as given (without a default country), RFC 3339 times with four-digit years.
A real gateway over a loopback socket with its SQLite file."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import StartGateway

NUMBER = "+4917012345678"


@pytest.mark.parametrize("raw", [" 5", "5 ", "+5", "1_0", "\u0665", "\uff15"])
async def test_a_query_integer_is_ascii_digits_only(start_gateway: StartGateway, raw: str) -> None:
    """int() also reads " 5", "+5", "1_0" and other scripts' digits; the document says
    integer, so the server reads only what an integer is written as."""
    gw = await start_gateway()
    for path in ("/v1/messages", "/v1/inbound", "/v1/optouts"):
        for name in ("limit", "after"):
            status, err = await gw.call("GET", f"{path}?{name}={quote(raw)}")
            assert status == 422 and isinstance(err, dict), (path, name, status)
            assert err["error"]["field"] == name
    status, _ = await gw.call("GET", "/v1/messages?limit=5&after=0")
    assert status == 200


@pytest.mark.parametrize(
    "raw", [NUMBER + "*", " " + NUMBER, "+49 170 1234 5678", "+49-170-12345678", "+\uff1449170"]
)
async def test_opt_out_numbers_are_e164_as_written_without_a_default_country(
    start_gateway: StartGateway, raw: str
) -> None:
    gw = await start_gateway()
    status, err = await gw.call("POST", "/v1/optouts", {"number": raw})
    assert status == 422 and isinstance(err, dict)
    assert (err["error"]["code"], err["error"]["field"]) == ("invalid_number", "number")
    status, err = await gw.call("GET", f"/v1/optouts/{quote(raw)}")
    assert status == 422 and isinstance(err, dict) and err["error"]["code"] == "invalid_number"
    status, err = await gw.call("POST", "/v1/consents", {"number": raw, "source": "web"})
    assert status == 422 and isinstance(err, dict) and err["error"]["field"] == "number"
    status, page = await gw.call("GET", "/v1/optouts")
    assert status == 200 and isinstance(page, dict) and page["optouts"] == []


async def test_national_opt_out_numbers_are_read_with_a_default_country(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(extra='[policy]\ndefault_country = "DE"')
    status, body = await gw.call("POST", "/v1/optouts", {"number": "0170 12345678"})
    assert status == 201 and isinstance(body, dict) and body["number"] == NUMBER


async def test_times_before_the_year_1000_keep_four_digits(start_gateway: StartGateway) -> None:
    """RFC 3339 years are four digits; strftime("%Y") writes 353 for the year 353."""
    gw = await start_gateway()
    status, body = await gw.call(
        "POST", "/v1/consents", {"number": NUMBER, "source": "paper", "at": "0353-06-01T12:00:00Z"}
    )
    assert status == 201 and isinstance(body, dict)
    assert body["at"] == "0353-06-01T12:00:00.000Z"


@pytest.mark.parametrize("msg_class", ["otp", "transactional", "marketing"])
@pytest.mark.parametrize("validate", ["true", "false"])
@pytest.mark.parametrize(
    "to", ["+49 170 12345678", NUMBER + " ", "+(49)17012345678", "+2101234567"]
)
async def test_a_destination_is_e164_as_written_with_a_known_calling_code(
    start_gateway: StartGateway, msg_class: str, validate: str, to: str
) -> None:
    """The same reading for every class and both settings of validate_numbers: marketing
    went through phonenumbers (which reads spaces and brackets) and transactional with
    validate_numbers = false through a shape check (which took unknown calling codes)."""
    gw = await start_gateway(extra=f"[policy]\nvalidate_numbers = {validate}")
    status, err = await gw.call("POST", "/v1/messages", {"to": to, "text": "x", "class": msg_class})
    assert status == 422 and isinstance(err, dict)
    assert (err["error"]["code"], err["error"]["field"]) == ("invalid_number", "to")
    assert gw.gateway.store.active_total == 0
    status, _ = await gw.call(
        "POST", "/v1/messages", {"to": NUMBER, "text": "x", "class": msg_class}
    )
    assert status == 202
