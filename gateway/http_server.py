"""An HTTP/1.1 server: the httptools (llhttp) parser on trio socket streams.

One task per connection reads, parses (:class:`~smsgw.gateway.http_protocol.RequestReader`),
calls the handler for each complete request in order and writes every answer that is ready in
one ``send_all`` (trio's SocketStream sets TCP_NODELAY, so it leaves at once). What it guards
against:

- sizes: request line and headers (431, 414 for the target), body (413, declared or chunked),
  requests parsed ahead of their answers (reading pauses at ``max_pipelined``);
- time: a request must arrive whole within ``read_timeout`` of its first byte (408), a
  keep-alive connection may idle ``idle_timeout`` (then it is closed silently), a client must
  take our answer within ``read_timeout`` (then it is dropped);
- numbers: past ``max_connections`` a new connection is accepted, answered 503 and closed, so
  the client learns why instead of waiting in the kernel's backlog. At most a few such
  answers are in progress at once; beyond that, extra connections are closed at once.

Timeouts are enforced by one sweeper task rather than a cancel scope per read: each connection
keeps a plain ``deadline`` float, which costs nothing to move, and the sweeper cancels the
connections whose deadline has passed. A timeout therefore fires up to ``tick`` seconds late
(``tick`` = min(1 s, shortest timeout / 10)).

After an error answer (400, 408, 413, 431) the server shuts its sending side and reads what
the client still sends for a moment before closing ("lingering close"), so the client gets the
answer rather than a connection reset.
"""

from __future__ import annotations

import errno
import logging
import math
import time
from collections.abc import Callable

import trio

from smsgw.gateway.http_protocol import (
    CLOSE,
    KEEP_ALIVE,
    Handler,
    HttpLimits,
    Request,
    RequestReader,
    Response,
    render,
)

__all__ = ["OWN_ANSWERS", "HttpServer", "OnResponse"]

OWN_ANSWERS = (400, 408, 413, 414, 431, 503)
"""Statuses the server answers by itself, before or instead of the handler (see the module
doc); reported through ``on_response`` with no request."""

log = logging.getLogger("smsgw.http")

OnResponse = Callable[[Request | None, int, float], None]
"""Called after each answer: (request, or None for the server's own errors; status; seconds)."""

_RECV = 65536
_FLUSH = 256 * 1024  # write out pipelined answers once this much is waiting
_LINGER = 2.0
_LINGER_BYTES = 1 << 20
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ACCEPT_CAPACITY_ERRNOS = frozenset([errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS])

# What a connection is doing: decides what a passed deadline means.
_IDLE = 0  # waiting for the first byte of a request: a timeout closes silently
_READING = 1  # a request has begun: a timeout is a 408
_BUSY = 2  # parsing or in the handler: no deadline
_WRITING = 3  # sending answers: a timeout drops the connection


class HttpServer:
    """Serves ``handler`` over HTTP/1.1 with keep-alive and pipelining (see the module doc).

    ``on_response`` (for metrics) is called after every answer; its exceptions are logged and
    ignored. One ``serve()`` per instance.
    """

    def __init__(
        self, handler: Handler, limits: HttpLimits, *, on_response: OnResponse | None = None
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.on_response = on_response
        self._conns: set[_Connection] = set()
        self._listeners: list[trio.SocketListener] = []
        self._accept_scope = trio.CancelScope()
        self._closing = False
        self._serving = False
        self._served = 0
        self._writes = 0
        self._rejected = 0
        self._rejecting = 0
        self._max_rejecting = max(16, limits.max_connections // 16)
        self._tick = min(1.0, limits.idle_timeout / 10, limits.read_timeout / 10)
        self._errors = {
            400: Response.error(400, "bad_request", "malformed HTTP request"),
            408: Response.error(
                408,
                "request_timeout",
                f"request not received within {limits.read_timeout:g} s",
            ),
            413: Response.error(
                413, "body_too_large", f"request body over {limits.max_body_bytes} bytes"
            ),
            414: Response.error(
                414, "uri_too_long", f"request target over {limits.max_header_bytes} bytes"
            ),
            431: Response.error(
                431, "headers_too_large", f"request headers over {limits.max_header_bytes} bytes"
            ),
            503: Response.error(
                503, "overloaded", "too many connections", headers=(("retry-after", "1"),)
            ),
        }
        self._internal = Response.error(500, "internal", "internal error")

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (0 picks a port) and serve until cancelled.

        Calls ``task_status.started((host, bound_port))`` once listening (with port 0 and a
        host name of several addresses, on the first address only). Returns by itself
        only after :meth:`close_idle`, once the last connection has closed. Raises OSError if
        it cannot listen. On cancellation, every connection is closed at once.
        """
        if self._serving:
            raise RuntimeError("HttpServer.serve() runs once per server")
        self._serving = True
        listeners = await trio.open_tcp_listeners(port, host=host)
        if port == 0 and len(listeners) > 1:
            # Each address would get a different free port; keep one so the port is the port.
            for extra in listeners[1:]:
                await trio.aclose_forcefully(extra)
            del listeners[1:]
        self._listeners = listeners
        try:
            task_status.started((host, listeners[0].socket.getsockname()[1]))
            async with trio.open_nursery() as outer:
                outer.start_soon(self._sweep)
                async with trio.open_nursery() as connections:
                    with self._accept_scope:
                        async with trio.open_nursery() as acceptors:
                            for listener in listeners:
                                acceptors.start_soon(self._accept, listener, connections)
                outer.cancel_scope.cancel()
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)

    def close_idle(self) -> None:
        """Begin a graceful stop: accept no more, close idle keep-alive connections now.

        Connections with a request under way finish it and answer with ``Connection: close``;
        requests pipelined behind it go unanswered (clients retry those). Idempotent.
        """
        self._closing = True
        self._accept_scope.cancel()
        # Closed here rather than when the acceptors notice: from now on the kernel refuses
        # newcomers instead of queueing them for no one.
        for listener in self._listeners:
            listener.socket.close()
        for conn in self._conns:
            if conn.phase == _IDLE:
                conn.scope.cancel()

    def statistics(self) -> dict[str, int | bool]:
        """Counts: ``connections`` open, ``requests`` the handler answered, ``writes`` (sends; fewer
        than requests when pipelined answers were coalesced), ``rejected`` over the limit;
        ``accepting`` is False before serve() and after close_idle()."""
        return {
            "connections": len(self._conns),
            "requests": self._served,
            "writes": self._writes,
            "rejected": self._rejected,
            "accepting": self._serving and not self._closing,
        }

    # -- internals ---------------------------------------------------------------------------

    def _report(self, request: Request | None, status: int, seconds: float) -> None:
        if self.on_response is not None:
            try:
                self.on_response(request, status, seconds)
            except Exception:
                log.exception("on_response hook failed")

    async def _sweep(self) -> None:
        while True:
            await trio.sleep(self._tick)
            now = trio.current_time()
            for conn in self._conns:
                if conn.deadline <= now:
                    conn.scope.cancel()

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return  # close_idle() closed the listening socket
            except OSError as e:
                # Out of file descriptors or memory: wait for connections to close, as
                # trio.serve_listeners does, rather than spin or die.
                if e.errno not in _ACCEPT_CAPACITY_ERRNOS:
                    raise
                log.error("accept failed (%s); pausing 100 ms", e)
                await trio.sleep(0.1)
                continue
            if len(self._conns) >= self.limits.max_connections:
                self._rejected += 1
                self._report(None, 503, 0.0)
                if self._rejecting < self._max_rejecting:
                    self._rejecting += 1
                    nursery.start_soon(self._refuse, stream)
                else:
                    await trio.aclose_forcefully(stream)
                continue
            conn = _Connection(self, stream)
            self._conns.add(conn)
            nursery.start_soon(conn.run)

    async def _refuse(self, stream: trio.SocketStream) -> None:
        try:
            out: list[bytes] = []
            render(out, self._errors[503], False, CLOSE)
            with trio.move_on_after(_LINGER):
                await stream.send_all(b"".join(out))
                await _drain(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._rejecting -= 1
            await trio.aclose_forcefully(stream)


async def _drain(stream: trio.SocketStream) -> None:
    """Shut our side and read what the client still sends, so it sees our answer, not a RST."""
    await stream.send_eof()
    total = 0
    while total < _LINGER_BYTES:
        chunk = await stream.receive_some(_RECV)
        if not chunk:
            return
        total += len(chunk)


def _peer(stream: trio.SocketStream) -> str:
    try:
        addr = stream.socket.getpeername()
    except OSError:
        return "?"
    if isinstance(addr, tuple):
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


class _Connection:
    """One client connection: its reader, its deadline and the loop that answers it."""

    __slots__ = (
        "deadline", "limits", "linger", "phase", "reader", "remote", "scope", "server", "stream",
    )  # fmt: skip

    def __init__(self, server: HttpServer, stream: trio.SocketStream) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.scope = trio.CancelScope()
        self.deadline = math.inf  # read by the sweeper; moved by the loop as it changes phase
        self.phase = _BUSY
        self.remote = _peer(stream)
        self.reader = RequestReader(server.limits, self.remote)
        self.linger = False

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        server = self.server
        stream = self.stream
        reader = self.reader
        try:
            with self.scope:
                await self._serve()
            self.deadline = math.inf
            final: list[bytes] = []
            if self.scope.cancel_called and self.phase == _READING:
                render(final, server._errors[408], False, CLOSE)
                server._report(None, 408, trio.current_time() - reader.started)
            if final or self.linger:
                with trio.move_on_after(_LINGER):
                    if final:
                        await stream.send_all(b"".join(final))
                    await _drain(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away; there is no one to answer
        except Exception:
            log.exception("connection from %s failed", self.remote)
        finally:
            server._conns.discard(self)
            await trio.aclose_forcefully(stream)

    async def _serve(self) -> None:
        server = self.server
        limits = self.limits
        receive = self.stream.receive_some
        reader = self.reader
        rest: memoryview | None = None
        while True:
            if rest is None:
                if reader.in_message:
                    self.phase = _READING
                    self.deadline = reader.started + limits.read_timeout
                elif server._closing:
                    return
                else:
                    self.phase = _IDLE
                    self.deadline = trio.current_time() + limits.idle_timeout
                data = await receive(_RECV)
                # The sweeper (or close_idle) may have cancelled us just as data arrived:
                # never start a handler under a cancelled scope.
                if not data or self.scope.cancel_called:
                    return
                self.phase = _BUSY
                self.deadline = math.inf
                rest = reader.feed(data, trio.current_time())
            else:
                # Requests held back while the queue was full start their read clock now.
                rest = reader.feed(rest, trio.current_time())
            if (
                reader.pending or reader.error or reader.wants_continue
            ) and not await self._answer():
                return
            if reader.upgrade:
                return  # what follows an Upgrade request is not HTTP; we do not switch

    async def _answer(self) -> bool:
        """Answer the queued requests in order and write them at once; False means close."""
        server = self.server
        handler = server.handler
        report = server.on_response is not None
        reader = self.reader
        pending = reader.pending
        out: list[bytes] = []
        size = 0
        keep = True
        while pending:
            request = pending.popleft()
            began = time.perf_counter() if report else 0.0
            try:
                response = await handler(request)
            except Exception:
                log.exception("handler failed on %s %s", request.method, request.path)
                response = server._internal
            # Decided after the handler: close_idle() may have been called meanwhile.
            close = not request.keep_alive or (
                not pending and reader.error is None and (reader.upgrade or server._closing)
            )
            connection = CLOSE if close else KEEP_ALIVE if request.http_version == "1.0" else ""
            head_only = request.method == "HEAD"
            try:
                render(out, response, head_only, connection)
            except Exception:  # not a Response, a 1xx, a header that would break framing
                log.exception("unsendable answer to %s %s", request.method, request.path)
                response = server._internal
                render(out, response, head_only, connection)
            server._served += 1
            if report:
                server._report(request, response.status, time.perf_counter() - began)
            if close:
                keep = False
                pending.clear()  # RFC 9112 §9.6: nothing after a close is processed
                break
            size += len(response.body)
            if size >= _FLUSH and pending:
                await self._send(out)
                out = []
                size = 0
        if keep and reader.error is not None:
            render(out, server._errors[reader.error], False, CLOSE)
            server._report(None, reader.error, trio.current_time() - reader.started)
            keep = False
            self.linger = True
        elif keep and reader.wants_continue:
            out.append(_CONTINUE)
            reader.continued = True
        if out:
            await self._send(out)
        if reader.in_message:
            # A request begun behind the ones just answered: its read time counts from now,
            # not from while we were busy.
            reader.started = trio.current_time()
        return keep and not self.scope.cancel_called

    async def _send(self, out: list[bytes]) -> None:
        self.phase = _WRITING
        self.deadline = trio.current_time() + self.limits.read_timeout
        self.server._writes += 1
        await self.stream.send_all(out[0] if len(out) == 1 else b"".join(out))
        self.phase = _BUSY
        self.deadline = math.inf
