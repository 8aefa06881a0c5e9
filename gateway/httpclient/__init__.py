"""An HTTP/1.1 client on trio sockets with llhttp (httptools) doing the framing.

- :mod:`~smsgw.gateway.httpclient.url`: URLs checked once and pre-encoded for the wire;
- :mod:`~smsgw.gateway.httpclient.connection`: one connection, the answer framed by llhttp;
- :mod:`~smsgw.gateway.httpclient.pool`: keep-alive per origin, the target check at connect;
- :mod:`~smsgw.gateway.httpclient.errors`: :class:`HttpClientError`, the one error it raises.

:func:`request` is the one-shot helper the CLI and the tests use: one connection, closed after
the answer, no target policy (it talks to the gateway it is pointed at).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from smsgw.gateway.httpclient.connection import Response
from smsgw.gateway.httpclient.errors import HttpClientError, TargetRefused, translated
from smsgw.gateway.httpclient.pool import Pool
from smsgw.gateway.httpclient.url import InvalidUrl, Url, parse_url

__all__ = [
    "HttpClientError",
    "InvalidUrl",
    "Pool",
    "Response",
    "TargetRefused",
    "Url",
    "parse_url",
    "request",
]

MAX_RESPONSE = 1 << 20


async def request(
    method: str,
    url: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Send one request; returns (status, body). Raises HttpClientError; bounded by timeout.

    The body is framed by the answer's headers (Content-Length, chunked, or until close) and
    capped at 1 MiB. Unlike a webhook URL, the path and query may hold any character: what is
    not printable ASCII is percent-encoded (as a browser does).
    """
    with translated():
        target = parse_url(_quoted(url))
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or []]
        verb = method.encode("ascii")
    pool = Pool(max_idle=0)
    response = await pool.request(
        verb, target, encoded, body, timeout=timeout, max_body=MAX_RESPONSE, keep_alive=False
    )
    return response.status, response.body


_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def _quoted(url: str) -> str:
    if url.isascii() and " " not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(path=quote(parts.path, _SAFE), query=quote(parts.query, _SAFE))
    )
