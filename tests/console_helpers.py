"""Shared pieces of the ops console tests: a gateway with a simulator route, an SMPP route to
an in-process smsc-sim that can be stopped and started again on the same port, and a modem
route on emulated modems; plus a parser for ``/metrics``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import trio
from prometheus_client.parser import text_string_to_metric_families

from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from smsgw.gateway.httpclient import request
from tests.conftest import Running, StartGateway
from tests.modem_helpers import fast

OPS_TOKEN = "ops-token-0123456789abcdef"


@dataclass
class Smsc:
    """An smsc-sim that can go away and come back on the same port."""

    nursery: trio.Nursery
    settings: SimSettings
    sim: SmscSim | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    async def start(self) -> SmscSim:
        self.scope = trio.CancelScope()
        self.sim = await self.nursery.start(self._run)
        self.settings = msgspec.structs.replace(self.settings, port=self.sim.port)
        return self.sim

    async def _run(self, *, task_status: trio.TaskStatus[SmscSim]) -> None:
        with self.scope:
            await serve_smsc_sim(self.settings, task_status=task_status)

    def stop(self) -> None:
        self.scope.cancel()

    @property
    def port(self) -> int:
        assert self.sim is not None
        return self.sim.port


def routes_toml(smsc_port: int, modem_links: list[str]) -> str:
    """Three routes: ``sim`` (the built-in simulator), ``carrier`` (2 binds to the smsc-sim)
    and, when links are given, ``modems`` (emulated modems)."""
    text = f"""
[[routes]]
name = "sim"
driver = "simulator"
rate = 1000
burst = 100
latency = 0
receipt_delay = 0
seed = 1

[[routes]]
name = "carrier"
driver = "smpp"
host = "127.0.0.1"
port = {smsc_port}
system_id = "shop"
password = "secret"
binds = 2
rate = 1000
burst = 100
reconnect_min = 0.1
reconnect_max = 0.3
response_timeout = 3
"""
    if modem_links:
        ports = ", ".join(f'"{p}"' for p in modem_links)
        text += f"""
[[routes]]
name = "modems"
driver = "modem"
ports = [{ports}]
rate = 1000
burst = 1
daily_cap = 500
command_timeout = 1
send_timeout = 2
registration_timeout = 3
reconnect_min = 0.05
reconnect_max = 0.2
"""
    return text


def rules_toml(modems: bool) -> str:
    """+49 goes to ``carrier``, +33 to ``modems`` (if there are modems), the rest to ``sim``."""
    text = '[[rules]]\nprefix = "+49"\nroute = ["carrier"]\n\n'
    if modems:
        text += '[[rules]]\nprefix = "+33"\nroute = ["modems"]\n\n'
    return text + '[[rules]]\nroute = ["sim"]\n'


@dataclass
class Setup:
    gw: Running
    smsc: Smsc
    modems: list[ModemEmulator]

    @property
    def carrier(self) -> SmppDriver:
        driver = self.gw.gateway.scheduler.runners["carrier"].driver
        assert isinstance(driver, SmppDriver)
        return driver

    async def carrier_bound(self, up: bool = True) -> None:
        """Wait until every bind of ``carrier`` is up (or every one is down)."""
        want = "up" if up else "down"
        await self.carrier.wait_until(lambda: all(ln.state == want for ln in self.carrier.links))


async def start_setup(
    start_gateway: StartGateway,
    nursery: trio.Nursery,
    tmp: Path,
    *,
    modems: int = 2,
    **kw: object,
) -> Setup:
    smsc = Smsc(nursery, SimSettings(port=0, accounts={"shop": "secret"}, seed=7))
    await smsc.start()
    emus = []
    for i in range(modems):
        emu = ModemEmulator(fast("generic"), link=os.path.join(tmp, f"modem-{i}"))
        await nursery.start(emu.run)
        emus.append(emu)
    gw = await start_gateway(
        route=routes_toml(smsc.port, [e.link for e in emus if e.link]),
        rules=rules_toml(bool(emus)),
        server=f'ops_token = "{OPS_TOKEN}"',
        **kw,
    )
    return Setup(gw, smsc, emus)


async def scrape(gw: Running) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` as {(sample name, labels): value}."""
    status, body = await request("GET", gw.url + "/metrics", b"", [])
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[s.name, frozenset(s.labels.items())] = s.value
    return out


def sample(
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return metrics[name, frozenset(labels.items())]


def big_routes_toml(smsc_port: int, dead_port: int) -> tuple[str, str]:
    """50 routes and 64 modems (the console's size and speed budget): 23 SMPP routes to the
    smsc-sim, 23 to a port where nothing listens, 2 simulators and 2 modem routes of 32
    modems each (udev-style names) whose devices are absent. Returns (routes, rules)."""
    out = []
    for i in range(46):
        out.append(
            f'[[routes]]\nname = "operator-{i:02d}"\ndriver = "smpp"\nhost = "127.0.0.1"\n'
            f"port = {smsc_port if i < 23 else dead_port}\n"
            'system_id = "shop"\npassword = "secret"\nrate = 100\n'
            "reconnect_min = 1\nreconnect_max = 5\n"
        )
    for i in range(2):
        out.append(
            f'[[routes]]\nname = "sim-{i}"\ndriver = "simulator"\nlatency = 0\nreceipt_delay = 0\n'
        )
    for i in range(2):
        ports = ", ".join(f'"/dev/smsgw-absent-modem-{i}{j:02d}"' for j in range(32))
        out.append(
            f'[[routes]]\nname = "modems-{i}"\ndriver = "modem"\nports = [{ports}]\n'
            "daily_cap = 500\nreconnect_min = 1\nreconnect_max = 5\n"
        )
    return "\n".join(out), '[[rules]]\nroute = ["sim-0"]\n'
