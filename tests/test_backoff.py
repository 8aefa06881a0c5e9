"""The one retry delay (smsgw.drivers.backoff): exponential steps, a cap, "equal jitter" in
[step / 2, step], and a result that depends only on its arguments and the generator's draws."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from smsgw.drivers.backoff import backoff
from smsgw.queue.scheduling import retry


class _Fixed(random.Random):
    """A generator whose every draw is ``value``: the jitter pinned, the delay exact."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self._value = value

    def random(self) -> float:
        return self._value


@pytest.mark.parametrize(
    ("attempt", "least", "most"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0), (7, 32.0, 64.0)],
)
def test_each_attempt_waits_between_half_and_all_of_its_doubling_step(
    attempt: int, least: float, most: float
) -> None:
    assert backoff(attempt, 1.0, 600.0, _Fixed(0.0)) == least
    assert backoff(attempt, 1.0, 600.0, _Fixed(0.5)) == (least + most) / 2
    rng = random.Random(attempt)
    for _ in range(200):
        assert least <= backoff(attempt, 1.0, 600.0, rng) <= most


def test_the_step_stops_at_the_cap_even_for_absurd_attempt_counts() -> None:
    assert backoff(10, 2.0, 60.0, _Fixed(0.0)) == 30.0
    assert backoff(10, 2.0, 60.0, _Fixed(0.5)) == 45.0
    # 2.0 ** 5000 would overflow: the cap still holds and nothing raises.
    assert backoff(5000, 2.0, 60.0, _Fixed(0.0)) == 30.0
    assert backoff(10**9, 0.5, 15.0, _Fixed(0.5)) == 11.25


def test_an_attempt_below_one_counts_as_the_first() -> None:
    for attempt in (0, -3):
        assert backoff(attempt, 2.0, 600.0, _Fixed(0.5)) == backoff(1, 2.0, 600.0, _Fixed(0.5))


def test_the_mean_wait_grows_with_the_attempt_until_the_cap() -> None:
    means = []
    for attempt in range(1, 12):
        rng = random.Random(7)  # the same draws for every attempt
        means.append(statistics.fmean(backoff(attempt, 1.0, 100.0, rng) for _ in range(500)))
    for earlier, later in itertools.pairwise(means):
        assert later >= earlier
    assert means[0] < means[3] < means[6] < means[7]  # 1, 8, 64, then capped at 100
    assert means[7] == means[-1]
    # Equal jitter: the mean is three quarters of the step.
    assert means[-1] == pytest.approx(75.0, rel=0.05)


def test_the_same_seed_gives_the_same_delays() -> None:
    a, b, c = random.Random(42), random.Random(42), random.Random(43)
    first = [backoff(n, 2.0, 600.0, a) for n in range(1, 20)]
    assert first == [backoff(n, 2.0, 600.0, b) for n in range(1, 20)]
    assert first != [backoff(n, 2.0, 600.0, c) for n in range(1, 20)]


def test_without_a_generator_the_module_one_draws_the_jitter() -> None:
    state = random.getstate()
    try:
        random.seed(11)
        drawn = backoff(3, 2.0, 600.0)
    finally:
        random.setstate(state)
    assert drawn == backoff(3, 2.0, 600.0, random.Random(11))


def test_the_retry_rules_use_the_same_function() -> None:
    assert retry.backoff is backoff
