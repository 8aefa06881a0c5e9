"""How an SMPP bind's transport failures become :class:`LinkDown`, in one place.

:func:`link_error` is the one mapper the trio link uses around its connect, reads, writes and
closing: an ``OSError`` (a refused or reset connection, ``ssl.SSLError`` from the TLS layer), a
broken or closed trio stream, or a timeout becomes a :class:`LinkDown` whose reason names what
the link was doing; anything else is not a transport failure and is left to propagate (the
link contains it as an internal error).
"""

from __future__ import annotations

import ssl
from typing import Final, Literal

import trio

from smsgw.drivers.seam import LinkError

__all__ = ["Doing", "LinkDown", "link_error"]

Doing = Literal["connect", "read", "write", "close"]
"""What the link was doing when its transport failed."""

_PREFIX: Final[dict[Doing, str]] = {
    "connect": "connection",
    "read": "read failed",
    "write": "write failed",
    "close": "close failed",
}


_TRANSPORT: Final = (OSError, ssl.SSLError, trio.BrokenResourceError, trio.ClosedResourceError)
"""A connection that failed (``ssl.SSLError`` is an ``OSError`` too; named for the reader)."""


class LinkDown(LinkError):
    """This connection is finished; the reason says why (logged, and shown as the link's
    ``error`` in ``GET /v1/routes``)."""


def link_error(exc: BaseException, doing: Doing) -> LinkDown | None:
    """The :class:`LinkDown` that ``exc``, raised while ``doing``, means, or None when ``exc``
    is no transport failure (a bug, cancellation: let it propagate).

    A :class:`LinkDown` is itself; a timeout is "<doing> timed out"; an ``OSError`` (TLS errors
    included) or a broken or closed stream is "<what failed>: <the error>".
    """
    if isinstance(exc, LinkDown):
        return exc
    if isinstance(exc, trio.TooSlowError):
        return LinkDown(f"{doing} timed out")
    if isinstance(
        exc, OSError | ssl.SSLError | trio.BrokenResourceError | trio.ClosedResourceError
    ):
        return LinkDown(f"{_PREFIX[doing]}: {_detail(exc)}")
    return None


def _detail(exc: BaseException) -> str:
    """The error's own text, else its cause's (trio's stream errors wrap the OSError), else
    its type's name: never an empty reason."""
    return str(exc) or str(exc.__cause__ or "") or type(exc).__name__
