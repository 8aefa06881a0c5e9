"""The HTTP/1.1 server the API runs on: import everything from here.

:class:`HttpServer` (in :mod:`smsgw.gateway.http_server`) serves a :data:`Handler` that turns
a :class:`Request` into a :class:`Response` (both in :mod:`smsgw.gateway.http_protocol`) within
the :class:`HttpLimits`.
"""

from __future__ import annotations

from smsgw.gateway.http_protocol import Handler, HttpLimits, Request, Response
from smsgw.gateway.http_server import HttpServer, OnResponse

__all__ = ["Handler", "HttpLimits", "HttpServer", "OnResponse", "Request", "Response"]
