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
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.bench_console import ConsoleWatcher
from smsgw.gateway.bench_procs import (
    Conn,
    Peer,
    Proc,
    free_port,
    get_request,
    post_request,
    wait_route_up,
    write_config,
)

__all__ = ["main"]


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
        "--scheduled-in",
        type=float,
        default=0.0,
        metavar="S",
        help="with --million: the messages are timers, due from S seconds ahead; the gateway"
        " is killed (SIGKILL) and restarted before the first is due, and the bench reports how"
        " late they fire",
    )
    p.add_argument(
        "--spread", type=float, default=60.0, help="seconds the due times are spread over"
    )
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
    if args.million and args.scheduled_in:
        from smsgw.gateway.bench_timers import scheduled_million

        result = scheduled_million(args)
    else:
        result = _million(args) if args.million else _throughput(args)
    result["synchronous"] = args.synchronous
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    return 0
