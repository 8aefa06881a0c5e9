"""The rolling-window cap as a pure function."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsgw.queue.consent.frequency import earliest_slot

DAY = 86_400.0
WEEK = 7 * DAY


def test_under_the_cap_goes_now() -> None:
    assert earliest_slot([], 100.0, 2, WEEK) == 100.0
    assert earliest_slot([50.0], 100.0, 2, WEEK) == 100.0


def test_at_the_cap_waits_until_the_oldest_leaves_the_window() -> None:
    assert earliest_slot([0.0, DAY], 2 * DAY, 2, WEEK) == WEEK
    assert earliest_slot([0.0, DAY], WEEK, 2, WEEK) == WEEK
    assert earliest_slot([0.0, DAY, WEEK], WEEK + 1, 2, WEEK) == DAY + WEEK


def test_planned_messages_later_in_time_also_count() -> None:
    # One went out at day 0 and one is planned for day 3: a third at day 1 would put three in
    # [0, 7d); the first free time is when day 0 leaves the window, and that one is in the
    # window of day 3's message, which holds only two then.
    assert earliest_slot([0.0, 3 * DAY], DAY, 2, WEEK) == WEEK


def test_zero_means_no_cap() -> None:
    assert earliest_slot([1.0, 2.0, 3.0], 4.0, 0, WEEK) == 4.0


@given(
    st.lists(st.floats(min_value=0, max_value=30 * DAY), max_size=8),
    st.floats(min_value=0, max_value=30 * DAY),
    st.integers(min_value=1, max_value=4),
)
def test_the_answer_keeps_every_window_under_the_cap(
    slots: list[float], t: float, limit: int
) -> None:
    def ok(points: list[float]) -> bool:
        return all(sum(1 for y in points if x <= y < x + WEEK) <= limit for x in points)

    if not ok(slots):
        return  # the existing schedule already breaks the cap (cannot happen in the store)
    c = earliest_slot(slots, t, limit, WEEK)
    assert c >= t
    assert ok([*slots, c])
