"""``smsgw bench``: start a gateway in a child process and drive it through the real HTTP API.

Modes: by default, batches of 100 over several keep-alive connections (accept rate, then the
time until every message is final), then single-message requests (req/s and latency
percentiles). ``--real-path`` runs the path online stores use instead: one request per message,
50 in flight, a status webhook per change to a local receiver, SMPP to ``smsgw smsc-sim``
(:mod:`smsgw.gateway.bench_realpath`). ``--million`` fills the queue with a million messages on
a closed route and measures RSS and the time to ready after a restart. The gateway's CPU time
and peak RSS are read from /proc.

Prints one JSON object. Figures depend on the machine: run it on the box that will serve.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.bench_console import OPS_TOKEN, ConsoleWatcher

__all__ = [
    "Conn",
    "Peer",
    "Proc",
    "child",
    "free_port",
    "get_request",
    "main",
    "post_request",
    "wait_for_line",
    "wait_route_up",
    "write_config",
]

TOKEN = "bench-token-0123456789abcdef"
CONSOLE_TOKEN = OPS_TOKEN


def _route_toml(route: str, route_rate: float, peer: dict[str, object], binds: int = 4) -> str:
    """The bench route: the built-in simulator, SMPP binds to ``smsgw smsc-sim``, or a bank of
    emulated modems (``peer`` says where the simulator listens or where the modems' links are)."""
    if route == "smpp":
        return f"""
[[routes]]
name = "bench"
driver = "smpp"
host = "127.0.0.1"
port = {peer["port"]}
system_id = "bench"
password = "bench"
binds = {binds}
window = 100
rate = {route_rate}
burst = {max(1, int(min(route_rate, 1000)))}
"""
    if route == "modem":
        ports = msgspec.json.encode(peer["links"]).decode()
        return f"""
[[routes]]
name = "bench"
driver = "modem"
ports = {ports}
rate = 1.0
burst = 1
"""
    return f"""
[[routes]]
name = "bench"
driver = "simulator"
rate = {route_rate}
burst = {max(1, int(min(route_rate, 1000)))}
latency = 0
receipt_delay = 0
window = 5000
"""


def write_config(
    tmp: Path,
    port: int,
    route_rate: float,
    synchronous: str,
    route: str,
    peer: dict[str, object] | None = None,
    *,
    binds: int = 4,
    extra: str = "",
) -> Path:
    text = f"""
[server]
listen = "127.0.0.1:{port}"
max_connections = 4096
ops_token = "{CONSOLE_TOKEN}"

[store]
path = "{tmp / "bench.db"}"
synchronous = "{synchronous}"
max_queued = 20000000

[[keys]]
name = "bench"
token = "{TOKEN}"
rate = 1000000
burst = 1000000
webhook_secret = "bench-webhook-secret"

{_route_toml(route, route_rate, peer or {}, binds)}

[[rules]]
route = ["bench"]
{extra}
"""
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


class Peer:
    """The far end of a bench route in its own process: ``smsgw smsc-sim`` or emulated modems,
    so the gateway's CPU figures are the gateway's alone."""

    def __init__(self, route: str, tmp: Path, modems: int, send_delay: float) -> None:
        self.info: dict[str, object] = {}
        self.popen: subprocess.Popen[str] | None = None
        if route == "smpp":
            port = free_port()
            cmd = ["smsc-sim", "--port", str(port), "--account", "bench:bench", "--window", "100"]
            self.popen = child(["-m", "smsgw", *cmd])
            self._wait_for("listening on")
            self.info = {"port": port}
        elif route == "modem":
            links = tmp / "modems"
            cmd = ["-m", "smsgw.drivers.modem.emulate", "--link-dir", str(links)]
            cmd += ["--send-delay", str(send_delay), "--report-delay", "0.2"]
            self.popen = child([*cmd, *(["sim800"] * modems)])
            found = [msgspec.json.decode(self._wait_for('"link"')) for _ in range(modems)]
            self.info = {"links": [m["link"] for m in found]}

    def _wait_for(self, marker: str) -> str:
        assert self.popen is not None
        return wait_for_line(self.popen, marker)

    def stop(self) -> None:
        if self.popen is not None:
            self.popen.terminate()
            self.popen.wait(30)


def child(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for_line(popen: subprocess.Popen[str], marker: str) -> str:
    """The first line of the child's output holding ``marker``; from then on its output is read
    (and dropped) by a thread, so the child never blocks on a full pipe. Raises RuntimeError if
    the child exits first."""
    assert popen.stdout is not None
    seen: list[str] = []
    for line in popen.stdout:
        if marker in line:
            threading.Thread(target=_drain, args=(popen,), daemon=True).start()
            return line
        seen = [*seen[-19:], line]
    raise RuntimeError(f"bench child exited before printing {marker!r}:\n{''.join(seen)}")


def _drain(popen: subprocess.Popen[str]) -> None:
    assert popen.stdout is not None
    for _ in popen.stdout:
        pass


def free_port() -> int:
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
        self.output: list[str] = []
        """The child's last lines of output."""

    def wait_listening(self) -> float:
        """Seconds from start to listening. Reads the child's output until then, and from then
        on in a thread, so a chatty gateway never blocks on a full pipe."""
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if "listening on" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return time.perf_counter() - self.started
            self.output.append(line)
        raise RuntimeError("gateway exited before listening:\n" + "".join(self.output[-20:]))

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            del self.output[:-50]

    def cpu(self) -> float:
        user, system = self.cpu_split()
        return user + system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the gateway so far."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks

    def threads_cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) so far of each of the gateway's threads, by thread id;
        the main thread's id is the process id."""
        ticks = os.sysconf("SC_CLK_TCK")
        out: dict[int, float] = {}
        for task in Path(f"/proc/{self.popen.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue  # the thread ended meanwhile
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
        return out

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


def post_request(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def get_request(path: str) -> bytes:
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
    return post_request("/v1/messages", msgspec.json.encode({"messages": msgs}))


async def _final_count(conn: Conn) -> int:
    _, body = await conn.call(get_request("/metrics"))
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


async def _store_figures(port: int) -> dict[str, float]:
    """Commits so far and operations per commit, from the gateway's own metrics."""
    conn = await Conn.open(port)
    _, body = await conn.call(get_request("/metrics"))
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in ("smsgw_store_commit_seconds_count", "smsgw_store_batch_operations_sum"):
            values[name] = float(value)
        elif name.startswith("smsgw_receipts_total{"):
            result = name.split('result="', 1)[1].split('"', 1)[0]
            values[f"receipts_{result}"] = values.get(f"receipts_{result}", 0.0) + float(value)
    values["commits"] = values.pop("smsgw_store_commit_seconds_count", 0.0)
    values["operations"] = values.pop("smsgw_store_batch_operations_sum", 0.0)
    return values


async def _wait_final(port: int, expected: int, timeout: float) -> float:
    conn = await Conn.open(port)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        final = await _final_count(conn)
        if final >= expected:
            return time.perf_counter()
        # A scrape costs the gateway a few ms of CPU: rarely while far from done, then often
        # for a precise finishing time.
        await trio.sleep(0.02 if final > 0.97 * expected else 0.25)
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
            wire = post_request("/v1/messages", body)
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
        port = free_port()
        peer = Peer(args.route, Path(d), args.modems, args.send_delay)
        proc: Proc | None = None
        try:
            proc = Proc(write_config(Path(d), port, 1e6, args.synchronous, args.route, peer.info))
            ready = proc.wait_listening()
            result = trio.run(_watched, args, port, proc, ready)
        finally:
            if proc is not None:
                proc.stop()
            peer.stop()
    return result


async def _drive(
    args: argparse.Namespace, port: int, proc: Proc, ready: float
) -> dict[str, object]:
    await wait_route_up(port, timeout=60)
    sys0 = proc.cpu_split()[1]
    cpu0 = proc.cpu()
    store0 = await _store_figures(port)
    b = await _batch_phase(port, args.messages, args.connections, args.batch)
    t0 = b.pop("_t0")
    done = await _wait_final(port, int(b["messages"]), timeout=600)
    cpu1 = proc.cpu()
    sys1 = proc.cpu_split()[1]
    store1 = await _store_figures(port)
    commits = store1["commits"] - store0["commits"]
    ops = store1["operations"] - store0["operations"]
    e2e = int(b["messages"]) / (done - t0)
    result: dict[str, object] = {
        "route": args.route,
        "ready_seconds": round(ready, 3),
        "batch": b,
        "end_to_end_msg_per_s": round(e2e, 2 if args.route == "modem" else None),
        "server_cpu_us_per_msg": round((cpu1 - cpu0) / int(b["messages"]) * 1e6, 1),
        "server_kernel_share": round((sys1 - sys0) / (cpu1 - cpu0), 2) if cpu1 > cpu0 else 0,
        "store_commits_per_msg": round(commits / int(b["messages"]), 3),
        "store_operations_per_commit": round(ops / commits, 1) if commits else 0,
        "receipts": {
            k.removeprefix("receipts_"): int(v - store0.get(k, 0.0))
            for k, v in store1.items()
            if k.startswith("receipts_")
        },
    }
    if args.route == "modem":
        result["modems"] = args.modems
        result["ideal_msg_per_s"] = round(args.modems / args.send_delay, 2)
    if args.single:
        single = await _single_phase(port, args.single, args.single_connections)
        result["single"] = single
        result["server_cpu_us_per_single_request"] = round(
            (proc.cpu() - cpu1) / int(single["requests"]) * 1e6, 1
        )
    result["peak_rss_mb"] = round(proc.peak_rss_mb(), 1)
    return result


async def _watched(
    args: argparse.Namespace, port: int, proc: Proc, ready: float
) -> dict[str, object]:
    """The run, with the ops console polled throughout if ``--watch-console`` asks."""
    if not args.watch_console:
        return await _drive(args, port, proc, ready)
    watcher = ConsoleWatcher(port, args.watch_console)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.run)
        result = await _drive(args, port, proc, ready)
        nursery.cancel_scope.cancel()
    result["console"] = watcher.figures()
    return result


async def wait_route_up(port: int, timeout: float) -> None:
    """Wait until the route is up (binds bound, modems registered): /readyz answers 200."""
    conn = await Conn.open(port)
    with trio.fail_after(timeout):
        while True:
            if (await conn.call(get_request("/readyz")))[0] == 200:
                return
            await trio.sleep(0.1)  # another process: nothing here to wait on


def _million(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        port = free_port()
        # A route slow enough that nothing meaningful leaves: the queue stays full.
        cfg = write_config(Path(d), port, 0.001, args.synchronous, "sim")
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
    """``smsgw bench [options]``: run the chosen mode, print its JSON; returns the exit status."""
    from smsgw.gateway import bench_realpath, bench_smpp_server  # built on this module

    p = argparse.ArgumentParser(
        prog="smsgw bench",
        description="Measure throughput, latency, CPU and memory of a gateway on this box"
        " (prints JSON).",
        epilog="Modes: the default (batches, then single requests; --route sim|smpp|modem),"
        " --real-path (one POST per message with status webhooks over SMPP: what stores do),"
        " --million (a queue of a million messages). Run one at a time: figures from a busy box"
        " are noise.",
    )
    p.add_argument("--messages", type=int, default=100_000, help="messages in the batch phase")
    p.add_argument("--batch", type=int, default=100, help="messages per batch request")
    p.add_argument(
        "--connections", type=int, default=8, help="connections posting batches (a shop's workers)"
    )
    p.add_argument("--single", type=int, default=10_000, help="single-message requests")
    p.add_argument(
        "--single-connections",
        type=int,
        default=16,
        help="connections for single requests (a shop's web workers each hold one)",
    )
    p.add_argument("--synchronous", choices=["full", "normal"], default="full")
    p.add_argument(
        "--route",
        choices=["sim", "smpp", "modem"],
        default="sim",
        help="sim: the built-in simulator; smpp: 4 binds (window 100) to smsgw smsc-sim with"
        " instant receipts; modem: emulated modems on ptys",
    )
    p.add_argument("--modems", type=int, default=4, help="emulated modems (--route modem)")
    p.add_argument("--send-delay", type=float, default=2.0, help="seconds per part per modem")
    p.add_argument("--million", action="store_true", help="measure a queue of --queued messages")
    p.add_argument("--queued", type=int, default=1_000_000)
    p.add_argument(
        "--watch-console",
        type=float,
        default=0.0,
        metavar="S",
        help="fetch the ops console's page every S seconds during the run (what watching costs)",
    )
    bench_realpath.add_arguments(p)
    bench_smpp_server.add_arguments(p)
    args = p.parse_args(argv)
    if args.smpp_server:
        result = bench_smpp_server.smpp_server(args)
        result["synchronous"] = args.synchronous
        print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
        return 0
    if args.real_path:
        result = bench_realpath.real_path(args)
        result["synchronous"] = args.synchronous
        print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
        return 0
    if args.route == "modem" and "--messages" not in (argv or []):
        args.messages, args.batch, args.single = 8 * args.modems, 4 * args.modems, 0
        args.connections = 1
    result = _million(args) if args.million else _throughput(args)
    result["synchronous"] = args.synchronous
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    return 0
