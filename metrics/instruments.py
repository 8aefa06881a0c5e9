"""Every Prometheus instrument smsgw exposes, in one place.

Names are public interface (dashboards and alert rules are built on them): add, never rename.
Labels are bounded: route, link (a bind or modem named in config), class, status, kind, encoding,
code — never a phone number or a message id. Live values (queue depth, tokens, window) are read
at scrape time by collectors registered with :meth:`Metrics.add_collector`.

The registry is injected, so each test and each gateway in one process has its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smsgw.metrics.histogram import BatchHistogram
from smsgw.metrics.live import ModemView, modem_families

__all__ = ["LATENCY_BUCKETS", "Metrics", "ModemSource", "ScrapeCollector"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class ScrapeCollector(Collector):
    """Adapts a function returning metric families to a registry collector (read at scrape)."""

    def __init__(self, fn: Callable[[], Iterable[Metric]]) -> None:
        self._fn = fn

    def collect(self) -> Iterable[Metric]:
        return self._fn()

    def describe(self) -> Iterable[Metric]:
        return []


class ModemSource(Protocol):
    """A driver's modems, read at each scrape (:func:`~smsgw.metrics.live.modem_families`)."""

    @property
    def modems(self) -> Sequence[ModemView]: ...


class Metrics:
    """The instruments, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self._modem_sources: list[weakref.ref[ModemSource]] = []

        # Accept path and lifecycle.
        self.messages_accepted = Counter(
            "smsgw_messages_accepted", "Messages accepted (202) by class.", ["class"], registry=r
        )
        self.parts_accepted = Counter(
            "smsgw_parts_accepted",
            "Parts of accepted messages, by encoding.",
            ["encoding"],
            registry=r,
        )
        self.messages_refused = Counter(
            "smsgw_messages_refused",
            "Send items refused at the door, by error code.",
            ["code"],
            registry=r,
        )
        self.messages_final = Counter(
            "smsgw_messages_final",
            "Messages that reached a final status.",
            ["class", "status"],
            registry=r,
        )
        self.messages_deferred = Counter(
            "smsgw_messages_deferred",
            "Messages held back by a policy or a retry, by reason.",
            ["reason"],
            registry=r,
        )
        self.duplicates_risked = Counter(
            "smsgw_duplicates_risked",
            "Parts retried although they may already have left (lost response, crash).",
            ["route"],
            registry=r,
        )

        # Dispatch.
        self.parts_submitted = Counter(
            "smsgw_parts_submitted",
            "Parts the carrier accepted, by route and class.",
            ["route", "class"],
            registry=r,
        )
        self.submit_errors = Counter(
            "smsgw_submit_errors",
            "Parts not accepted by the carrier, by route and kind (throttled, temporary, "
            "permanent).",
            ["route", "kind"],
            registry=r,
        )
        self.route_throttled = Counter(
            "smsgw_route_throttled",
            "Times a route was told to slow down.",
            ["route"],
            registry=r,
        )
        self.route_paused = Gauge(
            "smsgw_route_paused",
            "1 while an operator has paused the route (it claims nothing; ops console).",
            ["route"],
            registry=r,
        )
        self.failovers = Counter(
            "smsgw_failovers",
            "Messages moved from a down route to the next route of their rule.",
            ["from_route", "to_route"],
            registry=r,
        )
        self.submit_latency = BatchHistogram(
            "smsgw_submit_latency_seconds",
            "Time from handing a part to the driver to the carrier's answer.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = BatchHistogram(
            "smsgw_end_to_end_latency_seconds",
            "Time from accept to a final status, by class.",
            ["class"],
            buckets=E2E_BUCKETS,
            registry=r,
        )

        # Flows (the flow label holds names from config: bounded).
        self.flow_runs = Counter(
            "smsgw_flow_runs",
            "Flow runs by result: started, skipped (once_per, already running, stopped"
            " earlier), stopped (a stop event), completed.",
            ["flow", "result"],
            registry=r,
        )
        self.flow_steps = Counter(
            "smsgw_flow_steps",
            "Flow steps by result: sent, skipped (refused by a policy), cancelled (a stop"
            " event), expired (due too long ago).",
            ["flow", "result"],
            registry=r,
        )
        # Campaigns (no campaign ids as labels: unbounded).
        self.campaign_messages = Counter(
            "smsgw_campaign_messages",
            "Campaign recipients by result: accepted (a message queued), skipped (opted out,"
            " refused by a policy or at the door).",
            ["result"],
            registry=r,
        )
        # Receipts and inbound.
        self.receipts = Counter(
            "smsgw_receipts",
            "Delivery receipts by route and result (matched; pending: arrived before its id;"
            " late: a pending one matched when its id came; duplicate; unmatched: gave up).",
            ["route", "result"],
            registry=r,
        )
        self.inbound = Counter(
            "smsgw_inbound_messages", "Inbound (MO) messages stored.", ["route"], registry=r
        )

        # Transports.
        self.link_up = Gauge(
            "smsgw_link_up", "1 when a bind or modem is usable.", ["route", "link"], registry=r
        )
        self.reconnects = Counter(
            "smsgw_reconnects",
            "Connection attempts after a link was lost.",
            ["route", "link"],
            registry=r,
        )
        self.protocol_errors = Counter(
            "smsgw_protocol_errors",
            "Malformed or unexpected data from an SMSC or modem, by kind.",
            ["route", "kind"],
            registry=r,
        )
        self.modem_signal = Gauge(
            "smsgw_modem_signal_dbm", "Modem signal strength.", ["route", "link"], registry=r
        )
        self.modem_registered = Gauge(
            "smsgw_modem_registered",
            "1 when the modem is registered on a network.",
            ["route", "link"],
            registry=r,
        )
        self.modem_info = Gauge(
            "smsgw_modem_info",
            "Modem identity (value is 1).",
            ["route", "link", "model", "operator"],
            registry=r,
        )

        # Supervision: an unexpected exception in a long-running task (logged, then the task
        # goes on or restarts with backoff; see smsgw.drivers.supervise).
        self.task_failures = Counter(
            "smsgw_task_failures",
            "Unexpected exceptions caught in long-running tasks, by task.",
            ["task"],
            registry=r,
        )

        # Webhooks.
        self.webhook_deliveries = Counter(
            "smsgw_webhook_deliveries",
            "Webhook POST attempts by result (ok, failed: retried later, gave_up: after the last"
            " attempt, refused: a target the policy refuses or a URL that cannot be sent).",
            ["result"],
            registry=r,
        )
        self.webhook_circuits_open = Gauge(
            "smsgw_webhook_circuits_open",
            "Webhook receivers left alone for now because they kept timing out.",
            registry=r,
        )

        # HTTP.
        self.http_requests = Counter(
            "smsgw_http_requests",
            "HTTP requests by method, endpoint and status code.",
            ["method", "endpoint", "code"],
            registry=r,
        )
        self.http_duration = BatchHistogram(
            "smsgw_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        # Store.
        self.store_commit = Histogram(
            "smsgw_store_commit_seconds",
            "Time of one group commit in the store's writer thread.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_batch = Histogram(
            "smsgw_store_batch_operations",
            "Operations folded into one group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=r,
        )
        self.store_up = Gauge(
            "smsgw_store_up",
            "1 while the store can write; 0 while it cannot (disk full, I/O error, read-only,"
            " locked by another process) or failed.",
            registry=r,
        )
        self.store_errors = Counter(
            "smsgw_store_errors",
            "Store transactions that failed for a store-level reason, by kind (full, busy, io,"
            " readonly: transient; corrupt, gone: fatal).",
            ["kind"],
            registry=r,
        )

        # Consent and courtesy.
        self.optouts = Counter(
            "smsgw_optouts",
            "Numbers that joined the opt-out list, by source (keyword, api, import).",
            ["source"],
            registry=r,
        )
        self.optins = Counter(
            "smsgw_optins",
            "Numbers that left the opt-out list, by source (keyword, api, import).",
            ["source"],
            registry=r,
        )
        self.policy_refused = Counter(
            "smsgw_policy_refused",
            "Messages refused at accept or stopped before leaving by a consent policy, by reason"
            " (opted_out, consent_required, frequency_capped).",
            ["reason"],
            registry=r,
        )
        self.policy_deferred = Counter(
            "smsgw_policy_deferred",
            "Messages held back by a courtesy policy, by reason (quiet_hours, frequency_cap).",
            ["reason"],
            registry=r,
        )

        # The SMPP server (accounts are configured, so the label is bounded).
        self.smpp_server_submits = Counter(
            "smsgw_smpp_server_submits",
            "submit_sm and data_sm answered by the SMPP server, by account and result"
            " (accepted, throttled, refused, error).",
            ["account", "result"],
            registry=r,
        )
        self.smpp_server_bind_failures = Counter(
            "smsgw_smpp_server_bind_failures",
            "Binds refused by the SMPP server, by reason (credentials, bind_failed).",
            ["reason"],
            registry=r,
        )

        # Tracked links.
        self.link_clicks = Counter(
            "smsgw_link_clicks",
            "Short links followed on the redirect listener, by kind (click: a person;"
            " preview: a link-preview fetcher or a HEAD request).",
            ["kind"],
            registry=r,
        )
        self.link_misses = Counter(
            "smsgw_link_misses",
            "Requests on the redirect listener that led nowhere, by reason (unknown: no such"
            " code or path; expired).",
            ["reason"],
            registry=r,
        )

        # Conversions (the by label: click, delivery, code, client_ref, none).
        self.conversions = Counter(
            "smsgw_conversions",
            "Orders reported by POST /v1/conversions (each once), by what they were attributed"
            " by: click, delivery, code, client_ref, or none (nothing qualified).",
            ["by"],
            registry=r,
        )

    def prime(self, series: Mapping[str, Iterable[Sequence[str]]]) -> None:
        """Export these label sets now, at zero, so ``rate()`` and alert rules have a series
        from the first scrape instead of from the first event.

        ``series`` maps an instrument's attribute (``"receipts"``) to label value tuples in
        the instrument's label order. Counters and histograms only: a gauge has no honest
        value before it is measured. Idempotent; what was already counted stays. Raises
        AttributeError for an unknown instrument, ValueError for a gauge or a wrong number of
        label values.
        """
        for attr, label_sets in series.items():
            inst = getattr(self, attr)
            if isinstance(inst, Gauge) or not isinstance(
                inst, Counter | Histogram | BatchHistogram
            ):
                raise ValueError(f"{attr}: only counters and histograms are primed")
            for values in label_sets:
                inst.labels(*values)

    def add_modem_source(self, source: ModemSource) -> None:
        """Expose ``source``'s modems in the ``smsgw_modem_*`` families while it lives: one
        collector per registry reads every source added, so two modem routes never expose a
        family twice. Held by a weak reference (a driver gone is a source gone)."""
        if not self._modem_sources:
            sources = self._modem_sources
            self.add_collector(lambda: modem_families(_modems_of(sources)))
        self._modem_sources.append(weakref.ref(source))

    def add_collector(self, fn: Callable[[], Iterable[Metric]]) -> None:
        """Register a function read at each scrape (live gauges: depth, tokens, window)."""
        self.registry.register(ScrapeCollector(fn))

    @staticmethod
    def gauge_family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        """A gauge family for collectors, named like the rest."""
        return GaugeMetricFamily(name, doc, labels=labels)


def _modems_of(sources: list[weakref.ref[ModemSource]]) -> Iterable[ModemView]:
    for ref in sources:
        source = ref()
        if source is not None:
            yield from source.modems
