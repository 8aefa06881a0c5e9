"""Measuring a route's rate as its peer saw it (receive times in seconds)."""

from __future__ import annotations

from collections.abc import Sequence


def max_in_window(times: Sequence[float], width: float) -> int:
    """The most times in any half-open window ``[t, t + width)`` (sliding, not aligned)."""
    ts = sorted(times)
    best = j = 0
    for i, t in enumerate(ts):
        while j < len(ts) and ts[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def sustained(times: Sequence[float]) -> float:
    """Parts per second from the first to the last (what a backlog got through)."""
    ts = sorted(times)
    return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else 0.0
