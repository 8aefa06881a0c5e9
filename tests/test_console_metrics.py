"""Every figure the ops console shows equals the matching ``/metrics`` series at the same
moment: both are read from the same collector and instruments, and this test scrapes both
after real traffic over a simulator, SMPP binds (with throttling and a lost SMSC) and modems.

Time-dependent gauges are pinned down: the wall clock is frozen (ages), and every route is
paused before the reads, so no runner moves a limiter; tokens still refill with time, so for
them the scrape must lie between two console reads taken before and after it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from tests.conftest import StartGateway
from tests.console_helpers import OPS_TOKEN, Setup, sample, scrape, start_setup

pytestmark = pytest.mark.trio

Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def status(s: Setup) -> dict[str, Any]:
    code, body = await s.gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert code == 200 and isinstance(body, dict)
    return body


async def drive_traffic(s: Setup) -> None:
    sim = s.smsc.sim
    assert sim is not None
    sim.settings = msgspec.structs.replace(sim.settings, throttle=0.3)
    ids = []
    batches = [("+447911123456", 30), ("+4917012345678", 30), ("+33612345678", 4)]
    for to, n in batches:
        items = [{"to": to, "text": f"figure {i}"} for i in range(n)]
        code, body = await s.gw.call("POST", "/v1/messages", {"messages": items})
        assert code == 202 and isinstance(body, dict)
        ids += [m["id"] for m in body["messages"]]
    for public_id in ids:
        assert (await s.gw.wait_final(public_id)).status == "delivered"
    sim.settings = msgspec.structs.replace(sim.settings, throttle=0.0)
    # The SMSC goes away and comes back: reconnects are counted.
    s.smsc.stop()
    await s.carrier_bound(up=False)
    await s.smsc.start()
    await s.carrier_bound()
    code, _ = await s.gw.call("POST", "/v1/optouts", {"number": "+447911123457"})
    assert code in (200, 201)


def check_route(r: dict[str, Any], m: Metrics) -> None:
    name = r["name"]
    assert r["up"] is (sample(m, "smsgw_route_up", route=name) == 1.0)
    assert r["paused"] is (sample(m, "smsgw_route_paused", route=name) == 1.0)
    assert r["effective_rate"] == sample(m, "smsgw_route_rate", route=name)
    assert r["in_flight"] == sample(m, "smsgw_route_in_flight", route=name)
    assert r["window"] == sample(m, "smsgw_route_window", route=name)
    submitted = sum(
        v
        for (n, labels), v in m.items()
        if n == "smsgw_parts_submitted_total" and ("route", name) in labels
    )
    assert r["submitted"] == submitted
    assert r["throttled"] == sample(m, "smsgw_route_throttled_total", route=name)
    for kind, v in r["submit_errors"].items():
        assert v == sample(m, "smsgw_submit_errors_total", route=name, kind=kind)
    for result, v in r["receipts"].items():
        assert v == m.get(
            ("smsgw_receipts_total", frozenset({("route", name), ("result", result)})), 0.0
        )
    for link in r["links"]:
        ln = link["name"]
        assert link["up"] is (sample(m, "smsgw_link_up", route=name, link=ln) == 1.0)
        assert link["reconnects"] == m.get(
            ("smsgw_reconnects_total", frozenset({("route", name), ("link", ln)})), 0.0
        )
        modem = link["modem"]
        if modem is not None:
            assert modem["signal_dbm"] == sample(m, "smsgw_modem_signal_dbm", route=name, link=ln)
            registered = sample(m, "smsgw_modem_registered", route=name, link=ln)
            assert modem["registered"] is (registered == 1.0)
            assert modem["queued"] == sample(m, "smsgw_modem_queued", route=name, link=ln)
            sent = sample(m, "smsgw_modem_parts_total", route=name, link=ln, result="sent")
            assert modem["parts_sent"] == sent
            info = [
                dict(labels)
                for (n, labels), v in m.items()
                if n == "smsgw_modem_info" and ("link", ln) in labels and v == 1.0
            ]
            assert [i["operator"] for i in info] == [modem["operator"]]


async def test_every_figure_equals_its_metrics_series(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    frozen = [time.time()]
    s = await start_setup(start_gateway, nursery, tmp_path, wall=lambda: frozen[0])
    await s.carrier_bound()
    bank: Any = s.gw.gateway.scheduler.runners["modems"].driver
    for link in bank.state().links:
        await bank.wait_link(link["name"], "up", ready=True)
    await drive_traffic(s)
    for name, runner in s.gw.gateway.scheduler.runners.items():
        code, _ = await s.gw.call("POST", f"/status/routes/{name}/pause", token=OPS_TOKEN)
        assert code == 200
        await runner.wait_parked()

    before = await status(s)
    m = await scrape(s.gw)
    st = await status(s)
    after = st

    assert {r["name"] for r in st["routes"]} == {"sim", "carrier", "modems"}
    for r in st["routes"]:
        check_route(r, m)
        t0 = next(x for x in before["routes"] if x["name"] == r["name"])["tokens"]
        t1 = next(x for x in after["routes"] if x["name"] == r["name"])["tokens"]
        assert t0 <= sample(m, "smsgw_route_tokens", route=r["name"]) <= t1
    # The traffic left its marks, so the comparisons above compared something.
    by_name = {r["name"]: r for r in st["routes"]}
    assert by_name["carrier"]["throttled"] > 0 and by_name["carrier"]["submitted"] == 30
    assert all(ln["reconnects"] >= 1 for ln in by_name["carrier"]["links"])
    assert by_name["sim"]["receipts"]["matched"] == 30
    assert by_name["modems"]["submitted"] == 4
    for c in st["queue"]["classes"]:
        labels = {"class": c["msg_class"]}
        assert c["depth"] == sample(m, "smsgw_queue_depth", **labels)
        assert c["oldest_age_seconds"] == sample(m, "smsgw_queue_oldest_age_seconds", **labels)
    receipts = st["receipts"]
    for result in ("matched", "pending", "late", "duplicate", "unmatched"):
        total = sum(
            v
            for (n, labels), v in m.items()
            if n == "smsgw_receipts_total" and ("result", result) in labels
        )
        assert receipts[result] == total
    w = st["webhooks"]
    assert w["backlog"] == sample(m, "smsgw_webhook_queue_depth")
    for result, v in w["deliveries"].items():
        assert v == sample(m, "smsgw_webhook_deliveries_total", result=result)
    for source, v in st["optouts"]["since_start"].items():
        assert v == sample(m, "smsgw_optouts_total", source=source)
    assert st["optouts"]["since_start"] == {"api": 1}
