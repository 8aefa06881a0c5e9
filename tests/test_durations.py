"""Durations as clients write them, and the published pattern of the written forms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.config.durations import _at_most, format_duration, parse_duration, whole_units_pattern

YEAR = 400 * 86400.0


def published(text: str) -> bool:
    """The pattern as JSON Schema reads it: ECMA-262's ``$`` is the end (Python's also
    matches before a final newline)."""
    pattern = whole_units_pattern(YEAR)
    return re.match(pattern.removesuffix("$") + r"\Z", text) is not None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("2d", 172800.0), ("30d", 2592000.0)],
)
def test_a_written_duration_is_its_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text, maximum=YEAR) == seconds
    assert published(text)


def test_a_number_is_seconds() -> None:
    assert parse_duration(90, maximum=YEAR) == 90.0
    assert parse_duration(1.5, maximum=YEAR) == 1.5


@pytest.mark.parametrize(
    "value",
    [
        "",
        "90",
        "s",
        "0s",
        "01h",
        "1 h",
        "1H",
        "1w",
        "-1d",
        "1.5h",
        "401d",
        "1h\n",
        0,
        0.5,
        401 * 86400.0,
        float("nan"),
        float("inf"),
    ],
)
def test_what_is_no_duration_is_refused_and_the_pattern_agrees(value: str | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value, maximum=YEAR)
    if isinstance(value, str):
        assert not published(value)


@given(st.integers(1, 10**7), st.integers(1, 2 * 10**7))
def test_the_pattern_of_at_most_n_takes_exactly_1_to_n(n: int, k: int) -> None:
    assert bool(re.fullmatch(_at_most(n), str(k))) == (k <= n)
    assert not re.fullmatch(_at_most(n), "0" + str(k))


@given(st.integers(1, 10**8), st.sampled_from("smhd"))
def test_the_pattern_and_the_parser_agree(n: int, unit: str) -> None:
    text = f"{n}{unit}"
    matched = published(text)
    try:
        parse_duration(text, maximum=YEAR)
    except ValueError:
        taken = False
    else:
        taken = True
    assert matched == taken


def test_a_delay_may_be_zero_where_the_caller_allows_it() -> None:
    assert parse_duration("0s", minimum=0) == 0.0
    assert parse_duration(0, minimum=0) == 0.0
    assert parse_duration("1h") == 3600.0  # no maximum unless the caller gives one
    with pytest.raises(ValueError, match="at least 1s"):
        parse_duration("0s")
    with pytest.raises(ValueError):
        parse_duration(True)


@given(st.integers(0, 10**6), st.sampled_from("smhd"))
def test_a_formatted_duration_reads_back(n: int, unit: str) -> None:
    seconds = parse_duration(f"{n}{unit}", minimum=0)
    assert parse_duration(format_duration(seconds), minimum=0) == seconds
