"""Per-key rate quotas: a token bucket per API key that a client can always satisfy.

A key's bucket holds ``burst`` tokens, by default ``max(rate, limits.max_batch)``, so the
largest batch the key may send fits in it. A smaller ``burst`` set in config is kept, and a
batch larger than it is refused at once with 422 ``batch_exceeds_burst`` (waiting would never
help) instead of a 429 that could never succeed. Quota is taken before a request is written and
given back for every message that is then refused, so a refusal costs the client nothing.

Time is trio's clock (monotonic), passed in by the caller's ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from smsgw.config.schema import KeyConfig
from smsgw.gateway.errors import Invalid, RateLimited
from smsgw.queue.scheduling.limiter import TokenBucket

__all__ = ["Quotas", "default_burst"]


def default_burst(key: KeyConfig, max_batch: int) -> int:
    """The key's bucket size: its ``burst``, or enough for one second and one full batch."""
    if key.burst is not None:
        return key.burst
    return max(math.ceil(key.rate), max_batch, 1)


class Quotas:
    """The buckets of all keys; see the module docstring."""

    def __init__(self, keys: Sequence[KeyConfig], max_batch: int, now: float) -> None:
        self._buckets = {
            k.name: TokenBucket(k.rate, float(default_burst(k, max_batch)), now) for k in keys
        }

    def burst(self, key: KeyConfig) -> int:
        return int(self._buckets[key.name].burst)

    def check_batch(self, key: KeyConfig, n: int) -> None:
        """Raise 422 ``batch_exceeds_burst`` when ``n`` messages can never fit the bucket."""
        burst = self.burst(key)
        if n > burst:
            raise Invalid(
                f"a batch of {n} messages is larger than this API key's burst of {burst};"
                f" send at most {burst} per request",
                field="messages",
                code="batch_exceeds_burst",
            )

    def take(self, key: KeyConfig, n: int, now: float) -> None:
        """Spend ``n`` tokens, or raise 429 with the seconds until they are there."""
        bucket = self._buckets[key.name]
        if bucket.tokens(now) < n:
            # n <= burst here (check_batch, and single sends take 1), so this wait is enough.
            wait = bucket.wait_time(min(n, bucket.burst), now)
            raise RateLimited(
                f"rate limit of {key.rate:g} messages/s exceeded",
                headers=(("Retry-After", str(max(1, math.ceil(wait)))),),
            )
        bucket.take(n, now)

    def give_back(self, key: KeyConfig, n: int, now: float) -> None:
        """Return tokens for messages that were refused after :meth:`take`."""
        if n > 0:
            self._buckets[key.name].give_back(n, now)
