"""Consent and courtesy through the HTTP API of a real gateway (loopback socket, SQLite file)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio

from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from tests.conftest import OTHER_TOKEN, StartGateway
from tests.policy_helpers import BERLIN, HONOLULU, SHANGHAI, at

pytestmark = pytest.mark.trio

NIGHT_IN_BERLIN = at("2027-01-15T03:00:00")
DAYTIME = at("2027-01-15T10:00:00")


def fixed(t: float) -> Any:
    return lambda: t


async def test_opt_out_list_round_trip(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, body = await gw.call("POST", "/v1/optouts", {"number": BERLIN, "note": "phoned in"})
    assert status == 201 and isinstance(body, dict)
    assert (body["number"], body["scope"], body["source"], body["note"]) == (
        BERLIN,
        "all",
        "api",
        "phoned in",
    )
    status, _ = await gw.call("POST", "/v1/optouts", {"number": BERLIN})
    assert status == 200  # already there; recorded in the trail all the same
    status, _ = await gw.call("POST", "/v1/optouts", {"number": SHANGHAI, "scope": "key"})
    assert status == 201

    status, page = await gw.call("GET", "/v1/optouts?limit=1")
    assert status == 200 and isinstance(page, dict)
    assert [o["number"] for o in page["optouts"]] == [BERLIN] and page["next"]
    status, page = await gw.call("GET", f"/v1/optouts?after={page['next']}")
    assert isinstance(page, dict)
    assert [(o["number"], o["scope"]) for o in page["optouts"]] == [(SHANGHAI, "shop")]
    # The other key sees the opt-out for everyone, not shop's own.
    _, theirs = await gw.call("GET", "/v1/optouts", token=OTHER_TOKEN)
    assert isinstance(theirs, dict) and [o["number"] for o in theirs["optouts"]] == [BERLIN]

    status, one = await gw.call("GET", f"/v1/optouts/{BERLIN}")
    assert status == 200 and isinstance(one, dict) and one["opted_out"] is True
    assert [h["action"] for h in one["history"]] == ["opt_out", "opt_out"]
    status, _ = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all")
    assert status == 200
    _, one = await gw.call("GET", f"/v1/optouts/{BERLIN}")
    assert isinstance(one, dict) and one["opted_out"] is False
    assert [h["action"] for h in one["history"]] == ["opt_out", "opt_out", "opt_in"]
    status, err = await gw.call("DELETE", f"/v1/optouts/{BERLIN}?scope=all")
    assert status == 404 and isinstance(err, dict) and err["error"]["code"] == "not_found"
    status, err = await gw.call("POST", "/v1/optouts", {"number": "12345"})
    assert status == 422 and isinstance(err, dict) and err["error"]["code"] == "invalid_number"


async def test_csv_export_and_import(start_gateway: StartGateway) -> None:
    gw = await start_gateway(extra='[policy]\ndefault_country = "DE"')
    csv = "number,scope,note\n0151 12345678,all,from the shop's CRM\n+8613812345678,key,\n"
    status, body = await gw.call(
        "POST", "/v1/optouts", raw=csv.encode(), headers=[("Content-Type", "text/csv")]
    )
    assert status == 200 and body == {"imported": 2, "added": 2}
    status, data = await gw.call("GET", "/v1/optouts?format=csv")
    assert status == 200 and isinstance(data, bytes)
    lines = data.decode().splitlines()
    assert lines[0] == "number,scope,source,at,inbound_id,note"
    # Numbers start with "+", which a spreadsheet would read as a formula: quoted with "'".
    assert lines[1].startswith(f"'{BERLIN},all,import,")
    assert lines[1].endswith("from the shop's CRM")
    assert lines[2].startswith(f"'{SHANGHAI},shop,import,")
    _, same = await gw.call("GET", "/v1/optouts", headers=[("Accept", "text/csv")])
    assert same == data
    bad = b"number\n+4915112345678\nnot a number\n"
    status, err = await gw.call(
        "POST", "/v1/optouts", raw=bad, headers=[("Content-Type", "text/csv")]
    )
    assert status == 422 and isinstance(err, dict)
    assert err["error"]["code"] == "invalid_csv" and err["error"]["field"] == "line 3"


async def test_marketing_to_an_opted_out_number_is_refused_per_item(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=fixed(DAYTIME))
    await gw.call("POST", "/v1/optouts", {"number": BERLIN})
    status, err = await gw.call(
        "POST", "/v1/messages", {"to": BERLIN, "text": "Sale", "class": "marketing"}
    )
    assert status == 422 and isinstance(err, dict)
    assert err["error"]["code"] == "opted_out" and err["error"]["field"] == "to"
    items = [
        {"to": HONOLULU, "text": "Sale", "class": "marketing"},
        {"to": BERLIN, "text": "Sale", "class": "marketing"},
        {"to": BERLIN, "text": "Your order shipped"},
    ]
    status, body = await gw.call("POST", "/v1/messages", {"messages": items})
    assert status == 202 and isinstance(body, dict)
    out = body["messages"]
    assert out[0]["status"] == "deferred"  # 00:00 in Honolulu
    assert out[1]["error"] == {
        "code": "opted_out",
        "message": out[1]["error"]["message"],
        "field": "messages[1].to",
    }
    assert out[2]["status"] == "queued"
    _, metrics = await gw.call("GET", "/metrics", token=None)
    assert isinstance(metrics, bytes)
    assert b'smsgw_policy_refused_total{reason="opted_out"} 2.0' in metrics
    assert b'smsgw_optouts_total{source="api"} 1.0' in metrics
    assert b'smsgw_policy_deferred_total{reason="quiet_hours"} 1.0' in metrics


async def test_quiet_hours_defer_and_the_reply_says_until_when(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(wall=fixed(NIGHT_IN_BERLIN))
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": BERLIN, "text": "Sale", "class": "marketing"}
    )
    assert status == 202 and isinstance(body, dict)
    assert body["status"] == "deferred"
    assert body["deferred_until"] == "2027-01-15T08:00:00.000Z"
    assert "quiet hours (09:00-21:00 in Europe/Berlin)" in body["note"]
    status, msg = await gw.call("GET", f"/v1/messages/{body['id']}")
    assert isinstance(msg, dict) and msg["status"] == "deferred"
    assert msg["history"][0]["note"] == body["note"]
    # A send_at inside the quiet hours moves to the opening; OTP never waits.
    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {"to": BERLIN, "text": "Sale", "class": "marketing", "send_at": "2027-01-15T21:30:00Z"},
    )
    assert isinstance(body, dict) and body["deferred_until"] == "2027-01-16T08:00:00.000Z"
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": BERLIN, "text": "123456", "class": "otp"}
    )
    assert isinstance(body, dict) and body["status"] == "queued"
    # An explicit tz wins over the number's zone (17:00 in Honolulu, 04:00 in Berlin).
    hawaii = {"to": HONOLULU, "text": "Sale", "class": "marketing"}
    _, body = await gw.call("POST", "/v1/messages", hawaii)
    assert isinstance(body, dict) and body["status"] == "queued"
    _, body = await gw.call("POST", "/v1/messages", {**hawaii, "tz": "Europe/Berlin"})
    assert isinstance(body, dict) and body["deferred_until"] == "2027-01-15T08:00:00.000Z"


async def test_footer_counts_in_the_parts_and_national_numbers(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(
        extra='[policy]\nfooter = true\ndefault_country = "DE"', wall=fixed(DAYTIME)
    )
    status, body = await gw.call(
        "POST", "/v1/messages", {"to": "0151 12345678", "text": "x" * 150, "class": "marketing"}
    )
    assert status == 202 and isinstance(body, dict) and body["parts"] == 2
    _, msg = await gw.call("GET", f"/v1/messages/{body['id']}")
    assert isinstance(msg, dict) and msg["to"] == BERLIN
    assert msg["text"].endswith("\nAbmelden: STOPP antworten")


async def test_consents(start_gateway: StartGateway) -> None:
    gw = await start_gateway(wall=fixed(DAYTIME))
    status, body = await gw.call(
        "POST",
        "/v1/consents",
        {
            "number": BERLIN,
            "source": "checkout",
            "at": "2027-01-14T18:00:00Z",
            "text_shown": "Yes, send me offers by SMS",
            "evidence": "order 1234",
        },
    )
    assert status == 201 and isinstance(body, dict)
    assert body["id"].startswith("cns_") and body["scope"] == "key"
    assert body["at"] == "2027-01-14T18:00:00.000Z"
    status, err = await gw.call(
        "POST", "/v1/consents", {"number": BERLIN, "source": "x", "at": "2027-02-01T00:00:00Z"}
    )
    assert status == 422 and isinstance(err, dict) and err["error"]["field"] == "at"
    status, err = await gw.call("POST", "/v1/consents", {"number": BERLIN})
    assert status == 422 and isinstance(err, dict) and err["error"]["field"] == "source"


async def test_stop_over_smpp_through_the_whole_gateway(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    sim: SmscSim = await nursery.start(serve_smsc_sim, SimSettings(port=0, seed=5))
    gw = await start_gateway(
        route=f'[[routes]]\nname = "sim"\ndriver = "smpp"\nhost = "127.0.0.1"\n'
        f'port = {sim.port}\nsystem_id = "shop"\nbinds = 1\n',
        shop='inbound_routes = ["sim"]',
    )
    with trio.fail_after(20):
        await sim.wait_until(lambda s: s.bound_now == 1)
        sim.inject_mo(BERLIN, "4930901820", "STOP")
        # The confirmation goes back out through the same SMPP route.
        await sim.wait_until(lambda s: s.accepted == 1)
        store = gw.gateway.store
        while True:
            version = store.version
            _, page = await gw.call("GET", "/v1/optouts")
            assert isinstance(page, dict)
            if page["optouts"]:
                break
            await store.wait_changed(version)
    [entry] = page["optouts"]
    assert (entry["number"], entry["source"]) == (BERLIN, "keyword")
    _, inbound = await gw.call("GET", "/v1/inbound")
    assert isinstance(inbound, dict) and inbound["inbound"][0]["id"] == entry["inbound_id"]
    status, err = await gw.call(
        "POST", "/v1/messages", {"to": BERLIN, "text": "Sale", "class": "marketing"}
    )
    assert status == 422 and isinstance(err, dict) and err["error"]["code"] == "opted_out"
    msgspec.json.encode(page)  # the page is plain JSON all the way down
