"""The per-request path with status webhooks, until ``smsgw bench`` has its real-path mode.

A gateway in a child process (synchronous = full), one ``POST /v1/messages`` per message with
50 in flight over keep-alive connections, a ``callback_url`` on each pointing at a keep-alive
receiver in another process (the project's HTTP server answering 204), and the route either
the built-in simulator with instant receipts (the SMPP variant is ``smsgw bench``'s real-path
mode). The run ends when
every expected webhook was delivered (the gateway's ``smsgw_webhook_deliveries_total``).
Prints one JSON line per ``--events`` setting: gateway CPU per message, messages/s end to
end, and the largest webhook backlog seen (``smsgw_webhook_queue_depth``).

Run (under the bench lock):
  flock /tmp/smsgw-bench.lock .venv/bin/python tests/bench/bench_webhooks_path.py \
      [--messages 5000] [--events all,final,none]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.bench_procs import (
    TOKEN,
    Conn,
    Peer,
    Proc,
    free_port,
    get_request,
    post_request,
    route_toml,
    wait_route_up,
)

RECEIVER = """
import trio
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


def _config(tmp: Path, port: int, route: str, peer: dict[str, object]) -> Path:
    text = f"""
[server]
listen = "127.0.0.1:{port}"
max_connections = 4096

[store]
path = "{tmp / "bench.db"}"
synchronous = "full"

[[keys]]
name = "bench"
token = "{TOKEN}"
rate = 1000000
burst = 1000000
webhook_secret = "whsec-bench-0123456789"

[webhooks]
allow_private = true

{route_toml(route, 100_000, peer)}

[[rules]]
route = ["bench"]
"""
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


async def _metrics(conn: Conn) -> dict[str, float]:
    _, body = await conn.call(get_request("/metrics"))
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith('smsgw_webhook_deliveries_total{result="ok"}'):
            out["ok"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("smsgw_webhook_queue_depth "):
            out["depth"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("smsgw_messages_final_total{"):
            out["final"] = out.get("final", 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def _run(
    args: argparse.Namespace, port: int, proc: Proc, hook: str, events: str
) -> dict[str, object]:
    await wait_route_up(port, timeout=60)
    probe = await Conn.open(port)
    before = await _metrics(probe)
    per_webhook = {"all": 3, "final": 1, "none": 0}[events]
    expected_ok = before.get("ok", 0.0) + per_webhook * args.messages
    expected_final = before.get("final", 0.0) + args.messages
    per_conn = args.messages // args.connections
    cpu0, t0 = proc.cpu(), time.perf_counter()
    depth_max = 0.0

    async def sender(w: int) -> None:
        conn = await Conn.open(port)
        for i in range(per_conn):
            msg: dict[str, object] = {"to": f"+49151{(w * per_conn + i):08d}", "text": "Shipped"}
            if events != "none":
                msg["callback_url"] = hook
                msg["webhook_events"] = events
            status, answer = await conn.call(post_request("/v1/messages", msgspec.json.encode(msg)))
            if status != 202:
                raise RuntimeError(f"answered {status}: {answer.decode()}")

    async with trio.open_nursery() as n:
        for w in range(args.connections):
            n.start_soon(sender, w)
        while True:
            m = await _metrics(probe)
            depth_max = max(depth_max, m.get("depth", 0.0))
            if m.get("final", 0.0) >= expected_final and m.get("ok", 0.0) >= expected_ok:
                break
            await trio.sleep(0.25)
    done = time.perf_counter()
    cpu = proc.cpu() - cpu0
    return {
        "route": args.route,
        "webhook_events": events,
        "messages": per_conn * args.connections,
        "in_flight": args.connections,
        "end_to_end_msg_per_s": round(per_conn * args.connections / (done - t0)),
        "gateway_cpu_us_per_msg": round(cpu / (per_conn * args.connections) * 1e6, 1),
        "webhooks_per_msg": per_webhook,
        "webhook_backlog_max": int(depth_max),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--route", choices=["sim"], default="sim")
    ap.add_argument("--events", default="all,final,none")
    args = ap.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        hook = f"http://127.0.0.1:{int(receiver.stdout.readline())}/hook"
        for events in args.events.split(","):
            with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
                peer = Peer("sim", Path(d), 0, 0.0)
                port = free_port()
                proc = Proc(_config(Path(d), port, "sim", peer.info))
                try:
                    proc.wait_listening()
                    print(json.dumps(trio.run(_run, args, port, proc, hook, events)), flush=True)
                finally:
                    proc.stop()
                    peer.stop()
    finally:
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    main()
