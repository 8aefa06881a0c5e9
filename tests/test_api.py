"""The HTTP API end to end: a real socket, a real SQLite file, the simulator route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OTHER_TOKEN, StartGateway
from tests.helpers import in_a_month

pytestmark = pytest.mark.trio


async def test_send_then_watch_it_get_delivered(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "text": "Your order #4589 has shipped"}
    )
    assert status == 202
    assert isinstance(body, dict)
    assert body["status"] == "queued" and body["parts"] == 1 and body["encoding"] == "gsm7"
    assert body["id"].startswith("msg_")
    await gw.wait_final(body["id"])
    status, msg = await gw.call("GET", f"/v1/messages/{body['id']}")
    assert status == 200 and isinstance(msg, dict)
    assert msg["status"] == "delivered"
    assert [h["status"] for h in msg["history"]] == ["queued", "sending", "submitted", "delivered"]
    assert msg["parts"][0]["carrier_id"] and msg["parts"][0]["status"] == "delivered"
    assert msg["created_at"].endswith("Z") and msg["to"] == "+4917012345678"


async def test_batch_answers_per_item_in_order(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    items = [
        {"to": "+4917012345678", "text": "one"},
        {"to": "12345", "text": "bad number"},
        {"to": "+4917012345679", "text": "", "class": "otp"},
        {"to": "+4917012345670", "text": "four", "class": "promo"},
        {"to": "+4917012345671", "text": "five €"},
    ]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict)
    out: list[dict[str, Any]] = body["messages"]
    assert len(out) == 5
    assert out[0]["status"] == "queued"
    assert out[1]["error"]["field"] == "messages[1].to"
    assert out[1]["error"]["code"] == "invalid_number"
    assert out[2]["error"]["field"] == "messages[2].text"
    assert out[3]["error"]["field"] == "messages[3].class"
    assert out[4]["encoding"] == "gsm7" and out[4]["parts"] == 1
    for item in (out[0], out[4]):
        assert (await gw.wait_final(item["id"])).status == "delivered"


async def test_batch_over_the_limit_is_refused_whole(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    items = [{"to": "+4917012345678", "text": "x"}] * 1001
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 422 and isinstance(body, dict)
    assert body["error"]["field"] == "messages"
    assert gw.gateway.store.active_total == 0


@pytest.mark.parametrize(
    ("message", "field", "code"),
    [
        ({"to": "+49 170 1234", "text": "x"}, "to", "invalid_number"),
        ({"to": "+4917012345678", "text": ""}, "text", "empty_text"),
        ({"to": "+4917012345678", "text": "x", "class": "spam"}, "class", "invalid"),
        (
            {"to": "+4917012345678", "text": "x", "send_at": "2001-01-01T00:00:00Z"},
            "send_at",
            "send_at_past",
        ),
        ({"to": "+4917012345678", "text": "x", "colour": "red"}, "colour", "invalid"),
        ({"text": "x"}, "to", "invalid"),
        ({"to": "+4917012345678", "text": "x", "route": "nowhere"}, "route", "no_route"),
        ({"to": "+4917012345678", "text": "x" * 2000}, "text", "too_many_parts"),
    ],
)
async def test_invalid_fields_get_422_naming_the_field(
    start_gateway: StartGateway, message: dict[str, object], field: str, code: str
) -> None:
    gw = await start_gateway()
    status, body = await gw.call("POST", "/v1/messages", message)
    assert status == 422, body
    assert isinstance(body, dict)
    assert body["error"]["field"] == field and body["error"]["code"] == code
    assert gw.gateway.store.active_total == 0


async def test_sender_must_be_allowed_for_the_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    msg = {"to": "+4917012345678", "text": "x", "from": "OtherShop"}
    status, body = await gw.call("POST", "/v1/messages", msg, token=OTHER_TOKEN)
    assert status == 422 and isinstance(body, dict)
    assert body["error"] == {
        "code": "sender_not_allowed",
        "message": "sender 'OtherShop' is not allowed for this API key",
        "field": "from",
    }
    status, _ = await gw.call("POST", "/v1/messages", {**msg, "from": "MyShop"}, token=OTHER_TOKEN)
    assert status == 202


async def test_protocol_level_errors(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    ok = {"to": "+4917012345678", "text": "x"}
    assert (await gw.call("POST", "/v1/messages", ok, token=None))[0] == 401
    assert (await gw.call("POST", "/v1/messages", ok, token="wrong-token-xxxxxxxx"))[0] == 401
    status, body = await gw.call("POST", "/v1/messages", raw=b'{"to": "+49170')
    assert status == 400 and isinstance(body, dict) and body["error"]["code"] == "malformed_json"
    status, _ = await gw.call(
        "POST", "/v1/messages", raw=b"to=1", headers=[("Content-Type", "text/plain")]
    )
    assert status == 415
    assert (await gw.call("GET", "/v1/messages/msg_nope"))[0] == 404
    assert (await gw.call("PUT", "/v1/messages"))[0] == 405
    assert (await gw.call("GET", "/v2/anything"))[0] == 404
    big = b'{"to": "+4917012345678", "text": "' + b"x" * 1_100_000 + b'"}'
    assert (await gw.call("POST", "/v1/messages", raw=big))[0] == 413
    assert gw.gateway.store.active_total == 0


async def test_curl_default_content_type_is_accepted(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, _ = await gw.call(
        "POST",
        "/v1/messages",
        raw=b'{"to":"+4917012345678","text":"Your order #4589 has shipped"}',
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
    )
    assert status == 202


async def test_client_ref_and_idempotency_key_return_the_original(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    msg = {"to": "+4917012345678", "text": "x", "client_ref": "order-77"}
    s1, first = await gw.call("POST", "/v1/messages", msg)
    s2, second = await gw.call("POST", "/v1/messages", {**msg, "text": "changed"})
    assert (s1, s2) == (202, 200)
    assert isinstance(first, dict) and isinstance(second, dict) and first["id"] == second["id"]
    hdr = [("Idempotency-Key", "k-1")]
    s3, third = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "text": "y"}, headers=hdr
    )
    s4, fourth = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "text": "y"}, headers=hdr
    )
    assert (s3, s4) == (202, 200)
    assert isinstance(third, dict) and isinstance(fourth, dict) and third["id"] == fourth["id"]
    assert gw.gateway.store.active["transactional"] + 0 <= 2


async def test_cancel_before_it_leaves_and_409_after(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    _, later = await gw.call(
        "POST",
        "/v1/messages",
        {"to": "+4917012345678", "text": "x", "send_at": in_a_month()},
    )
    assert isinstance(later, dict) and later["status"] == "scheduled"
    status, body = await gw.call("DELETE", f"/v1/messages/{later['id']}")
    assert status == 200 and isinstance(body, dict) and body["status"] == "cancelled"
    _, now = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": "x"})
    assert isinstance(now, dict)
    await gw.wait_final(now["id"])
    status, body = await gw.call("DELETE", f"/v1/messages/{now['id']}")
    assert status == 409 and isinstance(body, dict) and body["error"]["code"] == "already_sent"


async def test_list_pages_with_a_cursor(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    msgs = [
        {"to": f"+49170123456{i:02d}", "text": f"m{i}", "client_ref": f"r{i}"} for i in range(7)
    ]
    await gw.call("POST", "/v1/messages", {"messages": msgs})
    seen: list[str] = []
    cursor = ""
    while True:
        status, page = await gw.call("GET", f"/v1/messages?limit=3&after={cursor}")
        assert status == 200 and isinstance(page, dict)
        seen += [m["client_ref"] for m in page["messages"]]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert seen == [f"r{i}" for i in range(7)]
    status, page = await gw.call("GET", "/v1/messages?client_ref=r3")
    assert isinstance(page, dict) and [m["client_ref"] for m in page["messages"]] == ["r3"]
    status, page = await gw.call("GET", "/v1/messages", token=OTHER_TOKEN)
    assert isinstance(page, dict) and page["messages"] == []  # keys see only their own
    assert (await gw.call("GET", "/v1/messages?status=bogus"))[0] == 422
    assert (await gw.call("GET", "/v1/messages?limit=0"))[0] == 422


async def test_client_rate_limit_answers_429_with_retry_after(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(
        extra='[[keys]]\nname = "slow"\ntoken = "slow-token-0123456789"\nrate = 1\nburst = 2\n'
    )
    msg = {"to": "+4917012345678", "text": "x"}
    codes = [
        (await gw.call("POST", "/v1/messages", msg, token="slow-token-0123456789"))[0]
        for _ in range(3)
    ]
    assert codes == [202, 202, 429]


async def test_queue_full_answers_429(start_gateway: StartGateway) -> None:
    gw = await start_gateway(store="max_queued = 2")
    msgs = [{"to": "+4917012345678", "text": "x", "send_at": in_a_month()}] * 3
    status, body = await gw.call("POST", "/v1/messages", {"messages": msgs})
    assert status == 429 and isinstance(body, dict) and body["error"]["code"] == "queue_full"
    assert gw.gateway.store.active_total == 0


async def test_preview_tells_encoding_and_parts_without_sending(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    status, body = await gw.call("POST", "/v1/messages/preview", {"text": "Привет"})
    assert status == 200 and isinstance(body, dict)
    assert body["encoding"] == "ucs2" and body["parts"] == 1 and "П" in body["ucs2_chars"]
    status, body = await gw.call("POST", "/v1/messages/preview", {"text": "x" * 161})
    assert isinstance(body, dict) and (body["encoding"], body["parts"]) == ("gsm7", 2)
    assert gw.gateway.store.active_total == 0


async def test_operational_endpoints(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    assert (await gw.call("GET", "/healthz", token=None))[0] == 200
    status, ready = await gw.call("GET", "/readyz", token=None)
    assert status == 200 and isinstance(ready, dict) and ready["routes_up"] == ["sim"]
    status, doc = await gw.call("GET", "/v1/openapi.json", token=None)
    assert status == 200 and isinstance(doc, dict)
    assert "/v1/messages" in doc["paths"] and "SendRequest" in doc["components"]["schemas"]
    status, routes = await gw.call("GET", "/v1/routes")
    assert status == 200 and isinstance(routes, dict)
    assert routes["routes"][0]["name"] == "sim" and routes["routes"][0]["up"] is True
    _, sent = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": "x"})
    assert isinstance(sent, dict)
    await gw.wait_final(sent["id"])
    status, text = await gw.call("GET", "/metrics", token=None)
    assert status == 200 and isinstance(text, bytes)
    metrics = text.decode()
    assert 'smsgw_messages_accepted_total{class="transactional"} 1.0' in metrics
    assert 'smsgw_messages_final_total{class="transactional",status="delivered"} 1.0' in metrics
    assert 'smsgw_route_up{route="sim"} 1.0' in metrics
    assert 'smsgw_http_requests_total{code="202",endpoint="/v1/messages",method="POST"}' in metrics
