"""Webhook deliveries per second and the gateway CPU each one costs, to a local receiver.

The store (a real SQLite file, synchronous = full) and the webhook worker run in this
process; the receiver -- the project's HTTP server answering 204 over keep-alive -- runs in a
subprocess, so ``time.process_time`` of this process (the worker, the HTTP client and the
store's writer thread) is the gateway's share. Rows are status webhooks of messages (three
per message, delivered in order), queued the way the dispatch path queues them.

Two scenarios:
- ``backlog``: N deliveries queued at once, then drained;
- ``stream``: deliveries queued at ``--rate`` per second for ``--seconds`` (as a dispatch
  running at rate/3 messages per second would), printing the largest backlog seen.

Prints one JSON line per scenario. Run (under the bench lock):
  flock /tmp/smsgw-bench.lock .venv/bin/python tests/bench/bench_webhooks.py [--messages N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import msgspec
import trio

from smsgw.config.loader import parse
from smsgw.gateway.webhooks import WebhookWorker
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.sqlite import webhooks as ops_webhooks
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore

RECEIVER = """
import sys, trio
from smsgw.gateway.http import HttpLimits, HttpServer, Response
async def handle(req):
    return Response(204)
async def main():
    server = HttpServer(handle, HttpLimits(max_connections=4096))
    async with trio.open_nursery() as n:
        host, port = await n.start(server.serve, "127.0.0.1", 0)
        print(port, flush=True)
trio.run(main)
"""

CONFIG = """
[[keys]]
name = "shop"
token = "bench-token-0123456789"
webhook_secret = "whsec-bench-0123456789"
[[routes]]
name = "sim"
driver = "simulator"
[[rules]]
route = ["sim"]
[webhooks]
allow_private = true
"""

_json = msgspec.json.Encoder()
_TICK = os.sysconf("SC_CLK_TCK")


def _thread_cpu(names: Mapping[int, str]) -> dict[str, float]:
    """CPU seconds per thread of this process (Linux /proc), named by ``names`` (native id)."""
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name), "other")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def _rows(
    url: str, first_mid: int, messages: int, now: float
) -> list[tuple[str, str, bytes, int | None, str]]:
    rows: list[tuple[str, str, bytes, int | None, str]] = []
    ids = ops_webhooks.event_ids(3 * messages)
    for i in range(messages):
        mid = first_mid + i
        for j, (status, previous) in enumerate(
            (("sending", "queued"), ("submitted", "sending"), ("delivered", "submitted"))
        ):
            event_id = ids[3 * i + j]
            body = _json.encode(
                {
                    "event": "message.status",
                    "event_id": event_id,
                    "id": f"msg_{mid:026d}",
                    "client_ref": None,
                    "status": status,
                    "previous_status": previous,
                    "at": "2026-11-22T20:56:44.123Z",
                    "error": None,
                    "note": None,
                }
            )
            rows.append(("shop", url, body, mid, event_id))
    return rows


async def run(args: argparse.Namespace, url: str, scenario: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(
            str(Path(tmp) / "bench.db"),
            metrics=Metrics(),
            policy=DispatchPolicy(max_attempts={}, retry_base=1, retry_max=1),
        )
        await store.open()
        config = parse(CONFIG.encode(), "bench.toml", {})
        worker = WebhookWorker(store, config, Metrics(), time.time)
        token = trio.lowlevel.current_trio_token()

        def notify(lanes: Mapping[ops_webhooks.Lane, int]) -> None:
            token.run_sync_soon(worker._committed, lanes)

        depth_max = 0
        offered = 0.0
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                cpu0, t0 = time.process_time(), time.perf_counter()
                times0 = os.times()
                writer_thread = store._writer._thread
                assert writer_thread is not None and writer_thread.native_id is not None
                names = {threading.get_native_id(): "trio", writer_thread.native_id: "store"}
                threads0 = _thread_cpu(names)
                total = 0
                if scenario == "backlog":
                    for start in range(0, args.messages, 1000):
                        n = min(1000, args.messages - start)
                        rows = _rows(url, start + 1, n, time.time())
                        await store.call(ops_webhooks.insert, rows, time.time(), notify)
                        total += len(rows)
                else:
                    per_tick = max(1, int(args.rate / 3 / 100))  # messages per 10 ms
                    mid = 1
                    began = trio.current_time()
                    end = began + args.seconds
                    while trio.current_time() < end:
                        rows = _rows(url, mid, per_tick, time.time())
                        mid += per_tick
                        await store.call(ops_webhooks.insert, rows, time.time(), notify)
                        total += len(rows)
                        depth_max = max(depth_max, total - worker.recorded)
                        await trio.sleep(0.01)
                    offered = total / (trio.current_time() - began)
                with trio.fail_after(600):
                    await worker.wait_recorded(total)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
                threads = _thread_cpu(names)
                times = os.times()
                nursery.cancel_scope.cancel()
        finally:
            await store.close()
        out: dict[str, object] = {
            "scenario": scenario,
            "deliveries": total,
            "deliveries_per_s": round(total / wall),
            "cpu_us_per_delivery": round(cpu / total * 1e6, 1),
            "user_us_per_delivery": round((times.user - times0.user) / total * 1e6, 1),
            "system_us_per_delivery": round((times.system - times0.system) / total * 1e6, 1),
            "store_steps_per_delivery": round(worker.steps / total, 4),
            "cpu_us_per_delivery_by_thread": {
                name: round((sec - threads0.get(name, 0.0)) / total * 1e6, 1)
                for name, sec in threads.items()
                if sec - threads0.get(name, 0.0) > 0
            },
            "connections_opened": worker.pool.opened,
        }
        if scenario == "stream":
            out["offered_per_s"] = round(offered)
            out["backlog_max"] = depth_max
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--messages", type=int, default=10_000, help="messages in the backlog run (x3 deliveries)"
    )
    ap.add_argument(
        "--rate", type=float, default=6000, help="deliveries per second offered (stream)"
    )
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--scenario", choices=["backlog", "stream", "both"], default="both")
    args = ap.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        url = f"http://127.0.0.1:{port}/hook"
        for scenario in ["backlog", "stream"] if args.scenario == "both" else [args.scenario]:
            print(json.dumps(trio.run(run, args, url, scenario)), flush=True)
    finally:
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    main()
