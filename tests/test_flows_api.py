"""Flows end to end: events over HTTP start and stop runs, due steps become messages through
the accept path, and the runs view shows each step's state (real gateway, real SQLite file)."""

from __future__ import annotations

from tests.conftest import OTHER_TOKEN, StartGateway
from tests.flow_helpers import NUMBER, Wall
from tests.flow_helpers import event as _event
from tests.flow_helpers import runs as _runs
from tests.flow_helpers import tick as _tick
from tests.policy_helpers import at

MORNING = at("2027-01-15T08:00:00")  # 09:00 in Berlin: marketing may go

CART = """
[[flows]]
name = "cart"
key = "shop"
trigger = "cart_abandoned"
stop_on = ["order_placed"]

[[flows.steps]]
delay = "1h"
class = "marketing"
text = "Hi {{name}}, your cart is waiting."

[[flows.steps]]
delay = "24h"
class = "marketing"
text = "Last call for your cart, {{name}}."
"""


async def test_abandoned_cart_sends_after_an_hour_and_an_order_stops_the_rest(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(CART, wall=wall)
    ev = {"type": "cart_abandoned", "number": NUMBER, "ref": "c1", "data": {"name": "Ann"}}
    reply = await _event(gw, ev)
    [started] = reply["started"]
    assert started["flow"] == "cart" and reply["stopped"] == reply["skipped"] == []
    run = started["run"]

    await _tick(gw)  # not due yet
    [view] = await _runs(gw, "cart")
    assert view["state"] == "running"
    assert [(s["n"], s["state"]) for s in view["steps"]] == [(1, "waiting")]
    assert view["steps"][0]["due_at"] == "2027-01-15T09:00:00.000Z"

    wall.t = MORNING + 3600
    await _tick(gw)
    [view] = await _runs(gw, "cart")
    first, second = view["steps"]
    assert first["state"] == "sent" and second["state"] == "waiting"
    assert second["due_at"] == "2027-01-16T09:00:00.000Z"
    status, msg = await gw.call("GET", f"/v1/messages/{first['message']}")
    assert status == 200 and isinstance(msg, dict)
    assert msg["text"] == "Hi Ann, your cart is waiting."
    assert msg["client_ref"] == f"flow:cart:{run}:1"
    assert msg["class"] == "marketing"

    reply = await _event(gw, {"type": "order_placed", "number": NUMBER, "ref": "c1"})
    assert reply["stopped"] == [{"flow": "cart", "run": run, "cancelled": [2], "sent": [1]}]

    wall.t = MORNING + 3600 + 86400
    await _tick(gw)
    [view] = await _runs(gw, "cart")
    assert view["state"] == "stopped" and view["stopped_by"] == reply["id"]
    assert [(s["state"], s["cancelled_by"]) for s in view["steps"]] == [
        ("sent", None),
        ("cancelled", reply["id"]),
    ]
    status, page = await gw.call("GET", "/v1/messages?limit=10")
    assert status == 200 and isinstance(page, dict) and len(page["messages"]) == 1


async def test_an_order_for_another_cart_does_not_stop_the_run(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(CART, wall=Wall(MORNING))
    await _event(gw, {"type": "cart_abandoned", "number": NUMBER, "ref": "c1", "data": {}})
    reply = await _event(gw, {"type": "order_placed", "number": NUMBER, "ref": "c2"})
    assert reply["stopped"] == []
    reply = await _event(gw, {"type": "order_placed", "number": NUMBER})
    assert [s["cancelled"] for s in reply["stopped"]] == [[1]]


async def test_events_are_scoped_to_the_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway(CART, wall=Wall(MORNING))
    reply = await _event(
        gw, {"type": "cart_abandoned", "number": NUMBER, "data": {}}, token=OTHER_TOKEN
    )
    assert reply["started"] == []
    assert await _runs(gw, "cart") == []
    status, body = await gw.call("GET", "/v1/flows/cart", token=OTHER_TOKEN)
    assert status == 404 and isinstance(body, dict)
    assert body["error"]["code"] == "unknown_flow"


async def test_bad_events_get_422_naming_the_field(start_gateway: StartGateway) -> None:
    gw = await start_gateway(CART, wall=Wall(MORNING))
    for body, field in [
        ({"number": NUMBER}, "type"),
        ({"type": "cart_abandoned", "number": "12"}, "number"),
        ({"type": "cart_abandoned", "number": NUMBER, "at": "2030-01-01T00:00:00Z"}, "at"),
        ({"type": "bad type", "number": NUMBER}, "type"),
    ]:
        status, reply = await gw.call("POST", "/v1/events", body)
        assert status == 422, (body, reply)
        assert isinstance(reply, dict) and reply["error"]["field"] == field, reply
    status, reply = await gw.call(
        "POST",
        "/v1/events",
        {"events": [{"type": "cart_abandoned", "number": NUMBER}, {"type": "x", "number": "1"}]},
    )
    assert status == 202 and isinstance(reply, dict)
    ok, bad = reply["events"]
    assert len(ok["started"]) == 1 and bad["error"]["field"] == "events[1].number"
    assert len(await _runs(gw, "cart")) == 1


TEMPLATED = """
[[flows]]
name = "code"
key = "shop"
trigger = "signup"

[[flows.steps]]
template = "welcome"
"""


async def test_a_template_step_renders_the_event_data_and_a_missing_variable_skips_it(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(TEMPLATED, wall=Wall(MORNING))
    template = {"name": "welcome", "text": "Welcome {{name}}! Your code: {{code}}"}
    assert (await gw.call("POST", "/v1/templates", template))[0] == 201
    await _event(gw, {"type": "signup", "number": NUMBER, "data": {"name": "Ann", "code": 7}})
    await _event(gw, {"type": "signup", "number": "+4917012345679", "data": {"name": "Bo"}})
    await _tick(gw)
    by_number = {r["number"]: r for r in await _runs(gw, "code")}
    sent = by_number[NUMBER]["steps"][0]
    status, msg = await gw.call("GET", f"/v1/messages/{sent['message']}")
    assert status == 200 and isinstance(msg, dict)
    assert msg["text"] == "Welcome Ann! Your code: 7" and msg["template"] == "welcome"
    skipped = by_number["+4917012345679"]["steps"][0]
    assert (skipped["state"], skipped["reason"]) == ("skipped", "missing_variable")
    assert all(r["state"] == "completed" for r in by_number.values())

    status, body = await gw.call("GET", "/metrics", token=None)
    assert status == 200 and isinstance(body, bytes)
    text = body.decode()
    assert 'smsgw_flow_runs_total{flow="code",result="started"} 2.0' in text
    assert 'smsgw_flow_runs_total{flow="code",result="completed"} 2.0' in text
    assert 'smsgw_flow_steps_total{flow="code",result="sent"} 1.0' in text
    assert 'smsgw_flow_steps_total{flow="code",result="skipped"} 1.0' in text
    assert 'smsgw_messages_accepted_total{class="transactional"} 1.0' in text
    status, listing = await gw.call("GET", "/v1/flows")
    assert status == 200 and isinstance(listing, dict)
    assert listing["flows"] == [
        {
            "name": "code",
            "trigger": "signup",
            "stop_on": [],
            "steps": 1,
            "runs": {"running": 0, "completed": 2, "stopped": 0, "skipped": 0},
        }
    ]


async def test_the_flow_view_and_the_runs_pages(start_gateway: StartGateway) -> None:
    gw = await start_gateway(CART, wall=Wall(MORNING))
    numbers = ["+4917012345671", "+4917012345672", "+4917012345673"]
    for number in numbers:
        await _event(gw, {"type": "cart_abandoned", "number": number, "data": {"name": "A"}})
    first = await _runs(gw, "cart", "?limit=2")
    status, page = await gw.call("GET", "/v1/flows/cart/runs?limit=2")
    assert status == 200 and isinstance(page, dict) and page["next"] is not None
    rest = await _runs(gw, "cart", f"?limit=2&after={page['next']}")
    assert [r["number"] for r in first + rest] == numbers
    [only] = await _runs(gw, "cart", f"?number={numbers[1].replace('+', '%2B')}")
    assert only["number"] == numbers[1]
    status, detail = await gw.call("GET", "/v1/flows/cart")
    assert status == 200 and isinstance(detail, dict)
    assert (detail["trigger"], detail["stop_on"], detail["match_ref"]) == (
        "cart_abandoned",
        ["order_placed"],
        True,
    )
    assert [(s["n"], s["delay"], s["after"], s["class"]) for s in detail["steps"]] == [
        (1, 3600.0, "previous", "marketing"),
        (2, 86400.0, "previous", "marketing"),
    ]
    assert detail["steps"][0]["stats"]["started"] == 3
    assert detail["steps"][1]["stats"]["started"] == 0
    assert detail["runs"]["running"] == 3
    status, body = await gw.call("GET", "/v1/flows/cart/runs?limit=0")
    assert status == 422 and isinstance(body, dict) and body["error"]["field"] == "limit"


TRACKED = """
[links]
listen = "127.0.0.1:0"
base_url = "https://s.shop.example"

[[flows]]
name = "winback"
key = "shop"
trigger = "lapsed"

[[flows.steps]]
class = "marketing"
track_links = true
text = "We miss you, {{name}}: https://shop.example/welcome-back?utm_source=sms"
"""


async def test_a_step_tracks_its_links_and_the_flow_counts_their_clicks(
    start_gateway: StartGateway,
) -> None:
    from tests.test_links_api import follow

    wall = Wall(MORNING)
    gw = await start_gateway(TRACKED, wall=wall)
    await _event(gw, {"type": "lapsed", "number": NUMBER, "data": {"name": "Ann"}})
    await _tick(gw)
    [view] = await _runs(gw, "winback")
    [step] = view["steps"]
    assert step["state"] == "sent"
    row = await gw.gateway.store.get("shop", step["message"])
    assert row is not None
    [link] = row.links
    assert link.url == "https://shop.example/welcome-back?utm_source=sms"
    assert row.text == f"We miss you, Ann: {link.short_url}"
    for _ in range(2):
        got = await follow(gw.gateway.links_address, "/" + link.code)
        assert got.status == 302
    status, body = await gw.call("GET", "/v1/flows/winback")
    assert status == 200 and isinstance(body, dict)
    [stats] = [s["stats"] for s in body["steps"]]
    assert (stats["completed"], stats["messages"], stats["clicks"], stats["clicked"]) == (
        1,
        1,
        2,
        1,
    )
