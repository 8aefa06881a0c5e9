"""The drivers the conformance suite runs against, each built by the driver factory and bound
to a real peer, and the rig a test gets.

* ``simulator``: the built-in carrier simulator (the carrier lives inside the driver);
* ``smpp``: the SMPP driver (one bind) to the built-in SMSC simulator on a loopback TCP port;
* ``modem``: a one-modem bank on the modem emulator, which owns the master side of a real pty.

Every rig runs the driver in a service scope of its own, as the gateway does: stopping the rig
cancels that scope (the shutdown path) and waits until ``Driver.run`` has returned, so that
whatever the driver reports on its way out is in the sink before a test looks. Tasks that
stand in for the scheduler (a ``submit`` waiting for room) run in the same scope and are
cancelled with it, as the scheduler's are at shutdown.

Peers answer on real timers (a socket and a pty do not run on trio's virtual clock), so the
rigs shrink only the reconnect backoff; every wait in a test is on an event.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import trio
import trio.testing

from smsgw.config.schema import (
    ModemRouteConfig,
    SimulatorRouteConfig,
    SmppRouteConfig,
    TextConfig,
)
from smsgw.drivers.factory import make_driver
from smsgw.drivers.modem.bank import ModemBank
from smsgw.drivers.modem.driver import SLOTS
from smsgw.drivers.modem.emulator import PERSONALITIES, ModemEmulator
from smsgw.drivers.seam import Driver, InboundMessage, Outcome, Receipt
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.sim import SimSettings, SmscSim
from smsgw.metrics.instruments import Metrics

__all__ = ["BACKENDS", "ROUTE", "WINDOW", "Backend", "Peer", "RecordingSink", "Rig"]

ROUTE = "conf"
"""The route name every backend's driver gets."""
WINDOW = 4
"""Parts outstanding at once on the simulator and the SMPP bind (a modem holds ``SLOTS``)."""
SETUP_LIMIT = 20.0
"""Seconds a peer or a driver may take to start before the test fails (instead of hanging)."""


class RecordingSink:
    """A real Sink: keeps what it is given, in the order it was handed over, and lets a test
    wait for it (no mocks)."""

    def __init__(self) -> None:
        self.log: list[Outcome | Receipt | InboundMessage] = []
        """Everything handed over, in order: outcomes, receipts and inbound messages."""
        self._changed = trio.Event()

    @property
    def outcomes_got(self) -> list[Outcome]:
        return [x for x in self.log if isinstance(x, Outcome)]

    @property
    def receipts_got(self) -> list[Receipt]:
        return [x for x in self.log if isinstance(x, Receipt)]

    def per_part(self) -> Counter[int]:
        """How many outcomes each part id got."""
        return Counter(o.part_id for o in self.outcomes_got)

    def next_change(self) -> trio.Event:
        """An event set when the next thing is handed over (take it before checking what is
        there, so that nothing handed over in between is missed)."""
        return self._changed

    def _record(self, items: Sequence[Outcome | Receipt | InboundMessage]) -> None:
        self.log += items
        self._changed.set()
        self._changed = trio.Event()

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        self._record(items)

    async def receipts(self, items: Sequence[Receipt]) -> None:
        self._record(items)

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        self._record(items)


@dataclass(frozen=True)
class Peer:
    """How the rig's peer behaves."""

    slow: float = 0.0
    """Seconds the peer takes to answer each part (0: at once)."""
    refuse: int = 0
    """The peer refuses (permanently) the first ``refuse`` parts it is sent; the simulator
    and the SMSC refuse every part when this is set."""


class Rig:
    """One driver on one backend's peer, and the handles a test needs.

    :attr:`full` is the driver's capacity with every link up and idle. :meth:`outage` makes the
    peer unreachable (the simulated carrier holds its link, the SMSC goes away, the modem is
    unplugged) and :meth:`restore` brings it back. :meth:`peer_got` returns once the peer has
    received ``n`` parts.
    """

    full: int

    def __init__(self, driver: Driver, nursery: trio.Nursery) -> None:
        self.driver = driver
        self.sink = RecordingSink()
        self._nursery = nursery
        self._scope = trio.CancelScope()
        self._service: trio.Nursery | None = None
        self._stopped = trio.Event()

    # -- the service scope ---------------------------------------------------------------

    async def start(self) -> None:
        """``nursery.start(driver.run, sink)`` inside the rig's service scope."""
        with trio.fail_after(SETUP_LIMIT):
            await self._nursery.start(self._serve)

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as service:
                    self._service = service
                    await service.start(self.driver.run, self.sink)
                    task_status.started()
        finally:
            self._stopped.set()

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Run ``fn(*args)`` in the service scope (a scheduler's task: stopped with the driver)."""
        assert self._service is not None, "the rig is not started"
        self._service.start_soon(fn, *args)

    async def stop(self) -> None:
        """Shut the driver down (cancel its scope) and wait until ``run`` has returned."""
        self._scope.cancel()
        await self._stopped.wait()

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checked whenever the sink got something or the
        driver says its state changed (never by polling)."""
        while not predicate():
            sink_changed = self.sink.next_change()
            async with trio.open_nursery() as race:

                async def first(waiter: Callable[[], Awaitable[None]]) -> None:
                    await waiter()
                    race.cancel_scope.cancel()

                race.start_soon(first, sink_changed.wait)
                race.start_soon(first, partial(self._driver_changed, predicate))

    async def wait_full(self) -> None:
        """Return once every link is up and idle."""
        await self.wait_for(lambda: self.driver.capacity() == self.full)

    async def _driver_changed(self, predicate: Callable[[], bool]) -> None:
        """Return at a change of the driver's state that ``predicate`` may see (or when it
        holds). A driver without a change event of its own changes only with the sink."""
        await trio.sleep_forever()

    # -- the peer ------------------------------------------------------------------------

    @property
    def link(self) -> str:
        """The name of the driver's (only) link."""
        return str(self.driver.state().links[0]["name"])

    async def outage(self) -> None:
        raise NotImplementedError

    async def restore(self) -> None:
        raise NotImplementedError

    async def peer_got(self, n: int) -> None:
        raise NotImplementedError


# -- simulator -------------------------------------------------------------------------------


class _SimulatorRig(Rig):
    full = WINDOW

    async def outage(self) -> None:
        assert self.driver.hold_link("sim", True)

    async def restore(self) -> None:
        assert self.driver.hold_link("sim", False)

    async def peer_got(self, n: int) -> None:
        """The simulated carrier has a part once ``submit`` returned: let a submit that was
        just started run (the simulator does no I/O, so "all blocked" means it did)."""
        await trio.testing.wait_all_tasks_blocked()
        assert self.driver.state().in_flight >= n


@asynccontextmanager
async def _simulator(nursery: trio.Nursery, tmp: Path, peer: Peer) -> AsyncIterator[Rig]:
    config = SimulatorRouteConfig(
        name=ROUTE,
        latency=peer.slow,
        receipt_delay=0.0,
        fail_permanent=1.0 if peer.refuse else 0.0,
        window=WINDOW,
        seed=1,
    )
    yield _SimulatorRig(make_driver(config, Metrics(), TextConfig()), nursery)


# -- SMPP --------------------------------------------------------------------------------------


class _Smsc:
    """The built-in SMSC simulator on a loopback port that stays the same across restarts."""

    def __init__(self, nursery: trio.Nursery, settings: SimSettings) -> None:
        self._nursery = nursery
        self.settings = settings
        self.sim: SmscSim | None = None
        self._scope = trio.CancelScope()
        self._gone = trio.Event()

    async def start(self) -> SmscSim:
        """Start it (on ``settings.port``; 0 picks a port, kept for later starts)."""
        sim = SmscSim(self.settings)
        scope, gone = trio.CancelScope(), trio.Event()

        async def serve(task_status: trio.TaskStatus[SmscSim]) -> None:
            try:
                with scope:
                    await sim.serve(task_status=task_status)
            finally:
                gone.set()

        with trio.fail_after(SETUP_LIMIT):
            await self._nursery.start(serve)
        self.sim, self._scope, self._gone = sim, scope, gone
        self.settings = msgspec.structs.replace(self.settings, port=sim.port)
        return sim

    async def stop(self) -> None:
        """The SMSC goes away: its listener and every connection close."""
        self._scope.cancel()
        await self._gone.wait()


class _SmppRig(Rig):
    full = WINDOW

    def __init__(self, driver: Driver, nursery: trio.Nursery, smsc: _Smsc) -> None:
        super().__init__(driver, nursery)
        self.smsc = smsc

    async def outage(self) -> None:
        await self.smsc.stop()

    async def restore(self) -> None:
        """A new SMSC on the same port."""
        await self.smsc.start()

    async def peer_got(self, n: int) -> None:
        assert self.smsc.sim is not None
        await self.smsc.sim.wait_until(lambda s: s.submits >= n)

    async def _driver_changed(self, predicate: Callable[[], bool]) -> None:
        assert isinstance(self.driver, SmppDriver)
        await self.driver.wait_until(predicate)


@asynccontextmanager
async def _smpp(nursery: trio.Nursery, tmp: Path, peer: Peer) -> AsyncIterator[Rig]:
    settings = SimSettings(
        port=0,
        seed=7,
        accounts={"shop": "pw"},
        response_delay=peer.slow,
        fail_permanent=1.0 if peer.refuse else 0.0,
    )
    smsc = _Smsc(nursery, settings)
    sim = await smsc.start()
    driver = make_driver(_smpp_route(sim.port), Metrics(), TextConfig())
    yield _SmppRig(driver, nursery, smsc)


def _smpp_route(port: int) -> SmppRouteConfig:
    return SmppRouteConfig(
        name=ROUTE,
        host="127.0.0.1",
        port=port,
        system_id="shop",
        password="pw",
        binds=1,
        window=WINDOW,
        reconnect_min=0.01,
        reconnect_max=0.05,
    )


# -- modem -------------------------------------------------------------------------------------

REPORT_DELAY = 0.3
"""Seconds from +CMGS to the status report, as on a network (never in the same read). With
none, the report can arrive in the same read as the +CMGS that answers the send, and the
modem's reader wakes its sender and its inbox at once: the seam lets the receipt be handed
over first (the store matches it when the outcome comes), so that race is not this suite's."""


class _ModemRig(Rig):
    full = SLOTS

    def __init__(self, driver: Driver, nursery: trio.Nursery, emu: ModemEmulator) -> None:
        super().__init__(driver, nursery)
        self.emu = emu

    async def outage(self) -> None:
        """The modem is unplugged: its tty vanishes."""
        await self.emu.unplug()

    async def restore(self) -> None:
        """Plugged in again (a new tty behind the same stable name)."""
        await self.emu.replug()

    async def peer_got(self, n: int) -> None:
        await self.emu.wait_until(lambda: len(self.emu.commands("<PDU")) >= n)

    async def _driver_changed(self, predicate: Callable[[], bool]) -> None:
        assert isinstance(self.driver, ModemBank)
        while not predicate():
            await self.driver.wait_changed()


@asynccontextmanager
async def _modem(nursery: trio.Nursery, tmp: Path, peer: Peer) -> AsyncIterator[Rig]:
    personality = replace(
        PERSONALITIES["generic"],
        noise_interval=0.02,
        cnma_timeout=0.5,
        send_delay=peer.slow,
        report_delay=REPORT_DELAY,
    )
    emu = ModemEmulator(personality, link=os.path.join(tmp, "modem-0"))
    for _ in range(peer.refuse):
        emu.fail_next_send(1)  # +CMS ERROR: 1, unassigned number
    with trio.fail_after(SETUP_LIMIT):
        await nursery.start(emu.run)
    config = ModemRouteConfig(
        name=ROUTE,
        ports=[str(emu.link)],
        rate=1000.0,
        reconnect_min=0.05,
        reconnect_max=0.2,
    )
    yield _ModemRig(make_driver(config, Metrics(), TextConfig()), nursery, emu)


# -- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    id: str
    open: Callable[[trio.Nursery, Path, Peer], AbstractAsyncContextManager[Rig]]
    """A rig (driver built, not started) on a fresh peer in the test's nursery and tmp dir."""


BACKENDS: tuple[Backend, ...] = (
    Backend("simulator", _simulator),
    Backend("smpp", _smpp),
    Backend("modem", _modem),
)
