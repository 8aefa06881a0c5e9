"""The ops console: ``GET /status`` (HTML), ``GET /status.json`` (the same data) and the
operator's actions (``POST /status/...``), on the gateway's own listener.

Authentication comes first, as for the API: a bearer token that is any API key's or the
``[server] ops_token``. The ops token opens the console alone (the ``/v1`` API refuses it)
and sees every figure; so does an admin key. A non-admin key sees the routes it may use and
the gateway-wide figures ``/metrics`` shows anyway, not the error log or the last webhook
failure (they name other tenants' receivers), and may retry its own messages only. A browser
without a token gets a sign-in page (401) whose script keeps the token in the tab's
``sessionStorage``, never in a URL; a plain HTTP client with the header gets the whole page,
server-rendered, no script needed.

Actions are ``POST`` with the token (so a page elsewhere cannot forge one: browsers never add
the header by themselves):

=============================================================  ==============================
``POST /status/routes/{route}/pause`` | ``/resume``               stop or restart claiming
``POST /status/routes/{route}/links/{link}/disconnect``           hold a bind or modem down
``POST /status/routes/{route}/links/{link}/reconnect``            let it connect again now
``POST /status/messages/{id}/retry``                              queue a failed/expired one again
``POST /status/campaigns/{id}/pause``                             (once smsgw has campaigns)
=============================================================  ==============================

Cost: everything is read when a request comes (:mod:`.console_read`); with nobody watching,
the console does nothing but the throughput sampler's one reading per ten seconds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

import msgspec
import trio
from prometheus_client.core import Metric

from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.supervise import supervised
from smsgw.gateway.console_actions import Actions
from smsgw.gateway.console_assets import CSP
from smsgw.gateway.console_errors import ErrorRing
from smsgw.gateway.console_history import Throughput
from smsgw.gateway.console_model import Viewer
from smsgw.gateway.console_page import login_page, status_page
from smsgw.gateway.console_read import (
    JobSource,
    Sources,
    StatusReader,
    link_counts,
    route_counts,
    smpp_counts,
)
from smsgw.gateway.errors import GatewayError, MethodNotAllowed, NotFound, Unauthorized
from smsgw.gateway.http import Request, Response
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.scheduler import Scheduler
from smsgw.queue.store import Store

__all__ = ["Console", "is_console_path"]

_encoder = msgspec.json.Encoder()
_JSON = ("content-type", "application/json")
_PAGE_HEADERS = [
    ("content-type", "text/html; charset=utf-8"),
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
]
_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="smsgw"')
_ROUTE_VERBS = ("pause", "resume")
_LINK_VERBS = ("disconnect", "reconnect")
OPS_VIEWER = Viewer(kind="ops_token", name="ops token", admin=True)


def is_console_path(path: str) -> bool:
    """Whether ``path`` is the console's (``/status``, ``/status.json``, ``/status/...``)."""
    return path in ("/status", "/status.json") or path.startswith("/status/")


class Console:
    """The console of one gateway. ``await nursery.start(console.run)`` before the routes
    start (so the error ring hears their start-up); :meth:`handle` answers requests."""

    def __init__(
        self,
        config: Config,
        store: Store,
        scheduler: Scheduler,
        metrics: Metrics,
        *,
        live: Callable[[], Iterable[Metric]],
        wall: Callable[[], float],
        shutting_down: Callable[[], bool],
        throughput: Throughput | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.scheduler = scheduler
        self.errors = ErrorRing()
        self.throughput = throughput or Throughput()
        self.jobs: list[JobSource] = []
        self.sources = Sources(
            config=config,
            store=store,
            scheduler=scheduler,
            metrics=metrics,
            live=live,
            wall=wall,
            shutting_down=shutting_down,
            throughput=self.throughput,
            errors=self.errors,
            jobs=self.jobs,
            started_at=wall(),
        )
        self.reader = StatusReader(self.sources)
        self.actions = Actions(config, store, scheduler, metrics, wall, self.jobs)
        self._keys = {k.token_digest(): k for k in config.keys}
        self._ops = config.server.ops_token_digest()
        for route in config.routes:  # every route says "not paused" from the first scrape on
            metrics.route_paused.labels(route.name).set(0)

    def show_smpp_server(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Show the SMPP server's accounts, reading its live gauges through ``collect`` (the
        collector ``/metrics`` calls)."""
        self.sources.smpp = collect

    def add_jobs(self, source: JobSource) -> None:
        """Show ``source``'s running campaigns or flows (and let the console pause them)."""
        self.jobs.append(source)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen for errors and sample throughput until cancelled."""
        self.errors.attach()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sampler)
                task_status.started()
        finally:
            self.errors.detach()

    async def _sampler(self) -> None:
        def failed(task: str) -> None:
            self.metrics.task_failures.labels(task).inc()

        def counts() -> tuple[dict[str, float], dict[tuple[str, str], float]]:
            return route_counts(self.metrics), link_counts(self.scheduler) | smpp_counts(
                self.metrics
            )

        await supervised("console_sampler", lambda: self.throughput.run(counts), on_failure=failed)

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: Request) -> tuple[str, Response]:
        """Answer a console request; returns (the endpoint label for metrics, the response)."""
        endpoint = _endpoint(request.path)
        try:
            return endpoint, await self._dispatch(request)
        except GatewayError as e:
            if e.status == 401 and request.path == "/status":
                body = login_page(e.message).encode()
                return endpoint, Response(401, body, [*_PAGE_HEADERS, _CHALLENGE])
            headers = [_JSON, ("cache-control", "no-store"), *e.headers]
            return endpoint, Response(e.status, _encoder.encode(e.body()), headers)

    async def _dispatch(self, request: Request) -> Response:
        viewer, key = self._authenticate(request)
        path, method = request.path, request.method
        if path in ("/status", "/status.json"):
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{method} is not allowed here", headers=(("Allow", "GET"),))
            status = await self.reader.read(viewer, key)
            if path == "/status.json":
                return Response(
                    200, _encoder.encode(status), [_JSON, ("cache-control", "no-store")]
                )
            return Response(200, status_page(status).encode(), _PAGE_HEADERS)
        if method != "POST":
            raise MethodNotAllowed(f"{method} is not allowed here", headers=(("Allow", "POST"),))
        parts = path.split("/")[2:]
        reply = None
        match parts:
            case ["routes", route, verb] if verb in _ROUTE_VERBS:
                reply = self.actions.route(viewer, route, verb)
            case ["routes", route, "links", link, verb] if verb in _LINK_VERBS:
                reply = self.actions.link(viewer, route, link, verb)
            case ["messages", public_id, "retry"]:
                reply = await self.actions.retry(viewer, key, public_id)
            case ["campaigns" | "flows" as kinds, job_id, "pause"]:
                reply = await self.actions.job(viewer, kinds[:-1], job_id)
            case _:
                raise NotFound(f"no such console action: {path}")
        return Response(200, _encoder.encode(reply), [_JSON, ("cache-control", "no-store")])

    def _authenticate(self, request: Request) -> tuple[Viewer, KeyConfig | None]:
        """The viewer, and the API key (None: the ops token); raises Unauthorized."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "this page needs a token: an API key's or the ops token", headers=(_CHALLENGE,)
            )
        digest = hashlib.sha256(token.strip().encode()).digest()
        # By hash, then in constant time (see Api._authenticate): timing tells nothing.
        key = self._keys.get(digest)
        if key is not None and hmac.compare_digest(key.token_digest(), digest):
            return Viewer(kind="key", name=key.name, admin=key.admin), key
        if self._ops and hmac.compare_digest(self._ops, digest):
            return OPS_VIEWER, None
        raise Unauthorized("this token opens nothing here", headers=(_CHALLENGE,))


def _endpoint(path: str) -> str:
    """A bounded ``endpoint`` label for ``smsgw_http_requests_total``."""
    if path in ("/status", "/status.json"):
        return path
    parts = path.split("/")[2:]
    match parts:
        case ["routes", _, verb] if verb in _ROUTE_VERBS:
            return "/status/routes/{route}/" + verb
        case ["routes", _, "links", _, verb] if verb in _LINK_VERBS:
            return "/status/routes/{route}/links/{link}/" + verb
        case ["messages", _, "retry"]:
            return "/status/messages/{id}/retry"
        case ["campaigns" | "flows" as kinds, _, "pause"]:
            return f"/status/{kinds}/{{id}}/pause"
    return "/status/other"
