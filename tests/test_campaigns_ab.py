"""A/B tests with a winner end to end (real gateway, real SQLite file, the simulator route,
the redirect listener on a real socket, the injected wall clock): the test share goes first
and the rest is held; once the test is sent and ``wait`` has passed, the variant with the most
unique clicks per message sent goes to the held recipients; a restart during the wait decides
once; bad ``ab`` drafts are refused naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from smsgw.config.loader import parse
from smsgw.gateway.service import Gateway
from smsgw.queue.campaigns.variants import in_test_share, pick_variant
from tests.conftest import Running, StartGateway, gateway_toml
from tests.flow_helpers import Wall
from tests.test_campaigns_api import LINKS, MORNING, PRICED, act, create, get, messages, tick
from tests.test_links_api import follow

NUMBERS = [f"+4917012345{i:03d}" for i in range(60)]
WAIT = 4 * 3600.0
VARIANTS = [
    {"text": "A {{name}}: https://shop.example/a"},
    {"text": "B {{name}}: https://shop.example/b"},
]


def _body(metric: str = "clicks") -> dict[str, Any]:
    return {
        "name": "ab",
        "variants": VARIANTS,
        "track_links": True,
        "recipients": [{"to": n, "vars": {"name": f"N{i}"}} for i, n in enumerate(NUMBERS)],
        "ab": {"test_fraction": 0.5, "wait": "4h", "metric": metric},
    }


async def _delivered(gw: Running, sent: list[dict[str, Any]]) -> None:
    for m in sent:
        assert (await gw.wait_final(m["id"])).status == "delivered"


async def test_the_test_share_goes_first_and_the_winner_by_clicks_gets_the_rest(
    start_gateway: StartGateway,
) -> None:
    wall = Wall(MORNING)
    gw = await start_gateway(LINKS, PRICED, wall=wall)
    draft = await create(gw, _body())
    cid = draft["id"]
    assert draft["ab"]["phase"] == "testing" and draft["ab"]["wait"] == WAIT
    started = await act(gw, cid, "start")
    tested = [n for n in NUMBERS if in_test_share(cid, n, 0.5)]
    assert 0 < len(tested) < len(NUMBERS)
    assert started["stats"]["held"] == len(NUMBERS) - len(tested)
    await tick(gw)
    sent = await messages(gw)
    assert sorted(m["to"] for m in sent) == sorted(tested)
    for m in sent:  # each test recipient has its variant by weight, as without a test
        assert m["text"][0] == "AB"[pick_variant(cid, m["to"], [1, 1])]
    await _delivered(gw, sent)
    view = await get(gw, cid)
    assert view["ab"]["phase"] == "waiting" and view["ab"]["winner"] is None
    # One unique click on one B message: B's rate is above A's zero.
    b = next(m for m in sent if m["text"].startswith("B"))
    row = await gw.gateway.store.get(None, b["id"])
    assert row is not None and row.links
    for _ in range(2):
        assert (await follow(gw.gateway.links_address, "/" + row.links[0].code)).status == 302
    wall.t = MORNING + WAIT - 1
    await tick(gw)
    assert len(await messages(gw)) == len(tested)  # the held ones wait for the wait
    assert (await get(gw, cid))["ab"]["phase"] == "waiting"
    wall.t = MORNING + WAIT
    await tick(gw)
    await tick(gw)
    view = await get(gw, cid)
    ab = view["ab"]
    assert (ab["phase"], ab["winner"]) == ("decided", 1) and ab["decided_at"] is not None
    b_sent = sum(1 for m in sent if m["text"].startswith("B"))
    assert ab["reason"] == f"highest clicks per message sent (0: 0, 1: {1 / b_sent:.6g})"
    assert ab["values"][0] == 0.0 and ab["values"][1] > 0  # live: the rest counts now
    everyone = await messages(gw)
    assert sorted(m["to"] for m in everyone) == sorted(NUMBERS)
    rest = [m for m in everyone if m["to"] not in set(tested)]
    assert rest and all(m["text"].startswith("B") for m in rest)
    assert view["state"] == "completed" and view["stats"]["held"] == 0
    assert view["stats"]["accepted"] == len(NUMBERS)


async def test_bad_ab_drafts_are_refused_naming_the_field(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    bad: list[tuple[dict[str, Any], str]] = [
        ({"test_fraction": 0, "wait": "4h", "metric": "clicks"}, "ab.test_fraction"),
        ({"test_fraction": 1, "wait": "4h", "metric": "clicks"}, "ab.test_fraction"),
        ({"test_fraction": 0.2, "wait": "soon", "metric": "clicks"}, "ab.wait"),
        ({"test_fraction": 0.2, "wait": "4h", "metric": "opens"}, "ab.metric"),
    ]
    plain = {**_body(), "track_links": False}
    for ab, field in bad:
        status, reply = await gw.call("POST", "/v1/campaigns", {**plain, "ab": ab})
        assert status == 422 and isinstance(reply, dict), reply
        assert reply["error"]["field"] == field, reply
    one = {**plain, "variants": VARIANTS[:1]}
    status, reply = await gw.call("POST", "/v1/campaigns", one)
    assert status == 422 and isinstance(reply, dict) and reply["error"]["field"] == "ab"


@asynccontextmanager
async def _gateway(tmp_path: Path, wall: Wall) -> AsyncIterator[Running]:
    """A gateway on the store in ``tmp_path``, stopped (store closed) on leaving."""
    config = parse(gateway_toml(tmp_path).encode(), "test.toml", {})
    async with trio.open_nursery() as nursery:
        gw = Gateway(config, wall=wall)
        host, port = await nursery.start(gw.run)
        try:
            yield Running(gw, f"http://{host}:{port}")
        finally:
            gw.shutdown()


async def test_a_restart_during_the_wait_decides_once(tmp_path: Path) -> None:
    wall = Wall(MORNING)
    body = {**_body(), "track_links": False}
    async with _gateway(tmp_path, wall) as gw:
        cid = (await create(gw, body))["id"]
        await act(gw, cid, "start")
        await tick(gw)
        tested = len(await messages(gw))
        assert (await get(gw, cid))["ab"]["phase"] == "waiting"
    wall.t = MORNING + WAIT
    async with _gateway(tmp_path, wall) as gw:
        await tick(gw)
        await tick(gw)
        decided = (await get(gw, cid))["ab"]
        assert decided["phase"] == "decided" and decided["winner"] == 0  # a tie: the lower
    wall.t = MORNING + 2 * WAIT
    async with _gateway(tmp_path, wall) as gw:
        await tick(gw)
        view = await get(gw, cid)
        assert view["ab"]["decided_at"] == decided["decided_at"]
        sent = await messages(gw)
        assert sorted(m["to"] for m in sent) == sorted(NUMBERS)
        assert len({m["client_ref"] for m in sent}) == len(NUMBERS) > tested
        assert view["state"] == "completed"
