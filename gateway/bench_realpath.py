"""``smsgw bench --real-path``: the path online stores use, measured end to end.

One ``POST /v1/messages`` per message over keep-alive connections with a fixed number of
requests in flight (50), each with a ``callback_url`` pointing at a local webhook receiver
(:mod:`smsgw.gateway.bench_receiver`, its own process; it answers 200 with Content-Length and
keeps connections open), SMPP to ``smsgw smsc-sim`` (its own process) with instant receipts.
The gateway, the simulator and the receiver are separate processes, and CPU is read from /proc.

Then a second gateway measures the single-request accept path alone: the same requests with no
callback, on a route that lets nothing leave.

Prints (through :func:`smsgw.gateway.bench.main`) one JSON object; see :func:`real_path`.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import trio

from smsgw.config.schema import WebhookConfig
from smsgw.gateway.bench_procs import (
    Conn,
    Peer,
    Proc,
    child,
    free_port,
    get_request,
    post_request,
    wait_for_line,
    wait_route_up,
    write_config,
)
from smsgw.gateway.bench_receiver import ReceiverStats

__all__ = ["add_arguments", "real_path"]

_stats_decoder = msgspec.json.Decoder(ReceiverStats)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``--real-path`` (grouped, so ``--help`` shows them together)."""
    g = p.add_argument_group(
        "real path (--real-path)",
        "one POST per message, 50 in flight, a status webhook per change to a local receiver"
        " that keeps connections open, SMPP to smsgw smsc-sim with instant receipts",
    )
    g.add_argument(
        "--real-path",
        action="store_true",
        help="run the store's path end to end, then the single-request accept path alone",
    )
    g.add_argument("--requests", type=int, default=20_000, help="messages, one request each")
    g.add_argument("--in-flight", type=int, default=50, help="requests in flight (connections)")
    g.add_argument("--binds", type=int, default=1, help="SMPP binds to the simulator")
    g.add_argument(
        "--webhook-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="after the last accept, how long to wait for the last final webhook",
    )
    g.add_argument(
        "--receiver-closes",
        action="store_true",
        help="the receiver honours 'Connection: close' (default: keeps every connection open)",
    )
    g.add_argument(
        "--accept-requests",
        type=int,
        default=20_000,
        help="requests in the accept-only phase (0: skip it)",
    )
    g.add_argument("--skip-real", action="store_true", help="run only the accept-only phase")
    g.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="record each phase with py-spy (raw, 200 Hz) into PREFIX-real.txt and"
        " PREFIX-accept.txt (needs py-spy and ptrace rights)",
    )


def _webhooks_toml() -> str:
    """The bench's [webhooks] table. The receiver is on loopback: where the gateway refuses
    private webhook targets by default (``allow_private``), the bench allows them; on a gateway
    without that setting there is nothing to allow."""
    if "allow_private" in WebhookConfig.__struct_fields__:
        return "[webhooks]\nallow_private = true\n"
    return ""


class _Receiver:
    """The webhook receiver's process."""

    def __init__(self, closes: bool) -> None:
        cmd = ["-m", "smsgw.gateway.bench_receiver", "--port", "0"]
        self.popen = child([*cmd, *(["--close-when-asked"] if closes else [])])
        line = wait_for_line(self.popen, "listening on")
        self.port = int(line.rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/sms"

    async def stats(self, conn: Conn) -> ReceiverStats:
        status, body = await conn.call(
            b"GET /stats HTTP/1.1\r\nHost: r\r\nContent-Length: 0\r\n\r\n"
        )
        if status != 200:
            raise RuntimeError(f"receiver stats answered {status}")
        return _stats_decoder.decode(body)

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(30)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Spy:
    """py-spy recording a process while a phase runs (or nothing, without a prefix)."""

    def __init__(self, prefix: str | None, phase: str, pid: int) -> None:
        self.popen: subprocess.Popen[bytes] | None = None
        self.path = ""
        if prefix is None:
            return
        exe = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
        if exe is None:
            raise RuntimeError("--py-spy: py-spy is not installed (pip install py-spy)")
        self.path = f"{prefix}-{phase}.txt"
        argv = [
            exe,
            "record",
            "-p",
            str(pid),
            "-f",
            "raw",
            "-r",
            "200",
            "--nonblocking",
            "--threads",
        ]
        self.popen = subprocess.Popen(
            [*argv, "-o", self.path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> str:
        if self.popen is not None:
            self.popen.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            self.popen.wait(60)
        return self.path


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] * 1000, 2)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": at(1.0)}


async def _post_each(
    port: int, total: int, in_flight: int, body: Callable[[int], bytes]
) -> tuple[list[str], list[float], float, float]:
    """``total`` single-message POSTs, ``in_flight`` at a time over as many keep-alive
    connections: (accepted ids, latencies, start, end) in ``time.monotonic()``."""
    ids: list[str] = []
    latencies: list[float] = []
    counter = iter(range(total))
    clock = time.monotonic

    async def worker() -> None:
        conn = await Conn.open(port)
        for i in counter:
            wire = post_request("/v1/messages", body(i))
            t = clock()
            status, answer = await conn.call(wire)
            latencies.append(clock() - t)
            if status != 202:
                raise RuntimeError(f"send answered {status}: {answer.decode()[:300]}")
            ids.append(msgspec.json.decode(answer)["id"])

    t0 = clock()
    async with trio.open_nursery() as n:
        for _ in range(in_flight):
            n.start_soon(worker)
    return ids, latencies, t0, clock()


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _store_counts(port: int) -> tuple[float, float]:
    """(commits, operations) of the gateway's store writer so far (on a fresh connection: the
    gateway closes one left idle through a long run)."""
    conn = await Conn.open(port)
    try:
        _, body = await conn.call(get_request("/metrics"))
    finally:
        await conn.stream.aclose()
    text = body.decode()
    return (
        _metric(text, "smsgw_store_commit_seconds_count"),
        _metric(text, "smsgw_store_batch_operations_sum"),
    )


class _Sampler:
    """smsgw_webhook_queue_depth read from /metrics every ``every`` seconds."""

    def __init__(self, port: int, every: float = 0.5) -> None:
        self.port = port
        self.every = every
        self.samples: list[float] = []

    async def sample(self, conn: Conn) -> float:
        _, body = await conn.call(get_request("/metrics"))
        value = _metric(body.decode(), "smsgw_webhook_queue_depth")
        self.samples.append(value)
        return value

    async def run(self) -> None:
        conn = await Conn.open(self.port)
        while True:
            await self.sample(conn)
            await trio.sleep(self.every)


def _thread_split(before: dict[int, float], after: dict[int, float], pid: int) -> dict[str, float]:
    """CPU seconds by thread over a phase: the main (trio) thread, the busiest other thread (the
    store's writer: Python does not name OS threads, so it is told by its load), the rest."""
    delta = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    main = delta.pop(pid, 0.0)
    others = sorted(delta.values(), reverse=True)
    return {
        "main": main,
        "writer": others[0] if others else 0.0,
        "other": sum(others[1:]),
    }


def _per(value: float, n: int) -> float:
    return round(value / n * 1e6, 1) if n else 0.0


async def _real_phase(
    args: argparse.Namespace, port: int, gw: Proc, receiver: _Receiver, peer_pid: int
) -> dict[str, object]:
    await wait_route_up(port, timeout=60)
    url = receiver.url

    def body(i: int) -> bytes:
        return msgspec.json.encode(
            {
                "to": f"+49151{i % 100_000_000:08d}",
                "text": f"Your order #{100000 + i} has shipped",
                "callback_url": url,
            }
        )

    rconn = await Conn.open(receiver.port)
    sampler = _Sampler(port)
    store0 = await _store_counts(port)
    spy = _Spy(args.py_spy, "real", gw.popen.pid)
    threads0 = gw.threads_cpu()
    cpu0, peer0, recv0 = gw.cpu(), _cpu(peer_pid), _cpu(receiver.popen.pid)
    async with trio.open_nursery() as n:
        n.start_soon(sampler.run)
        ids, latencies, t0, t1 = await _post_each(port, args.requests, args.in_flight, body)
        cpu_accept = gw.cpu() - cpu0
        deadline = t1 + args.webhook_wait
        stats = await receiver.stats(rconn)
        while stats.finals < len(ids) and time.monotonic() < deadline:
            await trio.sleep(0.05 if stats.finals > 0.98 * len(ids) else 0.25)
            stats = await receiver.stats(rconn)
        done = time.monotonic()
        cpu_all = gw.cpu() - cpu0
        threads = _thread_split(threads0, gw.threads_cpu(), gw.popen.pid)
        peer_cpu, recv_cpu = _cpu(peer_pid) - peer0, _cpu(receiver.popen.pid) - recv0
        store1 = await _store_counts(port)
        n.cancel_scope.cancel()
    profile = spy.stop()
    # The gateway refreshes the gauge every 2 s: read it once more after that.
    await trio.sleep(2.5)
    final_depth = await sampler.sample(await Conn.open(port))
    sent = len(ids)
    e2e_end = stats.last_final_at if stats.finals >= sent else done
    result: dict[str, object] = {
        "messages": sent,
        "in_flight": args.in_flight,
        "binds": args.binds,
        "receiver_keeps_connections_open": not args.receiver_closes,
        "accept_seconds": round(t1 - t0, 3),
        "accept_req_per_s": round(sent / (t1 - t0)),
        "accept_latency": _percentiles(latencies),
        "end_to_end_seconds": round(e2e_end - t0, 3),
        "end_to_end_msg_per_s": round(stats.finals / (e2e_end - t0), 1),
        "final_webhook_missing": sent - stats.finals,
        "webhook_wait_limit_seconds": args.webhook_wait,
        "gateway_cpu_us_per_msg": _per(cpu_all, sent),
        "gateway_cpu_us_per_msg_during_accept": _per(cpu_accept, sent),
        "gateway_cpu_us_per_msg_by_thread": {k: _per(v, sent) for k, v in threads.items()},
        "store_commits_per_msg": round((store1[0] - store0[0]) / sent, 3) if sent else 0.0,
        "store_operations_per_msg": round((store1[1] - store0[1]) / sent, 3) if sent else 0.0,
        "smsc_sim_cpu_us_per_msg": _per(peer_cpu, sent),
        "receiver_cpu_us_per_msg": _per(recv_cpu, sent),
        "webhooks_received_per_msg": round(stats.events / sent, 3) if sent else 0.0,
        "webhooks": {
            "received": stats.events,
            "by_status": dict(sorted(stats.by_status.items())),
            "repeated": stats.repeated,
            "out_of_order": stats.out_of_order,
            "receiver_connections": stats.connections,
        },
        "webhook_queue_depth": {
            "max_during_run": max(sampler.samples, default=0.0),
            "samples": len(sampler.samples),
            "at_end": final_depth,
        },
    }
    if profile:
        result["profile"] = profile
    return result


async def _accept_phase(args: argparse.Namespace, port: int, gw: Proc) -> dict[str, object]:
    """Single requests, no callbacks, nothing leaving: the accept path's own cost."""

    def body(i: int) -> bytes:
        return msgspec.json.encode(
            {"to": f"+49152{i % 100_000_000:08d}", "text": f"Your order #{i} has shipped"}
        )

    await _post_each(port, min(1000, args.accept_requests), args.in_flight, body)  # warm up
    spy = _Spy(args.py_spy, "accept", gw.popen.pid)
    threads0 = gw.threads_cpu()
    cpu0 = gw.cpu()
    ids, latencies, t0, t1 = await _post_each(port, args.accept_requests, args.in_flight, body)
    cpu = gw.cpu() - cpu0
    threads = _thread_split(threads0, gw.threads_cpu(), gw.popen.pid)
    profile = spy.stop()
    n = len(ids)
    result: dict[str, object] = {
        "requests": n,
        "in_flight": args.in_flight,
        "req_per_s": round(n / (t1 - t0)),
        "latency": _percentiles(latencies),
        "gateway_cpu_us_per_request": _per(cpu, n),
        "gateway_cpu_us_per_request_by_thread": {k: _per(v, n) for k, v in threads.items()},
    }
    if profile:
        result["profile"] = profile
    return result


def real_path(args: argparse.Namespace) -> dict[str, object]:
    """Run both phases, each on a fresh gateway; returns the figures (``real_path`` and
    ``accept_only``). Raises RuntimeError if a child fails to start or a request is refused."""
    result: dict[str, object] = {"mode": "real-path"}
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        tmp = Path(d)
        if not args.skip_real:
            peer = Peer("smpp", tmp, 0, 0.0)
            receiver: _Receiver | None = None
            gw: Proc | None = None
            try:
                receiver = _Receiver(args.receiver_closes)
                port = free_port()
                real = tmp / "real"
                real.mkdir()
                cfg = write_config(
                    real, port, 1e6, args.synchronous, "smpp", peer.info,
                    binds=args.binds, extra=_webhooks_toml(),
                )  # fmt: skip
                gw = Proc(cfg)
                gw.wait_listening()
                assert peer.popen is not None
                result["real_path"] = trio.run(
                    _real_phase, args, port, gw, receiver, peer.popen.pid
                )
            finally:
                if gw is not None:
                    gw.stop()
                if receiver is not None:
                    receiver.stop()
                peer.stop()
        if args.accept_requests:
            port = free_port()
            acc = tmp / "accept"
            acc.mkdir()
            # A simulator route slow enough that nothing meaningful leaves: accept alone.
            gw = Proc(write_config(acc, port, 0.001, args.synchronous, "sim"))
            try:
                gw.wait_listening()
                result["accept_only"] = trio.run(_accept_phase, args, port, gw)
            finally:
                gw.stop()
    return result
