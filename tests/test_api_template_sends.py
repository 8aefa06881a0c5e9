"""Sending with a template over the real HTTP API and a real SQLite file: the rendered text is
what is stored and sent, the message records its template, each recipient is counted on its
own (one UCS-2 in two parts beside one GSM-7 in one), and refusals name the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OTHER_TOKEN, Running, StartGateway

pytestmark = pytest.mark.trio

ETA = {
    "name": "eta",
    "text": "Hi {{first_name}}, your order {{order}} shipped and arrives tomorrow.{{pad|}}",
    "variants": {"de": "Hallo {{first_name}}, Bestellung {{order}} ist unterwegs."},
    "class": "otp",
}


async def _gateway(start_gateway: StartGateway) -> Running:
    gw = await start_gateway()
    status, body = await gw.call("POST", "/v1/templates", ETA)
    assert status == 201, body
    return gw


async def _message(gw: Running, public_id: str) -> dict[str, Any]:
    status, body = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(body, dict), body
    return body


async def test_a_single_send_stores_the_rendered_text_and_its_template(
    start_gateway: StartGateway,
) -> None:
    gw = await _gateway(start_gateway)
    vars_ = {"first_name": "Ana", "order": 4589}
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "template": "eta", "vars": vars_}
    )
    assert status == 202 and isinstance(body, dict), body
    assert (body["encoding"], body["parts"]) == ("gsm7", 1)
    msg = await _message(gw, body["id"])
    assert msg["text"] == "Hi Ana, your order 4589 shipped and arrives tomorrow."
    assert (msg["template"], msg["class"]) == ("eta", "otp")  # the template's class
    assert (await gw.wait_final(body["id"])).status == "delivered"

    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {
            "to": "+4917012345679",
            "template": "eta",
            "vars": vars_,
            "locale": "de-AT",
            "class": "transactional",
        },
    )
    assert status == 202 and isinstance(body, dict), body
    msg = await _message(gw, body["id"])
    assert msg["text"] == "Hallo Ana, Bestellung 4589 ist unterwegs."  # de-AT -> de
    assert msg["class"] == "transactional"  # given, so kept

    status, body = await gw.call("POST", "/v1/messages", {"to": "+4917012345670", "text": "x"})
    assert status == 202 and isinstance(body, dict)
    assert (await _message(gw, body["id"]))["template"] is None


async def test_a_batch_counts_each_recipient_and_refuses_per_item(
    start_gateway: StartGateway,
) -> None:
    gw = await _gateway(start_gateway)
    items = [
        {"to": "+4917012345678", "template": "eta", "vars": {"first_name": "Ana", "order": 1}},
        {
            "to": "+4917012345679",
            "template": "eta",
            "vars": {"first_name": "Zoë", "order": 2, "pad": " 谢谢, see you soon at our shop!"},
        },
        {"to": "+4917012345670", "template": "eta", "vars": {"order": 3}},
        {"to": "+4917012345671", "template": "nope", "vars": {}},
        {"to": "+4917012345672", "template": "eta", "text": "both"},
        {"to": "+4917012345673"},
        {"to": "+4917012345674", "template": "eta", "vars": {"first_name": True, "order": 5}},
        {"to": "+4917012345675", "text": "plain"},
    ]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict), body
    out: list[dict[str, Any]] = body["messages"]
    assert (out[0]["encoding"], out[0]["parts"]) == ("gsm7", 1)
    assert (out[1]["encoding"], out[1]["parts"]) == ("ucs2", 2)
    errors = {i: (out[i]["error"]["field"], out[i]["error"]["code"]) for i in (2, 3, 4, 5, 6)}
    assert errors == {
        2: ("messages[2].vars.first_name", "missing_variable"),
        3: ("messages[3].template", "unknown_template"),
        4: ("messages[4].template", "invalid"),
        5: ("messages[5].text", "invalid"),
        6: ("messages[6].vars.first_name", "invalid_variable"),
    }
    assert out[7]["parts"] == 1
    wide = await _message(gw, out[1]["id"])
    assert wide["text"].startswith("Hi Zoë, your order 2") and wide["template"] == "eta"
    assert wide["part_count"] == 2 and wide["encoding"] == "ucs2"
    for i in (0, 1, 7):
        assert (await gw.wait_final(out[i]["id"])).status == "delivered"


@pytest.mark.parametrize(
    ("message", "status", "field", "code"),
    [
        ({"template": "eta", "vars": {"order": 1}}, 422, "vars.first_name", "missing_variable"),
        ({"template": "eta"}, 422, "vars.first_name", "missing_variable"),
        ({"template": "nope", "vars": {}}, 404, "template", "unknown_template"),
        ({"template": "eta", "text": "x", "vars": {}}, 422, "template", "invalid"),
        ({}, 422, "text", "invalid"),
        ({"template": "Bad Name"}, 422, "template", "invalid"),
        ({"template": "eta", "vars": {"first_name": [1], "order": 1}}, 422, "vars.first_name",
         "invalid_variable"),
    ],
)  # fmt: skip
async def test_refusals_name_the_field(
    start_gateway: StartGateway, message: dict[str, object], status: int, field: str, code: str
) -> None:
    gw = await _gateway(start_gateway)
    got, body = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", **message})
    assert got == status and isinstance(body, dict), body
    assert (body["error"]["field"], body["error"]["code"]) == (field, code)
    assert gw.gateway.store.active_total == 0


async def test_another_key_cannot_send_with_the_template(start_gateway: StartGateway) -> None:
    gw = await _gateway(start_gateway)
    vars_ = {"first_name": "Ana", "order": 1}
    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {"to": "+4917012345678", "template": "eta", "vars": vars_, "from": "MyShop"},
        token=OTHER_TOKEN,
    )
    assert status == 404 and isinstance(body, dict)
    assert body["error"]["code"] == "unknown_template"
