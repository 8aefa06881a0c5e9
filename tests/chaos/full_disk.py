"""Chaos: a full disk under load, then space given back — nothing accepted may be lost.

Run as root (it mounts a small tmpfs): ``python tests/chaos/full_disk.py [--size-mb 6]``.
Elsewhere it prints ``{"skipped": ...}`` and exits 0, so ``make chaos`` can call it anywhere.

What it does: mounts a tmpfs of ``--size-mb`` and starts ``smsgw serve`` with its store there
and the built-in simulator as the route; posts batches from several clients until the store
reports ``database or disk is full`` (sends get ``503 store_unavailable``, ``/readyz`` turns
not ready) and a little longer; gives space back with ``mount -o remount,size=…`` without
restarting anything; goes on posting; then waits until every accepted message is final and
reads the store. It prints one JSON object: accepted, delivered, other finals, pending, lost
(accepted but not in the store), duplicates risked, the 503s seen and how long the store was
unavailable. Exit 0 when lost and pending are 0 and the gateway never died.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import msgspec
import trio

from smsgw.gateway.httpclient import HttpClientError, request

TOKEN = "chaos-token-0123456789abcdef"
FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "cancelled"}


def config(data: Path) -> str:
    return f"""
[server]
listen = "127.0.0.1:0"

[store]
path = "{data / "smsgw.db"}"

[[keys]]
name = "chaos"
token = "{TOKEN}"
rate = 1000000

[[routes]]
name = "sim"
driver = "simulator"
rate = 3000
burst = 300
latency = 0.005
receipt_delay = 0.05

[[rules]]
route = ["sim"]
"""


class Load:
    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: set[str] = set()
        self.refused_503 = 0
        self.other_errors: dict[str, int] = {}
        self.not_ready_seen = False
        self.full_since: float | None = None
        self.up_again: float | None = None
        self.serial = 0
        self.progress = trio.Event()
        """Set (and renewed) whenever a batch is accepted."""

    async def post(self, n: int) -> None:
        self.serial += 1
        batch = [
            {
                "to": f"+49170{self.serial % 1000:03d}{i:04d}",
                "text": f"chaos {self.serial}-{i} " * 6,
            }
            for i in range(n)
        ]
        try:
            status, body = await request(
                "POST",
                self.url + "/v1/messages",
                msgspec.json.encode({"messages": batch}),
                [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
                timeout=30,
            )
        except HttpClientError as e:
            self.other_errors[type(e).__name__] = self.other_errors.get(type(e).__name__, 0) + 1
            return
        reply = msgspec.json.decode(body)
        if status == 202:
            for item in reply["messages"]:
                if "id" in item:
                    self.accepted.add(item["id"])
                else:
                    code = f"item {item['error']['code']}"
                    self.other_errors[code] = self.other_errors.get(code, 0) + 1
            if self.full_since is not None and self.up_again is None:
                self.up_again = time.monotonic()
            self.progress.set()
            self.progress = trio.Event()
        elif status == 503 and reply["error"]["code"] == "store_unavailable":
            self.refused_503 += 1
            if self.full_since is None:
                self.full_since = time.monotonic()
        else:
            code = f"{status} {reply.get('error', {}).get('code', '?')}"
            self.other_errors[code] = self.other_errors.get(code, 0) + 1

    async def readyz(self) -> None:
        try:
            status, _ = await request("GET", self.url + "/readyz", b"", [], timeout=10)
        except HttpClientError:
            return
        if status == 503:
            self.not_ready_seen = True


async def run(size_mb: int, workers: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="smsgw-chaos-"))
    data = work / "data"
    data.mkdir()
    await trio.run_process(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(data)])
    proc: trio.Process | None = None
    try:
        cfg = work / "smsgw.toml"
        cfg.write_text(config(data))
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "smsgw", "serve", "-c", str(cfg), "--log-level", "warning"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        buf = b""
        with trio.fail_after(120):  # a Python start on a loaded box
            while b"listening on " not in buf or b"\n" not in buf.split(b"listening on ")[1]:
                chunk = await proc.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"gateway did not start: {buf.decode()}")
                buf += chunk
        url = buf.split(b"listening on ")[1].split(b"\n")[0].decode().strip()
        log: list[bytes | bytearray] = []
        load = Load(url)
        phase = {"name": "filling"}

        async def drain_output() -> None:
            assert proc is not None and proc.stdout is not None
            async for chunk in proc.stdout:
                log.append(chunk)

        async def client() -> None:
            while phase["name"] != "done":
                await load.post(100)
                if load.refused_503:
                    await trio.sleep(0.05)  # a real client honours Retry-After, roughly

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain_output)
            for _ in range(workers):
                nursery.start_soon(client)
            with trio.fail_after(300):
                while load.refused_503 < 20:
                    await load.readyz()
                    await trio.sleep(0.1)
            await load.readyz()
            await trio.sleep(2)  # the outage goes on for a while, under load
            before = len(load.accepted)
            await trio.run_process(["mount", "-o", f"remount,size={size_mb * 16}m", str(data)])
            phase["name"] = "recovering"
            with trio.fail_after(120):
                while len(load.accepted) < before + 2000:
                    await load.progress.wait()
            phase["name"] = "done"
            outcome = await settle(data / "smsgw.db", load.accepted)
            alive = proc.returncode is None
            metrics = await scrape(url)
            proc.send_signal(signal.SIGTERM)
            with trio.fail_after(60):
                await proc.wait()
            nursery.cancel_scope.cancel()
        outage = (
            round(load.up_again - load.full_since, 2)
            if load.up_again is not None and load.full_since is not None
            else None
        )
        return {
            "accepted": len(load.accepted),
            **outcome,
            "refused_503": load.refused_503,
            "other_errors": load.other_errors,
            "readyz_not_ready_seen": load.not_ready_seen,
            "store_unavailable_seconds": outage,
            "duplicates_risked": metrics.get("smsgw_duplicates_risked_total", 0.0),
            "store_errors": {
                k: v for k, v in metrics.items() if k.startswith("smsgw_store_errors_total")
            },
            "task_failures": sum(
                v for k, v in metrics.items() if k.startswith("smsgw_task_failures_total")
            ),
            "gateway_alive_throughout": alive,
            "gateway_exit": proc.returncode,
            "disk_full_logged": b"database or disk is full" in b"".join(log),
        }
    finally:
        with trio.CancelScope(shield=True):
            if proc is not None:
                # However the run ends: no gateway left running, no pipe left open, and the
                # store's folder no longer in use when it is unmounted.
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
                if proc.stdout is not None:
                    await proc.stdout.aclose()
            await trio.run_process(["umount", str(data)], check=False)
        shutil.rmtree(work, ignore_errors=True)


async def settle(db: Path, accepted: set[str]) -> dict[str, object]:
    """Wait (up to two minutes) until every accepted message is final; read the store."""
    deadline = time.monotonic() + 120
    while True:
        statuses = await trio.to_thread.run_sync(read_statuses, db)
        pending = [i for i in accepted if statuses.get(i) not in FINAL]
        if not pending or time.monotonic() > deadline:
            break
        await trio.sleep(0.5)
    lost = [i for i in accepted if i not in statuses]
    finals: dict[str, int] = {}
    for i in accepted:
        s = statuses.get(i)
        if s in FINAL:
            finals[s] = finals.get(s, 0) + 1
    return {
        "delivered": finals.pop("delivered", 0),
        "other_final": finals,
        "pending": len(pending) - len(lost),
        "lost": len(lost),
    }


def read_statuses(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT id, status FROM messages").fetchall())
    finally:
        conn.close()


async def scrape(url: str) -> dict[str, float]:
    try:
        _, body = await request("GET", url + "/metrics", b"", [], timeout=10)
    except HttpClientError:
        return {}
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        if not line.startswith("smsgw_"):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("smsgw_duplicates_risked_total"):
            name = "smsgw_duplicates_risked_total"  # summed over routes
        out[name] = out.get(name, 0.0) + float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=6, help="tmpfs size before space is given back")
    p.add_argument("--workers", type=int, default=4, help="concurrent clients posting batches")
    args = p.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        print(json.dumps({"skipped": "needs root and mount(8) for a small tmpfs"}))
        return 0
    result = trio.run(run, args.size_mb, args.workers)
    print(json.dumps(result, indent=2, sort_keys=True))
    ok = (
        result["lost"] == 0
        and result["pending"] == 0
        and result["gateway_alive_throughout"]
        and cast(int, result["refused_503"]) > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
