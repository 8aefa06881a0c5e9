"""The flows shipped in config/smsgw.example.toml, loaded as they are and driven by events:
abandoned cart, the post-purchase sequence, win-back."""

from __future__ import annotations

from tests.conftest import StartGateway
from tests.flow_helpers import NUMBER, Wall, event, example_flows, message, runs, states, tick
from tests.policy_helpers import at

DAY = 86400.0
MORNING = at("2027-01-15T10:00:00")  # 11:00 in Berlin: marketing may go


async def test_the_abandoned_cart_reminds_after_1h_and_stops_when_an_order_comes(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(example_flows(), wall=wall)
    data = {"name": "Ann", "url": "https://shop.example/c/1"}
    reply = await event(gw, {"type": "cart_abandoned", "number": NUMBER, "ref": "c1", "data": data})
    assert [s["flow"] for s in reply["started"]] == ["abandoned_cart"]

    wall.t = MORNING + 3599
    await tick(gw)
    [run] = await runs(gw, "abandoned_cart")
    assert states(run) == ["waiting"]

    wall.t = MORNING + 3600
    await tick(gw)
    [run] = await runs(gw, "abandoned_cart")
    assert states(run) == ["sent", "waiting"]
    first = await message(gw, run["steps"][0]["message"])
    assert first["text"] == "Hi Ann, your cart at MyShop is waiting: https://shop.example/c/1"
    assert first["class"] == "marketing"
    assert run["steps"][1]["due_at"] == "2027-01-16T11:00:00.000Z"

    # The order names its own ref: match_ref = false lets it stop the cart anyway, and it
    # starts the order confirmation, sent at once as transactional.
    order = {"type": "order_placed", "number": NUMBER, "ref": "o-77", "data": {"order": "77"}}
    reply = await event(gw, order)
    assert reply["stopped"] == [
        {"flow": "abandoned_cart", "run": run["id"], "cancelled": [2], "sent": [1]}
    ]
    assert [s["flow"] for s in reply["started"]] == ["order_confirmation"]
    await tick(gw)
    [confirmation] = await runs(gw, "order_confirmation")
    assert states(confirmation) == ["sent"] and confirmation["state"] == "completed"
    msg = await message(gw, confirmation["steps"][0]["message"])
    assert msg["text"] == "Thanks for your order 77! We will tell you when it ships."
    assert msg["class"] == "transactional"

    wall.t = MORNING + 3600 + DAY
    await tick(gw)
    [run] = await runs(gw, "abandoned_cart")
    assert states(run) == ["sent", "cancelled"] and run["state"] == "stopped"


async def test_post_purchase_thanks_after_2d_asks_for_a_review_after_7d_once_per_90d(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(example_flows(), wall=wall)
    data = {"order": "77", "review_url": "https://shop.example/r/77"}
    shipped = {"order": "77", "tracking_url": "https://track.example/77"}
    await event(gw, {"type": "order_shipped", "number": NUMBER, "ref": "o-77", "data": shipped})
    await tick(gw)
    [ship] = await runs(gw, "order_shipped")
    assert states(ship) == ["sent"]

    wall.t = MORNING + 3 * DAY
    reply = await event(
        gw, {"type": "order_delivered", "number": NUMBER, "ref": "o-77", "data": data}
    )
    assert sorted(s["flow"] for s in reply["started"]) == [
        "review_request",
        "thank_you",
        "win_back",
    ]

    wall.t = MORNING + 5 * DAY
    await tick(gw)
    [thanks] = await runs(gw, "thank_you")
    assert states(thanks) == ["sent"]
    assert (await message(gw, thanks["steps"][0]["message"]))["class"] == "transactional"
    [review] = await runs(gw, "review_request")
    assert states(review) == ["waiting"]

    wall.t = MORNING + 10 * DAY
    await tick(gw)
    [review] = await runs(gw, "review_request")
    assert states(review) == ["sent"] and review["state"] == "completed"
    msg = await message(gw, review["steps"][0]["message"])
    assert msg["class"] == "marketing"
    assert (
        msg["text"] == "How was your order 77? A review takes a minute: https://shop.example/r/77"
    )

    # A second delivery within 90 days: thanks again, but no second review request.
    wall.t = MORNING + 40 * DAY
    again = {"type": "order_delivered", "number": NUMBER, "ref": "o-78", "data": data}
    reply = await event(gw, again)
    skipped = {(s["flow"], s["reason"]) for s in reply["skipped"]}
    assert ("review_request", "once_per") in skipped
    assert "thank_you" in {s["flow"] for s in reply["started"]}


async def test_win_back_comes_60_days_after_delivery_unless_the_customer_orders(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(example_flows(), wall=wall)
    other = "+4917012345679"
    for number in (NUMBER, other):
        await event(gw, {"type": "order_delivered", "number": number, "data": {"order": "1"}})
    wall.t = MORNING + 30 * DAY
    await event(gw, {"type": "order_placed", "number": other, "data": {"order": "2"}})
    wall.t = MORNING + 60 * DAY
    await tick(gw)
    by_number = {r["number"]: r for r in await runs(gw, "win_back")}
    assert states(by_number[NUMBER]) == ["sent", "waiting"]
    assert by_number[other]["state"] == "stopped" and states(by_number[other]) == ["cancelled"]
    assert by_number[NUMBER]["steps"][1]["due_at"] == "2027-04-15T10:00:00.000Z"
