"""The HTTP client's one error type, and the one place that translates everything else into it.

Whatever goes wrong between "we have a URL" and "we have a response" -- a bad URL, a name that
does not resolve, a refused target, a connection reset, a TLS failure, bytes that are not HTTP,
a response too large, a header we cannot encode -- leaves the client as
:class:`HttpClientError`. Callers catch exactly that; anything else is a bug (and the webhook
worker's supervision counts it as one).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Literal

import h11
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


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn transport, TLS, framing and encoding errors raised inside into HttpClientError.

    Cancellation (and trio.TooSlowError, which the caller's deadline raises outside this
    block) pass through untouched.
    """
    try:
        yield
    except HttpClientError:
        raise
    except InvalidUrl as e:
        raise HttpClientError(f"invalid URL: {e}", kind="url", permanent=True) from None
    except h11.RemoteProtocolError as e:
        raise HttpClientError(f"the answer is not valid HTTP: {e}", kind="protocol") from None
    except h11.LocalProtocolError as e:
        raise HttpClientError(f"cannot send the request: {e}", kind="request") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
        cause = e.__cause__
        if isinstance(cause, ssl.SSLError):
            raise HttpClientError(f"TLS: {_ssl_reason(cause)}", kind="tls") from None
        raise HttpClientError(f"connection lost: {cause or e}", kind="connect") from None
    except ssl.SSLError as e:
        raise HttpClientError(f"TLS: {_ssl_reason(e)}", kind="tls") from None
    except OSError as e:
        raise HttpClientError(f"connection failed: {e.strerror or e}", kind="connect") from None
    except (UnicodeError, ValueError) as e:
        raise HttpClientError(f"cannot encode the request: {e}", kind="request") from None


def _ssl_reason(e: ssl.SSLError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({e.verify_message})"
    return str(e.reason or e)
