"""Clicks per second on the redirect listener: latency at a fixed rate, and the gateway's CPU.

A real gateway runs in this process (a SQLite store in a temporary folder, synchronous=full,
``[links]`` on a loopback port) with ``--links`` tracked messages scheduled an hour ahead, so
nothing but the clicks runs. A client in a subprocess opens ``--connections`` keep-alive
connections and sends ``GET /<code>`` at ``--rate`` per second in total, open loop: each
request has its due time, and its latency counts from then when its connection is still busy
with an earlier one (a server that falls behind shows it, rather than slowing the client
down), else from the moment it is sent. Every answer must be a 302.

Prints one JSON line: clicks, rate achieved, latency p50/p99/p99.9/max in ms, and the
gateway's CPU (its process, the store's writer thread included) in percent of one core and
in µs per click; then checks every click was recorded.
Run: .venv/bin/python tests/bench/bench_links.py [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import trio

from smsgw.config.loader import parse
from smsgw.gateway.httpclient import request
from smsgw.gateway.service import Gateway

_CONFIG = """
[server]
listen = "127.0.0.1:0"

[store]
path = "{path}"
synchronous = "{synchronous}"

[[keys]]
name = "shop"
token = "bench-token-0123456789"
rate = 100000

[[routes]]
name = "sim"
driver = "simulator"

[[rules]]
route = ["sim"]

[links]
listen = "127.0.0.1:0"
base_url = "https://s.shop.example"
"""
_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"


# -- the client (a subprocess) -------------------------------------------------------------------


async def _connection(
    port: int, due: list[float], codes: list[str], latencies: list[float]
) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        buf = b""
        for at, code in zip(due, codes, strict=True):
            wait = at - time.monotonic()
            if wait > 0:
                await trio.sleep(wait)  # the schedule of an open-loop load, not a test wait
                # Counted from when this client was ready: its own late wake-up is not the
                # gateway's. A connection that is behind counts from the due time.
                at = time.monotonic()
            ask = f"GET /{code} HTTP/1.1\r\nHost: s.shop.example\r\nUser-Agent: {_AGENT}\r\n"
            await stream.send_all(ask.encode() + b"\r\n")
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive_some(65536)
            head, _, buf = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 302"), head[:200]
            assert b"content-length: 0" in head, head[:200]
            latencies.append(time.monotonic() - at)


async def client(port: int, codes: list[str], rate: float, seconds: float, conns: int) -> None:
    n = int(rate * seconds)
    start = time.monotonic() + 0.2
    due = [start + i / rate for i in range(n)]
    picks = [random.choice(codes) for _ in range(n)]
    latencies: list[float] = []
    async with trio.open_nursery() as nursery:
        for c in range(conns):
            nursery.start_soon(_connection, port, due[c::conns], picks[c::conns], latencies)
    took = time.monotonic() - start
    latencies.sort()

    def ms(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    out = {"clicks": len(latencies), "seconds": round(took, 2), "p50_ms": ms(0.5)}
    out |= {"p99_ms": ms(0.99), "p999_ms": ms(0.999), "max_ms": ms(1.0)}
    print(json.dumps(out))


# -- the gateway (this process) ------------------------------------------------------------------


def _run_client(argv: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, *argv], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


async def gateway_side(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = parse(
            _CONFIG.format(
                path=os.path.join(tmp, "bench.db"), synchronous=args.synchronous
            ).encode(),
            "bench",
            {},
        )
        gw = Gateway(config)
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(gw.run)
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            ids: list[str] = []
            for start in range(0, args.links, 1000):
                items = [
                    {"to": f"+4917{i:09d}", "text": f"Sale https://shop.example/p/{i}",
                     "track_links": True, "send_at": later, "class": "transactional"}
                    for i in range(start, min(args.links, start + 1000))
                ]  # fmt: skip
                status, body = await request(
                    "POST",
                    f"http://{host}:{port}/v1/messages",
                    json.dumps({"messages": items}).encode(),
                    [("Authorization", "Bearer bench-token-0123456789"),
                     ("Content-Type", "application/json")],
                )  # fmt: skip
                assert status == 202, body[:200]
                ids += [m["id"] for m in json.loads(body)["messages"]]
            codes = []
            for public_id in ids:
                row = await gw.store.get(None, public_id)
                assert row is not None
                codes.append(row.links[0].code)
            assert gw.links_address is not None
            code_file = os.path.join(tmp, "codes")
            await trio.Path(code_file).write_text("\n".join(codes))
            argv = ["--client", str(gw.links_address[1]), "--codes", code_file]
            argv += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
            argv += ["--connections", str(args.connections)]
            cpu, wall = time.process_time(), time.monotonic()
            result = await trio.to_thread.run_sync(_run_client, argv)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            total = 0
            for public_id in ids:
                row = await gw.store.get(None, public_id)
                assert row is not None
                total += row.links[0].clicks
            assert total == result["clicks"], (total, result)
            result |= {
                "rate_per_s": round(result["clicks"] / result["seconds"]),
                "connections": args.connections,
                "synchronous": args.synchronous,
                "gateway_cpu_percent": round(cpu / wall * 100, 1),
                "gateway_cpu_us_per_click": round(cpu / result["clicks"] * 1e6, 1),
                "recorded": total,
            }
            print(json.dumps(result), flush=True)
            gw.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--codes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        with open(args.codes) as f:
            codes = f.read().split()
        trio.run(client, args.client, codes, args.rate, args.seconds, args.connections)
    else:
        trio.run(gateway_side, args)


if __name__ == "__main__":
    main()
