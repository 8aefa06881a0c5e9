"""Segments over the real HTTP API and a real SQLite file: saved filters by tags, attribute
conditions, locale and time zone, evaluated when asked (so they follow the contacts), opted-out
numbers left out and counted apart, a CSV import then a segment over it, and the key scoping."""

from __future__ import annotations

from typing import Any

import pytest

from smsgw.gateway import api_segments
from tests.conftest import OTHER_TOKEN, Running, StartGateway

pytestmark = pytest.mark.trio

N = [f"+49170{i:08d}" for i in range(10)]
PEOPLE = [
    {
        "number": N[0],
        "tags": ["vip", "de"],
        "locale": "de",
        "attributes": {"orders": 5, "last_order": "2026-01-10", "plan": "gold"},
    },
    {
        "number": N[1],
        "tags": ["de"],
        "locale": "de-AT",
        "time_zone": "Europe/Vienna",
        "attributes": {"orders": 1, "last_order": "2025-06-01T12:00:00Z", "plan": "free"},
    },
    {"number": N[2], "tags": ["vip"], "locale": "DE", "attributes": {"orders": 12}},
    {"number": N[3], "tags": [], "attributes": {"plan": "gold", "churned": True}},
]


async def _ok(gw: Running, method: str, path: str, body: object = None, **kw: Any) -> Any:
    status, reply = await gw.call(method, path, body, **kw)
    assert status in (200, 201), (status, reply)
    return reply


async def _members(gw: Running, name: str, **kw: Any) -> list[str]:
    reply = await _ok(gw, "GET", f"/v1/segments/{name}/contacts", **kw)
    return [c["number"] for c in reply["contacts"]]


async def _segment(gw: Running, name: str, rules: dict[str, Any]) -> list[str]:
    await _ok(gw, "POST", "/v1/segments", {"name": name, **rules})
    return await _members(gw, name)


async def test_conditions_select_the_contacts_they_say(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    await _ok(gw, "POST", "/v1/contacts", {"contacts": PEOPLE})
    assert await _segment(gw, "any", {"tags_any": ["vip", "nope"]}) == [N[0], N[2]]
    assert await _segment(gw, "all", {"tags_all": ["vip", "de"]}) == [N[0]]
    assert await _segment(gw, "german", {"locale": "de"}) == [N[0], N[2]]
    assert await _segment(gw, "vienna", {"time_zone": "Europe/Vienna"}) == [N[1]]
    eq = {"conditions": [{"attr": "plan", "op": "eq", "value": "gold"}]}
    assert await _segment(gw, "gold", eq) == [N[0], N[3]]
    within = {"conditions": [{"attr": "plan", "op": "in", "value": ["free", "silver"]}]}
    assert await _segment(gw, "cheap", within) == [N[1]]
    recent = {"conditions": [{"attr": "last_order", "op": "after", "value": "2025-12-31"}]}
    assert await _segment(gw, "recent", recent) == [N[0]]
    lapsed = {"conditions": [{"attr": "last_order", "op": "before", "value": "2025-12-31"}]}
    assert await _segment(gw, "lapsed", lapsed) == [N[1]]
    big = {"conditions": [{"attr": "orders", "op": "after", "value": 4}]}
    assert await _segment(gw, "big", big) == [N[0], N[2]]
    has = {"conditions": [{"attr": "churned", "op": "exists"}]}
    assert await _segment(gw, "churned", has) == [N[3]]
    both = {
        "tags_any": ["vip"],
        "conditions": [
            {"attr": "orders", "op": "before", "value": 10},
            {"attr": "churned", "op": "exists", "value": False},
        ],
    }
    assert await _segment(gw, "both", both) == [N[0]]
    count = await _ok(gw, "GET", "/v1/segments/gold/count")
    assert count == {"count": 2, "opted_out": 0}

    # Evaluated when asked: a contact changed is in or out at once.
    await _ok(gw, "PATCH", f"/v1/contacts/{N[1]}", {"attributes": {"plan": "gold"}})
    assert await _members(gw, "gold") == [N[0], N[1], N[3]]
    replaced = await _ok(gw, "PUT", "/v1/segments/gold", {"tags_all": ["de"]})
    assert replaced["tags_all"] == ["de"] and "conditions" not in replaced
    assert await _members(gw, "gold") == [N[0], N[1]]


async def test_opted_out_numbers_are_left_out_and_counted(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    await _ok(gw, "POST", "/v1/contacts", {"contacts": PEOPLE})
    await _ok(gw, "POST", "/v1/segments", {"name": "vips", "tags_any": ["vip"]})
    status, _ = await gw.call("POST", "/v1/optouts", {"number": N[0]})
    assert status == 201
    reply = await _ok(gw, "GET", "/v1/segments/vips/contacts")
    assert [c["number"] for c in reply["contacts"]] == [N[2]]
    assert (reply["opted_out"], reply["next"]) == (1, None)
    assert await _ok(gw, "GET", "/v1/segments/vips/count") == {"count": 1, "opted_out": 1}
    # Another key's opt-out for its own messages only leaves this key's segment alone.
    await gw.call("POST", "/v1/optouts", {"number": N[2], "scope": "key"}, token=OTHER_TOKEN)
    assert await _members(gw, "vips") == [N[2]]


async def test_import_then_segment_with_a_cursor(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    rows = "".join(
        f"+49171{i:08d},{'vip' if i % 3 == 0 else 'std'},{2000 + i}\r\n" for i in range(30)
    )
    summary = await _ok(
        gw,
        "POST",
        "/v1/contacts/import",
        raw=f"number,tags,joined\r\n{rows}".encode(),
        headers=[("Content-Type", "text/csv")],
    )
    assert (summary["created"], summary["failed"]) == (30, 0)
    rules = {"tags_all": ["vip"], "conditions": [{"attr": "joined", "op": "after", "value": 2005}]}
    await _ok(gw, "POST", "/v1/segments", {"name": "vip-joined", **rules})
    seen: list[str] = []
    after = ""
    while True:
        page = await _ok(gw, "GET", f"/v1/segments/vip-joined/contacts?limit=4&after={after}")
        seen += [c["number"] for c in page["contacts"]]
        if page["next"] is None:
            break
        after = page["next"]
    # The imported column is text; "2006" and on compare as numbers after 2005.
    assert seen == [f"+49171{i:08d}" for i in range(6, 30, 3)]
    assert await _ok(gw, "GET", "/v1/segments/vip-joined/count") == {"count": 8, "opted_out": 0}


async def test_segments_belong_to_their_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    await _ok(gw, "POST", "/v1/contacts", {"contacts": PEOPLE})
    await _ok(gw, "POST", "/v1/contacts", {"contacts": PEOPLE[:1]}, token=OTHER_TOKEN)
    made = await _ok(gw, "POST", "/v1/segments", {"name": "vips", "tags_any": ["vip"]})
    assert made["name"] == "vips" and made["tags_any"] == ["vip"] and "key" not in made
    status, reply = await gw.call("POST", "/v1/segments", {"name": "vips"})
    assert status == 409 and isinstance(reply, dict)
    assert reply["error"]["code"] == "segment_exists"
    status, _ = await gw.call("GET", "/v1/segments/vips", token=OTHER_TOKEN)
    assert status == 404
    await _ok(gw, "POST", "/v1/segments", {"name": "vips"}, token=OTHER_TOKEN)
    assert await _members(gw, "vips", token=OTHER_TOKEN) == [N[0]]
    assert await _members(gw, "vips") == [N[0], N[2]]
    listed = await _ok(gw, "GET", "/v1/segments")
    assert [s["name"] for s in listed["segments"]] == ["vips"]
    bad = {"name": "tz", "time_zone": "Mars/Base"}
    status, reply = await gw.call("POST", "/v1/segments", bad)
    assert status == 422 and isinstance(reply, dict)
    assert (reply["error"]["code"], reply["error"]["field"]) == ("invalid_tz", "time_zone")
    status, reply = await gw.call(
        "POST", "/v1/segments", {"name": "x", "conditions": [{"attr": "a", "op": "like"}]}
    )
    assert status == 422
    assert await _ok(gw, "DELETE", "/v1/segments/vips") == {"name": "vips", "deleted": True}
    status, _ = await gw.call("GET", "/v1/segments/vips/contacts")
    assert status == 404
    status, _ = await gw.call("GET", "/v1/segments/NOT_A_NAME")
    assert status == 404


async def test_a_page_reads_a_bounded_stretch_and_says_where_to_go_on(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_segments, "SCAN_CHUNK", 2)
    monkeypatch.setattr(api_segments, "SCAN_LIMIT", 4)
    gw = await start_gateway()
    people = [{"number": n, "tags": ["vip"] if i in (1, 7) else []} for i, n in enumerate(N)]
    await _ok(gw, "POST", "/v1/contacts", {"contacts": people})
    await _ok(gw, "POST", "/v1/segments", {"name": "rare", "tags_all": []})
    await _ok(gw, "PUT", "/v1/segments/rare", {"conditions": [], "tags_any": ["vip"]})
    # The store selects by tag, so no stretch is empty here; by attribute it can be.
    await _ok(
        gw,
        "POST",
        "/v1/segments",
        {"name": "sparse", "conditions": [{"attr": "flag", "op": "exists"}]},
    )
    await _ok(gw, "PATCH", f"/v1/contacts/{N[7]}", {"attributes": {"flag": True}})
    first = await _ok(gw, "GET", "/v1/segments/sparse/contacts?limit=10")
    assert first["contacts"] == [] and first["next"] is not None
    second = await _ok(gw, "GET", f"/v1/segments/sparse/contacts?limit=10&after={first['next']}")
    assert [c["number"] for c in second["contacts"]] == [N[7]] and second["next"] is not None
    third = await _ok(gw, "GET", f"/v1/segments/sparse/contacts?limit=10&after={second['next']}")
    assert third == {"contacts": [], "opted_out": 0, "next": None}
    assert await _members(gw, "rare") == [N[1], N[7]]
    assert await _ok(gw, "GET", "/v1/segments/sparse/count") == {"count": 1, "opted_out": 0}
