"""The ops console over HTTP, without a browser: who may open it, what a plain client gets
(server-rendered HTML readable without script or colour), and what each action does."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.gateway.http import Request, Response
from smsgw.gateway.httpclient import request
from tests.conftest import OTHER_TOKEN, TOKEN, Running, StartGateway
from tests.console_helpers import OPS_TOKEN, scrape, start_setup
from tests.helpers import in_a_month

pytestmark = pytest.mark.trio

UK = "+447911123456"
ROUTES = (
    '[[routes]]\nname = "sim"\ndriver = "simulator"\nlatency = 0\nreceipt_delay = 0\nseed = 1\n'
    '[[routes]]\nname = "b"\ndriver = "simulator"\nlatency = 0\nreceipt_delay = 0\nseed = 1\n'
    "fail_permanent = 1.0\n"
)
RULES = '[[rules]]\nprefix = "+33"\nroute = ["b"]\n[[rules]]\nroute = ["sim"]\n'
OPS = f'ops_token = "{OPS_TOKEN}"'


async def handle(gw: Running, token: str, path: str = "/status") -> Response:
    """The console's own answer with its headers (the test client returns bodies only)."""
    req = Request("GET", path, {}, {"authorization": f"Bearer {token}"}, b"", "127.0.0.1")
    _, response = await gw.gateway.console.handle(req)
    return response


# -- who may open it --------------------------------------------------------------------------


async def test_a_token_is_needed_and_keys_or_the_ops_token_open_it(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(server=OPS)
    # No token: a browser gets the sign-in page (401), a tool gets the API's error shape.
    status, page = await request("GET", gw.url + "/status", b"", [])
    assert status == 401 and b'id="login"' in page and b"sessionStorage" not in page[:200]
    status, body = await gw.call("GET", "/status.json", token=None)
    assert status == 401 and isinstance(body, dict) and body["error"]["code"] == "unauthorized"
    assert (await gw.call("GET", "/status.json", token="not-a-token-at-all-000"))[0] == 401
    # Any key's token and the ops token open it.
    for token, name, admin in ((TOKEN, "shop", False), (OPS_TOKEN, "ops token", True)):
        status, body = await gw.call("GET", "/status.json", token=token)
        assert status == 200 and isinstance(body, dict)
        assert body["viewer"]["name"] == name and body["viewer"]["admin"] is admin
        status, body = await gw.call("GET", "/status", token=token)
        assert status == 200 and isinstance(body, bytes) and b'data-view="status"' in body
    # The ops token opens the console only: the API refuses it.
    assert (await gw.call("GET", "/v1/messages", token=OPS_TOKEN))[0] == 401
    assert (await gw.call("POST", "/v1/messages", {"to": UK, "text": "x"}, token=OPS_TOKEN))[
        0
    ] == 401
    # Wrong methods and unknown actions, after authentication.
    assert (await gw.call("POST", "/status.json", token=OPS_TOKEN))[0] == 405
    assert (await gw.call("GET", "/status/routes/sim/pause", token=OPS_TOKEN))[0] == 405
    status, body = await gw.call("POST", "/status/routes/sim/explode", token=OPS_TOKEN)
    assert status == 404
    assert (await gw.call("POST", "/status/routes/sim/explode", token=None))[0] == 401
    # Requests are counted under bounded endpoint labels.
    metrics = await scrape(gw)
    endpoints = {
        dict(labels).get("endpoint")
        for (name, labels) in metrics
        if name == "smsgw_http_requests_total"
    }
    assert {"/status", "/status.json", "/status/other"} <= endpoints
    assert not any(e and "explode" in e for e in endpoints)


async def test_the_page_is_served_safely(start_gateway: StartGateway) -> None:
    gw = await start_gateway(server=OPS)
    response = await handle(gw, OPS_TOKEN)
    assert response.status == 200
    headers, page = dict(response.headers), response.body
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    # Nothing from elsewhere: no external script, style, font or image.
    text = page.decode()
    refs = re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', text)
    assert refs == ["data:,"], refs
    assert "url(" not in text and "@import" not in text and "@font-face" not in text
    assert b"<script src" not in page and b'<link rel="stylesheet"' not in page


# -- what a plain client gets -----------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what the accessibility checks need: landmarks, headings, table header cells,
    labels and inputs, and the text of each route's row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.landmarks: set[str] = set()
        self.th_scopes: list[str | None] = []
        self.labels: set[str] = set()
        self.inputs: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self.row_class: dict[str, str] = {}
        self._row: str | None = None
        self.buttons: list[dict[str, str | None]] = []
        self.captions = 0
        self._in_head = False
        self.svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag in ("header", "main", "section", "dialog"):
            self.landmarks.add(tag)
        if tag == "thead":
            self._in_head = True
        if tag == "tbody":
            self._in_head = False
        if tag == "th":  # header cells: scope=col in a table's head, row headers in its body
            self.th_scopes.append(a.get("scope") if self._in_head else a.get("scope", "row"))
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag == "input":
            self.inputs.append(str(a.get("id")))
        if tag == "tr":  # end tags of rows and cells are optional: a new row ends the last
            self._row = None
            if (a.get("id") or "").startswith("route-"):
                self._row = str(a["id"])[6:]
                self.rows[self._row] = []
                self.row_class[self._row] = str(a.get("class"))
        if tag in ("td", "th") and self._row is not None:
            self.rows[self._row].append("")
        if tag == "button":
            self.buttons.append(a)
        if tag == "caption":
            self.captions += 1
        if tag == "svg":
            self.svg = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("tr", "tbody", "table"):
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self.rows[self._row]:
            self.rows[self._row][-1] += data


async def test_a_plain_client_reads_every_route_in_words(start_gateway: StartGateway) -> None:
    gw = await start_gateway(route=ROUTES, rules=RULES, server=OPS)
    gw.gateway.scheduler.runners["b"].driver.hold_link("sim", True)  # "b" goes down
    status, page = await gw.call("GET", "/status", token=OPS_TOKEN)
    assert status == 200 and isinstance(page, bytes)
    p = _Page()
    p.feed(page.decode())
    assert {"header", "main", "section", "dialog"} <= p.landmarks
    assert p.tags.count("h1") == 1 and p.tags.count("h2") >= 8
    assert p.captions >= 3 and all(scope in ("col", "row") for scope in p.th_scopes)
    assert set(p.inputs) <= p.labels  # every input has its label
    assert [b.get("data-act") for b in p.buttons] == [None] * len(p.buttons)  # verbs in rows
    assert p.svg
    # Each route has its row, its state in words (not only in colour).
    assert set(p.rows) == {"sim", "b"}
    assert p.row_class == {"sim": "up", "b": "down"}
    assert p.rows["sim"][1] == "up" and p.rows["b"][1] == "down"


async def test_a_non_admin_key_sees_its_routes_and_no_error_log(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(route=ROUTES, rules=RULES, server=OPS, shop='routes = ["sim"]')
    logging.getLogger("smsgw.test").warning("webhook to https://crm.example/x failed")
    status, body = await gw.call("GET", "/status.json")
    assert status == 200 and isinstance(body, dict)
    assert [r["name"] for r in body["routes"]] == ["sim"]
    assert body["errors"] == [] and body["webhooks"]["last_failure"] is None
    _, page = await gw.call("GET", "/status")
    assert isinstance(page, bytes) and b"crm.example" not in page
    assert b"<button>Pause" not in page and b"<button>Disconnect" not in page
    # The ops token sees everything, the error log included.
    _, body = await gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(body, dict) and [r["name"] for r in body["routes"]] == ["sim", "b"]
    assert any("crm.example" in e["message"] for e in body["errors"])
    # Route actions are the operator's.
    status, body = await gw.call("POST", "/status/routes/sim/pause")
    assert status == 403 and isinstance(body, dict) and body["error"]["code"] == "admin_only"
    assert not gw.gateway.scheduler.runners["sim"].paused


async def test_the_error_log_keeps_the_last_fifty(start_gateway: StartGateway) -> None:
    gw = await start_gateway(server=OPS)
    log = logging.getLogger("smsgw.test")
    for i in range(60):
        log.warning("trouble number %d", i)
    log.info("not an error")
    logging.getLogger("elsewhere").error("not ours")
    _, body = await gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(body, dict)
    messages = [e["message"] for e in body["errors"]]
    assert messages == [f"trouble number {i}" for i in range(59, 9, -1)]
    assert {e["level"] for e in body["errors"]} == {"warning"}


# -- actions ---------------------------------------------------------------------------------


async def test_pause_stops_claiming_and_resume_sends_what_waited(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await start_gateway(route=ROUTES, rules=RULES, server=OPS)
    runner = gw.gateway.scheduler.runners["sim"]
    with caplog.at_level(logging.INFO, logger="smsgw.console"):
        status, body = await gw.call("POST", "/status/routes/sim/pause", token=OPS_TOKEN)
    assert status == 200 and isinstance(body, dict) and body["ok"] is True
    assert "paused" in body["message"]
    assert any("paused" in r.getMessage() and "ops token" in r.getMessage() for r in caplog.records)
    await runner.wait_parked()
    claimed = runner.claimed
    status, sent = await gw.call("POST", "/v1/messages", {"to": UK, "text": "wait for me"})
    assert status == 202 and isinstance(sent, dict)
    row = await gw.gateway.store.get(None, sent["id"])
    assert row is not None and row.status == "queued" and runner.claimed == claimed
    metrics = await scrape(gw)
    assert metrics["smsgw_route_paused", frozenset({("route", "sim")})] == 1.0
    assert metrics["smsgw_route_paused", frozenset({("route", "b")})] == 0.0
    _, st = await gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(st, dict) and st["routes"][0]["state"] == "paused"
    assert st["routes"][0]["paused_since"] is not None
    # Pausing again changes nothing; resuming lets the message leave.
    status, body = await gw.call("POST", "/status/routes/sim/pause", token=OPS_TOKEN)
    assert status == 200 and isinstance(body, dict) and "already" in body["message"]
    status, _ = await gw.call("POST", "/status/routes/sim/resume", token=OPS_TOKEN)
    assert status == 200 and not runner.paused
    assert (await gw.wait_final(sent["id"])).status == "delivered"
    assert (await gw.call("POST", "/status/routes/nope/pause", token=OPS_TOKEN))[0] == 404


async def test_disconnect_unbinds_and_holds_a_bind_and_reconnect_binds_it_again(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    s = await start_setup(start_gateway, nursery, tmp_path, modems=0)
    await s.carrier_bound()
    sim = s.smsc.sim
    assert sim is not None
    unbinds = sim.stats.unbinds
    status, body = await s.gw.call(
        "POST", "/status/routes/carrier/links/bind0/disconnect", token=OPS_TOKEN
    )
    assert status == 200 and isinstance(body, dict) and "disconnected" in body["message"]
    await sim.wait_until(lambda st: st.unbinds == unbinds + 1)  # a polite unbind, not a drop
    bind0, bind1 = s.carrier.links
    await s.carrier.wait_until(lambda: bind0.state == "down")
    _, st = await s.gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(st, dict)
    carrier = next(r for r in st["routes"] if r["name"] == "carrier")
    links = {ln["name"]: ln for ln in carrier["links"]}
    assert links["bind0"]["state"] == "held" and links["bind1"]["state"] == "up"
    assert links["bind0"]["last_error"] == "disconnected by an operator"
    assert links["bind0"]["last_error_at"] is not None
    assert carrier["up"] is True  # the other bind still carries the route
    assert bind1.state == "up"
    _, page = await s.gw.call("GET", "/status", token=OPS_TOKEN)
    assert isinstance(page, bytes) and b"disconnected by an operator" in page
    assert b"<tr class=held><td>carrier<th>bind0<td>held down by an operator" in page
    # Held: it does not come back by itself; reconnect brings it back.
    assert bind0.hold.held
    status, _ = await s.gw.call(
        "POST", "/status/routes/carrier/links/bind0/reconnect", token=OPS_TOKEN
    )
    assert status == 200
    await s.carrier_bound()
    status, body = await s.gw.call(
        "POST", "/status/routes/carrier/links/bind9/disconnect", token=OPS_TOKEN
    )
    assert status == 404 and isinstance(body, dict) and body["error"]["field"] == "link"


async def test_retry_queues_a_failed_message_again_as_new_attempts(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    s = await start_setup(start_gateway, nursery, tmp_path, modems=0)
    await s.carrier_bound()
    sim = s.smsc.sim
    assert sim is not None
    sim.settings = msgspec.structs.replace(sim.settings, fail_permanent=1.0)
    status, sent = await s.gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": "x"})
    assert status == 202 and isinstance(sent, dict)
    failed = await s.gw.wait_final(sent["id"])
    assert failed.status == "failed" and failed.error
    sim.settings = msgspec.structs.replace(sim.settings, fail_permanent=0.0)
    # Another key cannot retry it (it does not even see it); its own key can.
    status, body = await s.gw.call(
        "POST", f"/status/messages/{sent['id']}/retry", token=OTHER_TOKEN
    )
    assert status == 404
    status, body = await s.gw.call("POST", f"/status/messages/{sent['id']}/retry")
    assert status == 200 and isinstance(body, dict)
    assert (body["status"], body["parts"]) == ("queued", 1)
    done = await s.gw.wait_final(sent["id"])
    assert done.status == "delivered" and done.error is None
    assert done.parts[0].attempts == 1  # a new attempt, counted from one again
    notes = [h.note for h in done.history]
    assert any(n.startswith("retried from the ops console by key shop") for n in notes)
    statuses = [h.status for h in done.history]
    after = statuses[statuses.index("failed") + 1 :]
    assert after[0] == "queued" and after[-1] == "delivered" and "failed" not in after
    # A delivered message cannot be retried; an unknown one is not found.
    status, body = await s.gw.call("POST", f"/status/messages/{sent['id']}/retry", token=OPS_TOKEN)
    assert status == 409 and isinstance(body, dict) and body["error"]["code"] == "not_retryable"
    status, _ = await s.gw.call("POST", "/status/messages/msg_nope/retry", token=OPS_TOKEN)
    assert status == 404


async def test_retry_renews_an_expired_message(start_gateway: StartGateway) -> None:
    gw = await start_gateway(route=ROUTES, rules=RULES, server=OPS)
    runner = gw.gateway.scheduler.runners["sim"]
    runner.pause(0.0)
    await runner.wait_parked()
    status, sent = await gw.call("POST", "/v1/messages", {"to": UK, "text": "x", "validity": 1})
    assert status == 202 and isinstance(sent, dict)
    expired = await gw.wait_final(sent["id"])
    assert expired.status == "expired"
    status, body = await gw.call("POST", f"/status/messages/{sent['id']}/retry", token=OPS_TOKEN)
    assert status == 200 and isinstance(body, dict) and body["status"] == "queued"
    row = await gw.gateway.store.get(None, sent["id"])
    assert row is not None and row.expires_at > expired.expires_at
    runner.resume()
    assert (await gw.wait_final(sent["id"])).status == "delivered"


# -- the queue's figures ----------------------------------------------------------------------


async def test_scheduled_backlog_and_todays_opt_outs(start_gateway: StartGateway) -> None:
    gw = await start_gateway(server=OPS)
    for _ in range(3):
        status, _ = await gw.call(
            "POST", "/v1/messages", {"to": UK, "text": "later", "send_at": in_a_month()}
        )
        assert status == 202
    status, _ = await gw.call("POST", "/v1/optouts", {"number": UK})
    assert status in (200, 201)
    _, body = await gw.call("GET", "/status.json", token=OPS_TOKEN)
    assert isinstance(body, dict)
    q = body["queue"]
    assert (q["scheduled"], q["deferred"], q["backlog_capped"]) == (3, 0, False)
    assert q["due_late_seconds"] == 0.0
    assert body["optouts"]["today"] == 1 and body["optouts"]["today_by_source"] == {"api": 1}
    assert body["optouts"]["since_start"] == {"api": 1}
