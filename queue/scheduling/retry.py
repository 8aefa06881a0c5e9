"""Retry decisions: what becomes of a part after the driver's outcome, as pure functions.

:func:`decide` takes the outcome, the attempts made so far, the route's :class:`RetryPolicy`
and ``now``, and returns a :class:`Decision` the store writes: submitted, back to the queue at
once (a throttle is the carrier's pace, not the part's fault, and costs no attempt), retried
later with backoff (a temporary failure with attempts left), or failed. The delay is
:func:`smsgw.drivers.backoff.backoff` (exponential with jitter, a pure function of the attempt
number and of ``rng``), still importable from here.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from smsgw.drivers.backoff import backoff
from smsgw.drivers.seam import FailureKind, Outcome

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "Decision",
    "DispatchPolicy",
    "RetryPolicy",
    "backoff",
    "decide",
]

DEFAULT_MAX_ATTEMPTS: Final = 5
"""Attempts of a route that config does not name."""


@dataclass(frozen=True)
class RetryPolicy:
    """One route's retry rules: at most ``max_attempts`` sends of a part, waiting
    :func:`backoff` (``base``, ``cap``) between them; ``rng`` draws the jitter."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = 2.0
    cap: float = 600.0
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class DispatchPolicy:
    """Per-route and global settings the dispatch operations need."""

    max_attempts: Mapping[str, int]
    retry_base: float = 2.0
    retry_max: float = 600.0
    rng: random.Random = field(default_factory=random.Random)

    def for_route(self, route: str) -> RetryPolicy:
        """The retry rules of ``route`` (attempts from config, else the default)."""
        return RetryPolicy(
            max_attempts=self.max_attempts.get(route, DEFAULT_MAX_ATTEMPTS),
            base=self.retry_base,
            cap=self.retry_max,
            rng=self.rng,
        )


Action = Literal["submitted", "requeue", "retry", "fail"]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What the store does with a part after an outcome.

    ``submitted``: the carrier took it. ``requeue``: back to the queue now, the attempt not
    counted. ``retry``: deferred until ``due_at``. ``fail``: final, with ``error``.
    ``reason`` is the outcome's code and reason as one text (empty when submitted).
    """

    action: Action
    reason: str = ""
    due_at: float | None = None
    error: str | None = None


def decide(outcome: Outcome, attempts: int, policy: RetryPolicy, now: float) -> Decision:
    """The fate of a part whose send ``attempts`` (>= 1, this one included) ended in
    ``outcome``. Pure: the jitter comes from ``policy.rng``; nothing is read or written."""
    if outcome.failure is None:
        return Decision(action="submitted")
    reason = f"{outcome.code} {outcome.reason}".strip()
    if outcome.failure is FailureKind.THROTTLED:
        return Decision(action="requeue", reason=reason)
    if outcome.failure is FailureKind.TEMPORARY:
        if attempts < policy.max_attempts:
            due = now + backoff(attempts, policy.base, policy.cap, policy.rng)
            return Decision(action="retry", reason=reason, due_at=due)
        return Decision(
            action="fail", reason=reason, error=f"gave up after {attempts} attempts: {reason}"
        )
    return Decision(action="fail", reason=reason, error=reason)
