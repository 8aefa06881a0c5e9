"""An HTTP/1.1 server: the httptools (llhttp) parser on trio socket streams.

One task per connection reads, parses, calls the handler for each complete request in order
and writes every answer that is ready in one ``send_all``. What it guards against:

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
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

import httptools
import trio
from smsgw.gateway.http_types import (
    CLOSE,
    KEEP_ALIVE,
    Handler,
    HttpLimits,
    Request,
    Response,
    render,
)

__all__ = ["HttpServer", "OnResponse"]

log = logging.getLogger("smsgw.http")

OnResponse = Callable[[Request | None, int, float], None]
"""Called after each answer: (request, or None for the server's own errors; status; seconds)."""

_RECV = 65536
# Bytes given to the parser at once: one slice can complete several pipelined requests, so
# this bounds how far past ``max_pipelined`` the queue can grow (~200 minimal requests).
_SLICE = 4096
_FLUSH = 256 * 1024  # write out pipelined answers once this much is waiting
_LINGER = 2.0
_LINGER_BYTES = 1 << 20
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ACCEPT_CAPACITY_ERRNOS = frozenset([errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS])
_METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}

# What a connection is doing: decides what a passed deadline means.
_IDLE = 0  # waiting for the first byte of a request: a timeout closes silently
_READING = 1  # a request has begun: a timeout is a 408
_BUSY = 2  # parsing or in the handler: no deadline
_WRITING = 3  # sending answers: a timeout drops the connection


class _Reject(Exception):
    """Raised in a parser callback to stop parsing; the status is in ``_Connection.reject``."""


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


def _split_target(url: bytes) -> tuple[str, dict[str, str]]:
    # llhttp admits only visible ASCII in the target, so latin-1 cannot fail or mislead.
    target = url.decode("latin-1")
    if target.startswith("/"):
        path, _, qs = target.partition("?")
        path = path.partition("#")[0]
    elif target == "*":
        return "*", {}
    else:  # absolute-form (RFC 9112 §3.2.2)
        parts = urlsplit(target)
        path, qs = parts.path or "/", parts.query
    if "%" in path:
        path = unquote(path)
    if not qs:
        return path, {}
    return path, dict(parse_qsl(qs.partition("#")[0], keep_blank_values=True))


class _Connection:
    """One client connection: the parser's callbacks, the request queue and the loop."""

    __slots__ = (
        "body",
        "body_len",
        "continued",
        "deadline",
        "expect_continue",
        "fatal",
        "fed",
        "header_bytes",
        "headers",
        "in_headers",
        "in_message",
        "limits",
        "linger",
        "now",
        "parser",
        "pending",
        "phase",
        "reject",
        "remote",
        "scope",
        "server",
        "started",
        "stream",
        "upgrade",
        "url",
        "version",
    )

    def __init__(self, server: HttpServer, stream: trio.SocketStream) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.scope = trio.CancelScope()
        self.deadline = math.inf
        self.phase = _BUSY
        self.remote = _peer(stream)
        self.parser: Any = httptools.HttpRequestParser(self)
        self.pending: deque[Request] = deque()
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_len = 0
        self.header_bytes = 0
        self.fed = 0  # bytes fed since the current message began (over by at most one slice)
        self.in_message = False
        self.in_headers = False
        self.version = "1.1"
        self.now = 0.0
        self.started = 0.0  # when the current message's first bytes arrived
        self.expect_continue = False
        self.continued = False
        self.reject: int | None = None
        self.fatal: int | None = None  # the error to answer once the queue is answered
        self.upgrade = False
        self.linger = False

    # -- parser callbacks (httptools calls these from feed_data) ---------------------------

    def _abort(self, status: int) -> NoReturn:
        self.reject = status
        raise _Reject

    def on_message_begin(self) -> None:
        self.in_message = True
        self.in_headers = True
        self.started = self.now
        self.fed = 0
        self.header_bytes = 0
        self.url = b""
        self.headers = {}

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_header_bytes:
            self._abort(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Also called for chunked trailers (after headers complete): counted, then dropped.
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes + len(self.url) > self.limits.max_header_bytes:
            self._abort(431)
        if self.in_headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            old = self.headers.get(key)
            self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self.in_headers = False
        headers = self.headers
        self.version = version = self.parser.get_http_version()
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                self._abort(400)
            if declared > self.limits.max_body_bytes:
                self._abort(413)
        if version == "1.1":
            if "host" not in headers:  # RFC 9112 §3.2: MUST answer 400
                self._abort(400)
            expect = headers.get("expect")
            # RFC 9110 §10.1.1; an HTTP/1.0 client's Expect is ignored.
            self.expect_continue = expect is not None and expect.lower() == "100-continue"

    def on_body(self, chunk: bytes) -> None:
        size = self.body_len + len(chunk)
        if size > self.limits.max_body_bytes:
            self._abort(413)
        self.body_len = size
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        parts = self.body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self.body_len = 0
        raw = self.parser.get_method()
        method = _METHODS.get(raw) or raw.decode("latin-1")
        path, query = _split_target(self.url)
        self.pending.append(
            Request(
                method,
                path,
                query,
                self.headers,
                body,
                self.remote,
                self.version,
                self.parser.should_keep_alive(),
            )
        )
        self.in_message = False
        self.expect_continue = False
        self.continued = False

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        server = self.server
        stream = self.stream
        try:
            with self.scope:
                await self._serve()
            self.deadline = math.inf
            final: list[bytes] = []
            if self.scope.cancel_called and self.phase == _READING:
                render(final, server._errors[408], False, CLOSE)
                server._report(None, 408, trio.current_time() - self.started)
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
        pending = self.pending
        rest: memoryview | None = None
        while True:
            if rest is None:
                if self.in_message:
                    self.phase = _READING
                    self.deadline = self.started + limits.read_timeout
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
                self.now = trio.current_time()
                rest = self._feed(data)
            else:
                rest = self._feed(rest)
            answer = pending or self.fatal or (self.expect_continue and not self.continued)
            if answer and not await self._answer():
                return
            if self.upgrade:
                return  # what follows an Upgrade request is not HTTP; we do not switch

    def _feed(self, data: bytes | memoryview) -> memoryview | None:
        """Parse ``data`` a slice at a time; return what is left when the queue is full."""
        if len(data) <= _SLICE:
            self._feed_slice(data)
            return None
        view = memoryview(data)
        cap = self.limits.max_pipelined
        for offset in range(0, len(view), _SLICE):
            if self.fatal or self.upgrade:
                return None
            if len(self.pending) >= cap:
                return view[offset:]
            self._feed_slice(view[offset : offset + _SLICE])
        return None

    def _feed_slice(self, chunk: bytes | memoryview) -> None:
        try:
            self.parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            self.upgrade = True
            return
        except httptools.HttpParserError as e:
            if self.reject is None and not isinstance(e.__context__, (_Reject, type(None))):
                log.error("parser callback failed", exc_info=e.__context__)
            self.fatal = self.reject or 400
            return
        if self.in_message:
            # Bytes httptools holds for a header line it has not finished, or for trailers,
            # are invisible to the callbacks; bound them by what was fed.
            self.fed += len(chunk)
            limits = self.limits
            if self.in_headers:
                if self.fed > limits.max_header_bytes + _SLICE:
                    self.fatal = 431
            elif self.fed > 2 * (limits.max_body_bytes + limits.max_header_bytes) + _SLICE:
                self.fatal = 413

    async def _answer(self) -> bool:
        """Answer the queued requests in order and write them at once; False means close."""
        server = self.server
        handler = server.handler
        report = server.on_response is not None
        pending = self.pending
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
                not pending and self.fatal is None and (self.upgrade or server._closing)
            )
            connection = CLOSE if close else KEEP_ALIVE if request.http_version == "1.0" else ""
            head_only = request.method == "HEAD"
            try:
                render(out, response, head_only, connection)
            except (ValueError, UnicodeEncodeError):
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
        if keep and self.fatal is not None:
            render(out, server._errors[self.fatal], False, CLOSE)
            server._report(None, self.fatal, trio.current_time() - self.started)
            keep = False
            self.linger = True
        elif keep and self.expect_continue and not self.continued:
            out.append(_CONTINUE)
            self.continued = True
        if out:
            await self._send(out)
        if self.in_message:
            # A request begun behind the ones just answered: its read time counts from now,
            # not from while we were busy.
            self.started = trio.current_time()
        return keep and not self.scope.cancel_called

    async def _send(self, out: list[bytes]) -> None:
        self.phase = _WRITING
        self.deadline = trio.current_time() + self.limits.read_timeout
        self.server._writes += 1
        await self.stream.send_all(out[0] if len(out) == 1 else b"".join(out))
        self.phase = _BUSY
        self.deadline = math.inf
