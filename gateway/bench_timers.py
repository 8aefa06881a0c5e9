"""``smsgw bench --million --scheduled-in S``: a million durable timers.

Fills a gateway's queue with ``--queued`` messages scheduled ``S`` seconds ahead and more
(``send_at`` spread over ``--spread`` seconds), on a route too slow for anything to leave,
kills the gateway with SIGKILL before the first is due, starts it again, and watches the
store (read-only, beside the running gateway) until the last due time has passed: how many
messages were still waiting more than a second after their due time, at worst, and how late
the last one was. Prints RSS with the full queue and after the restart.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.bench_procs import Conn, Proc, free_port, post_request, write_config
from smsgw.queue.model import rfc3339

__all__ = ["scheduled_million"]

LATE = 1.0
"""A timer fires on time when its message is due no more than this long after its due time."""


def _batch(start: int, n: int, first_due: float, spread: float, total: int) -> bytes:
    msgs = [
        {
            "to": f"+49170{(start + i) % 10_000_000:07d}",
            "text": f"Your review request #{start + i}",
            "send_at": rfc3339(first_due + spread * (start + i) / total),
        }
        for i in range(n)
    ]
    return post_request("/v1/messages", msgspec.json.encode({"messages": msgs}))


async def _fill(port: int, total: int, conns: int, first_due: float, spread: float) -> float:
    batch = 1000
    per_conn = total // conns // batch

    async def worker(w: int) -> None:
        conn = await Conn.open(port)
        for b in range(per_conn):
            start = (w * per_conn + b) * batch
            status, answer = await conn.call(_batch(start, batch, first_due, spread, total))
            if status != 202:
                raise RuntimeError(f"batch answered {status}: {answer.decode()[:300]}")

    t0 = time.perf_counter()
    async with trio.open_nursery() as n:
        for w in range(conns):
            n.start_soon(worker, w)
    return per_conn * conns * batch / (time.perf_counter() - t0)


def _late(db: Path, now: float) -> tuple[int, int]:
    """(messages still scheduled more than LATE past their due time, still scheduled)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        # Parts carry the due time (the parts_due index); every message here is one part.
        late = conn.execute(
            "SELECT count(*) FROM parts WHERE status = 'scheduled' AND due_at < ?",
            (now - LATE,),
        ).fetchone()[0]
        waiting = conn.execute(
            "SELECT count(*) FROM parts WHERE status = 'scheduled' AND due_at IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    return int(late), int(waiting)


def scheduled_million(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        port = free_port()
        cfg = write_config(Path(d), port, 0.001, args.synchronous, "sim")
        db = Path(d) / "bench.db"
        # Long enough ahead that filling ends, and the gateway is killed and back, first.
        first_due = time.time() + args.scheduled_in
        proc = Proc(cfg)
        try:
            proc.wait_listening()
            rate = trio.run(_fill, port, args.queued, args.connections, first_due, args.spread)
            rss_full = proc.rss_mb()
            peak_full = proc.peak_rss_mb()
        finally:
            proc.popen.kill()  # SIGKILL: the timers must survive it
            proc.popen.wait()
        filled_at = time.time()
        proc = Proc(cfg)
        try:
            ready = proc.wait_listening()
            rss_restart = proc.rss_mb()
            worst_late = 0
            last_due = first_due + args.spread
            while True:
                now = time.time()
                late, waiting = _late(db, now)
                worst_late = max(worst_late, late)
                if waiting == 0 or now > last_due + 60:
                    break
                time.sleep(0.2)  # another process: nothing here to wait on
            caught_up = time.time() - last_due
            peak_running = proc.peak_rss_mb()
        finally:
            proc.stop()
    return {
        "scheduled": args.queued,
        "fill_msg_per_s": round(rate),
        "killed_with_sigkill_seconds_before_first_due": round(first_due - filled_at, 1),
        "rss_mb_with_timers": round(rss_full, 1),
        "peak_rss_mb_while_filling": round(peak_full, 1),
        "ready_seconds_after_restart": round(ready, 3),
        "rss_mb_after_restart": round(rss_restart, 1),
        "peak_rss_mb_while_firing": round(peak_running, 1),
        "due_over_seconds": args.spread,
        "most_waiting_over_1s_late": worst_late,
        "still_scheduled_at_end": waiting,
        "last_due_fired_within_seconds": round(max(0.0, caught_up), 2),
    }
