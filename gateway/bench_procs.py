"""The pieces ``smsgw bench`` and its modes are built of: the gateway's config, child
processes (the gateway, the SMSC simulator, the webhook receiver) with their CPU and RSS read
from /proc, and a raw keep-alive HTTP client for driving the API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import trio

from smsgw.gateway.bench_console import OPS_TOKEN

__all__ = [
    "CONSOLE_TOKEN",
    "TOKEN",
    "Conn",
    "Peer",
    "Proc",
    "child",
    "free_port",
    "get_request",
    "post_request",
    "route_toml",
    "wait_for_line",
    "wait_route_up",
    "write_config",
]

TOKEN = "bench-token-0123456789abcdef"
CONSOLE_TOKEN = OPS_TOKEN


def route_toml(route: str, route_rate: float, peer: dict[str, object], binds: int = 4) -> str:
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

{route_toml(route, route_rate, peer or {}, binds)}

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


async def wait_route_up(port: int, timeout: float) -> None:
    """Wait until the route is up (binds bound, modems registered): /readyz answers 200."""
    conn = await Conn.open(port)
    with trio.fail_after(timeout):
        while True:
            if (await conn.call(get_request("/readyz")))[0] == 200:
                return
            await trio.sleep(0.1)  # another process: nothing here to wait on
