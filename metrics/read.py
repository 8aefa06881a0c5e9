"""Reading the current values of our own counters and gauges in-process, cheaply.

The ops console shows the same figures ``/metrics`` exposes, read from the same instruments
at request time. ``Counter.collect()`` builds two samples (``_total`` and ``_created``) per
labelled child, which adds up with many routes and modems on every page view.
:func:`values` reads each child's value directly, far more cheaply, through
prometheus-client's child table and value holder: not a documented interface, but the one
every version since 0.4 has had. If a future version changes it, :func:`values` falls back
to ``collect()`` (same numbers, slower); the console's test that compares every figure with
a scrape of ``/metrics`` checks both ways give the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge

__all__ = ["values"]


def values(metric: Counter | Gauge) -> dict[tuple[str, ...], float]:
    """Each labelled child's value now, by its label values (in the metric's label order)."""
    try:
        # Copied at once: other tasks and the store's thread may add children meanwhile.
        children: list[tuple[Sequence[str], Any]] = list(metric._metrics.items())
        return {tuple(labels): float(child._value.get()) for labels, child in children}
    except AttributeError:  # pragma: no cover - a prometheus-client that changed its insides
        return _collected(metric)


def _collected(metric: Counter | Gauge) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for s in family.samples:
            if s.name == family.name + "_total" or s.name == family.name:
                out[tuple(s.labels.values())] = s.value
    return out
