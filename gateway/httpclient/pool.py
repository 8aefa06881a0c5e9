"""A keep-alive connection pool per origin, with the target check at connect time.

- Idle connections are kept per origin (last in, first out: the warmest one goes first), at
  most ``max_idle_per_origin`` each and ``max_idle`` in all (the oldest go first), and closed
  once idle for ``idle_timeout`` seconds (:meth:`Pool.reap`). How many are busy at once is
  the caller's business (the webhook worker caps it per origin and in all).
- A pooled connection the peer closed while it sat idle is dropped before use; one that
  breaks before any byte of the answer arrived is retried once on a fresh connection. That
  is the only retry: a request that got an answer, or timed out, is never sent twice here.
- New connections go to an address the caller's ``allow`` function accepted *after* DNS
  resolution, and a pooled one is reused only if its address is still accepted for this
  caller, so a DNS answer that changes between the check and the connect (rebinding) cannot
  move a connection elsewhere. TLS still checks the certificate against the host name (SNI).
- Redirects are answers like any other: nothing follows them.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import trio

from smsgw.gateway.httpclient.connection import (
    Connection,
    PlainSocket,
    Response,
    Tls,
    Transport,
    open_socket,
)
from smsgw.gateway.httpclient.errors import HttpClientError, TargetRefused, translated
from smsgw.gateway.httpclient.url import IPAddress, Url

__all__ = ["Allow", "Pool", "Resolver", "resolve"]

Allow = Callable[[Url, IPAddress], str | None]
"""Returns None when the address may be connected to for this URL, else the reason not."""
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

USER_AGENT = b"smsgw"
_CHECK_AFTER = 1.0
"""Seconds idle after which a pooled connection is checked for a close before reuse."""
MAX_BODY = 1 << 20


_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE_CHARS = bytes(range(0x20, 0x7F))


def _is_token(b: bytes) -> bool:
    """RFC 9110 token (``1*tchar``): deleting every token character leaves
    nothing. ``bytes.translate`` runs in C, several times faster than a regex match."""
    return bool(b) and not b.translate(None, _TOKEN_CHARS)


def _is_value(b: bytes) -> bool:
    """A field value: printable ASCII and spaces, no space at either end (or empty)."""
    return not b.translate(None, _VALUE_CHARS) and (not b or (b[0] != 0x20 and b[-1] != 0x20))


def _encode(
    method: bytes, url: Url, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool
) -> bytes:
    """The request's bytes, head and body, for one ``send``.

    The method and header fields are checked against RFC 9110's token and field-value
    grammar (a bad one raises HttpClientError: nothing can smuggle a line break onto the
    wire); the target and Host come from a checked Url.
    """
    if not _is_token(method):
        raise HttpClientError(f"invalid method {method!r}", kind="request", permanent=True)
    for name, value in headers:
        if not _is_token(name) or not _is_value(value):
            raise HttpClientError(
                f"invalid header {name!r}: {value!r}", kind="request", permanent=True
            )
    lines = [
        method + b" " + url.target + b" HTTP/1.1",
        b"host: " + url.host_header,
        b"user-agent: " + USER_AGENT,
        b"content-length: %d" % len(body),
    ]
    lines.extend(name + b": " + value for name, value in headers)
    if not keep_alive:
        lines.append(b"connection: close")
    lines.append(b"\r\n")
    return b"\r\n".join(lines) + body


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (in the resolver's order, duplicates dropped)."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if addr not in out:
            out.append(addr)
    return out


class Pool:
    """Connections by origin; see the module docstring. Owned by one trio run."""

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 16,
        max_idle: int = 256,
        idle_timeout: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._resolve = resolver
        self._idle: OrderedDict[str, list[Connection]] = OrderedDict()
        self._idle_count = 0
        self.opened = 0
        """Connections opened so far (tests and benchmarks read it)."""

    @property
    def idle(self) -> int:
        return self._idle_count

    async def request(
        self,
        method: bytes,
        url: Url,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        timeout: float,
        allow: Allow | None = None,
        max_body: int = MAX_BODY,
        keep_alive: bool = True,
    ) -> Response:
        """Send one request and return the whole answer (any status; redirects not followed).

        ``headers`` are added to Host, User-Agent and Content-Length. Raises
        :class:`HttpClientError` (:class:`TargetRefused` when ``allow`` refused every address)
        and nothing else but cancellation; the whole call is bounded by ``timeout``.
        """
        wire = _encode(method, url, headers, body, keep_alive)
        head_only = method == b"HEAD"
        with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
            return await self._send(url, wire, allow, max_body, keep_alive, head_only)
        assert scope.cancelled_caught
        raise HttpClientError(f"no answer within {timeout:g} s", kind="timeout")

    async def _send(
        self,
        url: Url,
        wire: bytes,
        allow: Allow | None,
        max_body: int,
        keep_alive: bool,
        head_only: bool,
    ) -> Response:
        conn = await self._take_idle(url, allow)
        if conn is not None:
            try:
                return await self._exchange(conn, wire, max_body, keep_alive, head_only)
            except HttpClientError as e:
                # Broken while idle (closed just as we reused it): once more, on a new one.
                if conn.received or e.kind not in ("connect", "protocol"):
                    raise
        conn = await self._connect(url, allow)
        return await self._exchange(conn, wire, max_body, keep_alive, head_only)

    async def _exchange(
        self, conn: Connection, wire: bytes, max_body: int, keep_alive: bool, head_only: bool
    ) -> Response:
        try:
            with translated():
                response, reusable = await conn.exchange(wire, max_body, head_only)
        except BaseException:
            conn.close()  # mid-message (an error or cancellation): never reused
            raise
        if reusable and keep_alive:
            self._put_idle(conn)
        else:
            conn.close()
        return response

    async def _take_idle(self, url: Url, allow: Allow | None) -> Connection | None:
        conns = self._idle.get(url.origin)
        if not conns:
            return None
        now = trio.current_time()
        found: Connection | None = None
        for i in range(len(conns) - 1, -1, -1):
            conn = conns[i]
            if allow is not None and allow(url, conn.peer) is not None:
                continue
            del conns[i]
            self._idle_count -= 1
            idle = now - conn.idle_since
            # A peer that closes a connection it just answered on is rare, and the retry on a
            # fresh connection covers it; the readability check (a syscall) is for the ones
            # that sat a while, when servers' keep-alive timeouts strike.
            if idle >= self.idle_timeout or (idle >= _CHECK_AFTER and conn.looks_closed()):
                conn.close()
                continue
            found = conn
            break
        if not conns:
            del self._idle[url.origin]
        return found

    def _put_idle(self, conn: Connection) -> None:
        conn.idle_since = trio.current_time()
        conns = self._idle.setdefault(conn.origin, [])
        self._idle.move_to_end(conn.origin)
        conns.append(conn)
        self._idle_count += 1
        if len(conns) > self.max_idle_per_origin:
            self._drop(conns.pop(0))
            self._idle_count -= 1
        while self._idle_count > self.max_idle:
            origin, oldest = next(iter(self._idle.items()))
            self._drop(oldest.pop(0))
            self._idle_count -= 1
            if not oldest:
                del self._idle[origin]

    @staticmethod
    def _drop(conn: Connection) -> None:
        # Closing a socket forcefully never blocks; do it now rather than spawn a task.
        conn.close()

    async def _connect(self, url: Url, allow: Allow | None) -> Connection:
        with translated():
            if url.ip is not None:
                addresses = [url.ip]
            else:
                try:
                    addresses = await self._resolve(url.host, url.port)
                except OSError as e:
                    raise HttpClientError(
                        f"cannot resolve {url.host}: {e.strerror or e}", kind="dns"
                    ) from None
            allowed: list[IPAddress] = []
            refusal = ""
            for address in addresses:
                reason = None if allow is None else allow(url, address)
                if reason is None:
                    allowed.append(address)
                elif not refusal:
                    refusal = f"{url.host} is {address}: {reason}"
            if not allowed:
                raise TargetRefused(refusal or f"{url.host} resolves to no address")
            error: OSError | None = None
            for address in allowed:
                try:
                    sock = await open_socket(address, url.port)
                except OSError as e:
                    error = e
                    continue
                break
            else:
                assert error is not None
                raise HttpClientError(
                    f"cannot connect to {url.origin}: {error.strerror or error}", kind="connect"
                )
            transport: Transport
            if url.tls:
                tcp = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
                ctx = self._ssl_context()
                tls = trio.SSLStream(tcp, ctx, server_hostname=url.host, https_compatible=True)
                try:
                    await tls.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tcp)
                    raise
                transport = Tls(tls)
            else:
                transport = PlainSocket(sock)
        self.opened += 1
        return Connection(transport, url.origin, address)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def reap(self) -> int:
        """Close connections idle for ``idle_timeout`` or closed by their peer; returns how
        many were closed."""
        now = trio.current_time()
        closed = 0
        for origin in list(self._idle):
            conns = self._idle[origin]
            keep = []
            for conn in conns:
                if now - conn.idle_since >= self.idle_timeout or conn.looks_closed():
                    self._drop(conn)
                    closed += 1
                else:
                    keep.append(conn)
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]
        self._idle_count -= closed
        return closed

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                self._drop(conn)
        self._idle.clear()
        self._idle_count = 0
