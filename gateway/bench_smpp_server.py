"""``smsgw bench --smpp-server``: SMPP clients bind to a gateway in its own process and
submit as fast as their windows allow; prints submit_sm/s accepted and the submit_sm_resp
latency (p50/p99), end to end to the built-in simulator route (instant receipts, which come
back to the clients as deliver_sm and are answered).

The clients are the project's own ESME session on trio sockets, in this process; the
gateway's CPU is its own process's.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import trio

from smsgw.drivers.smpp.events import Bound, DeliverSmReceived, SubmitResponse
from smsgw.drivers.smpp.pdu import SubmitSm
from smsgw.drivers.smpp.session import Session
from smsgw.gateway.bench_procs import Proc, free_port, write_config

RECEIPT_WAIT = 30.0
"""Seconds the bench waits, after the last submit_sm_resp, for receipts still on their way."""

__all__ = ["add_arguments", "smpp_server"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``--smpp-server``."""
    g = p.add_argument_group(
        "SMPP server (--smpp-server)",
        "SMPP clients bind to smsgw and submit within a window, to the simulator route",
    )
    g.add_argument("--smpp-server", action="store_true", help="measure the SMPP server")
    g.add_argument("--submits", type=int, default=20_000, help="submit_sm in all")
    g.add_argument("--smpp-binds", type=int, default=1, help="client binds (one account)")
    g.add_argument("--smpp-window", type=int, default=50, help="outstanding submit_sm per bind")


def _server_toml(port: int, window: int, binds: int) -> str:
    return f"""
[smpp_server]
listen = "127.0.0.1:{port}"

[[smpp_server.accounts]]
system_id = "bench"
password = "bench"
key = "bench"
rate = 1000000
burst = 1000000
max_binds = {binds}
window = {window}
"""


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _connect(port: int) -> trio.SocketStream:
    with trio.fail_after(30):
        while True:
            try:
                return await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)  # the listener starts just after the HTTP one


class _Stats:
    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0
        self.receipts = 0
        self.latencies: list[float] = []
        self.answered_at = 0.0
        """When the last submit_sm_resp came (the rate is over the time until then)."""


async def _client(port: int, n: int, window: int, stats: _Stats) -> None:
    stream = await _connect(port)
    now = trio.current_time
    s = Session("trx", window=window, response_timeout=30, enquire_link=60, now=now())
    s.bind(system_id="bench", password="bench", now=now())
    await stream.send_all(s.data_to_send())
    sent = answered = accepted = receipts = 0
    bound = False
    async with stream:
        # Until every submit is answered, then (up to RECEIPT_WAIT seconds) until every
        # accepted one's receipt came.
        deadline = math.inf
        while answered < n or (receipts < accepted and now() < deadline):
            if answered == n and deadline == math.inf:
                deadline = now() + RECEIPT_WAIT
            if bound:
                while sent < n and s.window_free > 0:
                    pdu = SubmitSm(
                        source_addr="Bench", dest_addr_ton=1, dest_addr_npi=1,
                        destination_addr=f"49170{sent % 10_000_000:07d}",
                        short_message=b"bench %d" % sent, registered_delivery=1,
                    )  # fmt: skip
                    s.submit(pdu, now())
                    sent += 1
            if s.has_data_to_send:
                await stream.send_all(s.data_to_send())
            data: bytes | None = None
            with trio.move_on_at(deadline):
                data = await stream.receive_some(65536)
            if data is None:
                break
            if not data:
                raise RuntimeError("the gateway closed the SMPP connection")
            t = now()
            for e in s.receive_data(data, t):
                if isinstance(e, Bound):
                    bound = True
                elif isinstance(e, SubmitResponse):
                    answered += 1
                    stats.answered_at = max(stats.answered_at, t)
                    stats.latencies.append(t - e.sent_at)
                    if e.status == 0:
                        stats.accepted += 1
                        accepted += 1
                    else:
                        stats.refused += 1
                elif isinstance(e, DeliverSmReceived):
                    stats.receipts += 1
                    receipts += 1
                    s.answer(e.pdu.sequence)
        s.unbind(now())
        await stream.send_all(s.data_to_send())


async def _run(port: int, args: argparse.Namespace) -> dict[str, object]:
    stats = _Stats()
    per = max(1, args.submits // args.smpp_binds)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(args.smpp_binds):
            nursery.start_soon(_client, port, per, args.smpp_window, stats)
    seconds = stats.answered_at - start
    receipts_seconds = trio.current_time() - start
    return {
        "submits": per * args.smpp_binds,
        "accepted": stats.accepted,
        "refused": stats.refused,
        "seconds": round(seconds, 3),
        "submit_sm_per_s": round(stats.accepted / seconds, 1) if seconds else None,
        "resp_p50_ms": round(_percentile(stats.latencies, 0.50) * 1000, 2),
        "resp_p99_ms": round(_percentile(stats.latencies, 0.99) * 1000, 2),
        "receipts_received": stats.receipts,
        "receipts_seconds": round(receipts_seconds, 3),
    }


def smpp_server(args: argparse.Namespace) -> dict[str, object]:
    """Start a gateway with an SMPP server, run the clients, stop it; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as d:
        tmp = Path(d)
        smpp_port = free_port()
        cfg = write_config(
            tmp, free_port(), 1e6, args.synchronous, "sim",
            extra=_server_toml(smpp_port, args.smpp_window, args.smpp_binds),
        )  # fmt: skip
        gw = Proc(cfg)
        try:
            gw.wait_listening()
            cpu0, t0 = gw.cpu(), time.monotonic()
            result = trio.run(_run, smpp_port, args)
            cpu = gw.cpu() - cpu0
            wall = time.monotonic() - t0
        finally:
            gw.stop()
    result["mode"] = "smpp-server"
    result["window"] = args.smpp_window
    result["binds"] = args.smpp_binds
    accepted = result["accepted"]
    assert isinstance(accepted, int)
    result["gateway_cpu_per_submit_ms"] = round(cpu / max(1, accepted) * 1000, 3)
    result["gateway_cpu_share"] = round(cpu / wall, 2) if wall else None
    return result
