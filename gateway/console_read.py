"""Reads one :class:`~smsgw.gateway.console_model.Status` from a running gateway.

The figures ``/metrics`` also exposes are read from the same place at the same moment: the
gateway's live collector (queue depth and age, route up, tokens, rate, in flight, window,
webhook backlog) is called exactly as a scrape calls it, and counters and gauges are read
through the instruments' own ``collect()``; per-link facts come from the drivers'
``state()``, which is what their gauges are set from. Nothing here runs unless a page or a
tool asks; the only standing work is the throughput sampler (:mod:`.console_history`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import trio
from prometheus_client.core import Metric

from smsgw import __version__
from smsgw.config.schema import Config, KeyConfig, ModemRouteConfig
from smsgw.gateway.console_errors import ErrorRing, LoggedError
from smsgw.gateway.console_history import Throughput
from smsgw.gateway.console_model import (
    Chart,
    ChartSeries,
    ClassQueue,
    ErrorEntry,
    Job,
    LinkView,
    ModemFacts,
    OptoutsView,
    QueueView,
    Readiness,
    ReceiptsView,
    RouteView,
    SmppAccountView,
    SmppServerView,
    Status,
    Viewer,
    WebhooksView,
)
from smsgw.metrics.instruments import Metrics
from smsgw.metrics.read import values
from smsgw.queue.model import CLASSES, rfc3339
from smsgw.queue.scheduling.scheduler import RouteRunner, Scheduler
from smsgw.queue.store import Store, StoreClosed
from smsgw.queue.store.records import Backlog, HeldCounts

__all__ = [
    "CHART_ROUTES",
    "SMPP_ACCOUNTS_SHOWN",
    "JobSource",
    "Sources",
    "StatusReader",
    "link_counts",
    "route_counts",
    "smpp_counts",
]

CHART_ROUTES = 6
"""Routes drawn with a line of their own; the others are summed into one named ``other``."""
RECEIPT_RESULTS = ("matched", "pending", "late", "duplicate", "unmatched")
SUBMIT_KINDS = ("throttled", "temporary", "permanent")
SMPP_RESULTS = ("accepted", "throttled", "refused", "error")
SMPP_ACCOUNTS_SHOWN = 50
"""SMPP server accounts listed at most; the rest are counted."""


class JobSource(Protocol):
    """Where running campaigns or flows come from, once smsgw has them (none does yet)."""

    kind: str

    def jobs(self) -> list[Job]:
        """The running ones, cheaply (called at each page view)."""
        ...

    async def pause(self, job_id: str) -> bool:
        """Pause one; False if there is no such job."""
        ...


@dataclass
class Sources:
    """What the reader reads: the gateway's parts (no reference to the Gateway class, so the
    console never imports the service module)."""

    config: Config
    store: Store
    scheduler: Scheduler
    metrics: Metrics
    live: Callable[[], Iterable[Metric]]
    """The gateway's scrape-time collector (the same function ``/metrics`` calls)."""
    wall: Callable[[], float]
    shutting_down: Callable[[], bool]
    throughput: Throughput
    errors: ErrorRing
    jobs: list[JobSource]
    started_at: float
    smpp: Callable[[], Iterable[Metric]] | None = None
    """The SMPP server's scrape-time collector (its binds and tokens), once it runs."""


class _Samples:
    """Sample values by name and label values (in the metric's label order)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[tuple[str, ...], float]] = {}
        self._labels: dict[str, tuple[str, ...]] = {}

    def add_families(self, families: Iterable[Metric]) -> _Samples:
        """What a collector returned (the gateway's live gauges)."""
        for family in families:
            for s in family.samples:
                self._labels.setdefault(s.name, tuple(s.labels))
                self._values.setdefault(s.name, {})[tuple(s.labels.values())] = s.value
        return self

    def add(
        self, name: str, labels: tuple[str, ...], found: dict[tuple[str, ...], float]
    ) -> _Samples:
        """An instrument's values (:func:`smsgw.metrics.read.values`) under its sample name."""
        self._labels[name] = labels
        self._values[name] = found
        return self

    def one(self, name: str, *labels: str, default: float = 0.0) -> float:
        """The sample with these label values (all of them, in order), or ``default``."""
        return self._values.get(name, {}).get(labels, default)

    def by(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        """Values summed by the label values ``keys``."""
        names = self._labels.get(name, ())
        at = [names.index(k) for k in keys]
        out: dict[tuple[str, ...], float] = {}
        for labels, value in self._values.get(name, {}).items():
            k = tuple(labels[i] for i in at)
            out[k] = out.get(k, 0.0) + value
        return out


def route_counts(metrics: Metrics) -> dict[str, float]:
    """Parts the carrier accepted so far per route (``smsgw_parts_submitted_total``)."""
    out: dict[str, float] = {}
    for (route, _), v in values(metrics.parts_submitted).items():
        out[route] = out.get(route, 0.0) + v
    return out


def smpp_counts(metrics: Metrics) -> dict[tuple[str, str], float]:
    """Submits accepted so far per SMPP server account, keyed ``("", system_id)`` so they
    ride in the throughput ring's link table (no route has an empty name)."""
    return {
        ("", account): v
        for (account, result), v in values(metrics.smpp_server_submits).items()
        if result == "accepted"
    }


def link_counts(scheduler: Scheduler) -> dict[tuple[str, str], float]:
    """Parts accepted so far per (route, link), as each driver counts them."""
    out: dict[tuple[str, str], float] = {}
    for name, runner in scheduler.runners.items():
        for link in runner.driver.state().links:
            out[name, str(link["name"])] = float(_link_submitted(link))
    return out


def _link_submitted(link: Mapping[str, object]) -> int:
    value = link.get("submitted", link.get("parts_sent", 0))
    return int(value) if isinstance(value, int | float) else 0


class StatusReader:
    """Builds :class:`Status` values (see the module docstring)."""

    def __init__(self, sources: Sources) -> None:
        self.s = sources
        self._route_rates = {
            r.name: r.rate * (len(r.ports) if isinstance(r, ModemRouteConfig) else 1)
            for r in sources.config.routes
        }
        self._drivers = {r.name: str(type(r).__struct_config__.tag) for r in sources.config.routes}

    async def read(self, viewer: Viewer, key: KeyConfig | None) -> Status:
        """The gateway now, as ``viewer`` may see it (``key`` None: the ops token)."""
        s = self.s
        now = s.wall()
        figures = await self._store_figures(now)
        t = trio.current_time()
        m = s.metrics
        r, rl = ("route",), ("route", "link")
        samples = (
            _Samples()
            .add_families(s.live())
            .add("smsgw_parts_submitted_total", ("route", "class"), values(m.parts_submitted))
            .add("smsgw_route_throttled_total", r, values(m.route_throttled))
            .add("smsgw_submit_errors_total", ("route", "kind"), values(m.submit_errors))
            .add("smsgw_receipts_total", ("route", "result"), values(m.receipts))
            .add("smsgw_reconnects_total", rl, values(m.reconnects))
            .add("smsgw_link_up", rl, values(m.link_up))
            .add("smsgw_route_paused", r, values(m.route_paused))
            .add("smsgw_webhook_deliveries_total", ("result",), values(m.webhook_deliveries))
            .add("smsgw_optouts_total", ("source",), values(m.optouts))
        )
        allowed = set(key.routes) if key is not None and key.routes else None
        submitted = {k[0]: v for k, v in samples.by("smsgw_parts_submitted_total", "route").items()}
        routes = [
            self._route(name, runner, samples, submitted.get(name, 0.0), t)
            for name, runner in s.scheduler.runners.items()
            if allowed is None or name in allowed
        ]
        everything = viewer.admin
        backlog_, optouts_today = figures
        smpp = await self._smpp_server(viewer, key, t)
        return Status(
            version=__version__,
            now=rfc3339(now),
            started_at=rfc3339(s.started_at),
            uptime_seconds=round(max(0.0, now - s.started_at), 3),
            readiness=self._readiness(),
            viewer=viewer,
            routes=routes,
            queue=self._queue(samples, backlog_, now),
            receipts=self._receipts(samples, {r.name for r in routes}),
            webhooks=WebhooksView(
                backlog=int(samples.one("smsgw_webhook_queue_depth")),
                deliveries={
                    k[0]: int(v)
                    for k, v in samples.by("smsgw_webhook_deliveries_total", "result").items()
                },
                last_failure=_last(s.errors.last("smsgw.webhooks")) if everything else None,
            ),
            optouts=OptoutsView(
                today=sum(optouts_today.values()),
                today_by_source=optouts_today,
                # Sources seen since start, as today_by_source lists only those seen today
                # (every source is exported at 0 from the first scrape).
                since_start={
                    k[0]: int(v)
                    for k, v in samples.by("smsgw_optouts_total", "source").items()
                    if v
                },
            ),
            campaigns=[j for src in s.jobs if src.kind == "campaign" for j in src.jobs()],
            flows=[j for src in s.jobs if src.kind == "flow" for j in src.jobs()],
            errors=[_entry(e) for e in s.errors.entries()] if everything else [],
            chart=self._chart(routes, t),
            smpp_server=smpp,
        )

    # -- parts ----------------------------------------------------------------------------

    async def _store_figures(self, now: float) -> tuple[Backlog | None, dict[str, int]]:
        midnight = now - now % 86_400.0
        if not self.s.store.opened:
            return None, {}
        try:
            return await self.s.store.console_figures(midnight)
        except StoreClosed:  # shutting down between the check and the call
            return None, {}

    async def _smpp_server(
        self, viewer: Viewer, key: KeyConfig | None, t: float
    ) -> SmppServerView | None:
        """The SMPP server's accounts ``viewer`` may see (an admin: all; a key: its own)."""
        s = self.s
        cfg = s.config.smpp_server
        if cfg is None:
            return None
        mine = [a for a in cfg.accounts if viewer.admin or (key is not None and a.key == key.name)]
        shown = mine[:SMPP_ACCOUNTS_SHOWN]
        live = _Samples().add_families(s.smpp() if s.smpp is not None else ())
        submits = values(s.metrics.smpp_server_submits)
        held: dict[str, HeldCounts] = {}
        if s.store.opened and shown:
            with contextlib.suppress(StoreClosed):  # shutting down since the check
                held = await s.store.smpp_held_counts([a.system_id for a in shown])
        accounts = []
        for a in shown:
            n = a.system_id
            h = held.get(n, HeldCounts())
            accepted = submits.get((n, "accepted"), 0.0)
            accounts.append(
                SmppAccountView(
                    system_id=n,
                    key=a.key,
                    binds=int(live.one("smsgw_smpp_server_binds", n)),
                    max_binds=a.max_binds,
                    rate=a.rate,
                    tokens=round(live.one("smsgw_smpp_server_tokens", n, default=a.burst), 3),
                    submits={r: int(submits.get((n, r), 0.0)) for r in SMPP_RESULTS},
                    rate_now=round(s.throughput.rate_now(("", n), accepted, t), 3),
                    held_receipts=h.receipts,
                    held_inbound=h.inbound,
                    held_capped=h.capped,
                )
            )
        failures = values(s.metrics.smpp_server_bind_failures) if viewer.admin else {}
        return SmppServerView(
            listen=cfg.listen,
            accounts=accounts,
            more_accounts=len(mine) - len(shown),
            bind_failures={k[0]: int(v) for k, v in failures.items()},
        )

    def _readiness(self) -> Readiness:
        s = self.s
        reasons = []
        if not s.store.opened:
            reasons.append("the store is not open")
        if not any(s.scheduler.is_up(name) for name in s.scheduler.runners):
            reasons.append("no route is up")
        if s.shutting_down():
            reasons.append("shutting down")
        return Readiness(ready=not reasons, reasons=reasons)

    def _route(
        self, name: str, runner: RouteRunner, samples: _Samples, submitted: float, t: float
    ) -> RouteView:
        state = runner.driver.state()
        up = samples.one("smsgw_route_up", name) == 1.0
        links = [self._link(name, link, samples, t) for link in state.links]
        since = _route_since(up, state.links)
        paused = samples.one("smsgw_route_paused", name) == 1.0
        ring = self.s.throughput
        return RouteView(
            name=name,
            driver=self._drivers.get(name, "?"),
            state="down" if not up else "paused" if paused else "up",
            up=up,
            since=None if since is None else rfc3339(since),
            paused=paused,
            paused_since=None if runner.paused_since is None else rfc3339(runner.paused_since),
            rate=self._route_rates.get(name, 0.0),
            effective_rate=samples.one("smsgw_route_rate", name),
            tokens=samples.one("smsgw_route_tokens", name),
            in_flight=int(samples.one("smsgw_route_in_flight", name)),
            window=int(samples.one("smsgw_route_window", name)),
            submitted=int(submitted),
            rate_now=round(ring.rate_now(name, submitted, t), 3),
            throttled=int(samples.one("smsgw_route_throttled_total", name)),
            submit_errors={
                kind: int(samples.one("smsgw_submit_errors_total", name, kind))
                for kind in SUBMIT_KINDS
            },
            receipts={
                result: int(samples.one("smsgw_receipts_total", name, result))
                for result in RECEIPT_RESULTS
            },
            links=links,
            throughput=[round(v, 3) for v in ring.series(name, submitted, t)],
        )

    def _link(
        self, route: str, link: Mapping[str, object], samples: _Samples, t: float
    ) -> LinkView:
        name = str(link["name"])
        raw_state = str(link.get("state", "down"))
        held = bool(link.get("held"))
        submitted = _link_submitted(link)
        up = samples.one("smsgw_link_up", route, name, default=-1.0)
        error_at = link.get("last_error_at")
        modem = _modem(link) if "signal_dbm" in link else None
        throttles = link.get("throttles")
        rate = link.get("rate")
        return LinkView(
            name=name,
            state="held" if held else raw_state,  # type: ignore[arg-type]
            up=(raw_state == "up") if up < 0 else up == 1.0,
            since=_time(link.get("since")),
            mode=str(link["mode"]) if "mode" in link else None,
            in_flight=_int(link.get("in_flight", modem.queued if modem else 0)),
            window=_int(link.get("window", 0)),
            submitted=submitted,
            rate_now=round(self.s.throughput.rate_now((route, name), submitted, t), 3),
            rate=float(rate) if isinstance(rate, int | float) else None,
            throttles=throttles if isinstance(throttles, int) else None,
            reconnects=int(samples.one("smsgw_reconnects_total", route, name)),
            last_error=str(link.get("last_error") or link.get("error") or ""),
            last_error_at=_time(error_at),
            modem=modem,
        )

    def _queue(self, samples: _Samples, b: Backlog | None, now: float) -> QueueView:
        late = 0.0
        if b is not None and b.oldest_due_at is not None:
            late = max(0.0, now - b.oldest_due_at)
        return QueueView(
            classes=[
                ClassQueue(
                    msg_class=c,
                    depth=int(samples.one("smsgw_queue_depth", c)),
                    oldest_age_seconds=samples.one("smsgw_queue_oldest_age_seconds", c),
                )
                for c in CLASSES
            ],
            scheduled=0 if b is None else b.scheduled,
            deferred=0 if b is None else b.deferred,
            backlog_capped=False if b is None else b.capped,
            due_late_seconds=round(late, 3),
        )

    @staticmethod
    def _receipts(samples: _Samples, routes: set[str]) -> ReceiptsView:
        totals = dict.fromkeys(RECEIPT_RESULTS, 0)
        for (route, result), v in samples.by("smsgw_receipts_total", "route", "result").items():
            if route in routes and result in totals:
                totals[result] += int(v)
        return ReceiptsView(**totals)

    def _chart(self, routes: Sequence[RouteView], t: float) -> Chart:
        ring = self.s.throughput
        ages = [round(a, 1) for a in ring.ages(t)]
        busiest = sorted(routes, key=lambda r: -sum(r.throughput))
        series = [
            ChartSeries(route=r.name, rates=r.throughput)
            for r in busiest[:CHART_ROUTES]
            if any(r.throughput)
        ]
        rest = [r.throughput for r in busiest[CHART_ROUTES:] if any(r.throughput)]
        if rest:
            summed = [round(sum(col), 3) for col in zip(*rest, strict=True)]
            series.append(ChartSeries(route="other", rates=summed))
        start = ring.start_age(t)
        return Chart(
            span_seconds=ring.span,
            interval_seconds=ring.interval,
            start_age=None if start is None else round(start, 1),
            ages=ages,
            series=series,
        )


def _route_since(up: bool, links: Sequence[Mapping[str, object]]) -> float | None:
    """Up: since the longest-up link came up. Down: since the last link stopped being up."""
    times = [
        float(v)
        for link in links
        if (link.get("state") == "up") == up and isinstance(v := link.get("since"), int | float)
    ]
    if not times:
        return None
    return min(times) if up else max(times)


def _modem(link: Mapping[str, object]) -> ModemFacts:
    def opt_str(k: str) -> str | None:
        v = link.get(k)
        return None if v is None else str(v)

    signal = link.get("signal_dbm")
    return ModemFacts(
        port=str(link.get("port", "")),
        device=opt_str("device"),
        signal_dbm=signal if isinstance(signal, int) else None,
        registered=bool(link.get("registered")),
        roaming=bool(link.get("roaming")),
        operator=opt_str("operator"),
        model=opt_str("model"),
        sent_today=_int(link.get("sent_today")),
        daily_cap=_int(link.get("daily_cap")),
        queued=_int(link.get("queued")),
        parts_sent=_int(link.get("parts_sent")),
        parts_failed=_int(link.get("parts_failed")),
        stopped=opt_str("stopped"),
    )


def _int(v: object) -> int:
    return int(v) if isinstance(v, int | float) else 0


def _time(v: object) -> str | None:
    return rfc3339(float(v)) if isinstance(v, int | float) else None


def _entry(e: LoggedError) -> ErrorEntry:
    return ErrorEntry(at=rfc3339(e.at), level=e.level, source=e.source, message=e.message)


def _last(e: LoggedError | None) -> ErrorEntry | None:
    return None if e is None else _entry(e)
