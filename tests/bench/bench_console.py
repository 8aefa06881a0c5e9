"""Server time of the ops console with 50 routes and 64 modems configured, and what its one
standing task (the throughput sampler) costs.

A gateway runs in this process with 23 SMPP routes bound to an in-process smsc-sim, 23 SMPP
routes whose SMSC is gone, 2 simulator routes and 2 modem routes of 32 emulated modems each
(on ptys), a full 15-minute throughput ring and a full error log. Then:

* ``handler``: the console's own handler called directly, ``/status`` (HTML) and
  ``/status.json``, timed with ``perf_counter`` (server time: reading every figure, the store's
  backlog query through the writer thread, rendering);
* ``http``: the same over loopback with a keep-alive client (adds the HTTP server and the
  socket round trip);
* ``sampler``: one reading of the throughput ring (every route's counter and every link),
  which runs every 10 s whether anyone watches or not.

Prints one JSON object. Figures are indicative on a shared machine; nothing is asserted.
Run: flock /tmp/smsgw-bench.lock .venv/bin/python tests/bench/bench_console.py [--requests N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import trio

from smsgw.config.loader import parse
from smsgw.drivers.modem.emulator import PERSONALITIES, ModemEmulator
from smsgw.drivers.smpp.sim import SimSettings, serve_smsc_sim
from smsgw.gateway.console_history import Reading
from smsgw.gateway.console_read import link_counts, route_counts
from smsgw.gateway.http import Request
from smsgw.gateway.service import Gateway

OPS_TOKEN = "bench-ops-token-0123456789"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, smsc_port: int, modem_links: list[str]) -> str:
    routes = []
    dead = _closed_port()
    for i in range(46):
        routes.append(
            f'[[routes]]\nname = "operator-{i:02d}"\ndriver = "smpp"\nhost = "127.0.0.1"\n'
            f'port = {smsc_port if i < 23 else dead}\nsystem_id = "shop"\npassword = "secret"\n'
            "rate = 100\nreconnect_min = 1\nreconnect_max = 5\n"
        )
    for i in range(2):
        routes.append(f'[[routes]]\nname = "sim-{i}"\ndriver = "simulator"\n')
    for i in range(2):
        ports = ", ".join(f'"{p}"' for p in modem_links[i * 32 : (i + 1) * 32])
        routes.append(
            f'[[routes]]\nname = "modems-{i}"\ndriver = "modem"\nports = [{ports}]\n'
            "rate = 1\ndaily_cap = 500\n"
        )
    return f"""
[server]
listen = "127.0.0.1:0"
ops_token = "{OPS_TOKEN}"

[store]
path = "{tmp / "bench.db"}"

[[keys]]
name = "shop"
token = "bench-shop-token-0123456789"

{"".join(routes)}

[[rules]]
route = ["sim-0"]
"""


def _figures(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=100)
    return {
        "p50_ms": round(q[49] * 1e3, 2),
        "p90_ms": round(q[89] * 1e3, 2),
        "p99_ms": round(q[98] * 1e3, 2),
        "max_ms": round(s[-1] * 1e3, 2),
    }


async def _http_times(host: str, port: int, path: str, n: int) -> list[float]:
    stream = await trio.open_tcp_stream(host, port)
    wire = (f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPS_TOKEN}\r\n\r\n").encode()
    times = []
    async with stream:
        for _ in range(n):
            t0 = time.perf_counter()
            await stream.send_all(wire)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive_some(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += await stream.receive_some(65536)
            times.append(time.perf_counter() - t0)
    return times


async def main(args: argparse.Namespace) -> dict[str, object]:
    logging.getLogger("smsgw").setLevel(logging.WARNING)
    logging.getLogger("smsgw").propagate = False  # the ring still hears it; the terminal not
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-console-") as d:
        tmp = Path(d)
        async with trio.open_nursery() as nursery:
            sim = await nursery.start(serve_smsc_sim, SimSettings(port=0, seed=1))
            emus = [
                ModemEmulator(PERSONALITIES["generic"], link=os.path.join(d, f"modem-{i:02d}"))
                for i in range(64)
            ]
            for e in emus:
                await nursery.start(e.run)
            config = parse(_config(tmp, sim.port, [e.link or "" for e in emus]).encode(), "b", {})
            gw = Gateway(config)
            host, port = await nursery.start(gw.run)
            runners = gw.scheduler.runners
            # Let the links come up (or fail) once: modems take a few seconds to register.
            await trio.sleep(args.settle)
            console = gw.console
            ring = console.throughput
            ring.clear()
            t = trio.current_time() - ring.span
            for k in range(int(ring.span / ring.interval) + 1):
                counts = {name: float(k * (i + 1) * 37) for i, name in enumerate(runners)}
                ring.sample(Reading(t + k * ring.interval, counts, {}))
            log = logging.getLogger("smsgw.bench")
            for i in range(60):
                log.warning("operator-%02d bind0: link down (connection refused %d)", i % 46, i)

            result: dict[str, object] = {
                "routes": len(runners),
                "links": sum(len(r.driver.state().links) for r in runners.values()),
                "routes_up": sum(r.driver.state().up for r in runners.values()),
                "requests_each": args.requests,
            }
            for path in ("/status", "/status.json"):
                req = Request(
                    "GET", path, {}, {"authorization": f"Bearer {OPS_TOKEN}"}, b"", "127.0.0.1"
                )
                times, size = [], 0
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    _, response = await console.handle(req)
                    times.append(time.perf_counter() - t0)
                    size = len(response.body)
                result[f"handler {path}"] = {**_figures(times), "bytes": size}
                result[f"http {path}"] = _figures(
                    await _http_times(host, port, path, args.requests)
                )
            sampler = []
            for _ in range(200):
                t0 = time.perf_counter()
                route_counts(gw.metrics)
                link_counts(gw.scheduler)
                sampler.append(time.perf_counter() - t0)
            one = statistics.median(sampler)
            result["sampler"] = {
                "one_reading_us": round(one * 1e6, 1),
                "share_of_a_core": f"{one / ring.interval:.1e}",
            }
            gw.shutdown()
            nursery.cancel_scope.cancel()
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--settle", type=float, default=20.0, help="seconds to let links come up")
    print(json.dumps(trio.run(main, p.parse_args()), indent=2))
