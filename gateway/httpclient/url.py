"""Webhook URLs, parsed and checked once: what goes on the request line and in ``Host``.

Pure (no I/O). A URL that passes :func:`parse_url` can be sent as-is: its host IDNA-encodes,
its port is 1-65535, and the request target holds no space, control or non-ASCII character
(nothing is percent-encoded on the client's behalf, so the target on the wire is exactly the
one the client gave). The same function checks ``callback_url`` at accept and ``inbound_url``
at config load, so a URL that was accepted never fails to encode at delivery.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["IPAddress", "InvalidUrl", "Url", "parse_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_TARGET_OK = re.compile(r"[!-~]*")
"""Printable ASCII without space: what may go on the request line unchanged."""
_LEGACY_V4 = re.compile(r"[0-9a-fA-FxX.]+")
"""Candidates for inet_aton's spellings of IPv4 (``127.1``, ``0x7f000001``, ``0177.0.0.1``)."""
_HOST_OK = re.compile(r"[a-z0-9._-]+")
_DEFAULT_PORT = {"http": 80, "https": 443}


class InvalidUrl(ValueError):
    """The URL cannot be sent; ``str()`` says why (for a 422 or a config error)."""


class Url(NamedTuple):
    """A URL ready for the wire."""

    scheme: str
    """``http`` or ``https``."""
    host: str
    """Lower-case ASCII (IDNA) host name, or an IP address in its normal form (no brackets)."""
    port: int
    target: bytes
    """Path and query as they go on the request line."""
    host_header: bytes
    """``Host`` value: the host (IPv6 in brackets) and the port unless it is the default."""
    origin: str
    """``scheme://host[:port]``: what the connection pool and the fairness caps key on."""
    ip: IPAddress | None
    """The address when the host is an IP literal (in any spelling ``inet_aton`` accepts)."""

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@functools.lru_cache(maxsize=4096)
def parse_url(url: str) -> Url:
    """Parse and check ``url``; raises :class:`InvalidUrl` with the reason.

    Cached: webhook URLs repeat (one per key or per shop), and a Url is immutable.
    """
    if not isinstance(url, str) or not url:
        raise InvalidUrl("must be a non-empty URL")
    if any(c <= " " or c == "\x7f" for c in url):
        raise InvalidUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as e:
        if "port" in str(e).lower():
            raise InvalidUrl("port must be a number from 1 to 65535") from None
        raise InvalidUrl(f"is not a valid URL ({e})") from None
    if not (parts.scheme + parts.path + parts.query).isascii():
        raise InvalidUrl("must not contain non-ASCII characters outside the host name")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        raise InvalidUrl("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise InvalidUrl("must not carry credentials (user:password@); sign with webhook_secret")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise InvalidUrl("has no host")
    if port_given is not None and not 1 <= port_given <= 65535:
        raise InvalidUrl("port must be a number from 1 to 65535")
    if port_given is None and parts.netloc.endswith(":"):
        raise InvalidUrl("has an empty port")
    port = port_given if port_given is not None else _DEFAULT_PORT[scheme]
    host, ip = _host(raw_host, bracketed="[" in parts.netloc)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/"):
        raise InvalidUrl("path must start with /")
    if not _TARGET_OK.fullmatch(target):
        raise InvalidUrl("path and query must be printable ASCII (percent-encode the rest)")
    shown = f"[{host}]" if ip is not None and ip.version == 6 else host
    netloc = shown if port == _DEFAULT_PORT[scheme] else f"{shown}:{port}"
    return Url(
        scheme=scheme,
        host=host,
        port=port,
        target=target.encode("ascii"),
        host_header=netloc.encode("ascii"),
        origin=f"{scheme}://{netloc}",
        ip=ip,
    )


def _host(raw: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The host in wire form and its address when it is a literal."""
    if bracketed:
        try:
            ip6 = ipaddress.IPv6Address(raw.split("%", 1)[0])
        except ValueError:
            raise InvalidUrl(f"{raw!r} in brackets is not an IPv6 address") from None
        if "%" in raw:
            raise InvalidUrl("must not name an IPv6 zone")
        return str(ip6), ip6
    if _LEGACY_V4.fullmatch(raw) and raw[-1:].isalnum():
        try:
            ip4 = ipaddress.IPv4Address(socket.inet_aton(raw))
        except OSError:
            pass
        else:
            return str(ip4), ip4
    try:
        ascii_host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError as e:
        raise InvalidUrl(f"host {raw!r} is not a valid host name ({e})") from None
    ascii_host = ascii_host.rstrip(".")
    if not ascii_host or not _HOST_OK.fullmatch(ascii_host) or len(ascii_host) > 253:
        raise InvalidUrl(f"host {raw!r} is not a valid host name")
    return ascii_host, None
