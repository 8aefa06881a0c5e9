"""The ops console's data model: ``GET /status.json`` is :class:`Status` encoded, and the HTML
page is rendered from the same value.

Times are RFC 3339 UTC strings (``None``: never); durations and ages are seconds. Figures that
``/metrics`` also exposes are read from the same instruments and collectors at the same moment
(see :mod:`smsgw.gateway.console_read`); the docstrings name the series.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "Chart",
    "ChartSeries",
    "ClassQueue",
    "ErrorEntry",
    "Job",
    "LinkView",
    "ModemFacts",
    "OptoutsView",
    "QueueView",
    "Readiness",
    "ReceiptsView",
    "RouteView",
    "SmppAccountView",
    "SmppServerView",
    "Status",
    "Viewer",
    "WebhooksView",
]

LinkStateWord = Literal["up", "down", "connecting", "held"]
RouteStateWord = Literal["up", "down", "paused"]


class _View(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Viewer(_View, frozen=True, kw_only=True):
    """Who asked: an API key (by name; ``admin`` as configured) or the ops token (admin)."""

    kind: Literal["key", "ops_token"]
    name: str
    """The key's name; ``ops token`` for the ops token (no key name has a space)."""
    admin: bool


class Readiness(_View, frozen=True, kw_only=True):
    """What ``/readyz`` answers: ready when the store is open, a route is up and smsgw is not
    shutting down; ``reasons`` says what is missing."""

    ready: bool
    reasons: list[str]


class ModemFacts(_View, frozen=True, kw_only=True):
    port: str
    device: str | None
    signal_dbm: int | None
    """``smsgw_modem_signal_dbm``."""
    registered: bool
    """``smsgw_modem_registered``."""
    roaming: bool
    operator: str | None
    model: str | None
    sent_today: int
    daily_cap: int
    """0: no cap."""
    queued: int
    """``smsgw_modem_queued``."""
    parts_sent: int
    """``smsgw_modem_parts_total{result="sent"}``."""
    parts_failed: int
    stopped: str | None
    """Why the modem stopped for good (a SIM problem), if it did."""


class LinkView(_View, frozen=True, kw_only=True):
    """One bind, modem or simulated carrier."""

    name: str
    state: LinkStateWord
    """``held``: an operator disconnected it."""
    up: bool
    """``smsgw_link_up``."""
    since: str | None
    """Since when it has been up, or not up."""
    mode: str | None = None
    in_flight: int = 0
    window: int = 0
    submitted: int = 0
    """Parts the carrier accepted through this link since start."""
    rate_now: float = 0.0
    """Parts per second accepted over the last ten seconds or so."""
    rate: float | None = None
    """This link's own limit (a modem's ``rate``); None: the route's rate is shared."""
    throttles: int | None = None
    reconnects: int = 0
    """``smsgw_reconnects_total{route,link}``."""
    last_error: str = ""
    last_error_at: str | None = None
    modem: ModemFacts | None = None


class RouteView(_View, frozen=True, kw_only=True):
    name: str
    driver: str
    state: RouteStateWord
    """``down`` when no link can send (whatever else), else ``paused`` or ``up``."""
    up: bool
    """``smsgw_route_up``."""
    since: str | None
    """Up since (the longest-up link's time), or down since the last link was lost."""
    paused: bool
    """``smsgw_route_paused``."""
    paused_since: str | None
    rate: float
    """Configured parts per second (for a modem route: per modem, times the modems)."""
    effective_rate: float
    """``smsgw_route_rate`` (lower after throttling)."""
    tokens: float
    """``smsgw_route_tokens``."""
    in_flight: int
    """``smsgw_route_in_flight``."""
    window: int
    """``smsgw_route_window``."""
    submitted: int
    """``sum by (route) (smsgw_parts_submitted_total)``."""
    rate_now: float
    throttled: int
    """``smsgw_route_throttled_total``."""
    submit_errors: dict[str, int]
    """``smsgw_submit_errors_total{route,kind}``."""
    receipts: dict[str, int]
    """``smsgw_receipts_total{route,result}``."""
    links: list[LinkView]
    throughput: list[float]
    """Parts per second per interval of the last 15 minutes, oldest first (``Status.chart``
    says when each ends)."""


class ClassQueue(_View, frozen=True, kw_only=True):
    msg_class: str
    depth: int
    """``smsgw_queue_depth``: unfinished messages."""
    oldest_age_seconds: float
    """``smsgw_queue_oldest_age_seconds``."""


class QueueView(_View, frozen=True, kw_only=True):
    classes: list[ClassQueue]
    scheduled: int
    """Parts waiting for their ``send_at``."""
    deferred: int
    """Parts waiting for a retry or a courtesy policy (quiet hours, frequency cap)."""
    backlog_capped: bool
    """True: more than the counts (each is counted up to 100,000)."""
    due_late_seconds: float
    """How long the most overdue due part has been waiting to be promoted (0: none is late)."""


class ReceiptsView(_View, frozen=True, kw_only=True):
    """``smsgw_receipts_total`` summed over routes, by result."""

    matched: int
    pending: int
    late: int
    duplicate: int
    unmatched: int


class ErrorEntry(_View, frozen=True, kw_only=True):
    at: str
    level: str
    source: str
    message: str


class WebhooksView(_View, frozen=True, kw_only=True):
    backlog: int
    """``smsgw_webhook_queue_depth``."""
    deliveries: dict[str, int]
    """``smsgw_webhook_deliveries_total`` by result."""
    last_failure: ErrorEntry | None
    """The last failure the webhook worker logged (a delivery given up, a receiver left
    alone); hidden from non-admin keys (it names another tenant's receiver)."""


class OptoutsView(_View, frozen=True, kw_only=True):
    today: int
    """Opt-outs recorded since 00:00 UTC (every source)."""
    today_by_source: dict[str, int]
    since_start: dict[str, int]
    """``smsgw_optouts_total`` by source (since this process started)."""


class SmppAccountView(_View, frozen=True, kw_only=True):
    """One SMPP server account (``[[smpp_server.accounts]]``)."""

    system_id: str
    key: str
    binds: int
    """``smsgw_smpp_server_binds``."""
    max_binds: int
    rate: float
    """Configured parts per second (its bucket)."""
    tokens: float
    """``smsgw_smpp_server_tokens``."""
    submits: dict[str, int]
    """``smsgw_smpp_server_submits_total`` by result (accepted, throttled, refused, error)."""
    rate_now: float
    """Submits accepted per second over the last ten seconds or so."""
    held_receipts: int
    """Receipts waiting for a receiver bind (counted up to 10,000 with the inbound)."""
    held_inbound: int
    """Inbound messages waiting for a receiver bind."""
    held_capped: bool
    """True: more are waiting than the counts."""


class SmppServerView(_View, frozen=True, kw_only=True):
    """The SMPP server: its accounts (those of the viewer's key, or all for an admin)."""

    listen: str
    accounts: list[SmppAccountView]
    more_accounts: int
    """Accounts not listed (the page lists at most 50)."""
    bind_failures: dict[str, int]
    """``smsgw_smpp_server_bind_failures_total`` by reason (admin only; else empty)."""


class Job(_View, frozen=True, kw_only=True):
    """A running campaign or flow, as its provider reports it (see
    :meth:`smsgw.gateway.console.Console.add_jobs`)."""

    kind: Literal["campaign", "flow"]
    id: str
    name: str
    state: str
    done: int
    total: int | None
    can_pause: bool


class ChartSeries(_View, frozen=True, kw_only=True):
    route: str
    rates: list[float]


class Chart(_View, frozen=True, kw_only=True):
    """The throughput chart: ``ages[i]`` is how many seconds before ``Status.now`` point ``i``
    of every series ends; the busiest routes each get a series, the rest one named ``other``."""

    span_seconds: float
    interval_seconds: float
    start_age: float | None
    """Seconds before ``now`` the first interval starts (the oldest reading); None: none."""
    ages: list[float]
    series: list[ChartSeries]


class Status(_View, frozen=True, kw_only=True):
    version: str
    now: str
    started_at: str
    uptime_seconds: float
    readiness: Readiness
    viewer: Viewer
    routes: list[RouteView]
    queue: QueueView
    receipts: ReceiptsView
    webhooks: WebhooksView
    optouts: OptoutsView
    campaigns: list[Job]
    flows: list[Job]
    errors: list[ErrorEntry]
    """The last 50 warnings and errors logged, newest first (admin keys and the ops token)."""
    chart: Chart
    smpp_server: SmppServerView | None = None
    """None: no ``[smpp_server]`` configured."""
