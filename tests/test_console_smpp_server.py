"""The ops console's SMPP server rows: per account, binds now, submits (accepted, throttled,
refused), and the receipts and inbound messages waiting for a receiver bind; from the same
instruments ``/metrics`` exposes and bounded store counts. A real gateway, a real store and
smpplib clients on a real socket."""

from __future__ import annotations

from typing import Any

import smpplib.client

from smsgw.drivers.smpp.pdu import Status
from tests.conftest import OTHER_TOKEN, StartGateway
from tests.console_helpers import OPS_TOKEN, sample, scrape
from tests.test_smpp_server_e2e import SERVER, bind, in_thread, resp_id, submit


async def test_each_account_shows_binds_submits_and_what_waits(
    start_gateway: StartGateway,
) -> None:
    running = await start_gateway(
        SERVER.format(rate=0.01, burst=2, max_binds=2, window=50),
        server=f'ops_token = "{OPS_TOKEN}"',
    )
    address = running.gateway.smpp_address
    assert address is not None

    def submit_three() -> tuple[smpplib.client.Client, list[Any]]:
        c = bind(address, "transmitter")
        return c, [submit(c, f"n{i}") for i in range(3)]

    client, resps = await in_thread(submit_three)
    try:
        assert [r.status for r in resps] == [Status.ROK, Status.ROK, Status.RTHROTTLED]
        for r in resps[:2]:
            await running.wait_final(resp_id(r))
        code, body = await running.call("GET", "/status.json", token=OPS_TOKEN)
        assert code == 200 and isinstance(body, dict)
        view = body["smpp_server"]
        assert view["listen"] == "127.0.0.1:0" and view["more_accounts"] == 0
        crm, strict = view["accounts"]
        assert (crm["system_id"], crm["key"], crm["binds"], crm["max_binds"]) == (
            "crm", "shop", 1, 2,
        )  # fmt: skip
        assert crm["submits"] == {"accepted": 2, "throttled": 1, "refused": 0, "error": 0}
        assert (crm["held_receipts"], crm["held_inbound"], crm["held_capped"]) == (2, 0, False)
        assert strict["system_id"] == "strict" and strict["binds"] == 0
        # The same figures as a scrape of /metrics.
        metrics = await scrape(running)
        assert sample(metrics, "smsgw_smpp_server_binds", account="crm") == crm["binds"]
        throttled = sample(
            metrics, "smsgw_smpp_server_submits_total", account="crm", result="throttled"
        )
        assert throttled == crm["submits"]["throttled"]

        code, page = await running.call("GET", "/status", token=OPS_TOKEN)
        assert code == 200 and isinstance(page, bytes)
        assert b'<h2 id="h-smpp-server">SMPP server</h2>' in page
        assert b"<tr><th>crm <small>shop</small><td>1 / 2" in page
        assert b"<td>2 \xc2\xb7 1 \xc2\xb7 0 \xc2\xb7 0<td>2 \xc2\xb7 0" in page
    finally:
        await in_thread(client.disconnect)

    # Unbound with receipts waiting: marked; a key sees only its own accounts.
    code, page = await running.call("GET", "/status", token=OPS_TOKEN)
    assert isinstance(page, bytes) and b"<td>0 / 2" in page
    assert b"<span class=err>2 \xc2\xb7 0</span>" in page
    code, body = await running.call("GET", "/status.json", token=OTHER_TOKEN)
    assert isinstance(body, dict)
    assert [a["system_id"] for a in body["smpp_server"]["accounts"]] == ["strict"]
    assert body["smpp_server"]["bind_failures"] == {}


async def test_no_smpp_server_no_section(start_gateway: StartGateway) -> None:
    running = await start_gateway(server=f'ops_token = "{OPS_TOKEN}"')
    _, body = await running.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(body, dict) and body["smpp_server"] is None
    _, page = await running.call("GET", "/status", token=OPS_TOKEN)
    assert isinstance(page, bytes) and b"SMPP server" not in page
