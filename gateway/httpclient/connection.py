"""One HTTP/1.1 client connection: h11's state machine over a trio stream.

h11 frames the answer by its headers -- Content-Length, chunked or close-delimited -- so a
receiver that answers and keeps the connection open costs one round trip, and a connection is
reused only when h11 says both sides finished their message cleanly. Its incomplete-event
buffer caps a response head (16 KiB); :meth:`Connection.exchange` caps the body.
"""

from __future__ import annotations

import select
from typing import NamedTuple

import h11
import trio

from smsgw.gateway.httpclient.errors import HttpClientError
from smsgw.gateway.httpclient.url import IPAddress

__all__ = ["Connection", "Response"]

_RECV = 65536
_END = h11.EndOfMessage()


class Response(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class Connection:
    """A connected stream and its h11 state; used by one request at a time."""

    __slots__ = ("_h11", "idle_since", "origin", "peer", "received", "stream")

    def __init__(self, stream: trio.abc.Stream, origin: str, peer: IPAddress) -> None:
        self.stream = stream
        self.origin = origin
        self.peer = peer
        """The address connected to (the one the target policy checked)."""
        self._h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.received = False
        """Whether any byte of an answer arrived during the current exchange."""

    async def exchange(
        self, request: h11.Request, length: int, wire: bytes, max_body: int
    ) -> tuple[Response, bool]:
        """Send one request and read its whole answer; returns it and whether the connection
        may carry another request.

        ``wire`` is the whole request as encoded by the caller; ``request`` is what h11 is
        told of it (same method, target and framing, a body of ``length`` bytes), so its
        state machine frames the answer.

        Raises h11, trio and OS errors raw (the caller translates them once) and
        :class:`HttpClientError` for a body over ``max_body``. On cancellation the connection
        is left mid-message: the caller must close it.
        """
        h = self._h11
        self.received = False
        h.send(request)
        if length:
            h.send(h11.Data(data=wire[-length:]))
        h.send(_END)
        await self.stream.send_all(wire)
        eof = False
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = await self.stream.receive_some(_RECV)
                if data:
                    self.received = True
                else:
                    eof = True
                h.receive_data(bytes(data))
                continue
            if isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > max_body:
                    raise HttpClientError(
                        f"the answer's body is larger than {max_body} bytes", kind="too_large"
                    )
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpClientError("the receiver closed the connection before answering")
            # InformationalResponse (100 Continue, 103): the real answer follows.
        # A close-delimited body ends at EOF: h11 reports both sides done, but the peer is gone.
        reusable = h.our_state is h11.DONE and h.their_state is h11.DONE and not eof
        if reusable:
            h.start_next_cycle()
        return Response(status, headers, b"".join(chunks)), reusable

    def looks_closed(self) -> bool:
        """True when an idle connection has something to read: the peer closed it (EOF) or
        sent bytes nobody asked for. Either way it must not carry a request."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        if not isinstance(stream, trio.SocketStream):
            return False
        try:
            readable, _, _ = select.select([stream.socket.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    async def aclose(self) -> None:
        """Close at once (never waits for the peer)."""
        await trio.aclose_forcefully(self.stream)
