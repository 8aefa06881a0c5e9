"""One HTTP/1.1 client connection: llhttp (httptools) frames the answer, over a trio transport.

The parser frames the answer by its headers -- Content-Length, chunked, or close-delimited
(no length: the body ends with the connection) -- so a receiver that answers and keeps the
connection open costs one round trip. A connection is reused only when the answer ended
cleanly, is HTTP/1.1 without ``Connection: close``, and nothing followed it. The head of an
answer is capped (16 KiB, as h11 caps it); :meth:`Connection.exchange` caps the body.

A plain TCP connection is driven on its socket directly (:class:`PlainSocket`): the request leaves
in one ``send`` without a trip through the scheduler, and the answer is read once the socket
is readable, so a delivery costs one wake-up. TLS goes through ``trio.SSLStream``.
"""

from __future__ import annotations

import os
import select
import socket
from typing import NamedTuple

import httptools
import trio

from smsgw.gateway.httpclient.errors import HttpClientError
from smsgw.gateway.httpclient.url import IPAddress

__all__ = ["MAX_HEAD", "Connection", "PlainSocket", "Response", "Tls", "Transport", "open_socket"]

_RECV = 65536
MAX_HEAD = 16384
"""Bytes of an answer's status line and headers (more is a protocol error)."""


class Response(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    """Names in lower case, in the order received."""
    body: bytes


class PlainSocket:
    """A connected non-blocking TCP socket as a byte stream (plain HTTP).

    Errors are raised as trio raises them from a SocketStream (BrokenResourceError caused by
    the OSError), so they are translated the same way for both kinds of connection.
    """

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def send_all(self, data: bytes) -> None:
        sock = self.sock
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as e:
                raise trio.BrokenResourceError(f"socket connection broken: {e}") from e
            view = view[sent:]

    async def receive_some(self, max_bytes: int) -> bytes:
        sock = self.sock
        while True:
            # Called after a request was sent, when the answer is rarely there yet: wait first.
            await trio.lowlevel.wait_readable(sock)
            try:
                return sock.recv(max_bytes)
            except BlockingIOError:
                continue
            except OSError as e:
                raise trio.BrokenResourceError(f"socket connection broken: {e}") from e

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        if self.sock.fileno() != -1:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


class Tls:
    """``trio.SSLStream`` over a TCP stream."""

    __slots__ = ("stream",)

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream

    async def send_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive_some(self, max_bytes: int) -> bytes:
        return bytes(await self.stream.receive_some(max_bytes))

    def fileno(self) -> int:
        return self.stream.transport_stream.socket.fileno()

    def close(self) -> None:
        # Closing the socket forcefully never blocks (no TLS close_notify is owed to a peer
        # whose connection we drop).
        self.stream.transport_stream.socket.close()

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


Transport = PlainSocket | Tls


async def open_socket(address: IPAddress, port: int) -> socket.socket:
    """A TCP connection to ``address`` (non-blocking, TCP_NODELAY). Raises OSError; on
    cancellation the half-open socket is closed."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((str(address), port))
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error)) from None
        else:
            await trio.lowlevel.checkpoint()
    except BaseException:
        trio.lowlevel.notify_closing(sock)
        sock.close()
        raise
    return sock


class _Reader:
    """Parser callbacks for one answer (llhttp calls them from ``feed_data``)."""

    __slots__ = (
        "body", "complete", "extra", "framed", "head", "headers", "headers_done", "keep_alive",
        "max_body", "parser", "size", "status", "switching", "too_large",
    )  # fmt: skip

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.head = 0
        self.framed = False
        """The answer said how it ends (Content-Length or Transfer-Encoding)."""
        self.headers_done = False
        self.complete = False
        self.extra = False
        """Bytes followed the answer: the connection cannot carry another request."""
        self.too_large = False
        self.switching = False
        self.keep_alive = False
        """HTTP/1.1 and no ``Connection: close`` (read as the answer ends: llhttp resets it
        for the next message)."""

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True

    def on_status(self, status: bytes) -> None:
        self.head += len(status) + 15

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.head += len(name) + len(value) + 4
        name = name.lower()
        if name == b"content-length" or name == b"transfer-encoding":
            self.framed = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.status == 101:
            self.switching = True

    def on_body(self, data: bytes) -> None:
        if self.complete:
            return
        self.size += len(data)
        if self.size > self.max_body:
            self.too_large = True
        elif not self.too_large:
            self.body.append(data)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if 100 <= self.status < 200:
            # Informational (100 Continue, 103 Early Hints): the real answer follows.
            self.status = 0
            self.headers = []
            self.framed = False
            self.headers_done = False
            return
        self.complete = True
        parser = self.parser
        self.keep_alive = parser.should_keep_alive() and parser.get_http_version() == "1.1"


_NOT_HTTP = "the answer is not valid HTTP: "


class Connection:
    """A connected transport; used by one request at a time."""

    __slots__ = ("idle_since", "origin", "peer", "received", "transport")

    def __init__(self, transport: Transport, origin: str, peer: IPAddress) -> None:
        self.transport = transport
        self.origin = origin
        self.peer = peer
        """The address connected to (the one the target policy checked)."""
        self.idle_since = 0.0
        self.received = False
        """Whether any byte of an answer arrived during the current exchange."""

    async def exchange(self, wire: bytes, max_body: int, head_only: bool) -> tuple[Response, bool]:
        """Send one request (``wire``, the whole of it) and read its whole answer; returns it
        and whether the connection may carry another request. ``head_only``: the request was
        HEAD, so the answer has no body whatever its headers say.

        Raises trio, OS and httptools errors raw (the caller translates them once) and
        :class:`HttpClientError` for an answer over the caps or cut short. On cancellation
        the connection is left mid-message: the caller must close it.
        """
        transport = self.transport
        self.received = False
        await transport.send_all(wire)
        reader = _Reader(max_body)
        feed = reader.parser.feed_data
        fed = 0
        while True:
            data = await transport.receive_some(_RECV)
            if not data:
                return self._at_eof(reader)
            self.received = True
            try:
                feed(data)
            except httptools.HttpParserUpgrade:
                reader.switching = True
            except httptools.HttpParserError:
                if not reader.complete:
                    raise
                reader.extra = True  # garbage after a whole answer: that answer stands
            if reader.switching:
                raise HttpClientError(
                    _NOT_HTTP + "a protocol switch nobody asked for", kind="protocol"
                )
            if reader.too_large:
                raise HttpClientError(
                    f"the answer's body is larger than {max_body} bytes", kind="too_large"
                )
            if reader.head > MAX_HEAD:
                raise HttpClientError(
                    _NOT_HTTP + f"its head is over {MAX_HEAD} bytes", kind="protocol"
                )
            if not reader.headers_done:
                fed += len(data)
                if fed > MAX_HEAD:
                    raise HttpClientError(
                        _NOT_HTTP + f"its head is over {MAX_HEAD} bytes", kind="protocol"
                    )
                continue
            if head_only:
                return self._response(reader), False
            if reader.complete:
                return self._response(reader), reader.keep_alive and not reader.extra

    def _at_eof(self, reader: _Reader) -> tuple[Response, bool]:
        if not self.received:
            raise HttpClientError("the receiver closed the connection before answering")
        if reader.headers_done and not reader.framed and reader.status >= 200:
            return self._response(reader), False  # close-delimited: the end is the EOF
        raise HttpClientError(
            _NOT_HTTP + "the receiver closed the connection mid-answer", kind="protocol"
        )

    @staticmethod
    def _response(reader: _Reader) -> Response:
        reader.parser = None  # type: ignore[assignment]  # no reference cycle left behind
        return Response(reader.status, reader.headers, b"".join(reader.body))

    def looks_closed(self) -> bool:
        """True when an idle connection has something to read: the peer closed it (EOF) or
        sent bytes nobody asked for. Either way it must not carry a request."""
        try:
            readable, _, _ = select.select([self.transport.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        """Close at once, without a checkpoint (never waits for the peer)."""
        self.transport.close()

    async def aclose(self) -> None:
        """Close at once (never waits for the peer)."""
        await self.transport.aclose()
