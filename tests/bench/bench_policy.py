"""What the consent and courtesy policy costs the store, per message.

    python tests/bench/bench_policy.py [count]

Accepts ``count`` messages in batches of 100 through ``Store.accept_screened`` and claims them
back (the claim gate re-checks each), once as ``transactional`` (not policed by default: the
baseline) and once as ``marketing`` (opt-out probe, quiet hours, frequency cap at accept; opt-out,
quiet hours and cap again at claim), on a real SQLite file with synchronous=NORMAL.
Recipients are unique, as in a campaign. Prints messages per second for each phase.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import trio

from smsgw.config.loader import parse
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.numbers import parse_number
from smsgw.queue.consent.policy import Facts, Policy
from smsgw.queue.model import MessageClass, NewMessage
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore

CONFIG = b"""
[[keys]]
name = "shop"
token = "shop-token-0123456789"

[[routes]]
name = "sim"
driver = "simulator"
"""
NOON_BERLIN = 1_800_000_000.0 - 1_800_000_000.0 % 86_400 + 11 * 3600


def batch(
    start: int, n: int, msg_class: MessageClass, now: float
) -> list[tuple[NewMessage, Facts]]:
    out = []
    for i in range(start, start + n):
        to = f"+49151{i:08d}"
        info = parse_number(to, details=True)
        out.append(
            (
                NewMessage(
                    key="shop",
                    to=info.e164,
                    sender="Shop",
                    text="Big sale",
                    encoding="gsm7",
                    segments=("Big sale",),
                    msg_class=msg_class,
                    routes=("sim",),
                    ref=0,
                    ref_bits=8,
                    created_at=now,
                    expires_at=now + 86_400,
                ),
                Facts(zones=info.zones, country=info.country),
            )
        )
    return out


async def phase(path: Path, msg_class: MessageClass, count: int) -> dict[str, float]:
    metrics = Metrics()
    policy = Policy(parse(CONFIG, "bench.toml", {}), metrics)
    store = SqliteStore(
        str(path), metrics=metrics, policy=DispatchPolicy(max_attempts={}), synchronous="normal"
    )
    store.gate = policy
    await store.open()
    try:
        batches = [batch(i, 100, msg_class, NOON_BERLIN) for i in range(0, count, 100)]
        started = time.perf_counter()
        for items in batches:
            await store.accept_screened(items, policy)
        accept = time.perf_counter() - started
        started = time.perf_counter()
        claimed = 0
        while True:
            parts = await store.claim("sim", 200, NOON_BERLIN + 1)
            if not parts:
                break
            claimed += len(parts)
        claim = time.perf_counter() - started
        assert claimed == count, claimed
    finally:
        await store.close()
    return {
        f"{msg_class}_accept_msg_per_s": round(count / accept),
        f"{msg_class}_claim_msg_per_s": round(count / claim),
    }


async def run(count: int) -> None:
    figures: dict[str, float] = {"messages": count}
    with tempfile.TemporaryDirectory() as tmp:
        figures |= await phase(Path(tmp) / "t.db", "transactional", count)
        figures |= await phase(Path(tmp) / "m.db", "marketing", count)
    print(json.dumps(figures, indent=2))


def main(argv: list[str]) -> int:
    trio.run(run, int(argv[1]) if len(argv) > 1 else 20_000)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
