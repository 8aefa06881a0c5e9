"""The route limiter keeps the carrier contract in any one-second window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.queue.scheduling.limiter import RouteLimiter, TokenBucket


def test_bucket_refills_at_rate_and_caps_at_burst() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert b.tokens(0.0) == 5
    b.take(5, 0.0)
    assert b.tokens(0.2) == 2.0
    assert b.wait_time(3, 0.2) == 0.1
    assert b.tokens(100.0) == 5


def test_slow_bucket_does_not_lose_fractions() -> None:
    # A modem at 0.2 parts/s: one part every 5 s exactly, not "whole seconds dropped".
    lim = RouteLimiter(0.2, 1, 0.0)
    sent = []
    t = 0.0
    while t < 60.0:
        if lim.available(t) >= 1:
            lim.take(1, t)
            sent.append(t)
        t = lim.next_time(t)
    assert sent == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0]


@settings(max_examples=100, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=500),
    burst=st.integers(min_value=1, max_value=2000),
    steps=st.lists(st.floats(min_value=0.0, max_value=0.7), min_size=1, max_size=120),
    greed=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=120),
)
def test_never_more_than_rate_in_any_one_second_window(
    rate: int, burst: int, steps: list[float], greed: list[int]
) -> None:
    lim = RouteLimiter(float(rate), burst, 0.0)
    t = 0.0
    log: list[tuple[float, int]] = []
    for i, dt in enumerate(steps):
        t += dt
        n = min(lim.available(t), greed[i % len(greed)])
        if n > 0:
            lim.take(n, t)
            log.append((t, n))
    for start, _ in log:
        in_window = sum(n for (s, n) in log if start <= s < start + 1.0)
        assert in_window <= rate


def test_throttle_pauses_then_recovers_to_the_contract() -> None:
    lim = RouteLimiter(100.0, 100, 0.0, throttle_pause=2.0)
    lim.take(lim.available(0.0), 0.0)
    lim.throttled(0.5)
    assert lim.available(1.0) == 0
    assert lim.next_time(1.0) == 2.5
    assert lim.effective_rate == 50.0
    lim.available(2.5)
    assert lim.effective_rate == 50.0
    lim.available(5.0)  # 2.5 s of recovery at 10 parts/s per second
    assert lim.effective_rate == 75.0
    lim.available(60.0)
    assert lim.effective_rate == 100.0
