"""Store throughput without HTTP: accept in batches, then claim -> outcome -> receipt.

Prints JSON: accepted msg/s, and the full dispatch cycle in msg/s, with synchronous=FULL.
Run: .venv/bin/python tests/bench/bench_store.py [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import trio

from smsgw.drivers.seam import Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue.model import NewMessage
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore


def msg(i: int, now: float) -> NewMessage:
    return NewMessage(
        key="bench",
        to=f"+49170{i:07d}",
        sender="Shop",
        text=f"Your order #{i} has shipped",
        encoding="gsm7",
        segments=(f"Your order #{i} has shipped",),
        msg_class="transactional",
        routes=("sim",),
        ref=0,
        ref_bits=8,
        created_at=now,
        expires_at=now + 86400,
    )


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(
            str(Path(d) / "b.db"), metrics=Metrics(), policy=DispatchPolicy(max_attempts={})
        )
        await store.open()
        now = time.time()
        t0 = time.perf_counter()

        async def acceptor(k: int) -> None:
            for b in range(k, n // 100, 4):
                await store.accept([msg(b * 100 + i, now) for i in range(100)])

        async with trio.open_nursery() as nursery:
            for k in range(4):
                nursery.start_soon(acceptor, k)
        accept_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        done = 0
        while done < n:
            parts = await store.claim("sim", 500, now)
            await store.record_outcomes(
                [Outcome(part_id=p.part_id, carrier_id=f"c{p.part_id}") for p in parts], now
            )
            await store.record_receipts(
                [
                    Receipt(route="sim", carrier_id=f"c{p.part_id}", state="delivered")
                    for p in parts
                ],
                now,
            )
            done += len(parts)
        cycle_s = time.perf_counter() - t1
        await store.close()
    print(
        json.dumps(
            {
                "messages": n,
                "accept_msg_per_s": round(n / accept_s),
                "dispatch_cycle_msg_per_s": round(n / cycle_s),
                "both_msg_per_s": round(n / (accept_s + cycle_s)),
            }
        )
    )


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
