"""Opt-outs between tenants: with keys "shop", "other" and the admin "ops" on one gateway (a
real loopback socket and SQLite file), each key lifts only what is its own to lift and reads
other keys' entries without who made them and why."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from tests.conftest import OTHER_TOKEN, Running, StartGateway
from tests.policy_helpers import BERLIN, SHANGHAI, at

pytestmark = pytest.mark.trio

OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
DAYTIME = at("2027-01-15T10:00:00")


async def _get(gw: Running, path: str, token: str) -> dict[str, Any]:
    status, body = await gw.call("GET", path, token=token)
    assert status == 200 and isinstance(body, dict), body
    return body


async def _marketing(gw: Running, token: str) -> str:
    """The outcome of a marketing message to BERLIN: "queued", or the refusal's code."""
    msg = {"to": BERLIN, "text": "Sale", "class": "marketing"}
    status, body = await gw.call("POST", "/v1/messages", msg, token=token)
    assert isinstance(body, dict)
    return str(body["status"] if status == 202 else body["error"]["code"])


async def test_a_key_cannot_lift_another_keys_opt_out(start_gateway: StartGateway) -> None:
    gw = await start_gateway(extra=OPS, wall=lambda: DAYTIME)
    shop_note = {"number": BERLIN, "note": "customer phoned the shop"}
    assert (await gw.call("POST", "/v1/optouts", shop_note))[0] == 201

    # DELETE means the key's own scope: other has no opt-out of its own to lift.
    status, err = await gw.call("DELETE", f"/v1/optouts/{BERLIN}", token=OTHER_TOKEN)
    assert status == 404 and isinstance(err, dict) and err["error"]["field"] == "scope"
    # And the opt-out for every key is shop's, not other's.
    status, err = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all", token=OTHER_TOKEN)
    assert status == 403 and isinstance(err, dict)
    assert err["error"]["code"] == "optout_not_yours" and err["error"]["field"] == "number"
    assert await _marketing(gw, OTHER_TOKEN) == "opted_out"
    # The refusals changed nothing, not even the trail.
    mine = await _get(gw, f"/v1/optouts/{BERLIN}", OTHER_TOKEN)
    assert [h["action"] for h in mine["history"]] == ["opt_out"]

    # other sees the opt-out, but not shop's name or note.
    assert mine["opted_out"] is True
    assert mine["history"][0]["key"] is None and mine["history"][0]["note"] == ""
    assert mine["optouts"][0]["note"] == ""
    listed = await _get(gw, "/v1/optouts", OTHER_TOKEN)
    assert [(o["number"], o["note"]) for o in listed["optouts"]] == [(BERLIN, "")]
    status, csv = await gw.call("GET", "/v1/optouts?format=csv", token=OTHER_TOKEN)
    assert status == 200 and isinstance(csv, bytes) and b"phoned" not in csv
    theirs = await _get(gw, f"/v1/optouts/{BERLIN}", "test-token-0123456789abcdef")
    assert theirs["history"][0]["key"] == "shop"
    assert theirs["history"][0]["note"] == "customer phoned the shop"

    # other's own opt-out is its own to lift; the one for every key stays.
    await gw.call("POST", "/v1/optouts", {"number": BERLIN, "scope": "key"}, token=OTHER_TOKEN)
    status, body = await gw.call("DELETE", f"/v1/optouts/{BERLIN}", token=OTHER_TOKEN)
    assert status == 200 and body == {"number": BERLIN, "opted_out": True}

    # shop made the global one and may lift it; so may an admin key.
    status, _ = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all")
    assert status == 200
    await gw.call("POST", "/v1/optouts", {"number": BERLIN})
    status, body = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all", token=OPS_TOKEN)
    assert status == 200 and body == {"number": BERLIN, "opted_out": False}
    assert await _marketing(gw, OTHER_TOKEN) == "queued"


async def test_a_keys_own_opt_outs_are_invisible_to_other_keys(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(extra=OPS)
    await gw.call("POST", "/v1/optouts", {"number": SHANGHAI, "scope": "key", "note": "VIP"})
    listed = await _get(gw, "/v1/optouts", OTHER_TOKEN)
    assert listed["optouts"] == []
    one = await _get(gw, f"/v1/optouts/{SHANGHAI}", OTHER_TOKEN)
    assert (one["opted_out"], one["optouts"], one["history"]) == (False, [], [])
    # The admin key sees every scope, with names and notes.
    everything = await _get(gw, "/v1/optouts", OPS_TOKEN)
    assert [(o["number"], o["scope"], o["note"]) for o in everything["optouts"]] == [
        (SHANGHAI, "shop", "VIP")
    ]
    one = await _get(gw, f"/v1/optouts/{SHANGHAI}", OPS_TOKEN)
    assert [(h["key"], h["note"]) for h in one["history"]] == [("shop", "VIP")]


async def test_only_an_admin_records_consent_for_every_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway(extra=OPS)
    body = {"number": BERLIN, "source": "checkout", "scope": "all"}
    status, err = await gw.call("POST", "/v1/consents", body, token=OTHER_TOKEN)
    assert status == 403 and isinstance(err, dict)
    assert (err["error"]["code"], err["error"]["field"]) == ("admin_only", "scope")
    assert (await gw.call("POST", "/v1/consents", body, token=OPS_TOKEN))[0] == 201
    assert (await gw.call("POST", "/v1/consents", {**body, "scope": "key"}))[0] == 201


async def test_a_recipients_stop_is_lifted_only_by_start_or_an_admin(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    sim: SmscSim = await nursery.start(serve_smsc_sim, SimSettings(port=0, seed=5))
    gw = await start_gateway(
        route=f'[[routes]]\nname = "sim"\ndriver = "smpp"\nhost = "127.0.0.1"\n'
        f'port = {sim.port}\nsystem_id = "shop"\nbinds = 1\n',
        shop='inbound_numbers = ["+4930901820"]',
        extra=OPS,
        wall=lambda: DAYTIME,
    )
    with trio.fail_after(20):
        await sim.wait_until(lambda s: s.bound_now == 1)
        sim.inject_mo(BERLIN, "4930901820", "STOP")
        await sim.wait_until(lambda s: s.mo_acked == 1)
    # The STOP came to shop's number: shop sees its trail entry whole, other without it.
    shop_view = await _get(gw, f"/v1/optouts/{BERLIN}", "test-token-0123456789abcdef")
    [entry] = shop_view["history"]
    assert (entry["source"], entry["key"]) == ("keyword", "shop")
    assert entry["inbound_id"].startswith("in_") and "4930901820" in entry["note"]
    other_view = await _get(gw, f"/v1/optouts/{BERLIN}", OTHER_TOKEN)
    [entry] = other_view["history"]
    assert (entry["source"], entry["key"], entry["inbound_id"], entry["note"]) == (
        "keyword",
        None,
        None,
        "",
    )
    for token in ("test-token-0123456789abcdef", OTHER_TOKEN):
        status, err = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all", token=token)
        assert status == 403 and isinstance(err, dict)
        assert err["error"]["code"] == "optout_by_recipient"
    assert await _marketing(gw, OTHER_TOKEN) == "opted_out"
    status, body = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all", token=OPS_TOKEN)
    assert status == 200 and body == {"number": BERLIN, "opted_out": False}
    assert await _marketing(gw, OTHER_TOKEN) == "queued"
