"""The console's page stays within its budget — one response of at most 50 KB, style, script
and chart included — with 50 routes and 64 modems configured, links down with their errors,
every chart line drawn, the error log full and 60 SMPP server accounts."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import trio
import trio.testing

from smsgw.gateway.console_history import Reading
from tests.conftest import StartGateway
from tests.console_helpers import OPS_TOKEN, Smsc, big_routes_toml

pytestmark = pytest.mark.trio

BUDGET = 50 * 1024


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_page_fits_50_kb_with_50_routes_and_64_modems(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    from smsgw.drivers.smpp.sim import SimSettings

    smsc = Smsc(nursery, SimSettings(port=0, accounts={"shop": "secret"}))
    await smsc.start()
    routes, rules = big_routes_toml(smsc.port, closed_port())
    accounts = "".join(
        f'[[smpp_server.accounts]]\nsystem_id = "account-{i:02d}"\npassword = "pw{i:06d}"\n'
        'key = "shop"\n'
        for i in range(60)
    )
    gw = await start_gateway(
        f'[smpp_server]\nlisten = "127.0.0.1:0"\n{accounts}',
        route=routes,
        rules=rules,
        server=f'ops_token = "{OPS_TOKEN}"',
    )
    console = gw.gateway.console
    runners = gw.gateway.scheduler.runners
    assert len(runners) == 50
    assert sum(len(r.driver.state().links) for n, r in runners.items() if "modem" in n) == 64
    # Fifteen minutes of traffic on every route, so every chart line is drawn...
    ring = console.throughput
    ring.clear()
    t = trio.current_time() - ring.span
    for k in range(int(ring.span / ring.interval) + 1):
        counts = {name: float(k * (i + 1) * 37) for i, name in enumerate(runners)}
        ring.sample(Reading(t + k * ring.interval, counts, {}))
    # ...a full error log, fifty different lines...
    log = logging.getLogger("smsgw.test")
    for i in range(60):
        log.warning(
            "smpp route operator-%02d bind0: link down (connection: all attempts to connect to"
            " 10.20.30.%d:2775 failed); reconnecting",
            i % 46,
            i,
        )
    # ...and every failing link has had its error (each fails at its first attempt, then
    # waits out its backoff: everything is blocked).
    await trio.testing.wait_all_tasks_blocked(0.2)
    code, page = await gw.call("GET", "/status", token=OPS_TOKEN)
    assert code == 200 and isinstance(page, bytes)
    print(f"page: {len(page)} bytes for 50 routes and 64 modems")
    assert b'data-route="other"' in page and page.count(b"<polyline") == 7
    assert page.count(b"<tr class=down>") >= 23 + 64
    code, body = await gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(body, dict)
    failing = [ln for r in body["routes"] for ln in r["links"] if ln["last_error"]]
    assert len(failing) >= 23 + 64
    assert page.count(b"<tr><th>account-") == 8 and b"52 more in /status.json" in page
    assert len(page) <= BUDGET
