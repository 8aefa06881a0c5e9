"""The HTTP client's one error type, and the one place that translates everything else into it.

Whatever goes wrong between "we have a URL" and "we have a response" -- a bad URL, a name that
does not resolve, a refused target, a connection reset, a TLS failure, bytes that are not HTTP,
a response too large, a header we cannot encode -- leaves the client as
:class:`HttpClientError`. Callers catch exactly that; anything else is a bug (and the webhook
worker's supervision counts it as one).
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Literal

import httptools
import trio

from smsgw.gateway.httpclient.url import InvalidUrl

__all__ = ["ErrorKind", "HttpClientError", "TargetRefused", "translated"]

ErrorKind = Literal[
    "url", "refused", "dns", "connect", "tls", "timeout", "protocol", "too_large", "request"
]


class HttpClientError(Exception):
    """The request could not be made or its answer was not usable HTTP.

    ``kind`` says what failed (bounded: a metric label may use it); ``permanent`` is True when
    sending the same request again cannot succeed (a bad URL, a refused target).
    """

    def __init__(self, message: str, *, kind: ErrorKind = "connect", permanent: bool = False):
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.permanent = permanent


class TargetRefused(HttpClientError):
    """The target's address is one the caller's policy refuses (see webhook_targets)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="refused", permanent=True)


class _Translated:
    """The context manager :func:`translated` returns (a class: it runs on every request)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if e is None or isinstance(e, HttpClientError) or not isinstance(e, Exception):
            return False
        translated = _translate(e)
        if translated is None:
            return False
        raise translated from None


def translated() -> _Translated:
    """Turn transport, TLS, framing and encoding errors raised inside into HttpClientError.

    Cancellation (and trio.TooSlowError, which the caller's deadline raises outside this
    block) pass through untouched, and so does anything that is not an error of the kinds
    below (a bug stays a bug).
    """
    return _TRANSLATED


def _translate(e: Exception) -> HttpClientError | None:
    if isinstance(e, InvalidUrl):
        return HttpClientError(f"invalid URL: {e}", kind="url", permanent=True)
    if isinstance(e, httptools.HttpParserError):
        return HttpClientError(f"the answer is not valid HTTP: {e}", kind="protocol")
    if isinstance(e, trio.BrokenResourceError | trio.ClosedResourceError):
        cause = e.__cause__
        if isinstance(cause, ssl.SSLError):
            return HttpClientError(f"TLS: {_ssl_reason(cause)}", kind="tls")
        return HttpClientError(f"connection lost: {cause or e}", kind="connect")
    if isinstance(e, ssl.SSLError):
        return HttpClientError(f"TLS: {_ssl_reason(e)}", kind="tls")
    if isinstance(e, OSError):
        return HttpClientError(f"connection failed: {e.strerror or e}", kind="connect")
    if isinstance(e, UnicodeError | ValueError):
        return HttpClientError(f"cannot encode the request: {e}", kind="request")
    return None


_TRANSLATED = _Translated()


def _ssl_reason(e: ssl.SSLError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({e.verify_message})"
    return str(e.reason or e)
