"""Tracked links end to end: the API rewrites URLs at accept (a real socket, a real SQLite
file), the redirect listener answers the short links and counts the clicks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import StartGateway

pytestmark = pytest.mark.trio

BASE = "https://s.shop.example"
LINKS = f'[links]\nlisten = "127.0.0.1:0"\nbase_url = "{BASE}"\n'
LONG_URL = "https://shop.example/cart/recover?" + "&".join(f"item{i}=12345" for i in range(12))
TEXT = f"Your cart is waiting: {LONG_URL}"


async def test_rewriting_makes_the_long_url_short_and_the_message_one_part(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(LINKS)
    status, plain = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": TEXT})
    assert status == 202 and isinstance(plain, dict) and plain["parts"] == 2
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "text": TEXT, "track_links": True}
    )
    assert status == 202 and isinstance(body, dict) and body["parts"] == 1
    row = await gw.gateway.store.get("shop", body["id"])
    assert row is not None and row.parts_total == 1
    [link] = row.links
    assert link.url == LONG_URL and row.text == f"Your cart is waiting: {link.short_url}"
    assert link.short_url.startswith(BASE + "/") and len(link.code) == 7


async def test_a_batch_rewrites_per_item(start_gateway: StartGateway) -> None:
    gw = await start_gateway(LINKS)
    items = [
        {"to": "+4917012345678", "text": TEXT, "track_links": True},
        {"to": "+4917012345679", "text": TEXT},
    ]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict)
    out: list[dict[str, Any]] = body["messages"]
    assert [m["parts"] for m in out] == [1, 2]
    tracked = await gw.gateway.store.get("shop", out[0]["id"])
    untracked = await gw.gateway.store.get("shop", out[1]["id"])
    assert tracked is not None and len(tracked.links) == 1
    assert untracked is not None and untracked.links == [] and untracked.text == TEXT


async def test_track_links_without_a_links_listener_is_refused_naming_the_field(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    msg = {"to": "+4917012345678", "text": TEXT, "track_links": True}
    status, body = await gw.call("POST", "/v1/messages", msg)
    assert status == 422 and isinstance(body, dict)
    assert (body["error"]["field"], body["error"]["code"]) == ("track_links", "links_off")
    status, batch = await gw.call("POST", "/v1/messages", {"messages": [msg]})
    assert status == 202 and isinstance(batch, dict)
    assert batch["messages"][0]["error"]["field"] == "messages[0].track_links"
    assert gw.gateway.store.active_total == 0
