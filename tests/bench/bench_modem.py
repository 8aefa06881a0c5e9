"""Throughput of the modem bank: N emulated modems on ptys, each taking ``--send-delay``
seconds per part, fed a standing backlog. Prints one JSON object.

    .venv/bin/python tests/bench/bench_modem.py [--modems 4] [--send-delay 2] [--seconds 20]

The bank's job is to keep every healthy modem busy, so the figure to compare is
``sustained_parts_per_second`` (modems / the mean time between two sends of one modem) against
``ideal_parts_per_second`` (modems / send delay); ``parts_per_second`` counts whole parts done
inside the window, so it loses up to one part per modem at the window's end. Status reports
are on, so each part also brings a +CDS back through the same serial line mid-traffic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace

import trio

from smsgw.config.schema import ModemRouteConfig, TextConfig
from smsgw.drivers.modem.bank import ModemBank
from smsgw.drivers.modem.emulator import PERSONALITIES, ModemEmulator
from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.metrics.instruments import Metrics


class _Sink:
    def __init__(self) -> None:
        self.done: list[tuple[float, Outcome]] = []
        self.receipt_count = 0

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        now = trio.current_time()
        self.done += [(now, o) for o in items]

    async def receipts(self, items: Sequence[Receipt]) -> None:
        self.receipt_count += len(items)

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        return None


def _part(i: int) -> OutboundPart:
    return OutboundPart(
        part_id=i,
        message_id=f"msg_{i}",
        route="bench",
        to=f"+49170{i % 10_000_000:07d}",
        sender="",
        text=f"Your order {i} has shipped and will arrive tomorrow.",
        encoding="gsm7",
        seq=1,
        total=1,
        ref=i % 256,
    )


async def _run(modems: int, send_delay: float, seconds: float) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="bench-modem-")
    personality = replace(PERSONALITIES["sim800"], send_delay=send_delay)
    emus = [
        ModemEmulator(
            replace(personality, imei=f"86756704{i:07d}"), link=os.path.join(tmp, f"modem-{i}")
        )
        for i in range(modems)
    ]
    sink = _Sink()
    async with trio.open_nursery() as nursery:
        for e in emus:
            await nursery.start(e.run)
        config = ModemRouteConfig(
            name="bench",
            ports=[e.link or "" for e in emus],
            rate=10.0,
            send_timeout=send_delay + 30.0,
        )
        bank = ModemBank(config, Metrics(), TextConfig())
        await nursery.start(bank.run, sink)
        for m in bank.modems:
            await bank.wait_link(m.name, "up", ready=True)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = trio.current_time()
        i = 0
        with trio.move_on_at(t0 + seconds):
            while True:
                await bank.wait_capacity()
                i += 1
                await bank.submit([_part(i)])
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        nursery.cancel_scope.cancel()
    in_window = [o for t, o in sink.done if t <= t0 + seconds]
    ok = [o for o in in_window if o.failure is None]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    # Steady state, free of the window's edges: the mean time between two sends of one modem.
    gaps = [b.at - a.at for e in emus for a, b in zip(e.sent, e.sent[1:], strict=False)]
    interval = sum(gaps) / len(gaps) if gaps else float("nan")
    return {
        "modems": modems,
        "send_delay_s": send_delay,
        "seconds": seconds,
        "parts_submitted": len(ok),
        "parts_failed": len(in_window) - len(ok),
        "parts_per_second": round(len(ok) / seconds, 3),
        "ideal_parts_per_second": round(modems / send_delay, 3),
        "efficiency": round(len(ok) / seconds / (modems / send_delay), 3),
        "mean_interval_per_modem_s": round(interval, 4),
        "sustained_parts_per_second": round(modems / interval, 3),
        "receipts": sink.receipt_count,
        "per_modem": {e.personality.imei: len(e.sent) for e in emus},
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_part": round(1000 * cpu / max(1, len(ok)), 3),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modems", type=int, default=4)
    ap.add_argument("--send-delay", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    result = trio.run(_run, args.modems, args.send_delay, args.seconds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
