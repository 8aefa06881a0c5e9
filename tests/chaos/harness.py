"""What the chaos scenarios share (tests/chaos/run.py): a real gateway process, a load of
uniquely numbered messages, hostile webhook receivers, and the reading of the store after.

Every message a scenario posts has a unique text (``chaos 0000042 ...``), so what reached the
carrier (the SMSC proxy or the modem emulator records each text it accepted) can be compared
with what the API accepted and what the store says: lost = accepted and not in the store, or
final as delivered although the carrier never took it; duplicated = taken by the carrier more
than once (at-least-once: counted, not a failure).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.httpclient import HttpClientError, request

__all__ = ["FINAL", "TOKEN", "GatewayProcess", "HostileReceiver", "Load", "config", "settle"]

TOKEN = "chaos-token-0123456789abcdef"
FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "cancelled"}


def config(data: Path, routes: str, *, webhooks: bool = True) -> str:
    """A gateway config: store in ``data``, one key, ``routes`` and a catch-all rule to the
    first route named in it."""
    first = routes.split('name = "', 1)[1].split('"', 1)[0]
    hooks = "allow_private = true\ntimeout = 1\nretry_base = 0.2\nretry_max = 1\n"
    return f"""
[server]
listen = "127.0.0.1:0"

[store]
path = "{data / "smsgw.db"}"

[webhooks]
{hooks if webhooks else ""}

[[keys]]
name = "chaos"
token = "{TOKEN}"
rate = 1000000
webhook_secret = "whsec-0123456789"

{routes}

[[rules]]
route = ["{first}"]
"""


class GatewayProcess:
    """``smsgw serve`` as a child process; its output is kept in ``log`` (a file)."""

    def __init__(self, cfg: Path, log: Path) -> None:
        self.cfg = cfg
        self.log = log
        self.proc: trio.Process | None = None
        self.url = ""
        self.starts = 0
        self.kills = 0

    async def start(self) -> str:
        """Start it and return its URL once it listens (up to 60 s; RuntimeError otherwise)."""
        self.proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "smsgw", "serve", "-c", str(self.cfg), "--log-level", "warning"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        assert self.proc.stdout is not None
        buf = b""
        with trio.fail_after(60):
            while b"listening on " not in buf or b"\n" not in buf.split(b"listening on ")[1]:
                chunk = await self.proc.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"gateway did not start: {buf.decode(errors='replace')}")
                buf += chunk
        with self.log.open("ab") as f:
            f.write(buf)
        self.url = buf.split(b"listening on ")[1].split(b"\n")[0].decode().strip()
        return self.url

    async def drain(self) -> None:
        """Copy its output to the log until it exits (run in a nursery beside it)."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        with self.log.open("ab") as f:
            async for chunk in proc.stdout:
                f.write(chunk)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        self.kills += 1

    async def stop(self) -> int | None:
        """SIGTERM, then wait up to 60 s (then SIGKILL). Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(60):
                await self.proc.wait()
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode

    def tracebacks(self) -> int:
        return self.log.read_bytes().count(b"Traceback") if self.log.exists() else 0


class Load:
    """Clients posting batches of uniquely numbered messages to whatever URL is current."""

    def __init__(self, *, batch: int = 10, pause: float = 0.05, callback: str = "") -> None:
        self.url = ""
        self.batch = batch
        self.pause = pause
        self.callback = callback
        """A ``callback_url`` for every fifth message (a hostile receiver)."""
        self.accepted: dict[str, str] = {}
        """message id -> text."""
        self.unknown = 0
        """Requests whose answer never came (the gateway died under them): not accepted."""
        self.refused: Counter[str] = Counter()
        self.serial = 0
        self.running = True

    def _message(self) -> dict[str, str]:
        self.serial += 1
        msg = {"to": f"+4917{self.serial % 100000:05d}1234", "text": f"chaos {self.serial:07d}"}
        if self.callback and self.serial % 5 == 0:
            msg["callback_url"] = self.callback
        return msg

    async def post_once(self) -> None:
        batch = [self._message() for _ in range(self.batch)]
        try:
            status, body = await request(
                "POST",
                self.url + "/v1/messages",
                msgspec.json.encode({"messages": batch}),
                [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
                timeout=10,
            )
        except HttpClientError:
            self.unknown += 1
            await trio.sleep(0.2)  # the gateway is away (killed, restarting)
            return
        if status != 202:
            self.refused[str(status)] += 1
            await trio.sleep(0.2)
            return
        for msg, item in zip(batch, msgspec.json.decode(body)["messages"], strict=True):
            if "id" in item:
                self.accepted[item["id"]] = msg["text"]
            else:
                self.refused[item["error"]["code"]] += 1

    async def client(self) -> None:
        while self.running:
            if self.url:
                await self.post_once()
            await trio.sleep(self.pause)


class HostileReceiver:
    """A webhook receiver that answers each delivery worse than the one before: chunked
    garbage, a bad status line, a close mid-headers, a huge header, silence, bytes that are
    not HTTP. The gateway must stay up and deliver its messages all the same."""

    _ANSWERS = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\ngarbage\r\n",
        b"HTTP/1.1 2xx Fine\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"",  # silence until the gateway's timeout
        b"\xff\xfe\x00\x01\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb35\r\n\r\n",
    )

    def __init__(self) -> None:
        self.port = 0
        self.hits = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        answer = self._ANSWERS[self.hits % len(self._ANSWERS)]
        self.hits += 1
        try:
            with trio.move_on_after(5):
                await stream.receive_some(65536)
                if answer:
                    await stream.send_all(answer)
                else:
                    await trio.sleep(5)
        except trio.BrokenResourceError:
            pass
        finally:
            await stream.aclose()


def read_statuses(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT id, status FROM messages").fetchall())
    finally:
        conn.close()


async def settle(
    db: Path, accepted: dict[str, str], carrier: Counter[str], *, wait: float = 120
) -> dict[str, object]:
    """Wait (up to ``wait`` s) until every accepted message is final; compare the store with
    what the carrier took (``carrier``: text -> times accepted)."""
    deadline = time.monotonic() + wait
    while True:
        statuses = await trio.to_thread.run_sync(read_statuses, db)
        pending = [i for i in accepted if i in statuses and statuses[i] not in FINAL]
        if not pending or time.monotonic() > deadline:
            break
        await trio.sleep(0.5)
    missing = [i for i in accepted if i not in statuses]
    false_delivered = [
        i for i, t in accepted.items() if statuses.get(i) == "delivered" and not carrier[t]
    ]
    finals: Counter[str] = Counter(statuses[i] for i in accepted if statuses.get(i) in FINAL)
    texts = set(accepted.values())
    return {
        "accepted": len(accepted),
        "delivered": finals.pop("delivered", 0),
        "other_final": dict(finals),
        "pending": len(pending),
        "pending_by_status": dict(Counter(statuses[i] for i in pending)),
        "duplicated": sum(n - 1 for t, n in carrier.items() if n > 1 and t in texts),
        "lost": len(missing) + len(false_delivered),
        "lost_detail": {"not_in_store": missing[:5], "delivered_never_sent": false_delivered[:5]},
    }
