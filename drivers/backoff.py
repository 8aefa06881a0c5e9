"""The one retry delay of the package: exponential backoff with "equal jitter".

:func:`backoff` is a pure function of the attempt number (and of ``rng``), shared by every
place that waits before trying again: a part's retry, a webhook's redelivery, an SMPP bind's
reconnect, a modem's reopening, a supervised task's restart and the store's health probe.
"""

from __future__ import annotations

import random

__all__ = ["backoff"]

_MAX_EXPONENT = 1023
"""Beyond this the step is past any finite cap (and ``2.0 ** 1024`` overflows)."""


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed so far).

    The step is ``base * 2 ** (attempt - 1)``, at most ``cap``; an ``attempt`` below 1 counts
    as 1. "Equal jitter": half the step is kept, the other half is drawn from ``rng`` (the
    module's shared generator when None), so retries of a burst of failures spread out but
    never come back sooner than half the step. The result lies in ``[step / 2, step]``.
    """
    step = min(cap, base * 2.0 ** min(_MAX_EXPONENT, max(0, attempt - 1)))
    r: float = (rng or random).random()
    return step / 2 + r * step / 2
