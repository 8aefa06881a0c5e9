"""A labelled Prometheus histogram that takes a batch of observations under one lock.

prometheus-client's :class:`~prometheus_client.Histogram` finds the bucket with a Python loop
and takes a lock per observation. The store settles messages in batches of
hundreds (end-to-end latency) and a driver reports window-loads of answers (submit latency),
so these histograms count a batch with one bisect per value and one locked update.

Exposition is the standard one: ``<name>_bucket{le=...}`` (cumulative, ``+Inf`` last),
``<name>_count`` and ``<name>_sum`` per label set, so queries and dashboards do not change.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["BatchHistogram", "HistogramChild"]


class HistogramChild:
    """One label set's buckets; safe to observe from any thread."""

    __slots__ = ("_bounds", "_counts", "_lock", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect_left(self._bounds, value)  # buckets are "less than or equal to le"
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    def observe_many(self, values: Iterable[float]) -> None:
        bounds = self._bounds
        counts = [0] * (len(bounds) + 1)
        total = 0.0
        for v in values:
            counts[bisect_left(bounds, v)] += 1
            total += v
        with self._lock:
            mine = self._counts
            for i, n in enumerate(counts):
                if n:
                    mine[i] += n
            self._sum += total

    def snapshot(self) -> tuple[list[int], float]:
        """Per-bucket counts (not cumulative) and the sum, read together."""
        with self._lock:
            return list(self._counts), self._sum


class BatchHistogram(Collector):
    """Like ``Histogram(name, doc, labelnames, buckets=..., registry=...)``, with
    :meth:`HistogramChild.observe_many`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = tuple(float(b) for b in buckets)
        if list(bounds) != sorted(set(bounds)) or not all(map(math.isfinite, bounds)):
            raise ValueError(f"{name}: buckets must be finite and increasing (+Inf is implied)")
        self._name = name
        self._doc = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = bounds
        self._les = [repr(b) for b in bounds] + ["+Inf"]  # as prometheus-client writes them
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    @property
    def name(self) -> str:
        return self._name

    @property
    def labelnames(self) -> tuple[str, ...]:
        return self._labelnames

    def labels(self, *values: str) -> HistogramChild:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name}: expected labels {self._labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.setdefault(key, HistogramChild(self._bounds))
        return child

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)
        for key, child in list(self._children.items()):
            counts, total = child.snapshot()
            cumulative, running = [], 0
            for le, n in zip(self._les, counts, strict=True):
                running += n
                cumulative.append((le, float(running)))
            family.add_metric(list(key), cumulative, total)
        return [family]
