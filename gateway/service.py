"""The gateway as one structured-concurrency tree: store, drivers, scheduler, webhooks, HTTP.

``Gateway(config).run(task_status=...)`` opens one nursery; each service is started with
``nursery.start`` and so is ready when it says so; ``task_status.started((host, port))`` means
the API is serving. :meth:`Gateway.shutdown` (SIGTERM/SIGINT in the CLI) stops accepting (503),
lets in-flight submits finish up to ``server.shutdown_grace`` seconds, then cancels everything;
the store commits what it has and closes. Whatever was left queued or in flight is picked up
again at the next start.

Every long-running task is supervised (:func:`~smsgw.drivers.supervise.supervised`): each
route's driver as a whole, the scheduler's runners and timers, the webhook worker, the stats
loop and the store's health probe. An unexpected exception is logged once with the task's
name, counted in ``smsgw_task_failures_total{task}``, and the task restarts with backoff.
A store that cannot write is an operating state (see :mod:`smsgw.queue.store.health`); only a
fatal store failure (:class:`~smsgw.queue.store.health.StoreFatal`, raised out of :meth:`run`) or
:meth:`shutdown` stops the gateway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import msgspec
import trio
from prometheus_client.core import Metric

from smsgw.config.loader import parse_listen
from smsgw.config.schema import Config, ModemRouteConfig, SmppRouteConfig
from smsgw.drivers.factory import make_driver
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.supervise import supervised
from smsgw.gateway.api import Api
from smsgw.gateway.campaign_runner import CampaignRunner
from smsgw.gateway.cli import TOKEN_FILE
from smsgw.gateway.console import Console
from smsgw.gateway.flow_runner import FlowRunner
from smsgw.gateway.http import HttpLimits, HttpServer, Request
from smsgw.gateway.known_series import prime_metrics
from smsgw.gateway.redirects import LinkRedirects
from smsgw.gateway.sdnotify import notify, watchdog
from smsgw.gateway.smpp_server.listener import SmppServer
from smsgw.gateway.webhooks import WebhookWorker
from smsgw.gateway.wiring import wire
from smsgw.metrics.instruments import Metrics
from smsgw.metrics.live import gateway_families
from smsgw.queue.model import rfc3339
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink
from smsgw.queue.store.health import StoreFatal, StoreUnavailable, until_stored
from smsgw.queue.store.records import QueueStats

__all__ = ["Gateway"]

log = logging.getLogger("smsgw")
_encoder = msgspec.json.Encoder()


class Gateway:
    """One running smsgw; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        metrics: Metrics | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        # Consent and courtesy: one policy decides at accept (the API) and before each message
        # leaves (the store's claim gate); keywords from any route feed the opt-out list.
        # Tenancy: each inbound message is stored with the key it belongs to, and only that
        # key (or, for one that belongs to none, the admin keys) sees it and gets it pushed.
        self.wiring = wiring = wire(config, metrics=metrics, wall=wall, evidence=(TOKEN_FILE,))
        self.metrics = wiring.metrics
        self.wall = wall
        self.store = wiring.store
        self.scheduler = wiring.scheduler
        self.policy = wiring.policy
        self.consents = wiring.consents
        self.inbound_owners = wiring.inbound_owners
        self.keywords = wiring.keywords
        for key in self.inbound_owners.unclaimed():
            log.warning(
                "key %s has an inbound_url but claims no inbound_routes or inbound_numbers and"
                " is not admin: no inbound message will reach it",
                key.name,
            )
        self.api: Api | None = None
        self.smpp_server: SmppServer | None = None
        self.smpp_address: tuple[str, int] | None = None
        """Where the SMPP server listens, once started (``[smpp_server]`` only)."""
        self.server: HttpServer | None = None
        self.links_server: HttpServer | None = None
        self.links_address: tuple[str, int] | None = None
        """Where the redirect listener listens, once started (``[links] listen`` only)."""
        self._stop = trio.Event()
        self._stats = QueueStats(oldest_by_class={}, webhooks_pending=0)
        self.address: tuple[str, int] | None = None
        self.console = Console(
            config,
            self.store,
            self.scheduler,
            self.metrics,
            live=self._collect,
            wall=wall,
            shutting_down=lambda: self.api is None or self.api.shutting_down,
        )
        self.webhooks: WebhookWorker | None = None
        self.flows: FlowRunner | None = None
        """Fires due flow steps (once serving)."""
        self.campaigns: CampaignRunner | None = None
        """Sends running campaigns (once serving)."""
        # Every supervised task is in smsgw_task_failures_total from the first scrape.
        for task in self.task_names():
            self.metrics.task_failures.labels(task)

    def task_names(self) -> list[str]:
        """The supervised tasks this gateway runs (labels of ``smsgw_task_failures_total``)."""
        routes = [r.name for r in self.config.routes]
        return [
            "store_probe",
            "webhooks",
            "stats",
            "inbound",
            "recovery",
            "timers",
            "console_sampler",
            "flows",
            "campaigns",
            *(f"driver:{name}" for name in routes),
            *(f"runner:{name}" for name in routes),
            *(
                ["smpp_link"]
                if any(isinstance(r, SmppRouteConfig) for r in self.config.routes)
                else []
            ),
            *(
                ["modem"]
                if any(isinstance(r, ModemRouteConfig) for r in self.config.routes)
                else []
            ),
        ]

    def shutdown(self) -> None:
        """Begin a graceful stop (idempotent; safe from a signal-handling task)."""
        self._stop.set()

    async def run(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until :meth:`shutdown` (returns) or a fatal store failure (raises
        :class:`~smsgw.queue.store.health.StoreFatal`, after stopping everything and closing the
        store). Raises :class:`~smsgw.queue.store.refusals.StoreRefused` when the store cannot be
        opened (locked by another process, corrupt, ...)."""
        await self.store.open()
        fatal: StoreFatal | None = None
        try:
            try:
                await self._serve(task_status)
            except* StoreFatal as group:
                fatal = _first_fatal(group)
        finally:
            with trio.CancelScope(shield=True):
                await self.store.close()
        if fatal is not None:
            raise fatal

    async def _serve(self, task_status: trio.TaskStatus[tuple[str, int]]) -> None:
        config = self.config
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._stop_on_fatal)
            nursery.start_soon(self._supervised, "store_probe", self.store.watch_health)
            await nursery.start(self.console.run)  # before the routes: it hears them start
            await self._start_routes(nursery)
            prime_metrics(self.metrics, config, self.scheduler.runners, self.task_names())
            await nursery.start(self.scheduler.run)
            # The worker supervises itself and waits out store outages.
            webhooks = self.webhooks = WebhookWorker(self.store, config, self.metrics, self.wall)
            await nursery.start(webhooks.run)
            nursery.start_soon(self._supervised, "stats", self._stats_loop)
            self.api = Api(self.wiring, console=self.console.handle)
            self.flows = FlowRunner(
                config, self.store, self.api.acceptor, self.api.templates, self.policy,
                self.metrics, self.wall,
            )  # fmt: skip
            nursery.start_soon(self._supervised, "flows", self.flows.run)
            self.campaigns = CampaignRunner(
                config, self.store, self.api.acceptor, self.api.templates, self.policy,
                self.metrics, self.wall,
            )  # fmt: skip
            nursery.start_soon(self._supervised, "campaigns", self.campaigns.run)
            self.metrics.add_collector(self._collect)
            s = config.server
            self.server = HttpServer(
                self.api.handle,
                HttpLimits(
                    max_body_bytes=s.max_body_bytes,
                    max_header_bytes=s.max_header_bytes,
                    max_connections=s.max_connections,
                    idle_timeout=s.idle_timeout,
                    read_timeout=s.read_timeout,
                ),
                on_response=self._on_protocol_response,
            )
            host, port = parse_listen(s.listen)
            self.address = await nursery.start(self.server.serve, host, port)
            # Webhooks never go to our own API (known only now when the port was 0).
            webhooks.targets.set_own(*self.address)
            self.api.acceptor.targets.set_own(*self.address)
            await self._start_smpp_server(nursery, self.api)
            await self._start_links(nursery)
            notify("READY=1")
            nursery.start_soon(watchdog)
            task_status.started(self.address)
            await self._stop.wait()
            await self._drain()
            nursery.cancel_scope.cancel()

    async def _start_smpp_server(self, nursery: trio.Nursery, api: Api) -> None:
        """The SMPP server, when ``[smpp_server]`` is configured: its submits go through the
        API's acceptor and policy into the same store."""
        cfg = self.config.smpp_server
        if cfg is None:
            return
        self.smpp_server = SmppServer(
            cfg, self.config, self.store, api.acceptor, self.policy, self.metrics, wall=self.wall,
            shutting_down=lambda: api.shutting_down,
        )  # fmt: skip
        self.console.show_smpp_server(self.smpp_server.collect)
        host, port = parse_listen(cfg.listen)
        self.smpp_address = await nursery.start(self.smpp_server.serve, host, port)

    async def _start_links(self, nursery: trio.Nursery) -> None:
        """The redirect listener, when ``[links] listen`` is set: a server of its own (it may
        face the internet) that answers short links and nothing else."""
        cfg = self.config.links
        if not cfg.enabled:
            return
        s = self.config.server
        redirects = LinkRedirects(cfg, self.store, self.metrics, wall=self.wall)
        self.links_server = HttpServer(
            redirects.handle,
            HttpLimits(
                max_body_bytes=4096,
                max_header_bytes=min(s.max_header_bytes, 8192),
                max_connections=s.max_connections,
                idle_timeout=s.idle_timeout,
                read_timeout=s.read_timeout,
            ),
        )
        host, port = parse_listen(cfg.listen)
        self.links_address = await nursery.start(self.links_server.serve, host, port)

    async def _stop_on_fatal(self) -> None:
        raise await self.store.health.wait_fatal()

    async def _supervised(self, name: str, fn: Callable[[], Awaitable[object]]) -> None:
        await supervised(name, fn, on_failure=self._task_failed)

    async def _supervised_start(
        self,
        name: str,
        fn: Callable[..., Awaitable[object]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Supervise ``fn(task_status=...)``; the first run that reports started starts it."""
        first = _FirstStart(task_status)
        await supervised(name, lambda: fn(task_status=first), on_failure=self._task_failed)

    def _task_failed(self, task: str) -> None:
        self.metrics.task_failures.labels(task).inc()

    async def _drain(self) -> None:
        notify("STOPPING=1")
        log.info("shutting down: refusing new sends, finishing in-flight submits")
        assert self.api is not None and self.server is not None
        self.api.shutting_down = True
        self.server.close_idle()
        if self.links_server is not None:
            self.links_server.close_idle()
        deadline = trio.current_time() + self.config.server.shutdown_grace
        await self.scheduler.drain(deadline)

    def _state_dir(self) -> str:
        """The data dir: the store's folder (where the API token is kept too)."""
        return os.path.dirname(os.path.abspath(self.config.store.path))

    async def _start_routes(self, nursery: trio.Nursery) -> None:
        now = trio.current_time()
        state_dir = self._state_dir()
        for route in self.config.routes:
            driver = make_driver(route, self.metrics, self.config.text, state_dir)
            # A modem route's rate is per modem; the bank keeps each modem to it.
            modems = len(route.ports) if isinstance(route, ModemRouteConfig) else 1
            limiter = RouteLimiter(
                route.rate * modems,
                None if route.burst is None else route.burst * modems,
                now,
                throttle_pause=getattr(route, "throttle_pause", 1.0),
            )
            runner = RouteRunner(route.name, driver, limiter, self.store, self.metrics, self.wall)
            self.scheduler.add(runner)
            sink = RouteSink(runner, self.store, self.metrics, self.wall, self._on_inbound)
            run = partial(driver.run, sink)
            await nursery.start(self._supervised_start, f"driver:{route.name}", run)

    async def _on_inbound(self, items: Sequence[InboundMessage], ids: Sequence[str]) -> None:
        """Act on STOP/START/HELP, then queue an inbound webhook to the ``inbound_url`` of the
        key each message belongs to (the admin keys' for one that belongs to none). Each step
        waits out a store that cannot write (the messages are stored; the driver acknowledges
        them once this returns)."""
        health = self.store.health
        await until_stored(health, lambda: self.keywords.handle(items, ids))
        hooks: list[tuple[str, str, dict[str, object]]] = []
        for msg, public_id in zip(items, ids, strict=True):
            for key in self.inbound_owners.recipients(self.inbound_owners.owner(msg)):
                if not key.inbound_url:
                    continue
                payload: dict[str, object] = {
                    "event": "message.inbound",
                    "id": public_id,
                    "from": msg.sender,
                    "to": msg.to,
                    "text": msg.text,
                    "route": msg.route,
                    "received_at": rfc3339(msg.received_at),
                    "parts": msg.parts,
                    "complete": msg.complete,
                }
                hooks.append((key.name, key.inbound_url, payload))
        if hooks:  # one commit for them all; each gets its event_id there
            now = self.wall()
            await until_stored(health, lambda: self.store.enqueue_webhooks(hooks, now))

    def _on_protocol_response(self, request: Request | None, status: int, seconds: float) -> None:
        # Requests that reached the API are counted there; this sees the server's own answers
        # (400 garbage, 408, 413, 431, 503 over the connection limit).
        if request is None:
            self.metrics.http_requests.labels("-", "protocol", str(status)).inc()

    async def _stats_loop(self) -> None:
        while True:
            with contextlib.suppress(StoreUnavailable):  # keep the last figures meanwhile
                self._stats = await self.store.stats()
            await trio.sleep(2.0)

    def _collect(self) -> Iterable[Metric]:
        t = trio.current_time()
        routes = []
        for name, runner in self.scheduler.runners.items():
            state = runner.driver.state()
            routes.append(
                _RouteNow(
                    name=name,
                    up=state.up,
                    tokens=runner.limiter.tokens(t),
                    rate=runner.limiter.effective_rate,
                    in_flight=runner.in_flight,
                    window=state.window,
                )
            )
        queue = _QueueNow(
            active=self.store.active,
            oldest_by_class=self._stats.oldest_by_class,
            webhooks_pending=self._stats.webhooks_pending,
        )
        return gateway_families(queue, routes, self.wall())


@dataclass(frozen=True, slots=True, kw_only=True)
class _QueueNow:
    active: Mapping[str, int]
    oldest_by_class: Mapping[str, float]
    webhooks_pending: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _RouteNow:
    name: str
    up: bool
    tokens: float
    rate: float
    in_flight: int
    window: int


class _FirstStart:
    """The task status a supervised service gets on each run: the first ``started()`` reaches
    ``nursery.start``; a restarted run's is ignored."""

    def __init__(self, status: trio.TaskStatus[None]) -> None:
        self._status: trio.TaskStatus[None] | None = status

    def started(self, value: None = None) -> None:
        status, self._status = self._status, None
        if status is not None:
            status.started()


def _first_fatal(group: BaseExceptionGroup[StoreFatal]) -> StoreFatal:
    for exc in group.exceptions:
        if isinstance(exc, StoreFatal):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            return _first_fatal(exc)
    raise AssertionError("an except* StoreFatal group holds a StoreFatal")
