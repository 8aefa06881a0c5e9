"""Tracked links end to end: the API rewrites URLs at accept (a real socket, a real SQLite
file), the redirect listener answers the short links and counts the clicks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
import trio

from smsgw.config.loader import parse
from smsgw.gateway.service import Gateway
from tests.conftest import OTHER_TOKEN, Running, StartGateway, gateway_toml
from tests.receivers import start_receiver

pytestmark = pytest.mark.trio

BASE = "https://s.shop.example"
LINKS = f'[links]\nlisten = "127.0.0.1:0"\nbase_url = "{BASE}"\n'
LONG_URL = "https://shop.example/cart/recover?" + "&".join(f"item{i}=12345" for i in range(12))
TEXT = f"Your cart is waiting: {LONG_URL}"
SECRET = "whsec-0123456789"


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


async def test_a_template_rendered_for_the_recipient_gets_its_links_tracked(
    start_gateway: StartGateway,
) -> None:
    # The template's variable holds the long URL: the rendered text is what is rewritten.
    gw = await start_gateway(LINKS)
    template = {"name": "cart", "text": "Hi {{name|there}}, your cart: {{url}}"}
    status, _ = await gw.call("POST", "/v1/templates", template)
    assert status == 201
    send = {
        "to": "+4917012345678",
        "template": "cart",
        "vars": {"name": "Ana", "url": LONG_URL},
        "track_links": True,
    }
    status, body = await gw.call("POST", "/v1/messages", send)
    assert status == 202 and isinstance(body, dict) and body["parts"] == 1
    row = await gw.gateway.store.get("shop", body["id"])
    assert row is not None and row.template == "cart"
    [link] = row.links
    assert link.url == LONG_URL and row.text == f"Hi Ana, your cart: {link.short_url}"


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


# -- the redirect listener ---------------------------------------------------------------------

MOZILLA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
WHATSAPP = "WhatsApp/2.23.20.0 A"


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


async def follow(
    address: tuple[str, int] | None, path: str, ua: str = MOZILLA, method: str = "GET"
) -> Answer:
    """One request to the redirect listener on a real socket, as a browser sends it."""
    assert address is not None
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(*address)
        async with stream:
            head = f"{method} {path} HTTP/1.1\r\nHost: s.shop.example\r\nUser-Agent: {ua}\r\n"
            await stream.send_all(f"{head}Connection: close\r\n\r\n".encode())
            raw = b""
            while chunk := await stream.receive_some():
                raw += chunk
    top, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split()[1]), headers, body)


async def _tracked(gw: Running, text: str = TEXT, **extra: object) -> tuple[str, str]:
    """Send a tracked message; its id and the path of its (first) short link."""
    msg = {"to": "+4917012345678", "text": text, "track_links": True, **extra}
    status, body = await gw.call("POST", "/v1/messages", msg)
    assert status == 202 and isinstance(body, dict)
    row = await gw.gateway.store.get(None, body["id"])
    assert row is not None
    return body["id"], "/" + row.links[0].code


def _clicks(gw: Running, kind: str) -> float | None:
    registry = gw.gateway.metrics.registry
    return registry.get_sample_value("smsgw_link_clicks_total", {"kind": kind})


async def test_a_short_link_redirects_and_the_click_is_recorded_and_attributed(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(LINKS)
    public_id, path = await _tracked(gw)
    got = await follow(gw.gateway.links_address, path)
    assert got.status == 302 and got.headers["location"] == LONG_URL
    assert got.headers["cache-control"] == "no-store" and got.body == b""
    row = await gw.gateway.store.get("shop", public_id)
    assert row is not None
    [link] = row.links
    assert (link.clicks, link.previews) == (1, 0) and link.first_click_at is not None
    assert _clicks(gw, "click") == 1 and _clicks(gw, "preview") == 0
    # The API's routes are not on this listener, nor is this listener's path on the API.
    assert (await follow(gw.gateway.links_address, "/v1/messages")).status == 404
    status, _ = await gw.call("GET", path)
    assert status == 404


async def test_a_preview_fetcher_is_counted_apart_and_head_works(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(LINKS)
    public_id, path = await _tracked(gw)
    preview = await follow(gw.gateway.links_address, path, ua=WHATSAPP)
    head = await follow(gw.gateway.links_address, path, method="HEAD")
    for got in (preview, head):
        assert got.status == 302 and got.headers["location"] == LONG_URL
    assert head.body == b""
    row = await gw.gateway.store.get("shop", public_id)
    assert row is not None and (row.links[0].clicks, row.links[0].previews) == (0, 2)
    assert row.links[0].first_click_at is None
    assert _clicks(gw, "preview") == 2 and _clicks(gw, "click") == 0


async def test_an_unknown_code_is_a_404_page_and_an_expired_one_a_410_page(
    start_gateway: StartGateway,
) -> None:
    now = [1_800_000_000.0]
    gw = await start_gateway(LINKS + "expire_after = 3600\n", wall=lambda: now[0])
    public_id, path = await _tracked(gw)
    for bad in ("/zzzzzzz", "/", "/no/such/thing", "/%00"):
        missing = await follow(gw.gateway.links_address, bad)
        assert missing.status == 404 and missing.headers["content-type"].startswith("text/html")
        assert b"Link not found" in missing.body and b"Traceback" not in missing.body
    now[0] += 3_599.0
    assert (await follow(gw.gateway.links_address, path)).status == 302
    now[0] += 1.0
    gone = await follow(gw.gateway.links_address, path)
    assert gone.status == 410 and b"Link expired" in gone.body
    assert gone.headers["content-type"].startswith("text/html")
    assert (await follow(gw.gateway.links_address, path, method="HEAD")).status == 410
    row = await gw.gateway.store.get("shop", public_id)
    assert row is not None and row.links[0].clicks == 1
    registry = gw.gateway.metrics.registry
    misses = {
        r: registry.get_sample_value("smsgw_link_misses_total", {"reason": r})
        for r in ("unknown", "expired")
    }
    assert misses == {"unknown": 4, "expired": 2}
    refused = await follow(gw.gateway.links_address, path, method="POST")
    assert refused.status == 405 and refused.headers["allow"] == "GET, HEAD"


async def test_a_click_fires_a_message_clicked_webhook(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)
    gw = await start_gateway(LINKS)
    public_id, path = await _tracked(gw, callback_url=receiver.url, webhook_events="final")
    await follow(gw.gateway.links_address, path, ua=WHATSAPP)  # a preview: no webhook
    await follow(gw.gateway.links_address, path)
    await gw.wait_final(public_id)
    with trio.fail_after(20):
        while True:
            events = [r.json() for r in receiver.requests]
            if len(events) >= 2:
                break
            await receiver.wait_for(len(receiver.requests) + 1)
    clicked = [e for e in events if e.get("event") == "message.clicked"]
    assert len(clicked) == 1 and len(events) == 2  # and the final status
    assert clicked[0]["id"] == public_id and clicked[0]["url"] == LONG_URL
    assert clicked[0]["to"] == "+4917012345678" and clicked[0]["user_agent"] == MOZILLA
    assert str(clicked[0]["short_url"]).endswith(path)
    assert all(r.signed_with(SECRET) for r in receiver.requests)


async def test_clicks_survive_a_clean_restart(tmp_path: Path) -> None:
    config = parse(gateway_toml(tmp_path, LINKS).encode(), "test.toml", {})
    async with trio.open_nursery() as nursery:
        first = Gateway(config)
        with trio.fail_after(20):
            await nursery.start(first.run)
        running = Running(first, "http://{}:{}".format(*(first.address or ("", 0))))
        public_id, path = await _tracked(running)
        for _ in range(3):
            assert (await follow(first.links_address, path)).status == 302
        first.shutdown()
    async with trio.open_nursery() as nursery:
        second = Gateway(config)
        with trio.fail_after(20):
            await nursery.start(second.run)
        row = await second.store.get("shop", public_id)
        assert row is not None and row.links[0].clicks == 3
        assert (await follow(second.links_address, path)).status == 302
        second.shutdown()


async def test_get_shows_a_tracked_messages_links_and_their_clicks(
    start_gateway: StartGateway,
) -> None:
    now = [1_800_000_000.0]
    gw = await start_gateway(LINKS, wall=lambda: now[0])
    text = f"Cart: {LONG_URL} or https://shop.example/help."
    public_id, path = await _tracked(gw, text=text)
    status, before = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(before, dict)
    first, second = before["links"]
    assert (first["url"], first["clicks"], first["first_click_at"]) == (LONG_URL, 0, None)
    assert second["url"] == "https://shop.example/help"
    assert before["text"] == f"Cart: {first['short_url']} or {second['short_url']}."
    now[0] += 60.0
    await follow(gw.gateway.links_address, path, ua=WHATSAPP)
    now[0] += 60.0
    await follow(gw.gateway.links_address, path)
    now[0] += 60.0
    await follow(gw.gateway.links_address, path)
    status, after = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(after, dict)
    assert after["links"][0] == {
        "url": LONG_URL,
        "short_url": first["short_url"],
        "clicks": 2,
        "first_click_at": "2027-01-15T08:02:00.000Z",
        "previews": 1,
    }
    assert after["links"][1]["clicks"] == 0
    status, plain = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": TEXT})
    assert isinstance(plain, dict)
    status, untracked = await gw.call("GET", f"/v1/messages/{plain['id']}")
    assert status == 200 and isinstance(untracked, dict) and "links" not in untracked


async def test_two_keys_cannot_see_each_others_links(start_gateway: StartGateway) -> None:
    gw = await start_gateway(LINKS)
    public_id, _ = await _tracked(gw)
    status, _ = await gw.call("GET", f"/v1/messages/{public_id}", token=OTHER_TOKEN)
    assert status == 404
    status, mine = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(mine, dict) and len(mine["links"]) == 1
    status, theirs = await gw.call("GET", "/v1/messages", token=OTHER_TOKEN)
    assert status == 200 and isinstance(theirs, dict) and theirs["messages"] == []
