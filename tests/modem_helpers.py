"""Shared pieces of the modem end-to-end tests: a recording sink and a bank on emulators."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from smsgw.config.schema import ModemRouteConfig, TextConfig
from smsgw.drivers.modem.bank import ModemBank
from smsgw.drivers.modem.emulator import PERSONALITIES, ModemEmulator, Personality
from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.metrics.instruments import Metrics


@dataclass
class RecordingSink:
    """A real Sink: it keeps what it is given, in order, and lets tests wait for it.

    ``on_inbound`` runs inside the inbound call (before it returns), to observe what the
    modem had been told at the moment the message was being stored.
    """

    outcomes_got: list[Outcome] = field(default_factory=list)
    receipts_got: list[Receipt] = field(default_factory=list)
    inbound_got: list[InboundMessage] = field(default_factory=list)
    on_inbound: Callable[[InboundMessage], None] | None = None
    on_receipt: Callable[[Receipt], None] | None = None
    fail_next_inbound: Exception | None = None
    """Raised by the next inbound call instead of storing (a store that failed once)."""
    _changed: trio.Event = field(default_factory=trio.Event)

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        self.outcomes_got += items
        self._notify()

    async def receipts(self, items: Sequence[Receipt]) -> None:
        for r in items:
            if self.on_receipt is not None:
                self.on_receipt(r)
        self.receipts_got += items
        self._notify()

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        if self.fail_next_inbound is not None:
            exc, self.fail_next_inbound = self.fail_next_inbound, None
            raise exc
        for m in items:
            if self.on_inbound is not None:
                self.on_inbound(m)
        self.inbound_got += items
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()


def fast(name: str, **changes: Any) -> Personality:
    """A built-in personality with test-sized times (no real-world waits)."""
    p = PERSONALITIES[name]
    base: dict[str, Any] = {"noise_interval": 0.02, "cnma_timeout": 0.5}
    base.update(changes)
    return replace(p, **base)


def route(ports: list[str], **changes: Any) -> ModemRouteConfig:
    base: dict[str, Any] = {
        "name": "modems",
        "ports": ports,
        "rate": 1000.0,
        "command_timeout": 1.0,
        "send_timeout": 2.0,
        "registration_timeout": 3.0,
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
    }
    base.update(changes)
    return ModemRouteConfig(**base)


def part(
    part_id: int,
    text: str = "hello from the bank",
    *,
    to: str = "+4917012345678",
    message_id: str | None = None,
    seq: int = 1,
    total: int = 1,
    ref: int = 42,
    encoding: str = "gsm7",
) -> OutboundPart:
    return OutboundPart(
        part_id=part_id,
        message_id=message_id or f"msg_{part_id}",
        route="modems",
        to=to,
        sender="",
        text=text,
        encoding=encoding,  # type: ignore[arg-type]
        seq=seq,
        total=total,
        ref=ref,
    )


@dataclass
class Bench:
    bank: ModemBank
    sink: RecordingSink
    emus: list[ModemEmulator]
    metrics: Metrics

    def link(self, i: int) -> str:
        return self.bank.modems[i].name

    async def up(self, *indices: int) -> None:
        for i in indices or range(len(self.emus)):
            await self.bank.wait_link(self.link(i), "up", ready=True)

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


@asynccontextmanager
async def running_bank(
    tmp: str,
    emus: list[ModemEmulator],
    *,
    start: bool = True,
    reassembly_timeout: float = 5.0,
    state_dir: str | None = None,
    **config: Any,
) -> AsyncIterator[Bench]:
    """Start the emulators (each behind a stable symlink in ``tmp``) and a bank on them."""
    for i, e in enumerate(emus):
        if e.link is None:
            e.link = os.path.join(tmp, f"modem-{i}")
    async with trio.open_nursery() as nursery:
        for e in emus:
            await nursery.start(e.run)
        ports = config.pop("ports", None) or [e.link for e in emus if e.link]
        metrics = Metrics()
        bank = ModemBank(
            route(ports, **config),
            metrics,
            TextConfig(reassembly_timeout=reassembly_timeout),
            candidates=lambda: [e.path for e in emus if e.path],
            state_dir=state_dir,
        )
        sink = RecordingSink()
        if start:
            await nursery.start(bank.run, sink)
        yield Bench(bank, sink, emus, metrics)
        nursery.cancel_scope.cancel()
