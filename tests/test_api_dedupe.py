"""Only once through the HTTP API of a real gateway (loopback socket, SQLite file): a second
message with the same dedupe_key to the same number inside its window is refused or answered
with the first."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.conftest import OTHER_TOKEN, Running, StartGateway

pytestmark = pytest.mark.trio

NUMBER = "+4917012345678"
T0 = 1_800_000_000.0


class Wall:
    """The gateway's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def send(gw: Running, token: str | None = None, **fields: Any) -> tuple[int, Any]:
    body = {"to": NUMBER, "text": "Welcome!", "dedupe_key": "welcome", **fields}
    if token is None:
        return await gw.call("POST", "/v1/messages", body)
    body["from"] = "MyShop"
    return await gw.call("POST", "/v1/messages", body, token=token)


async def test_a_duplicate_is_refused_or_answered_with_the_first(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=Wall())
    status, first = await send(gw)
    assert status == 202 and first["status"] == "queued"
    status, err = await send(gw, text="Welcome again!")
    assert status == 409
    assert (err["error"]["code"], err["error"]["field"]) == ("duplicate", "dedupe_key")
    assert first["id"] in err["error"]["message"]
    status, same = await send(gw, dedupe="return_first")
    assert status == 200 and same["id"] == first["id"]
    # Another number, another key, another dedupe_key: each its own.
    status, _ = await send(gw, to="+4917012345679")
    assert status == 202
    status, _ = await send(gw, OTHER_TOKEN)
    assert status == 202
    status, _ = await send(gw, dedupe_key="review")
    assert status == 202
    status, page = await gw.call("GET", "/v1/messages")
    assert isinstance(page, dict) and len(page["messages"]) == 3
    _, metrics = await gw.call("GET", "/metrics", token=None)
    assert isinstance(metrics, bytes)
    assert b'smsgw_messages_refused_total{code="duplicate"} 1.0' in metrics


async def test_the_window_counts_from_the_first_message(start_gateway: StartGateway) -> None:
    wall = Wall()
    gw = await start_gateway(wall=wall)
    status, first = await send(gw, dedupe_window="90s")
    assert status == 202
    wall.now = T0 + 89.9
    status, _ = await send(gw, dedupe_window="90s")
    assert status == 409
    wall.now = T0 + 90
    status, second = await send(gw, dedupe_window=3600)
    assert status == 202 and second["id"] != first["id"]
    wall.now = T0 + 90 + 3599
    status, same = await send(gw, dedupe="return_first")
    assert status == 200 and same["id"] == second["id"]
    # Without a window, 30 days.
    status, _ = await send(gw, dedupe_key="thirty")
    assert status == 202
    wall.now += 30 * 86400 - 1
    assert (await send(gw, dedupe_key="thirty"))[0] == 409
    wall.now += 1
    assert (await send(gw, dedupe_key="thirty"))[0] == 202


async def test_in_a_batch_only_the_first_of_duplicates_is_accepted(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=Wall())
    item = {"to": NUMBER, "text": "Your cart", "dedupe_key": "cart-1"}
    items = [item, {**item, "to": "+4917012345679"}, item, {**item, "dedupe": "return_first"}]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict)
    out = body["messages"]
    assert out[0]["status"] == "queued" and out[1]["status"] == "queued"
    assert out[2] == {
        "error": {
            "code": "duplicate",
            "message": out[2]["error"]["message"],
            "field": "messages[2].dedupe_key",
        }
    }
    assert out[3]["id"] == out[0]["id"]
    status, again = await gw.call("POST", "/v1/messages", {"messages": [item]})
    assert isinstance(again, dict) and again["messages"][0]["error"]["code"] == "duplicate"


async def test_two_concurrent_requests_accept_exactly_one(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall())
    statuses: list[int] = []

    async def one() -> None:
        status, _ = await send(gw, dedupe_key="race")
        statuses.append(status)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(one)
    assert sorted(statuses) == [202] + [409] * 7


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dedupe_window": "1w"}, "dedupe_window"),
        ({"dedupe_window": "0s"}, "dedupe_window"),
        ({"dedupe_window": "401d"}, "dedupe_window"),
        ({"dedupe_window": 0.5}, "dedupe_window"),
        ({"dedupe_window": None}, "dedupe_window"),
        ({"dedupe_key": "x" * 129}, "dedupe_key"),
        ({"dedupe_key": ""}, "dedupe_key"),
        ({"dedupe_key": None}, "dedupe_key"),
        ({"dedupe": "skip"}, "dedupe"),
    ],
)
async def test_bad_dedupe_fields_are_refused_naming_them(
    start_gateway: StartGateway, fields: dict[str, Any], field: str
) -> None:
    gw = await start_gateway(wall=Wall())
    status, err = await send(gw, **fields)
    assert status == 422 and err["error"]["field"] == field, err


async def test_a_window_or_an_answer_without_a_dedupe_key_is_refused(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=Wall())
    for name, value in (("dedupe_window", "1h"), ("dedupe", "return_first")):
        status, err = await gw.call(
            "POST", "/v1/messages", {"to": NUMBER, "text": "hi", name: value}
        )
        assert status == 422 and isinstance(err, dict) and err["error"]["field"] == name
