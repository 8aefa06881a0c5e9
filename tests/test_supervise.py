"""Supervision: a failing task is logged, counted and restarted with backoff; cancellation and
Fatal pass through."""

from __future__ import annotations

import itertools
import random

import pytest
import trio
import trio.testing

from smsgw.drivers.supervise import Fatal, contained, supervised


async def test_a_failing_task_restarts_with_backoff_and_is_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs: list[float] = []
    failures: list[str] = []

    async def flaky() -> None:
        runs.append(trio.current_time())
        if len(runs) < 4:
            raise ValueError("bad input")
        await trio.sleep_forever()

    with trio.move_on_after(100):
        await supervised(
            "flaky", flaky, on_failure=failures.append, backoff_min=1.0, rng=random.Random(0)
        )
    assert failures == ["flaky"] * 3
    assert len(runs) == 4
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    # Exponential with jitter: each wait is between half and all of 1, 2, 4 seconds.
    for gap, base in zip(gaps, (1.0, 2.0, 4.0), strict=True):
        assert base / 2 <= gap <= base


async def test_fatal_and_cancellation_pass_through(autojump_clock: trio.testing.MockClock) -> None:
    async def fatal() -> None:
        raise Fatal("store gone")

    with pytest.raises(Fatal):
        await supervised("store", fatal, on_failure=lambda name: None)

    failures: list[str] = []

    async def forever() -> None:
        await trio.sleep_forever()

    with trio.move_on_after(5) as scope:
        await supervised("idle", forever, on_failure=failures.append)
    assert scope.cancelled_caught and failures == []


async def test_contained_swallows_one_unit_failure() -> None:
    failures: list[str] = []

    async def bad() -> None:
        raise UnicodeEncodeError("latin-1", "€", 0, 1, "no")

    async def good() -> None:
        return None

    assert await contained("webhook", bad, on_failure=failures.append) is False
    assert await contained("webhook", good, on_failure=failures.append) is True
    assert failures == ["webhook"]
