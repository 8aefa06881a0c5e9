"""Campaigns end to end: drafts over HTTP, scoped to the key; start fixes the recipients and
the campaign runner sends them through the accept path (real gateway, real SQLite file, the
simulator route); variants split by weight; opted-out numbers skipped and counted; pause takes
back what has not left and resume sends it once; cancel; a restart sends nobody twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from smsgw.config.loader import parse
from smsgw.gateway.service import Gateway
from smsgw.queue.campaigns.variants import pick_variant
from tests.conftest import OTHER_TOKEN, TOKEN, Running, StartGateway, gateway_toml
from tests.flow_helpers import Wall
from tests.policy_helpers import BERLIN, HONOLULU, at
from tests.test_links_api import follow

MORNING = at("2027-01-15T08:00:00")  # 09:00 in Berlin: marketing may go
NUMBERS = [f"+49170123456{i:02d}" for i in range(10)]
OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
SLOW = 0.001
"""A rate (messages/s) the runner's own rounds never reach one message with in a test: only
the test's ticks, with the seconds they say, send."""


async def create(gw: Running, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    status, reply = await gw.call("POST", "/v1/campaigns", body, token=token)
    assert status == 201, reply
    assert isinstance(reply, dict) and reply["id"].startswith("cmp_")
    return reply


async def act(gw: Running, cid: str, action: str, status: int = 200) -> dict[str, Any]:
    got, reply = await gw.call("POST", f"/v1/campaigns/{cid}/{action}")
    assert got == status, reply
    assert isinstance(reply, dict)
    return reply


async def get(gw: Running, cid: str) -> dict[str, Any]:
    status, reply = await gw.call("GET", f"/v1/campaigns/{cid}")
    assert status == 200, reply
    assert isinstance(reply, dict)
    return reply


async def tick(gw: Running, seconds: float = 0.25) -> None:
    """One round of the gateway's campaign runner, crediting ``seconds`` of rate."""
    assert gw.gateway.campaigns is not None
    with trio.fail_after(10):
        await gw.gateway.campaigns.tick(seconds)


async def messages(gw: Running) -> list[dict[str, Any]]:
    status, page = await gw.call("GET", "/v1/messages?limit=1000")
    assert status == 200 and isinstance(page, dict)
    out: list[dict[str, Any]] = page["messages"]
    return out


def recipients(numbers: list[str] = NUMBERS) -> list[dict[str, Any]]:
    return [{"to": n, "vars": {"name": f"N{i}"}} for i, n in enumerate(numbers)]


async def test_a_draft_belongs_to_its_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway(OPS, wall=Wall(MORNING))
    draft = await create(gw, {"name": "Jan", "text": "Hi {{name}}", "recipients": recipients()})
    assert draft["state"] == "draft" and draft["recipients"] == len(NUMBERS)
    assert draft["variants"] == [{"text": "Hi {{name}}", "weight": 1}]
    assert "stats" not in draft and "key" not in draft
    theirs = await create(
        gw, {"name": "Other", "text": "Yo", "recipients": recipients()[:1]}, token=OTHER_TOKEN
    )
    status, page = await gw.call("GET", "/v1/campaigns")
    assert status == 200 and isinstance(page, dict)
    assert [c["id"] for c in page["campaigns"]] == [draft["id"]] and page["next"] is None
    for path in (f"/v1/campaigns/{theirs['id']}", f"/v1/campaigns/{theirs['id']}/start"):
        status, body = await gw.call("GET" if path.count("/") == 3 else "POST", path)
        assert status == 404 and isinstance(body, dict), body
    # An admin key sees both, each with its key.
    status, page = await gw.call("GET", "/v1/campaigns", token=OPS_TOKEN)
    assert status == 200 and isinstance(page, dict)
    assert [(c["id"], c["key"]) for c in page["campaigns"]] == [
        (draft["id"], "shop"),
        (theirs["id"], "other"),
    ]
    status, page = await gw.call("GET", "/v1/campaigns?limit=1", token=OPS_TOKEN)
    assert isinstance(page, dict) and page["next"] is not None
    status, rest = await gw.call(
        "GET", f"/v1/campaigns?limit=1&after={page['next']}", token=OPS_TOKEN
    )
    assert isinstance(rest, dict) and [c["id"] for c in rest["campaigns"]] == [theirs["id"]]


async def test_bad_drafts_are_refused_naming_the_field(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    one = recipients()[:1]
    for body, status, field, code in [
        ({"name": "x", "recipients": one}, 422, "text", "invalid"),
        ({"name": "x", "text": "a", "template": "t", "recipients": one}, 422, "text", "invalid"),
        ({"name": "x", "text": "a"}, 422, "segment", "invalid"),
        ({"name": "x", "text": "Hi {{", "recipients": one}, 422, "text", "invalid_template"),
        ({"name": "x", "template": "nope", "recipients": one}, 404, "template", "unknown_template"),
        ({"name": "x", "text": "a", "segment": "nope"}, 404, "segment", "unknown_segment"),
        ({"name": "x", "text": "a", "recipients": one, "route": "nope"}, 422, "route", "no_route"),
        (
            {
                "name": "x",
                "variants": [{"text": "a"}, {"text": "b", "weight": 0}],
                "recipients": one,
            },
            422,
            "variants[1].weight",
            "invalid",
        ),
        (
            {"name": "x", "text": "a", "recipients": [{"to": NUMBERS[0], "vars": {"a": True}}]},
            422,
            "recipients[0].vars.a",
            "invalid_variable",
        ),
        (
            {"name": "x", "text": "a", "recipients": [{"to": "12"}]},
            422,
            "recipients[0].to",
            "invalid",
        ),
    ]:
        got, reply = await gw.call("POST", "/v1/campaigns", body)
        assert got == status, (body, reply)
        assert isinstance(reply, dict), reply
        assert (reply["error"]["field"], reply["error"]["code"]) == (field, code), (body, reply)
    status, page = await gw.call("GET", "/v1/campaigns")
    assert isinstance(page, dict) and page["campaigns"] == []


async def test_start_sends_each_recipient_once_as_marketing(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    draft = await create(gw, {"name": "Jan", "text": "Hi {{name}}", "recipients": recipients()})
    started = await act(gw, draft["id"], "start")
    assert started["state"] == "running"
    assert started["stats"]["recipients"] == len(NUMBERS)
    await tick(gw)
    view = await get(gw, draft["id"])
    assert view["state"] == "completed" and view["stats"]["accepted"] == len(NUMBERS)
    sent = await messages(gw)
    assert sorted((m["to"], m["text"]) for m in sent) == sorted(
        (n, f"Hi N{i}") for i, n in enumerate(NUMBERS)
    )
    assert {m["class"] for m in sent} == {"marketing"}
    assert sorted(m["client_ref"] for m in sent) == sorted(
        f"cmp:{draft['id']}:{i}:0" for i in range(1, len(NUMBERS) + 1)
    )
    await act(gw, draft["id"], "start", 409)
    await act(gw, draft["id"], "resume", 409)


async def test_variants_split_by_weight_deterministically(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    status, _ = await gw.call("POST", "/v1/templates", {"name": "promo", "text": "B {{name}}"})
    assert status == 201
    variants = [{"text": "A {{name}}", "weight": 3}, {"template": "promo", "weight": 1}]
    # Sixty numbers: the campaign id is random, and with weights 3:1 all sixty fall to one
    # variant about once in 30 million runs.
    numbers = [f"+491701234{i:04d}" for i in range(60)]
    body = {"name": "ab", "variants": variants, "recipients": recipients(numbers)}
    draft = await create(gw, body)
    await act(gw, draft["id"], "start")
    await tick(gw)
    expected = [pick_variant(draft["id"], n, [3, 1]) for n in numbers]
    assert set(expected) == {0, 1}
    by_number = {m["to"]: m["text"] for m in await messages(gw)}
    for i, (n, v) in enumerate(zip(numbers, expected, strict=True)):
        assert by_number[n] == f"{'AB'[v]} N{i}"
    stats = (await get(gw, draft["id"]))["stats"]
    assert [s["accepted"] for s in stats["variants"]] == [expected.count(0), expected.count(1)]
    # The same campaign id and number give the same variant, whatever else is around.
    assert pick_variant(draft["id"], numbers[0], [3, 1]) == expected[0]


def test_weights_share_out_the_numbers() -> None:
    picks = [pick_variant("cmp_x", f"+4917000{i:05d}", [1, 3]) for i in range(4000)]
    assert 800 < picks.count(0) < 1200  # a quarter, give or take
    assert pick_variant("cmp_x", "+4917000", [5]) == 0
    with pytest.raises(ValueError):
        pick_variant("cmp_x", "+4917000", [])


async def test_a_segment_skips_and_counts_opted_out_numbers(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    contacts = [
        {"number": n, "first_name": f"F{i}", "tags": ["vip"]} for i, n in enumerate(NUMBERS[:3])
    ]
    contacts.append({"number": NUMBERS[3], "tags": ["other"]})
    status, reply = await gw.call("POST", "/v1/contacts", {"contacts": contacts})
    assert status < 300, reply
    status, reply = await gw.call("POST", "/v1/segments", {"name": "vips", "tags_any": ["vip"]})
    assert status == 201, reply
    status, _ = await gw.call("POST", "/v1/optouts", {"number": NUMBERS[1]})
    assert status in (200, 201)
    draft = await create(gw, {"name": "vip", "text": "Hi {{first_name}}", "segment": "vips"})
    assert draft["segment"] == "vips" and "recipients" not in draft
    started = await act(gw, draft["id"], "start")
    assert started["stats"]["recipients"] == 3
    assert started["stats"]["skipped"] == {"opted_out": 1}
    await tick(gw)
    sent = await messages(gw)
    assert sorted((m["to"], m["text"]) for m in sent) == [
        (NUMBERS[0], "Hi F0"),
        (NUMBERS[2], "Hi F2"),
    ]
    stats = (await get(gw, draft["id"]))["stats"]
    assert (stats["accepted"], stats["pending"], stats["skipped"]) == (2, 0, {"opted_out": 1})


async def test_an_opt_out_after_start_is_skipped_at_send(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    draft = await create(gw, {"name": "j", "text": "Hi", "recipients": recipients(NUMBERS[:2])})
    await act(gw, draft["id"], "start")
    status, _ = await gw.call("POST", "/v1/optouts", {"number": NUMBERS[0]})
    assert status in (200, 201)
    await tick(gw)
    stats = (await get(gw, draft["id"]))["stats"]
    assert (stats["accepted"], stats["skipped"]) == (1, {"opted_out": 1})
    assert gw.gateway.metrics.campaign_messages.labels("skipped")._value.get() == 1


async def _park(gw: Running) -> None:
    """The route claims nothing more: what is accepted from now on stays queued."""
    runner = gw.gateway.scheduler.runners["sim"]
    runner.pause(MORNING)
    with trio.fail_after(20):
        await runner.wait_parked()


async def test_pause_takes_back_what_has_not_left_and_resume_sends_it_once(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    await _park(gw)
    draft = await create(gw, {"name": "p", "text": "Hi {{name}}", "recipients": recipients()[:3]})
    await act(gw, draft["id"], "start")
    await tick(gw)
    queued = await messages(gw)
    assert len(queued) == 3 and {m["status"] for m in queued} == {"queued"}
    paused = await act(gw, draft["id"], "pause")
    assert paused["state"] == "paused"
    assert (paused["stats"]["pending"], paused["stats"]["accepted"]) == (3, 0)
    assert {m["status"] for m in await messages(gw)} == {"cancelled"}
    await tick(gw)  # paused: nothing is taken
    assert len(await messages(gw)) == 3
    gw.gateway.scheduler.runners["sim"].resume()
    resumed = await act(gw, draft["id"], "resume")
    assert resumed["state"] == "running"
    await tick(gw)
    await tick(gw)
    now = [m for m in await messages(gw) if m["status"] != "cancelled"]
    assert sorted(m["to"] for m in now) == sorted(NUMBERS[:3])
    assert {m["client_ref"].rsplit(":", 1)[1] for m in now} == {"1"}
    for m in now:
        row = await gw.wait_final(m["id"])
        assert row.status == "delivered"
    assert (await get(gw, draft["id"]))["state"] == "completed"


async def test_cancel_stops_for_good(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=Wall(MORNING))
    await _park(gw)
    body = {"name": "c", "text": "Hi", "rate": SLOW, "recipients": recipients()}
    draft = await create(gw, body)
    await act(gw, draft["id"], "start")
    await tick(gw, 2 / SLOW)  # two messages' worth
    assert len(await messages(gw)) == 2
    cancelled = await act(gw, draft["id"], "cancel")
    assert cancelled["state"] == "cancelled" and cancelled["ended_at"] is not None
    assert cancelled["stats"]["cancelled"] == len(NUMBERS)
    assert {m["status"] for m in await messages(gw)} == {"cancelled"}
    await tick(gw, 100 / SLOW)
    assert len(await messages(gw)) == 2
    await act(gw, draft["id"], "resume", 409)
    await act(gw, draft["id"], "cancel", 409)
    # A draft may be cancelled too; it never starts.
    other = await create(gw, {"name": "d", "text": "Hi", "recipients": recipients()[:1]})
    assert (await act(gw, other["id"], "cancel"))["state"] == "cancelled"
    await act(gw, other["id"], "start", 409)


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


async def test_a_restart_goes_on_where_it_was_and_sends_nobody_twice(tmp_path: Path) -> None:
    wall = Wall(MORNING)
    body = {"name": "r", "text": "Hi {{name}}", "rate": SLOW, "recipients": recipients()}
    async with _gateway(tmp_path, wall) as gw:
        draft = await create(gw, body)
        await act(gw, draft["id"], "start")
        await tick(gw, 4 / SLOW)
        assert (await get(gw, draft["id"]))["stats"]["pending"] == len(NUMBERS) - 4
    async with _gateway(tmp_path, wall) as gw:
        assert (await get(gw, draft["id"]))["state"] == "running"
        await tick(gw, 100 / SLOW)
        view = await get(gw, draft["id"])
        assert view["state"] == "completed" and view["stats"]["accepted"] == len(NUMBERS)
        sent = await messages(gw)
        assert sorted(m["to"] for m in sent) == sorted(NUMBERS)
        assert len({m["client_ref"] for m in sent}) == len(NUMBERS)


PRICED = (
    '[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 1000\nburst = 100\n'
    'latency = 0\nreceipt_delay = 0\nseed = 1\nprice_per_part = 0.05\ncurrency = "EUR"\n'
)
LINKS = '[links]\nlisten = "127.0.0.1:0"\nbase_url = "https://s.shop.example"\n'


async def test_stats_count_messages_parts_clicks_and_cost(start_gateway: StartGateway) -> None:
    gw = await start_gateway(LINKS, PRICED, wall=Wall(MORNING))
    variants = [{"text": "Sale {{name}}: https://shop.example/sale"}, {"text": "Psst {{name}}"}]
    # Thirty numbers: the campaign id is random, and with two even variants all thirty fall to
    # one of them about once in 500 million runs.
    numbers = [f"+491701235{i:03d}" for i in range(30)]
    body = {
        "name": "s",
        "variants": variants,
        "track_links": True,
        "recipients": recipients(numbers),
    }
    draft = await create(gw, body)
    await act(gw, draft["id"], "start")
    await tick(gw)
    sent = await messages(gw)
    for m in sent:
        assert (await gw.wait_final(m["id"])).status == "delivered"
    tracked = [m for m in sent if m["text"].startswith("Sale")]
    assert tracked
    row = await gw.gateway.store.get(None, tracked[0]["id"])
    assert row is not None and row.links
    for _ in range(2):
        got = await follow(gw.gateway.links_address, "/" + row.links[0].code)
        assert got.status == 302
    # An order from the clicked number counts for the campaign and its variant.
    order = {"order_id": "o-1", "value": "49.90", "currency": "EUR", "number": row.to}
    status, conversion = await gw.call("POST", "/v1/conversions", order)
    assert status == 201 and isinstance(conversion, dict)
    assert conversion["attributed"]["message"] == row.id
    stats = (await get(gw, draft["id"]))["stats"]
    assert (stats["conversions"], stats["revenue"]) == (1, {"EUR": "49.90"})
    n = len(numbers)
    assert (stats["sent"], stats["delivered"], stats["failed"], stats["parts"]) == (n, n, 0, n)
    assert (stats["clicks"], stats["unique_clicks"]) == (2, 1)
    assert stats["click_rate"] == pytest.approx(1 / n)
    assert stats["cost"] == pytest.approx(0.05 * n) and stats["currency"] == "EUR"
    first, second = stats["variants"]
    assert (first["sent"], first["clicks"], first["unique_clicks"]) == (len(tracked), 2, 1)
    assert (second["sent"], second["clicks"]) == (n - len(tracked), 0)
    assert (first["conversions"], first["revenue"]) == (1, {"EUR": "49.90"})
    assert (second["conversions"], second["revenue"]) == (0, {})
    assert first["cost"] + second["cost"] == pytest.approx(stats["cost"])


async def test_quiet_hours_hold_each_recipient_to_their_own_morning(
    start_gateway: StartGateway,
) -> None:
    # 08:00 UTC: 09:00 in Berlin (marketing may go), 22:00 the evening before in Honolulu
    # (quiet until 09:00 there, 19:00 UTC). One campaign, two zones, two sending times.
    wall = Wall(MORNING)
    gw = await start_gateway(wall=wall)
    body = {"name": "zones", "text": "Hi {{name}}", "recipients": recipients([BERLIN, HONOLULU])}
    draft = await create(gw, body)
    await act(gw, draft["id"], "start")
    await tick(gw)
    assert (await get(gw, draft["id"]))["stats"]["accepted"] == 2
    sent = {m["to"]: m for m in await messages(gw)}
    berlin = await gw.wait_final(sent[BERLIN]["id"])
    assert berlin.status == "delivered"
    honolulu = await gw.gateway.store.get(None, sent[HONOLULU]["id"])
    assert honolulu is not None and honolulu.status == "deferred"
    assert "19:00" in honolulu.history[-1].note, honolulu.history  # held to 09:00 there
    wall.t = at("2027-01-15T19:00:00")  # the scheduler's timers read this clock
    assert (await gw.wait_final(sent[HONOLULU]["id"])).status == "delivered"
    stats = (await get(gw, draft["id"]))["stats"]
    assert (stats["sent"], stats["delivered"]) == (2, 2)
