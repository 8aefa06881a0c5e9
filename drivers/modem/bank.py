"""The modem route's driver: a bank of modems behind one :class:`~smsgw.drivers.seam.Driver`.

Parts go to the least-busy healthy modem (up, registered, under its daily cap), each modem
holding at most :data:`~smsgw.drivers.modem.driver.SLOTS` so that none idles while another has
a backlog. All parts of one concatenated message go through the same modem while it is up:
the recipient's phone reassembles parts by sender number, and each SIM has its own.

Per-modem counts (parts sent and failed, receipts, inbound, parts held) are read at scrape
time as ``smsgw_modem_parts_total``, ``smsgw_modem_receipts_total``,
``smsgw_modem_inbound_total`` and ``smsgw_modem_queued``; up, registered, signal and identity
are the shared gauges of :mod:`smsgw.metrics.instruments`.

Each modem keeps its own rate (``config.rate`` parts per second per modem); the scheduler's
token bucket keeps the route's. One modem failing (a hung firmware, a bad SIM, a pulled cable)
never stalls another: each runs in its own task, reconnects on its own and gives back what it
held as TEMPORARY failures.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial

import trio

from smsgw.config.schema import ModemRouteConfig, TextConfig
from smsgw.drivers.modem.discovery import usb_ports
from smsgw.drivers.modem.driver import SLOTS, TASK, Modem
from smsgw.drivers.seam import (
    Driver,
    DriverState,
    FailureKind,
    LinkState,
    OutboundPart,
    Outcome,
    Sink,
)
from smsgw.drivers.supervise import supervised
from smsgw.metrics.instruments import Metrics

__all__ = ["ModemBank", "link_names"]

log = logging.getLogger(__name__)

_AFFINITY_MAX = 4096
_SHUTDOWN_GRACE = 5.0
"""Most seconds shutdown waits for the sink to take the outcomes of parts not yet taken."""


def link_names(ports: Sequence[str]) -> list[str]:
    """Short, unique, stable names for the configured ports (metrics label ``link``).

    ``/dev/serial/by-id/usb-HUAWEI_E3372-if00-port0`` -> ``usb-HUAWEI_E3372-if00-port0``;
    ``imei:35693...`` -> ``imei-35693...``; duplicates get ``-2``, ``-3``...
    """
    out: list[str] = []
    for spec in ports:
        if spec.startswith(("imei:", "usb:")):
            base = spec.replace(":", "-", 1)
        else:
            base = os.path.basename(spec.rstrip("/")) or spec
        name, n = base, 2
        while name in out:
            name = f"{base}-{n}"
            n += 1
        out.append(name)
    return out


def _default_candidates() -> list[str]:
    return [p.device for p in usb_ports()]


class ModemBank(Driver):
    """The driver of a ``driver = "modem"`` route.

    ``candidates`` lists device paths to probe for ``imei:`` ports (default: the USB serial
    ports the OS lists); tests pass emulator ptys.
    """

    def __init__(
        self,
        config: ModemRouteConfig,
        metrics: Metrics,
        text_config: TextConfig,
        *,
        candidates: Callable[[], list[str]] | None = None,
        state_dir: str | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._changed = trio.Event()
        self._in_use: set[str] = set()
        self._affinity: OrderedDict[str, Modem] = OrderedDict()
        self._sink: Sink | None = None
        self.modems = [
            Modem(
                name,
                spec,
                config,
                metrics,
                text_config,
                candidates=candidates or _default_candidates,
                in_use=self._in_use,
                on_change=self._notify,
                state_dir=state_dir,
            )
            for name, spec in zip(link_names(config.ports), config.ports, strict=True)
        ]
        metrics.add_modem_source(self)

    # -- Driver ------------------------------------------------------------------------------
    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        """Start every modem; ready at once (modems come up in the background)."""
        self._sink = sink
        async with trio.open_nursery() as nursery:
            for m in self.modems:
                # Modem.run contains each session's failures itself; this is the backstop.
                run = partial(supervised, TASK, partial(m.run, sink), on_failure=m.task_failed)
                nursery.start_soon(run, name=f"modem {m.name}")
            task_status.started()

    def capacity(self) -> int:
        return sum(max(0, SLOTS - m.load) for m in self.modems if m.ready())

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        """Hand each part to a modem; waits while every healthy modem is full (or none is up).

        If cancelled while waiting, the parts not yet on a modem get TEMPORARY outcomes (so
        each part still gets exactly one).
        """
        for i, part in enumerate(parts):
            try:
                modem = await self._pick(part)
            except trio.Cancelled:
                await self._not_taken(parts[i:])
                raise
            modem.enqueue(part)
            self._notify()

    async def _not_taken(self, parts: Sequence[OutboundPart]) -> None:
        if self._sink is None:
            return
        left = [
            Outcome(part_id=p.part_id, failure=FailureKind.TEMPORARY, reason="shutdown")
            for p in parts
        ]
        with trio.CancelScope(shield=True), trio.move_on_after(_SHUTDOWN_GRACE):
            await self._sink.outcomes(left)

    def state(self) -> DriverState:
        ready = [m for m in self.modems if m.ready()]
        return DriverState(
            up=bool(ready),
            links=[m.link_state() for m in self.modems],
            window=SLOTS * len(ready),
            in_flight=sum(m.load for m in self.modems),
        )

    def hold_link(self, link: str, held: bool) -> bool:
        """Close the modem named ``link`` and keep it closed (``held``), or reopen it now; its
        parts go back to the queue as for any modem that goes down."""
        for modem in self.modems:
            if modem.name == link:
                if held:
                    modem.last_error = "disconnected by an operator"
                    modem.hold.hold()
                else:
                    modem.hold.release()
                self._notify()
                return True
        return False

    async def wait_capacity(self) -> None:
        while self.capacity() == 0:
            await self._changed.wait()

    # -- helpers -----------------------------------------------------------------------------
    async def wait_link(self, name: str, state: LinkState, *, ready: bool = False) -> None:
        """Return once modem ``name`` is in ``state`` (and ready for parts, if asked).

        For tests and tools that must not poll; no timeout of its own.
        """
        modem = next(m for m in self.modems if m.name == name)
        while modem.state != state or (ready and not modem.ready()):
            await self._changed.wait()

    async def wait_changed(self) -> None:
        """Return at the next change of any modem (state, counts, queue)."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _pick(self, part: OutboundPart) -> Modem:
        while True:
            if part.total > 1:
                held = self._affinity.get(part.message_id)
                if held is not None and held.ready():
                    self._affinity.move_to_end(part.message_id)
                    if part.seq >= part.total:
                        del self._affinity[part.message_id]
                    return held
            free = [m for m in self.modems if m.ready() and m.load < SLOTS]
            if free:
                modem = min(free, key=lambda m: (m.load, m.next_send_at))
                if part.total > 1 and part.seq < part.total:
                    self._affinity[part.message_id] = modem
                    while len(self._affinity) > _AFFINITY_MAX:
                        self._affinity.popitem(last=False)
                return modem
            await self._changed.wait()
