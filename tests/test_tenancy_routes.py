"""Routes and messages between tenants: a key lists and sends through only the routes it is
allowed, sees no other key's figures, and reads only its own messages unless it is admin."""

from __future__ import annotations

import pytest

from tests.conftest import OTHER_TOKEN, StartGateway
from tests.helpers import in_a_month

pytestmark = pytest.mark.trio

OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
SIM = "latency = 0\nreceipt_delay = 0\nseed = 1\n"
TWO_ROUTES = (
    f'[[routes]]\nname = "sim"\ndriver = "simulator"\n{SIM}'
    f'[[routes]]\nname = "b"\ndriver = "simulator"\n{SIM}'
)
RULES = (
    '[[rules]]\nprefix = "+49"\nroute = ["b", "sim"]\n'  # failover list: b first
    '[[rules]]\nprefix = "+33"\nroute = ["b"]\n'
    '[[rules]]\nroute = ["sim"]\n'
)
GERMAN = "+4917012345678"
FRENCH = "+33612345678"
SHARED = {"in_flight", "tokens", "queued", "throttle_events"}


async def test_a_key_lists_and_uses_only_its_routes(start_gateway: StartGateway) -> None:
    gw = await start_gateway(route=TWO_ROUTES, rules=RULES, shop='routes = ["sim"]', extra=OPS)
    status, body = await gw.call("GET", "/v1/routes")
    assert status == 200 and isinstance(body, dict)
    assert [r["name"] for r in body["routes"]] == ["sim"]
    assert not SHARED & body["routes"][0].keys() and body["routes"][0]["up"] is True
    _, body = await gw.call("GET", "/v1/routes", token=OTHER_TOKEN)
    assert isinstance(body, dict) and [r["name"] for r in body["routes"]] == ["sim", "b"]
    assert all(not SHARED & r.keys() for r in body["routes"])
    # The admin key sees the figures that sum every key's traffic.
    _, body = await gw.call("GET", "/v1/routes", token=OPS_TOKEN)
    assert isinstance(body, dict) and all(r.keys() >= SHARED for r in body["routes"])

    # Naming a route the key may not use.
    status, err = await gw.call("POST", "/v1/messages", {"to": GERMAN, "text": "x", "route": "b"})
    assert status == 422 and isinstance(err, dict)
    assert (err["error"]["code"], err["error"]["field"]) == ("route_not_allowed", "route")
    # Rules keep only the allowed routes of the failover list...
    status, sent = await gw.call("POST", "/v1/messages", {"to": GERMAN, "text": "x"})
    assert status == 202 and isinstance(sent, dict)
    assert (await gw.wait_final(sent["id"])).route == "sim"
    # ...and a message whose rule names none of them has no route.
    status, err = await gw.call("POST", "/v1/messages", {"to": FRENCH, "text": "x"})
    assert status == 422 and isinstance(err, dict)
    assert (err["error"]["code"], err["error"]["field"]) == ("no_route", "to")
    # In a batch, per item.
    items = [{"to": FRENCH, "text": "x"}, {"to": GERMAN, "text": "x", "route": "b"}]
    _, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert isinstance(body, dict)
    assert [m["error"]["code"] for m in body["messages"]] == ["no_route", "route_not_allowed"]
    # A key with every route is unchanged.
    status, sent = await gw.call(
        "POST", "/v1/messages", {"to": FRENCH, "text": "x"}, token=OTHER_TOKEN
    )
    assert status == 202 and isinstance(sent, dict)
    assert (await gw.wait_final(sent["id"])).route == "b"


async def test_only_an_admin_reads_and_cancels_other_keys_messages(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(extra=OPS)
    later = {"to": GERMAN, "text": "x", "send_at": in_a_month()}
    _, mine = await gw.call("POST", "/v1/messages", later)
    _, theirs = await gw.call(
        "POST", "/v1/messages", {**later, "from": "MyShop"}, token=OTHER_TOKEN
    )
    assert isinstance(mine, dict) and isinstance(theirs, dict)
    assert (await gw.call("GET", f"/v1/messages/{theirs['id']}"))[0] == 404
    assert (await gw.call("DELETE", f"/v1/messages/{theirs['id']}"))[0] == 404
    _, page = await gw.call("GET", "/v1/messages")
    assert isinstance(page, dict) and [m["id"] for m in page["messages"]] == [mine["id"]]

    _, page = await gw.call("GET", "/v1/messages", token=OPS_TOKEN)
    assert isinstance(page, dict)
    assert [m["id"] for m in page["messages"]] == [mine["id"], theirs["id"]]
    status, one = await gw.call("GET", f"/v1/messages/{theirs['id']}", token=OPS_TOKEN)
    assert status == 200 and isinstance(one, dict) and one["from"] == "MyShop"
    status, body = await gw.call("DELETE", f"/v1/messages/{theirs['id']}", token=OPS_TOKEN)
    assert status == 200 and isinstance(body, dict) and body["status"] == "cancelled"
    _, one = await gw.call("GET", f"/v1/messages/{theirs['id']}", token=OTHER_TOKEN)
    assert isinstance(one, dict) and one["status"] == "cancelled"
    assert (await gw.call("DELETE", "/v1/messages/msg_nothing", token=OPS_TOKEN))[0] == 404
