"""The webhook receiver of ``smsgw bench --real-path``: a store's status endpoint, in its own
process so the gateway's CPU figures stay the gateway's.

It answers every POST ``200`` with a ``Content-Length`` body and keeps the connection open, as
many small web frameworks and test sinks do, whatever the request's ``Connection`` header says
(``--close-when-asked`` honours ``Connection: close`` instead). It counts the status events it
gets per message id and notes when each message's final event arrived. ``GET /stats`` answers
those counts as JSON (:class:`ReceiverStats`); times are ``time.monotonic()``, which on Linux is
one clock for every process, so the bench can set them against its own.

Run: ``python -m smsgw.gateway.bench_receiver [--port P] [--close-when-asked]``; it prints
``bench-receiver: listening on 127.0.0.1:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import msgspec
import trio

from smsgw.words import FINAL

__all__ = ["FINAL_STATUSES", "Receiver", "ReceiverStats", "main", "serve_receiver"]

FINAL_STATUSES = FINAL
_RANK = {"queued": 0, "scheduled": 1, "deferred": 1, "sending": 2, "submitted": 3}
_FINAL_RANK = 4
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_MAX_HEAD = 16384


class _Event(msgspec.Struct):
    id: str = ""
    status: str = ""


class ReceiverStats(msgspec.Struct, kw_only=True):
    """What the receiver has seen so far."""

    requests: int = 0
    """POSTs answered (every one counts, even an unreadable body)."""
    events: int = 0
    """Status events with an id and a status."""
    messages: int = 0
    """Distinct message ids seen."""
    finals: int = 0
    """Messages whose final status event arrived."""
    first_final_at: float = 0.0
    last_final_at: float = 0.0
    repeated: int = 0
    """Events whose (id, status) had been received before (a redelivery)."""
    out_of_order: int = 0
    """Events of an earlier status than one already received for that message."""
    connections: int = 0
    """Connections opened to the receiver."""
    by_status: dict[str, int] = {}


class _Receiver:
    def __init__(self, close_when_asked: bool) -> None:
        self.close_when_asked = close_when_asked
        self.stats = ReceiverStats(by_status={})
        self._seen: dict[str, int] = {}
        """message id -> highest status rank received"""
        self._pairs: set[tuple[str, str]] = set()
        self._decoder = msgspec.json.Decoder(_Event)

    def record(self, body: bytes) -> None:
        s = self.stats
        s.requests += 1
        try:
            event = self._decoder.decode(body)
        except msgspec.DecodeError:
            return
        if not event.id or not event.status:
            return
        s.events += 1
        s.by_status[event.status] = s.by_status.get(event.status, 0) + 1
        pair = (event.id, event.status)
        if pair in self._pairs:
            s.repeated += 1
            return
        self._pairs.add(pair)
        final = event.status in FINAL_STATUSES
        rank = _FINAL_RANK if final else _RANK.get(event.status, 0)
        best = self._seen.get(event.id)
        if best is None:
            s.messages += 1
            best = -1
        if rank < best:
            s.out_of_order += 1
        else:
            self._seen[event.id] = rank
        if final:
            now = time.monotonic()
            s.finals += 1
            s.last_final_at = now
            if not s.first_final_at:
                s.first_final_at = now

    async def connection(self, stream: trio.SocketStream) -> None:
        self.stats.connections += 1
        buf = bytearray()
        try:
            async with stream:
                while True:
                    request = await self._read(stream, buf)
                    if request is None:
                        return
                    method, path, close, body = request
                    if method == "GET" and path == "/stats":
                        payload = msgspec.json.encode(self.stats)
                        head = (
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(payload)}\r\n\r\n"
                        )
                        await stream.send_all(head.encode() + payload)
                    else:
                        self.record(body)
                        await stream.send_all(_OK)
                    if close and self.close_when_asked:
                        return
        except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError):
            return

    @staticmethod
    async def _read(
        stream: trio.SocketStream, buf: bytearray
    ) -> tuple[str, str, bool, bytes] | None:
        """One request: (method, path, asked to close, body); None at EOF. Content-Length and
        chunked bodies; ValueError on anything else malformed."""
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > _MAX_HEAD:
                raise ValueError("header too large")
            chunk = await stream.receive_some(65536)
            if not chunk:
                return None
            buf += chunk
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        close = headers.get("connection") == "close"
        if headers.get("transfer-encoding") == "chunked":
            body = bytearray()
            while True:
                while (eol := buf.find(b"\r\n")) < 0:
                    buf += await _more(stream)
                size = int(bytes(buf[:eol]).split(b";")[0], 16)
                while len(buf) < eol + 2 + size + 2:
                    buf += await _more(stream)
                body += buf[eol + 2 : eol + 2 + size]
                del buf[: eol + 2 + size + 2]
                if size == 0:
                    return method, path, close, bytes(body)
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            buf += await _more(stream)
        body_bytes = bytes(buf[:length])
        del buf[:length]
        return method, path, close, body_bytes


async def _more(stream: trio.SocketStream) -> bytes:
    chunk = await stream.receive_some(65536)
    if not chunk:
        raise ValueError("connection closed inside a request")
    return chunk


class Receiver(_Receiver):
    """A running receiver: its ``port`` and its :attr:`stats` (live)."""

    port: int = 0


async def serve_receiver(
    port: int = 0,
    *,
    close_when_asked: bool = False,
    task_status: trio.TaskStatus[Receiver] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve on 127.0.0.1:``port`` (0: any free) until cancelled; ``nursery.start`` returns
    the :class:`Receiver`. Raises OSError if it cannot listen."""
    receiver = Receiver(close_when_asked)
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
    receiver.port = listeners[0].socket.getsockname()[1]
    task_status.started(receiver)  # already listening: early connections wait in the backlog
    await trio.serve_listeners(receiver.connection, listeners)


async def _main(port: int, close_when_asked: bool) -> None:
    async with trio.open_nursery() as nursery:
        r = await nursery.start(partial(serve_receiver, port, close_when_asked=close_when_asked))
        print(f"bench-receiver: listening on 127.0.0.1:{r.port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the receiver until interrupted (SIGTERM or Ctrl-C); returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m smsgw.gateway.bench_receiver")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    p.add_argument(
        "--close-when-asked",
        action="store_true",
        help="close the connection after answering a request that says Connection: close",
    )
    args = p.parse_args(argv)
    try:
        trio.run(_main, args.port, args.close_when_asked)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
