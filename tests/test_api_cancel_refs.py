"""POST /v1/messages/cancel end to end: a real gateway on a loopback port, a real SQLite file,
the simulator route; what has not left is cancelled for good, what has is listed."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from smsgw.queue.model import rfc3339
from tests.conftest import OTHER_TOKEN, Running, StartGateway
from tests.policy_helpers import BERLIN, at

pytestmark = pytest.mark.trio

NIGHT_IN_BERLIN = at("2027-01-15T03:00:00")
OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
SLOW_RECEIPTS = (
    '[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 1000\nburst = 100\n'
    "latency = 0\nreceipt_delay = 86400\nseed = 1\n"
)
"""The carrier accepts at once and reports delivery a day later: a sent message stays
submitted while a test runs."""


async def start(start_gateway: StartGateway) -> Running:
    return await start_gateway(OPS, SLOW_RECEIPTS, wall=lambda: NIGHT_IN_BERLIN)


async def pause(gw: Running) -> None:
    """The route claims nothing more: what is sent from now on stays queued."""
    runner = gw.gateway.scheduler.runners["sim"]
    runner.pause(NIGHT_IN_BERLIN)
    with trio.fail_after(20):
        await runner.wait_parked()


async def send(gw: Running, token: str = "test-token-0123456789abcdef", **msg: Any) -> str:
    status, body = await gw.call("POST", "/v1/messages", {"to": BERLIN, **msg}, token=token)
    assert status == 202 and isinstance(body, dict), body
    return str(body["id"])


async def wait_status(gw: Running, public_id: str, wanted: str) -> None:
    store = gw.gateway.store
    with trio.fail_after(20):
        while True:
            version = store.version
            row = await store.get(None, public_id)
            if row is not None and row.status == wanted:
                return
            await store.wait_changed(version)


async def view(gw: Running, public_id: str) -> Any:
    status, msg = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200, msg
    return msg


async def cancel(gw: Running, body: object, token: str | None = None) -> tuple[int, Any]:
    if token is None:
        return await gw.call("POST", "/v1/messages/cancel", body)
    return await gw.call("POST", "/v1/messages/cancel", body, token=token)


async def test_what_has_not_left_is_cancelled_and_what_has_is_listed(
    start_gateway: StartGateway,
) -> None:
    gw = await start(start_gateway)
    sent = await send(gw, text="Your cart", client_ref="cart-7/1")
    await wait_status(gw, sent, "submitted")
    await pause(gw)
    queued = await send(gw, text="Still there?", client_ref="cart-7/2")
    later = rfc3339(NIGHT_IN_BERLIN + 86400)
    scheduled = await send(gw, text="Tomorrow", client_ref="cart-7/3", send_at=later)
    deferred = await send(gw, text="Sale", client_ref="cart-7/4", **{"class": "marketing"})
    mine_elsewhere = await send(gw, text="Other cart", client_ref="cart-70/1")
    theirs = await send(gw, OTHER_TOKEN, text="Theirs", client_ref="cart-7/2", **{"from": "MyShop"})

    status, body = await cancel(gw, {"prefix": "cart-7/"})

    assert status == 200, body
    assert body["cancelled"] == [
        {"id": queued, "client_ref": "cart-7/2"},
        {"id": scheduled, "client_ref": "cart-7/3"},
        {"id": deferred, "client_ref": "cart-7/4"},
    ]
    assert body["already_left"] == [{"id": sent, "client_ref": "cart-7/1", "status": "submitted"}]
    assert body["more"] is False
    for public_id in (queued, scheduled, deferred):
        msg = await view(gw, public_id)
        assert msg["status"] == "cancelled"
        assert msg["history"][-1] == {
            "at": rfc3339(NIGHT_IN_BERLIN),
            "status": "cancelled",
            "note": "cancelled by the client",
        }
    # The other key's message of the same reference, and the other cart, go out.
    gw.gateway.scheduler.runners["sim"].resume()
    await wait_status(gw, theirs, "submitted")
    await wait_status(gw, mine_elsewhere, "submitted")
    msg = await view(gw, queued)
    assert msg["status"] == "cancelled" and msg["parts"][0]["carrier_id"] is None


async def test_an_exact_reference_and_the_answer_when_nothing_matched(
    start_gateway: StartGateway,
) -> None:
    gw = await start(start_gateway)
    await pause(gw)
    one = await send(gw, text="a", client_ref="review/9")
    await send(gw, text="b", client_ref="review/90")
    status, body = await cancel(gw, {"client_ref": "review/9"})
    assert (status, body) == (
        200,
        {"cancelled": [{"id": one, "client_ref": "review/9"}], "already_left": [], "more": False},
    )
    status, body = await cancel(gw, {"client_ref": "review/9"}, OTHER_TOKEN)
    assert (status, body) == (200, {"cancelled": [], "already_left": [], "more": False})
    status, body = await cancel(gw, {"prefix": "review/_"})
    assert body["cancelled"] == []


async def test_two_keys_never_cancel_each_others_and_an_admin_cancels_any(
    start_gateway: StartGateway,
) -> None:
    gw = await start(start_gateway)
    await pause(gw)
    mine = await send(gw, text="a", client_ref="flow/1")
    theirs = await send(gw, OTHER_TOKEN, text="b", client_ref="flow/1", **{"from": "MyShop"})
    status, body = await cancel(gw, {"prefix": "flow/", "key": "shop"}, OTHER_TOKEN)
    assert status == 403 and body["error"]["code"] == "not_your_key"
    assert body["error"]["field"] == "key"
    status, body = await cancel(gw, {"prefix": "flow/", "key": "other"}, OTHER_TOKEN)
    assert [m["id"] for m in body["cancelled"]] == [theirs]
    status, body = await cancel(gw, {"prefix": "flow/"}, OTHER_TOKEN)
    assert body["cancelled"] == [] and body["already_left"][0]["status"] == "cancelled"
    msg = await view(gw, mine)
    assert msg["status"] == "queued"
    # An admin key: every configured key's messages, or the key it names.
    again = await send(gw, OTHER_TOKEN, text="c", client_ref="flow/2", **{"from": "MyShop"})
    status, body = await cancel(gw, {"prefix": "flow/", "key": "other"}, OPS_TOKEN)
    assert [m["id"] for m in body["cancelled"]] == [again]
    status, body = await cancel(gw, {"client_ref": "flow/1"}, OPS_TOKEN)
    assert [m["id"] for m in body["cancelled"]] == [mine]
    assert [m["id"] for m in body["already_left"]] == [theirs]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "client_ref"),
        ({"client_ref": "a", "prefix": "a"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"client_ref": ""}, "client_ref"),
        ({"prefix": None}, "prefix"),
        ({"prefix": "x" * 129}, "prefix"),
        ({"prefix": "a", "status": "queued"}, "status"),
        ({"key": "shop"}, "client_ref"),
        ([], None),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(
    start_gateway: StartGateway, body: object, field: str | None
) -> None:
    gw = await start(start_gateway)
    await pause(gw)
    kept = await send(gw, text="a", client_ref="a")
    status, reply = await cancel(gw, body)
    assert status == 422 and reply["error"]["code"] == "invalid"
    assert reply["error"].get("field") == field
    msg = await view(gw, kept)
    assert msg["status"] == "queued"
