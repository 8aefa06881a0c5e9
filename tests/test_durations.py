"""Durations as stores and operators write them, read the same everywhere."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.config.durations import UNITS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("2d", 172_800.0),
        ("4w", 2_419_200.0),
        ("1h30m", 5400.0),
        ("1d12h", 129_600.0),
        (" 2d ", 172_800.0),
        ("0.5h", 1800.0),
        (30, 30.0),
        (1.5, 1.5),
        ("0s", 0.0),
    ],
)
def test_written_durations_read_as_seconds(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    ["", "2", "1x", "h", "-1h", "1h 30m", "30m1h", "1h1h", "２d", "1e3s", "nan", True, None, -5],
)
def test_anything_else_is_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|unit"):
        parse_duration(bad)  # type: ignore[arg-type]


def test_a_maximum_is_named_in_the_refusal() -> None:
    assert parse_duration("400d", maximum=400 * 86400) == 400 * 86400
    with pytest.raises(ValueError, match="longer than 400d"):
        parse_duration("401d", maximum=400 * 86400)


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(sorted(UNITS)))
def test_formatted_durations_read_back(n: int, unit: str) -> None:
    seconds = n * UNITS[unit]
    assert parse_duration(format_duration(seconds)) == seconds
