"""Retry timing: exponential backoff with jitter, a pure function of the attempt number."""

from __future__ import annotations

import random

__all__ = ["backoff"]


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed so far).

    "Equal jitter": half the exponential step is kept, the other half is random, so retries of
    a burst of failures spread out but never come back sooner than half the step.
    """
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    r: float = (rng or random).random()
    return step / 2 + r * step / 2
