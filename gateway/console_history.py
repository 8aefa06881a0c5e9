"""Throughput history for the ops console: a 15-minute ring of cumulative counts.

Every :data:`INTERVAL` seconds the sampler reads how many parts each route (and each link)
has had accepted by its carrier so far — the counters ``/metrics`` exposes, so no new
counting on the dispatch path — and keeps the readings for :data:`SPAN` seconds. A rate is
the difference of two readings over their time apart; the console computes "now" against the
current counter value at request time, so the newest point of the chart moves at every
refresh while the ring itself costs one reading per ten seconds.

Time is trio's clock, so tests drive the sampler with the autojump clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

import msgspec
import trio

__all__ = ["INTERVAL", "SPAN", "Key", "Reading", "Throughput"]

INTERVAL = 10.0
SPAN = 900.0
_MIN_SPAN = 0.5
"""Seconds two readings must lie apart before their difference is called a rate."""


class Reading(msgspec.Struct, frozen=True):
    """Cumulative counts at one moment, by route and by (route, link)."""

    t: float
    routes: Mapping[str, float]
    links: Mapping[tuple[str, str], float]


Key = str | tuple[str, str]
"""A route's name, or (route, link)."""
Counts = Callable[[], tuple[Mapping[str, float], Mapping[tuple[str, str], float]]]


class Throughput:
    """The ring of :class:`Reading` and the rates read from it."""

    def __init__(self, interval: float = INTERVAL, span: float = SPAN) -> None:
        self.interval = interval
        self.span = span
        self._ring: deque[Reading] = deque(maxlen=int(span / interval) + 1)

    @property
    def readings(self) -> list[Reading]:
        return list(self._ring)

    def sample(self, reading: Reading) -> None:
        """Add a reading (newer than every one before it)."""
        self._ring.append(reading)

    def clear(self) -> None:
        """Forget every reading."""
        self._ring.clear()

    async def run(self, counts: Counts) -> None:
        """Read ``counts()`` now and every :attr:`interval` seconds until cancelled."""
        while True:
            routes, links = counts()
            self.sample(Reading(trio.current_time(), routes, links))
            await trio.sleep(self.interval)

    def rate_now(self, key: Key, count: float, now: float) -> float:
        """Parts per second over the last ~:attr:`interval` seconds, ``count`` being the value
        now (against the newest reading at least half an interval old; else the oldest)."""
        ring = self._ring
        if not ring:
            return 0.0
        ref = ring[0]
        for r in reversed(ring):
            if now - r.t >= self.interval / 2:
                ref = r
                break
        dt = now - ref.t
        if dt < _MIN_SPAN:
            return 0.0
        return max(0.0, (count - _get(ref, key)) / dt)

    def series(self, key: Key, count: float, now: float) -> list[float]:
        """Rates between consecutive readings, oldest first, then the rate from the newest
        reading to ``count`` at ``now`` (when they are far enough apart)."""
        ring = self._ring
        out: list[float] = []
        prev: Reading | None = None
        for r in ring:
            if prev is not None:
                dt = r.t - prev.t
                out.append(max(0.0, (_get(r, key) - _get(prev, key)) / dt) if dt > 0 else 0.0)
            prev = r
        if prev is not None and now - prev.t >= _MIN_SPAN:
            out.append(max(0.0, (count - _get(prev, key)) / (now - prev.t)))
        return out

    def start_age(self, now: float) -> float | None:
        """Seconds before ``now`` of the oldest reading (where the first point starts)."""
        return now - self._ring[0].t if self._ring else None

    def ages(self, now: float) -> list[float]:
        """Seconds before ``now`` at which each point of :meth:`series` ends (same length)."""
        ring = self._ring
        out = [now - r.t for r in list(ring)[1:]]
        if ring and now - ring[-1].t >= _MIN_SPAN:
            out.append(0.0)
        return out


def _get(reading: Reading, key: Key) -> float:
    if isinstance(key, str):
        return reading.routes.get(key, 0.0)
    return reading.links.get(key, 0.0)
