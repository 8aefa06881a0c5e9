"""The values the HTTP server hands to a handler and takes back: Request, Response, HttpLimits.

Also the one place a :class:`Response` becomes bytes on the wire (``render``), so that every
answer, the handler's and the server's own (400, 408, 413, 431, 503), is framed the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from email.utils import formatdate
from http import HTTPStatus

import msgspec

__all__ = ["Handler", "HttpLimits", "Request", "Response", "render"]

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
        err = {"code": code, "message": message}
        if field is not None:
            err["field"] = field
        return cls(status, _encoder.encode({"error": err}), headers)


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
        if not 100 <= status <= 999:
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

    ``head_only`` (a HEAD request) keeps Content-Length but sends no body. 1xx, 204 and 304
    answers carry neither (RFC 9110 §8.6). Raises ValueError or UnicodeEncodeError for a
    status or header that cannot go on the wire.
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
    if status < 200 or status == 204 or status == 304:
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
