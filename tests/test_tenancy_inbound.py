"""Inbound messages between tenants: each belongs to a key by destination number or route, is
listed and pushed to that key only, and one that belongs to no key goes to the admin keys.

Two SMPP routes ("sim" and "b") bound to one SMSC simulator with two accounts, three keys, a
webhook receiver per key on loopback, a real SQLite file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import trio

from smsgw.config.schema import KeyConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response
from smsgw.queue.inbound_owner import InboundOwners
from tests.conftest import OTHER_TOKEN, TOKEN, Running, StartGateway

OPS_TOKEN = "ops-token-0123456789abcdef"


class Pushes:
    """A webhook receiver: records (path, inbound id) for every POST."""

    def __init__(self) -> None:
        self.got: set[tuple[str, str]] = set()
        self.url = ""

    async def handle(self, req: Request) -> Response:
        self.got.add((req.path, msgspec.json.decode(req.body)["id"]))
        return Response(204)


def _routes(port: int) -> str:
    return "".join(
        f'[[routes]]\nname = "{name}"\ndriver = "smpp"\nhost = "127.0.0.1"\nport = {port}\n'
        f'system_id = "{account}"\nbinds = 1\n'
        for name, account in (("sim", "acct-a"), ("b", "acct-b"))
    )


async def _inbound(gw: Running, token: str) -> dict[str, str]:
    """The inbound messages ``token`` sees, text -> id."""
    status, page = await gw.call("GET", "/v1/inbound", token=token)
    assert status == 200 and isinstance(page, dict)
    return {m["text"]: m["id"] for m in page["inbound"]}


async def test_inbound_belongs_to_one_key(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    pushes = Pushes()
    server = HttpServer(pushes.handle, HttpLimits())
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    hooks = f"http://{host}:{port}"
    sim: SmscSim = await nursery.start(serve_smsc_sim, SimSettings(port=0, seed=3))
    gw = await start_gateway(
        route=_routes(sim.port),
        shop=f'inbound_routes = ["sim"]\ninbound_url = "{hooks}/shop"',
        other=f'inbound_numbers = ["+4930901820"]\ninbound_url = "{hooks}/other"\n'
        'webhook_secret = "whsec-other-0123456789"',
        extra=f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
        f'inbound_url = "{hooks}/ops"\nwebhook_secret = "whsec-ops-0123456789"\n',
    )
    with trio.fail_after(20):
        await sim.wait_until(lambda s: s.bound_now == 2)
        sim.inject_mo("+4917011111111", "4930901111", "to shop's route", system_id="acct-a")
        # other's number wins over shop's route, whatever form the SMSC gives it in.
        sim.inject_mo("+4917022222222", "004930901820", "to other's number", system_id="acct-a")
        sim.inject_mo("+4917033333333", "4930905555", "to nobody", system_id="acct-b")
        await sim.wait_until(lambda s: s.mo_acked == 3)

    everything = await _inbound(gw, OPS_TOKEN)
    assert everything.keys() == {"to shop's route", "to other's number", "to nobody"}
    to_shop = everything["to shop's route"]
    to_other = everything["to other's number"]
    to_nobody = everything["to nobody"]
    assert await _inbound(gw, TOKEN) == {"to shop's route": to_shop}
    assert await _inbound(gw, OTHER_TOKEN) == {"to other's number": to_other}

    # Every push ever queued was delivered (received) or still waits (in the table): read the
    # table first, then the receiver, and no delivery can slip between the two.
    with sqlite3.connect(tmp_path / "smsgw.db") as db:
        waiting = {
            (url.rsplit("/", 1)[1], msgspec.json.decode(body)["id"])
            for url, body in db.execute("SELECT url, body FROM webhooks")
        }
    delivered = {(path.lstrip("/"), i) for path, i in pushes.got}
    assert waiting | delivered == {("shop", to_shop), ("other", to_other), ("ops", to_nobody)}

    with sqlite3.connect(tmp_path / "smsgw.db") as db:
        owners = dict(db.execute("SELECT id, key FROM inbound"))
    assert owners == {to_shop: "shop", to_other: "other", to_nobody: None}


def test_numbers_are_matched_in_every_form_an_smsc_gives_them() -> None:
    keys = [
        KeyConfig(name="a", token="x" * 16, inbound_numbers=["+4930901820", "12345"]),
        KeyConfig(name="b", token="y" * 16, inbound_routes=["r"]),
        KeyConfig(name="ops", token="z" * 16, admin=True),
    ]
    owners = InboundOwners(keys, default_country="DE")

    def owner(to: str, route: str = "r") -> str | None:
        msg = InboundMessage(
            route=route, sender="+4917012345678", to=to, text="hi", received_at=0.0
        )
        return owners.owner(msg)

    for form in ("+4930901820", "4930901820", "004930901820", "030901820", "12345", "+12345"):
        assert owner(form) == "a", form
    assert owner("4930901821") == "b"
    assert owner("4930901821", route="elsewhere") is None
    assert [k.name for k in owners.recipients(None)] == ["ops"]
    assert [k.name for k in owners.recipients("b")] == ["b"]
