"""A minimal HTTP/1.1 client on trio for webhooks and the CLI: one request per connection.

Enough for POSTing a JSON body and reading the status and a bounded body; TLS for https URLs.
Transport failures are translated once, here, into :class:`HttpClientError`.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import trio

__all__ = ["HttpClientError", "request"]

MAX_RESPONSE = 1 << 20


class HttpClientError(Exception):
    """The request could not be made or the answer was not HTTP."""


_ssl_context: ssl.SSLContext | None = None


async def request(
    method: str,
    url: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Send one request; returns (status, body). Raises HttpClientError; bounded by timeout."""
    global _ssl_context
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpClientError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host_header}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        "User-Agent: smsgw",
    ]
    lines += [f"{k}: {v}" for k, v in headers or []]
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    try:
        with trio.fail_after(timeout):
            stream: trio.abc.Stream = await trio.open_tcp_stream(parts.hostname, port)
            if tls:
                if _ssl_context is None:
                    _ssl_context = ssl.create_default_context()
                stream = trio.SSLStream(stream, _ssl_context, server_hostname=parts.hostname)
            async with stream:
                await stream.send_all(wire)
                data = bytearray()
                while len(data) < MAX_RESPONSE:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    data += chunk
    except trio.TooSlowError:
        raise HttpClientError(f"no answer within {timeout:g} s") from None
    except (OSError, trio.BrokenResourceError, ssl.SSLError) as e:
        raise HttpClientError(f"{type(e).__name__}: {e}") from None
    head, sep, rest = bytes(data).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise HttpClientError("the answer is not HTTP")
    return int(status_line[1]), _dechunk(head, rest)


def _dechunk(head: bytes, body: bytes) -> bytes:
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)
