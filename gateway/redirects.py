"""The redirect listener's handler: short links of tracked messages, and nothing else.

It runs on a second :class:`~smsgw.gateway.http_server.HttpServer` at ``[links] listen``, an
address that may face the internet, so it knows none of the API's routes and takes no token.
``GET <prefix>/<code>`` (the path of ``base_url``, often empty, then the code: the shortest
link) answers 302 to the URL the message held, with ``Cache-Control: no-store`` so that every
visit comes back here and is counted; HEAD answers the same without a body. An unknown code
is a 404 page, an expired link a 410 page, each small HTML that names no internals.

A click is answered only after its commit (the store's group commit folds concurrent clicks
into one transaction): a click that was answered is never lost, on a clean restart or a crash.
The User-Agent decides whether it counts as a ``click`` or a ``preview`` (a link-preview
fetcher, see ``[links] preview_agents``); HEAD is always a preview (a person's click is a GET).
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from smsgw.config.links import LinksConfig
from smsgw.gateway.http import Request, Response
from smsgw.metrics.instruments import Metrics
from smsgw.queue.links import PreviewAgents
from smsgw.queue.store import Store
from smsgw.queue.store.health import StoreClosed, StoreFatal, StoreUnavailable
from smsgw.queue.store.records import Click

__all__ = ["CLICK_KINDS", "MISS_REASONS", "LinkRedirects"]

CLICK_KINDS = ("click", "preview")
"""The ``kind`` label of ``smsgw_link_clicks_total``."""
MISS_REASONS = ("unknown", "expired")
"""The ``reason`` label of ``smsgw_link_misses_total``."""

log = logging.getLogger("smsgw.links")

_CODE = re.compile(r"[0-9A-Za-z]{1,32}\Z")
_ROBOTS = b"User-agent: *\nDisallow: /\n"


def _page(status: int, title: str, text: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    body = (
        "<!doctype html>\n<html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n"
    ).encode()
    headers = (
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        *extra,
    )
    return Response(status, body, headers)


_NOT_FOUND = _page(
    404, "Link not found", "This link does not exist. Check that it was copied whole."
)
_GONE = _page(410, "Link expired", "This link has expired and no longer leads anywhere.")
_UNAVAILABLE = _page(
    503, "Try again shortly", "This link cannot be followed right now.", (("retry-after", "5"),)
)
_NOT_ALLOWED = _page(
    405, "Method not allowed", "Links are opened with GET.", (("allow", "GET, HEAD"),)
)


class LinkRedirects:
    """Answers short links (see the module doc); ``handle`` is the server's handler.

    ``wall`` is the clock clicks and expiry are judged by. Never raises for a request: a store
    that cannot write gives a 503 page (the click is not counted; the visitor may retry).
    """

    def __init__(
        self,
        config: LinksConfig,
        store: Store,
        metrics: Metrics,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.wall = wall
        self._prefix = urlsplit(config.base_url).path.rstrip("/")
        self._preview = PreviewAgents(config.preview_agents)
        self._counted = {k: metrics.link_clicks.labels(k) for k in CLICK_KINDS}
        self._missed = {r: metrics.link_misses.labels(r) for r in MISS_REASONS}

    def code_of(self, path: str) -> str | None:
        """The code a request path asks for: ``<prefix>/<code>`` or ``/<code>`` (a proxy that
        strips the prefix); None for anything else."""
        if self._prefix and path.startswith(self._prefix + "/"):
            path = path[len(self._prefix) :]
        code = path[1:]
        return code if path.startswith("/") and _CODE.match(code) else None

    async def handle(self, request: Request) -> Response:
        """The answer to one request (302, 404, 410, 405, 503, or robots.txt)."""
        if request.method not in ("GET", "HEAD"):
            return _NOT_ALLOWED
        if request.path == "/robots.txt":
            return Response(200, _ROBOTS, (("content-type", "text/plain; charset=utf-8"),))
        code = self.code_of(request.path)
        if code is None:
            self._missed["unknown"].inc()
            return _NOT_FOUND
        ua = request.headers.get("user-agent", "")
        preview = request.method == "HEAD" or self._preview(ua)
        click = Click(code=code, at=self.wall(), user_agent=ua, preview=preview)
        try:
            [result] = await self.store.record_clicks([click])
        except (StoreUnavailable, StoreFatal, StoreClosed) as e:
            log.warning("a click on %s was not recorded: %s", code, e)
            return _UNAVAILABLE
        if result.outcome != "redirect":
            self._missed[result.outcome].inc()
            return _NOT_FOUND if result.outcome == "unknown" else _GONE
        self._counted["preview" if preview else "click"].inc()
        return Response(
            302,
            b"",
            (
                ("location", result.url),
                ("cache-control", "no-store"),
                ("referrer-policy", "no-referrer"),
            ),
        )
