"""Frequency caps: at most N capped (marketing) messages per recipient in any rolling window.

The count is of messages, not parts. Each capped message counts from its planned time while it
waits (so two messages accepted in the same second do not both take the last slot), and from
the time it left once it left; one that ends without leaving stops counting. The store keeps
those times (:mod:`smsgw.queue.store.sqlite.courtesy`), so the count survives restarts.

:func:`earliest_slot` is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = ["Cap", "earliest_slot"]


class Cap(msgspec.Struct, frozen=True, kw_only=True):
    """``limit`` messages per ``window`` seconds; ``per_key`` counts each API key apart."""

    limit: int
    window: float
    per_key: bool = True


def earliest_slot(slots: Sequence[float], t: float, limit: int, window: float) -> float:
    """The earliest time ``>= t`` at which one more message keeps every half-open window
    ``[s, s + window)`` at ``limit`` messages or fewer, given the messages at ``slots``.

    Moving later only ever frees a slot when an earlier message drops out of the window (at
    ``x + window``), so the answer is ``t`` or one of those points. ``limit`` 0 means no cap.
    """
    if limit <= 0:
        return t
    points = sorted(slots)
    candidates = sorted({t, *(x + window for x in points if x + window > t)})
    for c in candidates:
        if _fits(points, c, limit, window):
            return c
    return candidates[-1]  # unreachable: after the last slot's window everything fits


def _fits(points: Sequence[float], c: float, limit: int, window: float) -> bool:
    # Only windows that contain c can be pushed over the limit by it; the fullest of those
    # start at c itself or at an existing message in (c - window, c].
    starts = [x for x in points if c - window < x <= c]
    starts.append(c)
    for s in starts:
        inside = sum(1 for x in points if s <= x < s + window)
        if inside + 1 > limit:
            return False
    return True
