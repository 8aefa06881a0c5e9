"""HTTP/1.1 without I/O: the values a handler sees and returns, and their wire form.

- :class:`Request`, :class:`Response`, :data:`Handler`, :class:`HttpLimits`: the API.
- :class:`RequestReader`: bytes in, :class:`Request` values (or an error status) out, within
  the limits; the httptools (llhttp) parser underneath.
- :func:`render`: the one place a :class:`Response` becomes bytes, so every answer, the
  handler's and the server's own (400, 408, 413, 414, 431, 503), is framed the same way.

No trio here: time comes in as an argument, and the server module does the I/O.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

import httptools
import msgspec

from smsgw.gateway.errors import error_body

__all__ = ["Handler", "HttpLimits", "Request", "RequestReader", "Response", "render"]

log = logging.getLogger("smsgw.http")

_encoder = msgspec.json.Encoder()


class Request(msgspec.Struct, frozen=True):
    """One complete HTTP request, body included, as the handler sees it.

    ``path`` is percent-decoded and has no query; ``query`` keeps the last value of a repeated
    name; ``headers`` has lower-cased names (a repeated header's values joined by ", ").
    ``http_version`` is "1.1" or "1.0"; ``keep_alive`` says whether the client wants the
    connection kept open after this request (the server decides the framing, not the handler).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    remote: str
    http_version: str = "1.1"
    keep_alive: bool = True


class Response(msgspec.Struct, frozen=True):
    """What a handler answers. The server adds Content-Length, Date and Connection itself.

    ``content-type: application/json`` is added when the body is not empty and no content-type
    is given. Content-Length, Transfer-Encoding and Connection given by a handler are ignored:
    framing belongs to the server. A header value with CR, LF or NUL makes the answer a 500.
    """

    status: int
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()

    @classmethod
    def json(cls, status: int, obj: object, headers: Sequence[tuple[str, str]] = ()) -> Response:
        """A JSON answer: ``obj`` encoded with msgspec (raises msgspec.EncodeError if it can't)."""
        return cls(status, _encoder.encode(obj), headers)

    @classmethod
    def error(
        cls,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """The API's error shape: ``{"error": {"code", "message", "field"?}}``."""
        return cls(status, _encoder.encode(error_body(code, message, field)), headers)


Handler = Callable[[Request], Awaitable[Response]]
"""Turns a request into a response. An exception becomes a logged 500; the connection lives on."""


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one client may cost the server.

    - ``max_body_bytes``: a larger body (declared or chunked) is answered 413 and the connection
      closed.
    - ``max_header_bytes``: request line plus headers; beyond it 431 (414 for the target alone).
    - ``max_connections``: open connections; one more is answered 503 and closed.
    - ``idle_timeout``: seconds a keep-alive connection may wait for its next request.
    - ``read_timeout``: seconds from a request's first byte to its last (else 408), and the
      time a client gets to take in our answer before it is dropped.
    - ``max_pipelined``: parsed requests waiting for their turn before reading pauses.

    Raises ValueError when a limit is not positive.
    """

    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384
    max_connections: int = 1024
    idle_timeout: float = 60.0
    read_timeout: float = 15.0
    max_pipelined: int = 32

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if not getattr(self, name) > 0:
                raise ValueError(f"HttpLimits.{name} must be positive")


# -- rendering -----------------------------------------------------------------------------

# Framing is the server's: a handler's values for these are dropped (RFC 9112 §6).
_SERVER_OWNED = frozenset(["content-length", "transfer-encoding", "connection"])
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 §5.6.2
_DIGITS = re.compile(r"[0-9]+")
_good_names: set[str] = set()
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_status_lines: dict[int, str] = {}
_date_second = -1
_date_line = ""

CLOSE = "connection: close\r\n"
KEEP_ALIVE = "connection: keep-alive\r\n"


def _status_line(status: int) -> str:
    line = _status_lines.get(status)
    if line is None:
        # A 1xx is not a final answer (RFC 9110 §15.2); only the server sends 100 Continue.
        if not 200 <= status <= 999:
            raise ValueError(f"bad HTTP status {status}")
        line = _status_lines[status] = f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
    return line


def _date() -> str:
    # RFC 9110 §6.6.1; formatting once per second is enough.
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_line = f"date: {formatdate(now, usegmt=True)}\r\n"
    return _date_line


def _check_name(name: str) -> None:
    if name not in _good_names:
        if not _TOKEN.match(name):
            raise ValueError(f"bad header name {name!r}")
        if len(_good_names) < 256:  # names come from code; the cache only saves the regex
            _good_names.add(name)


def render(out: list[bytes], response: Response, head_only: bool, connection: str) -> None:
    """Append ``response`` as wire bytes to ``out``; ``connection`` is "", CLOSE or KEEP_ALIVE.

    ``head_only`` (a HEAD request) keeps Content-Length but sends no body. 204 and 304
    answers carry neither (RFC 9110 §8.6). Raises ValueError, TypeError or UnicodeEncodeError
    for a status or header that cannot go on the wire (a 1xx, a value with a line break).
    """
    status = response.status
    body = response.body
    extra = ""
    typed = False
    for name, value in response.headers:
        lname = name.lower()
        if lname in _SERVER_OWNED:
            continue
        if lname == "content-type":
            typed = True
        _check_name(name)
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"header {name} has a line break or NUL")
        extra += f"{name}: {value}\r\n"
    if status == 204 or status == 304:
        length = ""
        body = b""
    else:
        length = f"content-length: {len(body)}\r\n"
        if body and not typed:
            extra += "content-type: application/json\r\n"
        if head_only:
            body = b""
    head = f"{_status_line(status)}{length}{_date()}{extra}{connection}\r\n".encode("latin-1")
    # Append only once both parts exist, so a failure leaves ``out`` as it was.
    out.append(head)
    if body:
        out.append(body)


# -- parsing -------------------------------------------------------------------------------

# Bytes given to llhttp at once. One slice can complete several pipelined requests, so this
# bounds how far past ``max_pipelined`` the queue can grow (~200 minimal requests).
SLICE = 4096
_METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}


class _Reject(Exception):
    """Raised in a parser callback to stop parsing; the status is in ``RequestReader.error``."""


def _split_target(url: bytes) -> tuple[str, dict[str, str]] | None:
    """Path and query of a request target; None when it is not one (answered 400)."""
    # llhttp admits only visible ASCII in the target, so latin-1 cannot fail or mislead.
    target = url.decode("latin-1")
    if target.startswith("/"):
        path, _, qs = target.partition("?")
        if "#" in path:
            path = path.partition("#")[0]
    elif target == "*":
        return "*", {}
    else:  # absolute-form (RFC 9112 §3.2.2)
        try:
            parts = urlsplit(target)
        except ValueError:  # "http://[::1/x": a bracket left open is the client's fault
            return None
        path, qs = parts.path or "/", parts.query
    if "%" in path:
        path = unquote(path)
    if not qs:
        return path, {}
    return path, dict(parse_qsl(qs.partition("#")[0], keep_blank_values=True))


class RequestReader:
    """Parses one connection's requests: :meth:`feed` bytes, take Requests from ``pending``.

    State the caller reads:

    - ``pending``: complete requests in arrival order (the caller pops them);
    - ``error``: an HTTP status (400, 413, 414, 431) once the input cannot go on; the
      requests in ``pending`` came before it and deserve their answers first, then this
      error, then the connection ends. Nothing more is parsed;
    - ``upgrade``: an Upgrade/CONNECT request was parsed; what follows is not HTTP;
    - ``in_message`` and ``started``: a request has begun (and the time its bytes came);
    - ``wants_continue``: the request under way asked for ``100 Continue`` and has not had it.

    Memory is bounded by the limits: headers (431/414), body (413), and bytes llhttp holds
    for an unfinished header line or trailer (counted as fed, at most one slice over).
    """

    __slots__ = (
        "_body", "_body_len", "_fed", "_header_bytes", "_headers", "_in_headers", "_limits",
        "_now", "_parser", "_remote", "_url", "_version", "continued", "error",
        "expect_continue", "in_message", "pending", "started", "upgrade",
    )  # fmt: skip

    def __init__(self, limits: HttpLimits, remote: str) -> None:
        self._limits = limits
        self._remote = remote
        self._parser: Any = httptools.HttpRequestParser(self)
        self.pending: deque[Request] = deque()
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._header_bytes = 0
        self._fed = 0  # bytes fed since the current message began (over by at most one slice)
        self._in_headers = False
        self._version = "1.1"
        self._now = 0.0
        self.in_message = False
        self.started = 0.0
        self.expect_continue = False
        self.continued = False
        self.error: int | None = None
        self.upgrade = False

    @property
    def wants_continue(self) -> bool:
        return self.expect_continue and not self.continued

    def feed(self, data: bytes | memoryview, now: float) -> memoryview | None:
        """Parse ``data`` (received at ``now``) a slice at a time.

        Stops early, returning the unparsed rest, once ``max_pipelined`` requests are pending;
        feed the rest after answering them. Never raises for bad input: sets ``error``.
        """
        self._now = now
        if len(data) <= SLICE:
            self._feed_slice(data)
            return None
        view = memoryview(data)
        cap = self._limits.max_pipelined
        for offset in range(0, len(view), SLICE):
            if self.error or self.upgrade:
                return None
            if len(self.pending) >= cap:
                return view[offset:]
            self._feed_slice(view[offset : offset + SLICE])
        return None

    def _feed_slice(self, chunk: bytes | memoryview) -> None:
        if self.error or self.upgrade:
            return
        try:
            self._parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            self.upgrade = True
            return
        except httptools.HttpParserError as e:
            if self.error is None and not isinstance(e.__context__, (_Reject, type(None))):
                log.error("parser callback failed", exc_info=e.__context__)
            self.error = self.error or 400
            return
        if self.in_message:
            # Bytes llhttp holds for a header line it has not finished, or for trailers, are
            # invisible to the callbacks; bound them by what was fed.
            self._fed += len(chunk)
            limits = self._limits
            if self._in_headers:
                if self._fed > limits.max_header_bytes + SLICE:
                    self.error = 431
            elif self._fed > 2 * (limits.max_body_bytes + limits.max_header_bytes) + SLICE:
                self.error = 413

    # -- llhttp callbacks (called from feed_data) -------------------------------------------

    def _abort(self, status: int) -> NoReturn:
        self.error = status
        raise _Reject

    def on_message_begin(self) -> None:
        self.in_message = True
        self._in_headers = True
        self.started = self._now
        self._fed = 0
        self._header_bytes = 0
        self._url = b""
        self._headers = {}

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_header_bytes:
            self._abort(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Also called for chunked trailers (after headers complete): counted, then dropped.
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes + len(self._url) > self._limits.max_header_bytes:
            self._abort(431)
        if self._in_headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            old = self._headers.get(key)
            self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self._in_headers = False
        headers = self._headers
        self._version = version = self._parser.get_http_version()
        length = headers.get("content-length")
        if length is not None:
            # RFC 9110 §8.6: 1*DIGIT, ASCII only (int() would take " 5", "+5", "1_0", "٣").
            if _DIGITS.fullmatch(length) is None:
                self._abort(400)
            if len(length) > 18 or int(length) > self._limits.max_body_bytes:
                self._abort(413)
        if version == "1.1":
            if "host" not in headers:  # RFC 9112 §3.2: MUST answer 400
                self._abort(400)
            expect = headers.get("expect")
            # RFC 9110 §10.1.1; an HTTP/1.0 client's Expect is ignored.
            self.expect_continue = expect is not None and expect.lower() == "100-continue"

    def on_body(self, chunk: bytes) -> None:
        size = self._body_len + len(chunk)
        if size > self._limits.max_body_bytes:
            self._abort(413)
        self._body_len = size
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self._body_len = 0
        parser = self._parser
        raw = parser.get_method()
        method = _METHODS.get(raw) or raw.decode("latin-1")
        target = _split_target(self._url)
        if target is None:
            self._abort(400)
        path, query = target
        keep_alive = parser.should_keep_alive()
        self.pending.append(
            Request(
                method, path, query, self._headers, body, self._remote, self._version, keep_alive
            )
        )
        self.in_message = False
        self.expect_continue = False
        self.continued = False
