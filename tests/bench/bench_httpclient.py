"""The webhook HTTP client alone: CPU per request against the bench's webhook receiver.

The receiver (:mod:`smsgw.gateway.bench_receiver`, its own process, keep-alive, Content-Length
answers) gets signed webhook-sized POSTs from ``--concurrency`` tasks; this process's CPU
(``time.process_time``) is the client's share. ``--mode raw`` is the floor to compare with:
the same bytes written and read on bare non-blocking sockets (one ``send``, wait until
readable, one ``recv``), with no pool, parser, timeout or error handling.

Run (under the bench lock):
  flock /tmp/smsgw-bench.lock .venv/bin/python tests/bench/bench_httpclient.py [--mode pool|raw]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import trio

from smsgw.gateway.httpclient import Pool, parse_url
from smsgw.gateway.webhook_signing import Signer

BODY = (
    b'{"event":"message.status","event_id":"evt_aaaaaaaaaaaaaaaa","id":"msg_01HX00000000000000'
    b'00000000","client_ref":null,"status":"delivered","previous_status":"submitted","at":"20'
    b'26-11-22T20:56:44.123Z","error":null,"note":null}'
)
_signer = Signer({"shop": ["whsec-bench-0123456789"]})


def _headers() -> list[tuple[bytes, bytes]]:
    return _signer.headers("shop", "evt_aaaaaaaaaaaaaaaa", BODY, int(time.time()))


async def _pool(url: str, n: int, concurrency: int) -> int:
    pool = Pool()
    target = parse_url(url)
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            r = await pool.request(b"POST", target, _headers(), BODY, timeout=5)
            assert r.status == 200

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    await pool.aclose()
    return pool.opened


async def _raw(url: str, n: int, concurrency: int) -> int:
    target = parse_url(url)
    todo = iter(range(n))

    async def worker() -> None:
        sock = socket.create_connection((target.host, target.port))
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for _ in todo:
                lines = [b"POST " + target.target + b" HTTP/1.1", b"host: " + target.host_header]
                lines += [b"content-length: %d" % len(BODY)]
                lines += [k + b": " + v for k, v in _headers()]
                sock.send(b"\r\n".join([*lines, b"\r\n"]) + BODY)
                while True:
                    await trio.lowlevel.wait_readable(sock)
                    if sock.recv(65536).endswith(b"ok"):
                        break
        finally:
            trio.lowlevel.notify_closing(sock)
            sock.close()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return concurrency


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", choices=["pool", "raw"], default="pool")
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "smsgw.gateway.bench_receiver", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/hooks/sms"
        run = _pool if args.mode == "pool" else _raw
        cpu0, recv0, t0, times0 = (
            time.process_time(),
            _cpu(receiver.pid),
            time.perf_counter(),
            os.times(),
        )
        opened = trio.run(run, url, args.requests, args.concurrency)
        wall, times = time.perf_counter() - t0, os.times()
        n = args.requests
        out = {
            "mode": args.mode,
            "requests": n,
            "requests_per_s": round(n / wall),
            "client_cpu_us_per_request": round((time.process_time() - cpu0) / n * 1e6, 1),
            "client_user_us": round((times.user - times0.user) / n * 1e6, 1),
            "client_system_us": round((times.system - times0.system) / n * 1e6, 1),
            "receiver_cpu_us_per_request": round((_cpu(receiver.pid) - recv0) / n * 1e6, 1),
            "connections": opened,
        }
        print(json.dumps(out), flush=True)
    finally:
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    main()
