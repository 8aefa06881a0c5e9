"""Scripted webhook receivers on real loopback sockets, for the HTTP client and webhook tests.

A :class:`Receiver` reads HTTP/1.1 requests (Content-Length bodies: what our client sends) and
answers each with the bytes its ``answer`` function returns, byte for byte, so a test can make
it keep connections open, answer chunked, close after the answer, send garbage or stall.
Everything it got is recorded in :attr:`Receiver.requests`; tests wait on
:meth:`Receiver.wait_for`, never on a timer.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
import trio

__all__ = [
    "CLOSE",
    "STALL",
    "Received",
    "Receiver",
    "chunked",
    "close_delimited",
    "content_length",
    "start_receiver",
]

STALL = object()
"""Answer: never answer (hold the connection until the test ends or the client gives up)."""
CLOSE = object()
"""Answer: close the connection without a byte of answer."""

Answer = Callable[["Received"], Awaitable[object]]


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int
    """Which connection it came on (0, 1, ...): the same number means keep-alive worked."""
    index: int
    """Its position among the requests on that connection."""

    def json(self) -> dict[str, object]:
        value = msgspec.json.decode(self.body)
        assert isinstance(value, dict)
        return value

    def signatures(self) -> list[str]:
        header = self.headers.get("x-smsgw-signature", "")
        return [v[3:] for v in header.split(",") if v.startswith("v1=")]

    def signed_with(self, secret: str) -> bool:
        """A ``v1=`` value is HMAC-SHA256(secret, "<timestamp>.<body>") (what receivers check)."""
        ts = self.headers.get("x-smsgw-timestamp", "")
        mac = hmac.new(secret.encode(), ts.encode() + b"." + self.body, hashlib.sha256)
        return any(hmac.compare_digest(mac.hexdigest(), s) for s in self.signatures())


def content_length(status: int = 200, body: bytes = b"ok", extra: str = "") -> bytes:
    """An answer framed by Content-Length; the connection stays open."""
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(status: int = 200, chunks: tuple[bytes, ...] = (b"o", b"k")) -> bytes:
    out = f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for c in chunks:
        out += b"%x\r\n%s\r\n" % (len(c), c)
    return out + b"0\r\n\r\n"


def close_delimited(status: int = 200, body: bytes = b"bye") -> bytes:
    """An answer without length: its end is the connection's end (the receiver closes)."""
    return f"HTTP/1.1 {status} X\r\n\r\n".encode() + body


@dataclass
class Receiver:
    answer: Answer
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    closes_after_answer: bool = False
    _changed: trio.Event = field(default_factory=trio.Event)

    async def wait_for(self, n: int, timeout: float = 30.0) -> list[Received]:
        """Wait until ``n`` requests arrived; returns them all."""
        with trio.fail_after(timeout):
            while len(self.requests) < n:
                await self._changed.wait()
        return self.requests

    def bodies(self) -> list[dict[str, object]]:
        return [r.json() for r in self.requests]

    async def serve(self, stream: trio.SocketStream) -> None:
        number = self.connections
        self.connections += 1
        buf = b""
        index = 0
        async with stream:
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        buf += data
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    method, target, _version = lines[0].split(" ", 2)
                    headers: dict[str, str] = {}
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                    size = int(headers.get("content-length", "0"))
                    while len(buf) < size:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        buf += data
                    body, buf = buf[:size], buf[size:]
                    req = Received(method, target, headers, body, number, index)
                    index += 1
                    self.requests.append(req)
                    self._changed.set()
                    self._changed = trio.Event()
                    reply = await self.answer(req)
                    if reply is STALL:
                        await trio.sleep_forever()
                    if reply is CLOSE:
                        return
                    assert isinstance(reply, bytes)
                    await stream.send_all(reply)
                    if self.closes_after_answer:
                        return
            except trio.BrokenResourceError:
                return


async def start_receiver(
    nursery: trio.Nursery,
    answer: Answer | bytes | None = None,
    *,
    path: str = "/hook",
    closes_after_answer: bool = False,
) -> Receiver:
    """A receiver listening on 127.0.0.1 (a free port); ``answer`` is a function of the request
    or fixed bytes (default: 200 with Content-Length, keep-alive)."""
    answer_fn: Answer
    if answer is None or isinstance(answer, bytes):
        fixed = content_length() if answer is None else answer

        async def answer_fn(req: Received) -> object:
            return fixed

    else:
        answer_fn = answer
    r = Receiver(answer_fn, closes_after_answer=closes_after_answer)
    listeners = await nursery.start(functools.partial(trio.serve_tcp, r.serve, 0, host="127.0.0.1"))
    r.port = listeners[0].socket.getsockname()[1]
    r.url = f"http://127.0.0.1:{r.port}{path}"
    return r
