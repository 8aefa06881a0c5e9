"""Flows under the orderings that break naive timers: a stop event and a due step at the same
instant, repeated events, events reported out of order, a restart between an event and its
step, once_per across a restart, a step refused by a policy, steps due after a long stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from smsgw.config.loader import parse
from smsgw.gateway.service import Gateway
from tests.conftest import Running, StartGateway, gateway_toml
from tests.flow_helpers import NUMBER, Wall, event, message, runs, states, tick
from tests.policy_helpers import at

MORNING = at("2027-01-15T10:00:00")  # 11:00 in Berlin: marketing may go
HOUR = 3600.0

CART = """
[[flows]]
name = "cart"
key = "shop"
trigger = "cart_abandoned"
stop_on = ["order_placed"]
once_per = "{once_per}"

[[flows.steps]]
delay = "1h"
class = "marketing"
text = "Your cart is waiting."

[[flows.steps]]
delay = "2h"
after = "trigger"
class = "marketing"
text = "Last call for your cart."
validity = "6h"
"""


def _cart(once_per: str = "1s") -> str:
    return CART.format(once_per=once_per)


@asynccontextmanager
async def _gateway(tmp_path: Path, wall: Wall, extra: str) -> AsyncIterator[Running]:
    """A gateway on the store in ``tmp_path``, stopped (store closed) on leaving."""
    config = parse(gateway_toml(tmp_path, extra).encode(), "test.toml", {})
    async with trio.open_nursery() as nursery:
        gw = Gateway(config, wall=wall)
        host, port = await nursery.start(gw.run)
        try:
            yield Running(gw, f"http://{host}:{port}")
        finally:
            gw.shutdown()


CART_EVENT = {"type": "cart_abandoned", "number": NUMBER, "ref": "c1"}
ORDER_EVENT = {"type": "order_placed", "number": NUMBER, "ref": "c1"}


async def test_a_stop_at_the_instant_a_step_is_due_never_both_sends_and_cancels(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(_cart(), wall=wall)
    # Order one: the stop is committed first; the step never becomes a message.
    await event(gw, CART_EVENT)
    wall.t = MORNING + HOUR
    stop = await event(gw, ORDER_EVENT)
    await tick(gw)
    [run] = await runs(gw, "cart")
    assert stop["stopped"][0]["cancelled"] == [1] and states(run) == ["cancelled"]
    assert run["steps"][0]["message"] is None
    # Order two: the step fired and its message left; the stop reports it sent.
    wall.t = MORNING + 2 * HOUR
    await event(gw, {**CART_EVENT, "ref": "c2"})
    wall.t = MORNING + 3 * HOUR
    await tick(gw)
    run = (await runs(gw, "cart"))[1]
    msg = await gw.wait_final(run["steps"][0]["message"])
    assert msg.status == "delivered"
    stop = await event(gw, {**ORDER_EVENT, "ref": "c2"})
    assert stop["stopped"][0]["sent"] == [1] and stop["stopped"][0]["cancelled"] == [2]
    # Both at once, many times: whatever the order, a cancelled step has no message that left.
    for i in range(10):
        ref = f"r{i}"
        wall.t = MORNING + (10 + 2 * i) * HOUR
        await event(gw, {**CART_EVENT, "ref": ref})
        wall.t += HOUR
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick, gw)
            nursery.start_soon(event, gw, {**ORDER_EVENT, "ref": ref})
    for run in (await runs(gw, "cart", "?limit=100"))[2:]:
        assert run["state"] == "stopped"
        step = run["steps"][0]
        if step["state"] == "cancelled" and step["message"] is not None:
            assert (await message(gw, step["message"]))["status"] == "cancelled"
        if step["state"] == "sent":
            assert (await message(gw, step["message"]))["status"] != "cancelled"


async def test_a_repeated_trigger_starts_no_second_run(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(_cart(), wall=wall)
    first = await event(gw, CART_EVENT)
    again = await event(gw, CART_EVENT)
    assert len(first["started"]) == 1 and again["started"] == []
    assert [(s["flow"], s["reason"]) for s in again["skipped"]] == [("cart", "running")]
    wall.t = MORNING + HOUR
    await tick(gw)
    status, page = await gw.call("GET", "/v1/messages")
    assert status == 200 and isinstance(page, dict) and len(page["messages"]) == 1


async def test_an_order_reported_before_the_cart_it_follows_starts_no_run(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(_cart(), wall=wall)
    await event(gw, {**ORDER_EVENT, "at": "2027-01-15T10:00:00Z"})
    late = await event(gw, {**CART_EVENT, "at": "2027-01-15T09:59:00Z"})
    assert late["started"] == []
    assert [s["reason"] for s in late["skipped"]] == ["stopped"]
    [run] = await runs(gw, "cart")
    assert run["state"] == "skipped" and run["reason"] == "stopped" and run["steps"] == []
    # A cart abandoned after the order is a new one: it runs.
    wall.t = MORNING + 60
    fresh = await event(gw, CART_EVENT)
    assert len(fresh["started"]) == 1


async def test_steps_survive_a_restart_and_once_per_holds_across_it(tmp_path: Path) -> None:
    wall = Wall(MORNING)
    async with _gateway(tmp_path, wall, _cart("30d")) as gw:
        await event(gw, CART_EVENT)
    wall.t = MORNING + HOUR
    async with _gateway(tmp_path, wall, _cart("30d")) as gw:
        await tick(gw)
        [run] = await runs(gw, "cart")
        assert states(run) == ["sent", "waiting"]
        # "after trigger": 2 h after the event, not 2 h after the first message.
        assert run["steps"][1]["due_at"] == "2027-01-15T12:00:00.000Z"
        await event(gw, ORDER_EVENT)
    wall.t = MORNING + 5 * HOUR
    async with _gateway(tmp_path, wall, _cart("30d")) as gw:
        again = await event(gw, {**CART_EVENT, "ref": "c9"})
        assert [s["reason"] for s in again["skipped"]] == ["once_per"]


async def test_after_a_long_stop_due_steps_fire_and_stale_ones_expire(tmp_path: Path) -> None:
    wall = Wall(MORNING)
    async with _gateway(tmp_path, wall, _cart()) as gw:
        await event(gw, CART_EVENT)
        await event(gw, {**CART_EVENT, "number": "+4917012345679"})
    wall.t = MORNING + 9 * HOUR  # step 1 is 8 h late (validity 24 h); step 2 would be 7 h (6 h)
    async with _gateway(tmp_path, wall, _cart()) as gw:
        await tick(gw)
        await tick(gw)
        for run in await runs(gw, "cart"):
            assert states(run) == ["sent", "expired"] and run["state"] == "completed"
        status, body = await gw.call("GET", "/v1/flows/cart")
        assert status == 200 and isinstance(body, dict)
        first, second = body["steps"]
        assert (first["stats"]["completed"], second["stats"]["expired"]) == (2, 2)
        assert body["runs"]["completed"] == 2


async def test_a_step_refused_by_policy_is_skipped_and_the_run_goes_on(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(_cart(), wall=wall)
    status, _ = await gw.call("POST", "/v1/optouts", {"number": NUMBER})
    assert status in (200, 201)
    await event(gw, CART_EVENT)
    wall.t = MORNING + HOUR
    await tick(gw)
    [run] = await runs(gw, "cart")
    assert states(run) == ["skipped", "waiting"]
    assert run["steps"][0]["reason"] == "opted_out" and run["steps"][0]["message"] is None


async def test_a_step_held_by_quiet_hours_holds_back_the_next_one(
    start_gateway: StartGateway,
) -> None:
    evening = at("2027-01-15T21:00:00")  # 22:00 in Berlin
    wall = Wall(evening)
    gw = await start_gateway(_cart(), wall=wall)
    await event(gw, CART_EVENT)
    wall.t = evening + HOUR
    await tick(gw)
    [run] = await runs(gw, "cart")
    first = await message(gw, run["steps"][0]["message"])
    assert first["status"] == "deferred"
    # Due 2 h after the trigger (midnight in Berlin), but not before step 1 may leave at 09:00.
    assert states(run) == ["sent", "waiting"]
    assert run["steps"][1]["due_at"] == "2027-01-16T08:00:00.000Z"
