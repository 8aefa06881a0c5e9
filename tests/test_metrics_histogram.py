"""The batch histogram exposes exactly what prometheus-client's Histogram would."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from smsgw.metrics.histogram import BatchHistogram
from smsgw.metrics.instruments import E2E_BUCKETS, LATENCY_BUCKETS


def _samples(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line and not line.startswith("#") and "_created" not in line
    ]


@pytest.mark.parametrize("buckets", [LATENCY_BUCKETS, E2E_BUCKETS])
def test_same_exposition_as_prometheus_client(buckets: tuple[float, ...]) -> None:
    ours_reg, theirs_reg = CollectorRegistry(), CollectorRegistry()
    ours = BatchHistogram("x_seconds", "doc", ["route"], buckets=buckets, registry=ours_reg)
    theirs = Histogram("x_seconds", "doc", ["route"], buckets=buckets, registry=theirs_reg)
    rng = random.Random(7)
    # Values on the bounds themselves too: a bucket counts values less than OR EQUAL to le.
    values = [rng.expovariate(1 / 2) for _ in range(2000)] + list(buckets) + [0.0, 1e6]
    for route in ("a", "b"):
        for v in values[:1000]:
            ours.labels(route).observe(v)
            theirs.labels(route).observe(v)
        ours.labels(route).observe_many(values[1000:])
        for v in values[1000:]:
            theirs.labels(route).observe(v)
    assert _samples(ours_reg) == _samples(theirs_reg)


def test_observations_from_threads_are_all_counted() -> None:
    reg = CollectorRegistry()
    hist = BatchHistogram("y_seconds", "doc", ["class"], buckets=(1.0, 2.0), registry=reg)

    def work() -> None:
        for _ in range(500):
            hist.labels("otp").observe_many([0.5, 1.5, 3.0])
            hist.labels("otp").observe(1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 'y_seconds_count{class="otp"} 8000.0' in _samples(reg)
    assert 'y_seconds_bucket{class="otp",le="1.0"} 4000.0' in _samples(reg)


def test_wrong_label_count_is_refused() -> None:
    hist = BatchHistogram(
        "z_seconds", "doc", ["a", "b"], buckets=(1.0,), registry=CollectorRegistry()
    )
    with pytest.raises(ValueError, match="expected labels"):
        hist.labels("only-one")
