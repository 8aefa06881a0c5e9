"""The live families, read at scrape time: queue depth and age, each route's state, the webhook
outbox, and each modem's counts.

The gateway and the modem driver do not build families; they hand a collector what it reads,
through the narrow views below (a few attributes each, no gateway or driver object), and
:func:`gateway_families` and :func:`modem_families` make the families. Names are public
interface like the instruments': add, never rename.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from smsgw.words import CLASSES

__all__ = ["ModemView", "QueueView", "RouteView", "gateway_families", "modem_families"]


class QueueView(Protocol):
    """What the queue gauges read."""

    @property
    def active(self) -> Mapping[str, int]:
        """Unfinished messages per class."""
        ...

    @property
    def oldest_by_class(self) -> Mapping[str, float]:
        """Unix time the oldest unfinished message of each class was accepted."""
        ...

    @property
    def webhooks_pending(self) -> int:
        """Webhook deliveries waiting, retries included."""
        ...


class RouteView(Protocol):
    """What the per-route gauges read, as of one moment."""

    @property
    def name(self) -> str: ...

    @property
    def up(self) -> bool: ...

    @property
    def tokens(self) -> float: ...

    @property
    def rate(self) -> float:
        """Parts per second now (lower than configured after throttling)."""
        ...

    @property
    def in_flight(self) -> int: ...

    @property
    def window(self) -> int: ...


class ModemView(Protocol):
    """What the per-modem families read."""

    @property
    def route(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def counts(self) -> Mapping[str, int]:
        """``sent``, ``failed``, ``receipts``, ``inbound`` since start."""
        ...

    @property
    def load(self) -> int:
        """Parts the modem holds now."""
        ...


def gateway_families(queue: QueueView, routes: Iterable[RouteView], now: float) -> list[Metric]:
    """The queue, route and webhook gauges; ``now`` is Unix time, for the ages."""
    depth = GaugeMetricFamily(
        "smsgw_queue_depth", "Unfinished messages by class.", labels=["class"]
    )
    age = GaugeMetricFamily(
        "smsgw_queue_oldest_age_seconds",
        "Age of the oldest unfinished message by class.",
        labels=["class"],
    )
    for cls in CLASSES:
        depth.add_metric([cls], queue.active.get(cls, 0))
        oldest = queue.oldest_by_class.get(cls)
        age.add_metric([cls], max(0.0, now - oldest) if oldest is not None else 0.0)
    up = GaugeMetricFamily("smsgw_route_up", "1 when the route can send.", labels=["route"])
    tokens = GaugeMetricFamily(
        "smsgw_route_tokens", "Tokens in the route's bucket.", labels=["route"]
    )
    rate = GaugeMetricFamily(
        "smsgw_route_rate",
        "The route's current rate in parts per second (lower after throttling).",
        labels=["route"],
    )
    in_flight = GaugeMetricFamily(
        "smsgw_route_in_flight",
        "Parts handed to the driver awaiting an answer.",
        labels=["route"],
    )
    window = GaugeMetricFamily(
        "smsgw_route_window", "Parts the route may have outstanding.", labels=["route"]
    )
    for r in routes:
        up.add_metric([r.name], 1.0 if r.up else 0.0)
        tokens.add_metric([r.name], r.tokens)
        rate.add_metric([r.name], r.rate)
        in_flight.add_metric([r.name], r.in_flight)
        window.add_metric([r.name], r.window)
    webhooks = GaugeMetricFamily(
        "smsgw_webhook_queue_depth", "Webhook deliveries waiting (incl. retries)."
    )
    webhooks.add_metric([], queue.webhooks_pending)
    return [depth, age, up, tokens, rate, in_flight, window, webhooks]


def modem_families(modems: Iterable[ModemView]) -> list[Metric]:
    """Per-modem parts finished, receipts and inbound (counters) and parts held (a gauge)."""
    labels = ["route", "link"]
    parts = CounterMetricFamily(
        "smsgw_modem_parts", "Parts a modem finished, by result (sent, failed).",
        labels=[*labels, "result"],
    )  # fmt: skip
    receipts = CounterMetricFamily(
        "smsgw_modem_receipts", "Status reports a modem received.", labels=labels
    )
    inbound = CounterMetricFamily(
        "smsgw_modem_inbound", "Inbound messages a modem received.", labels=labels
    )
    queued = GaugeMetricFamily("smsgw_modem_queued", "Parts a modem holds now.", labels=labels)
    for m in modems:
        lv = [m.route, m.name]
        parts.add_metric([*lv, "sent"], m.counts["sent"])
        parts.add_metric([*lv, "failed"], m.counts["failed"])
        receipts.add_metric(lv, m.counts["receipts"])
        inbound.add_metric(lv, m.counts["inbound"])
        queued.add_metric(lv, m.load)
    return [parts, receipts, inbound, queued]
