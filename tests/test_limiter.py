"""The route limiter keeps the carrier contract in any one-second window, exactly.

Times in the properties are whole microseconds (``t_us / 1e6`` seconds), so the windows the
tests count in are integer arithmetic too: what is asserted is the limiter's promise, not a
float's rounding. The properties are derandomized: the same examples on every run.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.drivers.pacing import NS, Pacer, seconds, ticks
from smsgw.queue.scheduling.limiter import RouteLimiter, TokenBucket, default_burst

US = 1_000_000
EXACT = settings(max_examples=200, deadline=None, derandomize=True, database=None)


def test_bucket_refills_at_rate_and_caps_at_burst() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert b.tokens(0.0) == 5
    b.take(5, 0.0)
    assert b.tokens(0.2) == 2.0
    assert b.wait_time(3, 0.2) == 0.1
    assert b.tokens(100.0) == 5


def test_bucket_gives_back_and_changes_rate_without_minting_tokens() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    b.take(5, 0.0)
    b.give_back(2, 0.0)
    assert b.tokens(0.0) == 2.0
    b.give_back(10, 0.0)  # never above burst
    assert b.tokens(0.0) == 5.0
    b.take(4, 0.0)
    b.set_rate(5.0, 0.0)  # the one token stays one token
    assert b.tokens(0.0) == 1.0
    assert b.tokens(0.2) == 2.0  # and now refills at 5/s


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


def test_ticks_and_seconds_round_trip_at_large_clock_values() -> None:
    # trio's clock starts at a random offset of hours; far later still, a time the pacer names
    # must be a time at which its ticks have arrived.
    for t in (0, 1, 56_920_397_482_221, 3_000_000_000_000_017, 10**17 + 3):
        f = seconds(t)
        assert ticks(f) >= t
        assert f == t / NS or ticks(math.nextafter(f, -math.inf)) < t  # and no later


def _pace_a_backlog(rate: float, origin: float, steps: int) -> list[float]:
    """What a runner does: ask for a slice, sleep until next_time, take what is available."""
    lim = RouteLimiter(rate, None, origin)
    t, times = origin, []
    for _ in range(steps):
        want = lim.slice
        t = lim.next_time(t, want)
        got = lim.available(t)
        assert got >= want  # the time it named is a time at which it gives them
        lim.take(got, t)
        times += [t] * got
    return times


def test_a_runner_sleeping_until_next_time_always_finds_its_parts() -> None:
    # Found on the float pacer: at t = 56920.397482221226 the window's oldest entry was not yet
    # pruned at the very time next_time named, so the runner woke, found 2 of 3 and slept
    # "until" that same instant again, forever (a busy loop on the virtual clock).
    times = _pace_a_backlog(300.0, 56920.397482221226, 400)
    assert len(times) >= 400
    for rate, origin in ((50.0, 25506.982573942172), (7.0, 76096.24449125756)):
        _pace_a_backlog(rate, origin, 100)


@EXACT
@given(
    rate=st.sampled_from([1.0, 7.0, 50.0, 300.0, 1000.0, 0.2, 12.5]),
    origin_us=st.integers(min_value=0, max_value=200_000 * US),
    steps=st.integers(min_value=1, max_value=300),
)
def test_paced_backlog_uses_the_rate_and_never_stalls(
    rate: float, origin_us: int, steps: int
) -> None:
    times = _pace_a_backlog(rate, origin_us / US, steps)
    if len(times) > 2 * max(1, default_burst(rate)) + rate:
        span = times[-1] - times[0]
        # A fractional rate is held to its whole ceiling per second (12.5/s: 12 in any second).
        assert (len(times) - 1) / span >= 0.98 * min(rate, math.floor(rate) or rate)


def _windows_hold(log: list[tuple[int, int]], width_us: int, most: int) -> None:
    """In every half-open window [start, start + width) at most ``most`` parts (integers)."""
    for start, _ in log:
        assert sum(n for s, n in log if start <= s < start + width_us) <= most


@EXACT
@given(
    rate=st.integers(min_value=1, max_value=500),
    burst=st.integers(min_value=1, max_value=2000),
    origin_us=st.integers(min_value=0, max_value=200_000 * US),
    steps=st.lists(st.integers(min_value=0, max_value=700_000), min_size=1, max_size=120),
    greed=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=120),
    throttles=st.sets(st.integers(min_value=0, max_value=119), max_size=4),
)
def test_never_more_than_rate_in_any_one_second_window(
    rate: int,
    burst: int,
    origin_us: int,
    steps: list[int],
    greed: list[int],
    throttles: set[int],
) -> None:
    lim = RouteLimiter(float(rate), burst, origin_us / US, throttle_pause=0.3)
    t = origin_us
    log: list[tuple[int, int]] = []
    for i, dt in enumerate(steps):
        t += dt
        now = t / US
        if i in throttles:
            lim.throttled(now)
        n = min(lim.available(now), greed[i % len(greed)])
        if n > 0:
            lim.take(n, now)
            log.append((t, n))
    _windows_hold(log, US, rate)
    # The limiter's own window is a guard longer than a second: that holds too.
    _windows_hold(log, US * lim.pacer.window // NS, rate)


@EXACT
@given(
    rate=st.integers(min_value=1, max_value=2000),
    burst=st.one_of(st.none(), st.integers(min_value=1, max_value=200)),
    origin_us=st.integers(min_value=0, max_value=200_000 * US),
    steps=st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=150),
)
def test_parts_are_spaced_evenly_in_any_100_ms(
    rate: int, burst: int | None, origin_us: int, steps: list[int]
) -> None:
    # The promise the README makes: in any 100 ms at most ceil(rate / 10) + burst parts (the
    # bucket gives fewer than burst + rate * 0.1).
    pacer = Pacer(float(rate), burst, origin_us / US)
    b = pacer.burst
    t = origin_us
    log: list[tuple[int, int]] = []
    for dt in steps:
        t += dt
        n = pacer.available(t / US)
        if n:
            pacer.take(n, t / US)
            log.append((t, n))
    slice_us = US // 10
    for start, _ in log:
        k = sum(n for s, n in log if start <= s < start + slice_us)
        assert k * US < b * US + slice_us * rate
        assert k <= math.ceil(rate / 10) + b


@EXACT
@given(
    rate=st.sampled_from([0.2, 1.0, 3.0, 50.0, 300.0, 1000.0, 33.3]),
    burst=st.one_of(st.none(), st.integers(min_value=1, max_value=100)),
    origin_us=st.integers(min_value=0, max_value=200_000 * US),
    history=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400_000), st.integers(1, 50)), max_size=40
    ),
    want=st.integers(min_value=1, max_value=200),
    throttle=st.booleans(),
)
def test_next_time_is_a_time_at_which_the_parts_are_there(
    rate: float,
    burst: int | None,
    origin_us: int,
    history: list[tuple[int, int]],
    want: int,
    throttle: bool,
) -> None:
    lim = RouteLimiter(rate, burst, origin_us / US, throttle_pause=0.5)
    t = origin_us
    for dt, greed in history:
        t += dt
        lim.take(min(greed, lim.available(t / US)), t / US)
    if throttle:
        lim.throttled(t / US)
    now = t / US
    at = lim.next_time(now, want)
    assert at >= now
    can = min(want, lim.burst, lim.ceiling)
    if at > now:  # not a moment earlier (asked first: asking moves the limiter's clock)
        # One tick earlier (floats closer than a nanosecond are the same time to the pacer).
        assert lim.available(seconds(ticks(at) - 1)) < can
    assert lim.available(at) >= can


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
