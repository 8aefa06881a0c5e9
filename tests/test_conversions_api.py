"""Conversions end to end: orders reported over HTTP are attributed to the key's message that
was clicked (a real redirect listener), else delivered, in the window before the order (a
real gateway, a real SQLite file, a wall clock the test moves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsgw.config.loader import ConfigError, parse
from tests.conftest import OTHER_TOKEN, TOKEN, Running, StartGateway, gateway_toml
from tests.flow_helpers import NUMBER, Wall, event, runs, tick
from tests.policy_helpers import at
from tests.test_links_api import LINKS, MOZILLA, WHATSAPP, follow

pytestmark = pytest.mark.trio

MORNING = at("2027-01-15T08:00:00")  # 09:00 in Berlin: marketing may go
DAY = 86_400.0
URL = "https://shop.example/sale?utm_source=sms"


async def _send(gw: Running, token: str = TOKEN, **fields: Any) -> str:
    msg = {"to": NUMBER, "text": "Our sale starts now", **fields}
    status, body = await gw.call("POST", "/v1/messages", msg, token=token)
    assert status == 202 and isinstance(body, dict), body
    public_id: str = body["id"]
    return public_id


async def _delivered(gw: Running, token: str = TOKEN, **fields: Any) -> str:
    """A marketing message to NUMBER, once it is delivered."""
    public_id = await _send(gw, token, **{"class": "marketing", **fields})
    row = await gw.wait_final(public_id)
    assert row.status == "delivered"
    return public_id


async def _tracked(gw: Running, token: str = TOKEN, **fields: Any) -> tuple[str, str]:
    """A message with a tracked link; its id and its link's code."""
    public_id = await _send(gw, token, text=f"Sale: {URL}", track_links=True, **fields)
    row = await gw.gateway.store.get(None, public_id)
    assert row is not None
    return public_id, row.links[0].code


async def _click(gw: Running, code: str, ua: str = MOZILLA) -> None:
    got = await follow(gw.gateway.links_address, "/" + code, ua)
    assert got.status == 302


async def _convert(
    gw: Running, body: dict[str, Any], token: str = TOKEN, expect: int = 201
) -> dict[str, Any]:
    status, reply = await gw.call("POST", "/v1/conversions", body, token=token)
    assert status == expect, reply
    assert isinstance(reply, dict)
    return reply


def _order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "value": "49.90", "currency": "EUR", **fields}


async def test_a_click_beats_a_later_delivery(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    clicked, code = await _tracked(gw, client_ref="spring-1")
    await _click(gw, code)
    wall.t += 3600
    await _delivered(gw)
    wall.t += 3600
    reply = await _convert(gw, _order("o-1", number=NUMBER))
    assert reply["order_id"] == "o-1" and reply["id"].startswith("cnv_")
    assert reply["attributed"] == {"message": clicked, "by": "click", "client_ref": "spring-1"}
    assert reply["value"] == "49.90" and reply["currency"] == "EUR"


async def test_without_a_click_the_last_delivered_marketing_message_counts(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    await _delivered(gw)
    wall.t += 60
    last = await _delivered(gw)
    wall.t += 60
    await _delivered(gw, **{"class": "transactional"})  # not marketing: never attributed
    wall.t += 60
    reply = await _convert(gw, _order("o-1", number=NUMBER))
    assert reply["attributed"] == {"message": last, "by": "delivery"}


async def test_a_preview_fetch_is_not_a_click(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    tracked, code = await _tracked(gw)  # transactional: a delivery would not count
    await _click(gw, code, WHATSAPP)
    wall.t += 60
    reply = await _convert(gw, _order("o-1", number=NUMBER))
    assert reply["attributed"] is None
    await _click(gw, code)
    wall.t += 60
    reply = await _convert(gw, _order("o-2", number=NUMBER))
    assert reply["attributed"] == {"message": tracked, "by": "click"}


async def test_outside_the_window_nothing_is_attributed(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    _, code = await _tracked(gw)
    await _click(gw, code)
    delivered = await _delivered(gw)
    wall.t = MORNING + 7 * DAY + 10
    reply = await _convert(gw, _order("late", number=NUMBER))
    assert reply["attributed"] is None
    # An order placed (``at``) inside the window still finds them.
    placed = "2027-01-21T08:00:00Z"
    reply = await _convert(gw, _order("early", number=NUMBER, at=placed))
    assert reply["attributed"] is not None and reply["attributed"]["by"] == "click"
    assert reply["at"] == "2027-01-21T08:00:00.000Z"
    assert delivered


async def test_the_window_is_configurable(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS + '[conversions]\nwindow = "1h"\n', wall=wall)
    delivered = await _delivered(gw)
    wall.t += 3599
    reply = await _convert(gw, _order("o-1", number=NUMBER))
    assert reply["attributed"] == {"message": delivered, "by": "delivery"}
    wall.t += 2
    reply = await _convert(gw, _order("o-2", number=NUMBER))
    assert reply["attributed"] is None


async def test_the_same_order_again_answers_the_first_and_changes_nothing(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    first_msg = await _delivered(gw)
    wall.t += 60
    first = await _convert(gw, _order("o-1", number=NUMBER))
    second_msg = await _delivered(gw)
    wall.t += 60
    again = await _convert(gw, _order("o-1", number=NUMBER, value="99"), expect=200)
    assert again == first and again["attributed"]["message"] == first_msg
    other = await _convert(gw, _order("o-2", number=NUMBER))
    assert other["attributed"] == {"message": second_msg, "by": "delivery"}
    status, page = await gw.call("GET", "/v1/conversions")
    assert status == 200 and isinstance(page, dict)
    assert [c["order_id"] for c in page["conversions"]] == ["o-1", "o-2"]
    assert page["conversions"][0]["value"] == "49.90"


async def test_two_keys_are_independent(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    shops, code = await _tracked(gw)
    await _click(gw, code)
    wall.t += 60
    # The other key's order of the same number and id finds none of shop's messages.
    mine = await _convert(gw, _order("o-1", number=NUMBER), token=OTHER_TOKEN)
    assert mine["attributed"] is None
    theirs = await _convert(gw, _order("o-1", number=NUMBER))
    assert theirs["attributed"] == {"message": shops, "by": "click"}
    by_code = await _convert(gw, _order("o-2", code=code), token=OTHER_TOKEN)
    assert by_code["attributed"] is None
    by_ref = await _convert(gw, _order("o-3", client_ref="x"), token=OTHER_TOKEN)
    assert by_ref["attributed"] is None
    status, page = await gw.call("GET", "/v1/conversions", token=OTHER_TOKEN)
    assert status == 200 and isinstance(page, dict)
    assert [c["order_id"] for c in page["conversions"]] == ["o-1", "o-2", "o-3"]
    status, _ = await gw.call("GET", "/v1/conversions/o-3")
    assert status == 404


async def test_code_and_client_ref_attribute_directly(start_gateway: StartGateway) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, wall=wall)
    by_code, code = await _tracked(gw)  # never clicked, not delivered as marketing
    by_ref = await _send(gw, client_ref="order-mail-7")
    wall.t += 30 * DAY  # no window for these
    reply = await _convert(gw, _order("o-1", code=code))
    assert reply["attributed"] == {"message": by_code, "by": "code"} and reply["code"] == code
    reply = await _convert(gw, _order("o-2", client_ref="order-mail-7", value=12))
    assert reply["attributed"] == {
        "message": by_ref,
        "by": "client_ref",
        "client_ref": "order-mail-7",
    }
    assert reply["value"] == "12"
    reply = await _convert(gw, _order("o-3", code="nosuchcode"))
    assert reply["attributed"] is None
    status, one = await gw.call("GET", "/v1/conversions/o-2")
    assert status == 200 and isinstance(one, dict) and one["attributed"]["message"] == by_ref


async def test_a_message_shows_its_conversions(start_gateway: StartGateway) -> None:
    gw = await start_gateway(LINKS, wall=Wall(MORNING))
    public_id = await _send(gw, client_ref="r1")
    status, msg = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(msg, dict) and "conversions" not in msg
    await _convert(gw, _order("o-1", client_ref="r1"))
    await _convert(gw, _order("o-2", client_ref="r1", value="0.1", currency="USD"))
    status, msg = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(msg, dict)
    assert msg["conversions"] == [
        {"order_id": "o-1", "value": "49.90", "currency": "EUR"},
        {"order_id": "o-2", "value": "0.1", "currency": "USD"},
    ]


async def test_the_list_is_cursor_paged(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    for i in range(5):
        await _convert(gw, _order(f"o-{i}", number=NUMBER))
    seen: list[str] = []
    path = "/v1/conversions?limit=2"
    for _ in range(4):
        status, page = await gw.call("GET", path)
        assert status == 200 and isinstance(page, dict)
        seen += [c["order_id"] for c in page["conversions"]]
        if page["next"] is None:
            break
        path = f"/v1/conversions?limit=2&after={page['next']}"
    assert seen == [f"o-{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "1", "currency": "EUR", "number": NUMBER}, "order_id"),
        (_order("o", number=NUMBER, value="-1"), "value"),
        (_order("o", number=NUMBER, value="NaN"), "value"),
        (_order("o", number=NUMBER, value="1.0000001"), "value"),
        (_order("o", number=NUMBER, value="1e20"), "value"),
        (_order("o", number=NUMBER, value=True), "value"),
        (_order("o", number=NUMBER, value=1.5), "value"),
        (_order("o", number=NUMBER, value="01"), "value"),
        (_order("o", number=NUMBER, value=" 1"), "value"),
        (_order("o", number=NUMBER, client_ref=None), "client_ref"),
        (_order("o", number=NUMBER, currency="eur"), "currency"),
        (_order("o", number=NUMBER, currency="EURO"), "currency"),
        (_order("o"), "number"),
        (_order("o", number=NUMBER, code="abc"), "code"),
        (_order("o", number="not a number"), "number"),
        (_order("o", number=NUMBER, at="2099-01-01T00:00:00Z"), "at"),
        (_order("o", number=NUMBER, at="2027-01-01T00:00:00"), "at"),
        (_order("o/1", number=NUMBER), "order_id"),
        (_order("o", number=NUMBER, coupon="x"), "coupon"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    start_gateway: StartGateway, body: dict[str, Any], field: str
) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    status, reply = await gw.call("POST", "/v1/conversions", body)
    assert status == 422 and isinstance(reply, dict), reply
    assert reply["error"]["field"] == field
    status, page = await gw.call("GET", "/v1/conversions")
    assert status == 200 and page == {"conversions": [], "next": None}


CART = """
[[flows]]
name = "cart"
key = "shop"
trigger = "cart_abandoned"

[[flows.steps]]
delay = "1h"
class = "marketing"
text = "Your cart is waiting."
"""


async def test_a_flow_step_counts_its_conversions_and_revenue_per_currency(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(CART, wall=wall)
    reply = await event(gw, {"type": "cart_abandoned", "number": NUMBER})
    run = reply["started"][0]["run"]
    wall.t += 3600
    await tick(gw)
    [view] = await runs(gw, "cart")
    sent = view["steps"][0]["message"]
    assert (await gw.wait_final(sent)).status == "delivered"
    wall.t += 60
    first = await _convert(gw, _order("o-1", number=NUMBER))
    assert first["attributed"] == {
        "message": sent,
        "by": "delivery",
        "flow": {"name": "cart", "step": 1},
        "client_ref": f"flow:cart:{run}:1",
    }
    await _convert(gw, _order("o-2", client_ref=f"flow:cart:{run}:1", value="0.10"))
    await _convert(gw, _order("o-3", number=NUMBER, value=5, currency="USD"))
    await _convert(gw, _order("o-4", number="+4917012345679"))  # attributed to nothing
    status, body = await gw.call("GET", "/v1/flows/cart")
    assert status == 200 and isinstance(body, dict)
    [stats] = [s["stats"] for s in body["steps"]]
    assert stats["conversions"] == 3
    assert stats["revenue"] == {"EUR": "50.00", "USD": "5"}


async def test_conversions_are_counted_once_by_what_attributed_them(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(LINKS, wall=Wall(MORNING))
    registry = gw.gateway.metrics.registry

    def counted(by: str) -> float | None:
        return registry.get_sample_value("smsgw_conversions_total", {"by": by})

    assert [counted(b) for b in ("click", "delivery", "code", "client_ref", "none")] == [0.0] * 5
    _, code = await _tracked(gw)
    await _convert(gw, _order("o-1", code=code))
    await _convert(gw, _order("o-1", code=code), expect=200)
    await _convert(gw, _order("o-2", number=NUMBER))
    assert (counted("code"), counted("none"), counted("click")) == (1.0, 1.0, 0.0)


async def test_a_bad_window_is_refused_at_load_naming_it(tmp_path: Path) -> None:
    toml = gateway_toml(tmp_path, '[conversions]\nwindow = "a week"\n')
    with pytest.raises(ConfigError) as e:
        parse(toml.encode(), "test.toml", {})
    assert "conversions.window" in str(e.value)
