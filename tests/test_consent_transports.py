"""STOP / START / HELP end to end over the real transports: an SMSC simulator on a loopback
socket (SMPP) and an emulated modem on a real pty, each behind the real driver, scheduler, store
and keyword handling. The auto-reply must leave through the route the keyword came in on.

No sleeps: every wait is on an event (the store committed, the SMSC or modem saw something),
each test bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import trio

from smsgw.config.loader import parse
from smsgw.config.schema import Config
from smsgw.drivers.factory import make_driver
from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from smsgw.gateway.wiring import Wiring, wire
from smsgw.queue.consent.policy import SYSTEM_KEY, Facts, Screened
from smsgw.queue.model import NewMessage
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink
from tests.modem_helpers import fast
from tests.policy_helpers import BERLIN, message

AUTO = ("Unsubscribed. Reply START to resubscribe.", "Welcome back.", "Reply STOP to opt out.")


def gateway_config(route: str) -> Config:
    return parse(
        f"""
[[keys]]
name = "shop"
token = "shop-token-0123456789"

{route}

[[rules]]
route = ["{route.split('"')[1]}"]

[policy]
quiet_start = "00:00"
quiet_end = "00:00"

[policy.auto_reply]
optout = "{AUTO[0]}"
optin = "{AUTO[1]}"
help = "{AUTO[2]}"
""".encode(),
        "test.toml",
        {},
    )


@dataclass
class Running:
    w: Wiring
    route: str

    async def accept(self, *items: tuple[NewMessage, Facts]) -> list[Screened]:
        return await self.w.store.accept_screened(list(items), self.w.policy)

    def counter(self, name: str, **labels: str) -> float:
        value = self.w.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def wait(self, predicate: Callable[[], bool]) -> None:
        """Wait on the store's commits until ``predicate`` holds."""
        while not predicate():
            await self.w.store.wait_changed(self.w.store.version)

    async def replies(self) -> list[tuple[str, str, str, str]]:
        rows = await self.w.store.list_messages(SYSTEM_KEY)
        out = []
        for r in rows:
            full = await self.w.store.get(None, r.id)
            assert full is not None
            out.append((full.to, full.text, full.route, full.status))
        return out


@asynccontextmanager
async def running(tmp_path: Path, cfg: Config) -> AsyncIterator[Running]:
    """The gateway's graph (store, policy, keyword handling, scheduler) and the route's real
    driver."""
    route_cfg = cfg.routes[0]
    store_cfg = msgspec.structs.replace(
        cfg.store, path=str(tmp_path / "q.db"), synchronous="normal"
    )
    w = wire(msgspec.structs.replace(cfg, store=store_cfg))
    await w.store.open()

    async def on_inbound(items: Sequence[InboundMessage], ids: Sequence[str]) -> None:
        await w.keywords.handle(items, ids)

    try:
        async with trio.open_nursery() as nursery:
            scheduler = w.scheduler
            driver = make_driver(route_cfg, w.metrics, cfg.text)
            runner = RouteRunner(
                route_cfg.name,
                driver,
                RouteLimiter(100.0, 100, trio.current_time()),
                w.store,
                w.metrics,
                time.time,
            )
            scheduler.add(runner)
            sink = RouteSink(runner, w.store, w.metrics, time.time, on_inbound)
            await nursery.start(driver.run, sink)
            await nursery.start(scheduler.run)
            yield Running(w, route_cfg.name)
            nursery.cancel_scope.cancel()
    finally:
        await w.store.close()


async def keyword_round(
    r: Running, inject: Callable[[str], object], sent: Callable[[], int]
) -> None:
    """STOP, then START, then HELP from BERLIN; each answered once over the same route."""
    store, consents = r.w.store, r.w.consents
    inject("STOP")
    await r.wait(lambda: sent() == 1)
    row = await consents.blocking(BERLIN, "shop")
    assert row is not None and row.source == "keyword" and row.inbound_id is not None
    [inbound] = await store.inbound()
    assert row.inbound_id == inbound.id and inbound.route == r.route
    [reply] = await r.replies()
    assert reply[:3] == (BERLIN, AUTO[0], r.route)
    # Marketing to the number is refused from now on.
    [refused] = await r.accept(message(BERLIN, time.time()))
    assert refused.refusal is not None and refused.refusal.code == "opted_out"

    inject("Start")
    await r.wait(lambda: sent() == 2)
    assert await consents.blocking(BERLIN, "shop") is None
    inject("help")
    await r.wait(lambda: sent() == 3)
    assert [x[1] for x in await r.replies()] == list(AUTO)
    assert r.counter("smsgw_optouts_total", source="keyword") == 1
    assert r.counter("smsgw_optins_total", source="keyword") == 1


async def test_keywords_over_smpp(tmp_path: Path, nursery: trio.Nursery) -> None:
    sim: SmscSim = await nursery.start(serve_smsc_sim, SimSettings(port=0, seed=3))
    cfg = gateway_config(
        f'[[routes]]\nname = "operator"\ndriver = "smpp"\nhost = "127.0.0.1"\n'
        f'port = {sim.port}\nsystem_id = "shop"\nbinds = 1\nreconnect_min = 0.01\n'
    )
    with trio.fail_after(20):
        async with running(tmp_path, cfg) as r:
            await sim.wait_until(lambda s: s.bound_now == 1)
            # The SMSC hands the MO over without the "+" (TON international, digits only).
            await keyword_round(
                r,
                lambda text: sim.inject_mo(BERLIN[1:], "4930901820", text),
                lambda: sim.stats.accepted,
            )
            replies = await r.replies()
            await r.wait(lambda: sim.stats.accepted == 3)
            assert {x[2] for x in replies} == {"operator"}


async def test_keywords_over_the_modem_emulator(tmp_path: Path, nursery: trio.Nursery) -> None:
    emu = ModemEmulator(fast("generic"), link=os.path.join(tmp_path, "modem-0"))
    await nursery.start(emu.run)
    cfg = gateway_config(
        f'[[routes]]\nname = "modems"\ndriver = "modem"\nports = ["{emu.link}"]\nrate = 100\n'
        "command_timeout = 1.0\nsend_timeout = 2.0\nreconnect_min = 0.05\n"
    )
    with trio.fail_after(20):
        async with running(tmp_path, cfg) as r:

            def inject(text: str) -> None:
                nursery.start_soon(emu.inject_sms, BERLIN, text)

            await keyword_round(r, inject, lambda: len(emu.sent))
            assert [(s.to, s.text) for s in emu.sent] == [(BERLIN, t) for t in AUTO]
