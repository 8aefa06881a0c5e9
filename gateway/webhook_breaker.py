"""A circuit breaker per receiver (origin): one that keeps timing out is left alone a while.

Pure: time is a parameter. ``closed`` lets everything through and counts timeouts and
connection failures in a row (an HTTP answer, even a 500, shows the receiver is there and
resets the count). ``failures`` of them open it: nothing is attempted until ``cooldown``
seconds have passed; then it is ``half_open`` and lets one probe through. The probe's
success closes it; its failure opens it again for twice as long (at most 16 cooldowns).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Breaker", "BreakerState"]

BreakerState = Literal["closed", "open", "half_open"]
_MAX_FACTOR = 16


class Breaker:
    """One receiver's breaker; see the module docstring."""

    __slots__ = ("_factor", "cooldown", "failures", "opened_until", "probing", "state", "threshold")

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.state: BreakerState = "closed"
        self.failures = 0
        self.opened_until = 0.0
        self.probing = False
        self._factor = 1

    def allows(self, now: float) -> bool:
        """Whether a delivery may start now (an open breaker turns half-open when due)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if now < self.opened_until:
                return False
            self.state = "half_open"
            self.probing = False
        return not self.probing

    def started(self) -> None:
        """A delivery started (in half-open state: the probe)."""
        if self.state == "half_open":
            self.probing = True

    def succeeded(self) -> None:
        self.state = "closed"
        self.failures = 0
        self.probing = False
        self._factor = 1

    def answered(self) -> None:
        """The receiver answered, but not with a 2xx: it is there, so no circuit reason."""
        self.succeeded()

    def failed(self, now: float) -> bool:
        """A timeout or connection failure; returns True when this opened the breaker."""
        self.failures += 1
        if self.state == "half_open":
            self._factor = min(self._factor * 2, _MAX_FACTOR)
        elif self.failures < self.threshold or self.state == "open":
            return False
        self.state = "open"
        self.probing = False
        self.opened_until = now + self.cooldown * self._factor
        return True

    @property
    def idle(self) -> bool:
        """Nothing to remember: closed with no failures counted."""
        return self.state == "closed" and self.failures == 0
