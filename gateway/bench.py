"""``smsgw bench``: start a gateway in a child process and drive it through the real HTTP API.

Phases: batches of 100 over several keep-alive connections (accept rate, then the time until
every message is final), then single-message requests (req/s and latency percentiles). The
gateway's CPU time and peak RSS are read from /proc. ``--million`` instead fills the queue with a
million messages on a closed route and measures RSS and the time to ready after a restart.

Prints one JSON object. Figures depend on the machine: run it on the box that will serve.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import trio

__all__ = ["main"]

TOKEN = "bench-token-0123456789abcdef"


def _config(tmp: Path, port: int, route_rate: float, synchronous: str, route: str) -> Path:
    routes = {
        "sim": f"""
[[routes]]
name = "bench"
driver = "simulator"
rate = {route_rate}
burst = {max(1, int(min(route_rate, 1000)))}
latency = 0
receipt_delay = 0
window = 5000
""",
    }
    text = f"""
[server]
listen = "127.0.0.1:{port}"
max_connections = 4096

[store]
path = "{tmp / "bench.db"}"
synchronous = "{synchronous}"
max_queued = 20000000

[[keys]]
name = "bench"
token = "{TOKEN}"
rate = 1000000
burst = 1000000

{routes[route]}

[[rules]]
route = ["bench"]
"""
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """The gateway child process and its /proc figures."""

    def __init__(self, config: Path) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "smsgw", "serve", "-c", str(config), "--log-level", "warning"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started = time.perf_counter()

    def wait_listening(self) -> float:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if "listening on" in line:
                return time.perf_counter() - self.started
        raise RuntimeError("gateway exited before listening")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class Conn:
    """A raw keep-alive HTTP/1.1 connection: pre-encoded requests, minimal parsing."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = bytearray()

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def call(self, wire: bytes) -> tuple[int, bytes]:
        await self.stream.send_all(wire)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end]).lower()
                i = head.find(b"content-length:")
                length = int(head[i + 15 : head.find(b"\r\n", i) if b"\r\n" in head[i:] else None])
                total = end + 4 + length
                if len(self.buf) >= total:
                    status = int(head[9:12])
                    body = bytes(self.buf[end + 4 : total])
                    del self.buf[:total]
                    return status, body
            chunk = await self.stream.receive_some(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk


def _post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()


def _batch(start: int, n: int, msg_class: str = "transactional") -> bytes:
    msgs = [
        {
            "to": f"+49170{(start + i) % 10_000_000:07d}",
            "text": f"Your order #{start + i} has shipped",
            "class": msg_class,
        }
        for i in range(n)
    ]
    return _post("/v1/messages", msgspec.json.encode({"messages": msgs}))


async def _final_count(conn: Conn) -> int:
    _, body = await conn.call(_get("/metrics"))
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("smsgw_messages_final_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def _batch_phase(port: int, total: int, conns: int, batch: int) -> dict[str, float]:
    per_conn = total // conns // batch
    latencies: list[float] = []

    async def worker(w: int) -> None:
        conn = await Conn.open(port)
        for b in range(per_conn):
            wire = _batch((w * per_conn + b) * batch, batch)
            t = time.perf_counter()
            status, answer = await conn.call(wire)
            latencies.append(time.perf_counter() - t)
            if status != 202:
                raise RuntimeError(f"batch answered {status}: {answer.decode()[:500]}")

    t0 = time.perf_counter()
    async with trio.open_nursery() as n:
        for w in range(conns):
            n.start_soon(worker, w)
    elapsed = time.perf_counter() - t0
    sent = per_conn * conns * batch
    latencies.sort()
    return {
        "connections": conns,
        "messages": sent,
        "seconds": round(elapsed, 3),
        "accepted_msg_per_s": round(sent / elapsed),
        "batch_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "batch_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "_t0": t0,
    }


async def _wait_final(port: int, expected: int, timeout: float) -> float:
    conn = await Conn.open(port)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await _final_count(conn) >= expected:
            return time.perf_counter()
        await trio.sleep(0.05)
    raise RuntimeError(f"not every message was final within {timeout:g} s")


async def _single_phase(port: int, total: int, conns: int) -> dict[str, float]:
    latencies: list[float] = []
    per_conn = total // conns

    async def worker(w: int) -> None:
        conn = await Conn.open(port)
        for i in range(per_conn):
            body = msgspec.json.encode(
                {"to": f"+49151{(w * per_conn + i) % 100_000_000:08d}", "text": "Code 482913"}
            )
            wire = _post("/v1/messages", body)
            t = time.perf_counter()
            status, answer = await conn.call(wire)
            latencies.append(time.perf_counter() - t)
            if status != 202:
                raise RuntimeError(f"single send answered {status}: {answer.decode()}")

    t0 = time.perf_counter()
    async with trio.open_nursery() as n:
        for w in range(conns):
            n.start_soon(worker, w)
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "connections": conns,
        "requests": per_conn * conns,
        "req_per_s": round(per_conn * conns / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def _throughput(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        port = _free_port()
        proc = Proc(_config(Path(d), port, 1e6, args.synchronous, "sim"))
        try:
            ready = proc.wait_listening()
            cpu0 = proc.cpu()

            async def run() -> dict[str, object]:
                b = await _batch_phase(port, args.messages, args.connections, args.batch)
                t0 = b.pop("_t0")
                done = await _wait_final(port, int(b["messages"]), timeout=600)
                cpu1 = proc.cpu()
                e2e = int(b["messages"]) / (done - t0)
                single = await _single_phase(port, args.single, args.single_connections)
                cpu2 = proc.cpu()
                return {
                    "ready_seconds": round(ready, 3),
                    "batch": b,
                    "end_to_end_msg_per_s": round(e2e),
                    "server_cpu_us_per_msg": round((cpu1 - cpu0) / int(b["messages"]) * 1e6, 1),
                    "single": single,
                    "server_cpu_us_per_single_request": round(
                        (cpu2 - cpu1) / int(single["requests"]) * 1e6, 1
                    ),
                    "peak_rss_mb": round(proc.peak_rss_mb(), 1),
                }

            result = trio.run(run)
        finally:
            proc.stop()
    return result


def _million(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        port = _free_port()
        # A route slow enough that nothing meaningful leaves: the queue stays full.
        cfg = _config(Path(d), port, 0.001, args.synchronous, "sim")
        proc = Proc(cfg)
        try:
            proc.wait_listening()

            async def fill() -> float:
                b = await _batch_phase(port, args.queued, args.connections, 1000)
                return float(b["accepted_msg_per_s"])

            rate = trio.run(fill)
            rss_full = proc.rss_mb()
            peak_full = proc.peak_rss_mb()
        finally:
            proc.stop()
        proc = Proc(cfg)
        try:
            ready = proc.wait_listening()
            rss_restart = proc.rss_mb()
        finally:
            proc.stop()
    return {
        "queued": args.queued,
        "fill_msg_per_s": round(rate),
        "rss_mb_with_queue": round(rss_full, 1),
        "peak_rss_mb_while_filling": round(peak_full, 1),
        "ready_seconds_after_restart": round(ready, 3),
        "rss_mb_after_restart": round(rss_restart, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smsgw bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=100_000, help="messages in the batch phase")
    p.add_argument("--batch", type=int, default=100, help="messages per batch request")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--single", type=int, default=10_000, help="single-message requests")
    p.add_argument(
        "--single-connections",
        type=int,
        default=16,
        help="connections for single requests (a shop's web workers each hold one)",
    )
    p.add_argument("--synchronous", choices=["full", "normal"], default="full")
    p.add_argument("--route", choices=["sim"], default="sim", help="route driver to bench")
    p.add_argument("--million", action="store_true", help="measure a queue of --queued messages")
    p.add_argument("--queued", type=int, default=1_000_000)
    args = p.parse_args(argv)
    result = _million(args) if args.million else _throughput(args)
    result["synchronous"] = args.synchronous
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    return 0
