"""Quiet hours in the recipient's local time, for numbers from several time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsgw.queue.consent.numbers import NumberError, parse_number
from smsgw.queue.consent.quiet_hours import (
    UnknownZone,
    Window,
    is_open,
    next_opening,
    parse_hhmm,
)

DAY = Window(start=9 * 60, end=21 * 60)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def zones(number: str) -> tuple[str, ...]:
    return parse_number(number, details=True).zones


# 2027-01-15 is a Friday; all of these are in standard (winter) time in the north.
@pytest.mark.parametrize(
    ("number", "now", "opens"),
    [
        # Honolulu, UTC-10: 09:00 local is 19:00 UTC.
        ("+18085551234", "2027-01-15T08:00:00", "2027-01-15T19:00:00"),
        ("+18085551234", "2027-01-15T19:00:00", "2027-01-15T19:00:00"),
        ("+18085551234", "2027-01-16T06:59:00", "2027-01-16T06:59:00"),  # 20:59 local
        ("+18085551234", "2027-01-16T07:00:00", "2027-01-16T19:00:00"),  # 21:00 local
        # Berlin, UTC+1.
        ("+4915112345678", "2027-01-15T03:00:00", "2027-01-15T08:00:00"),
        ("+4915112345678", "2027-01-15T20:30:00", "2027-01-16T08:00:00"),
        # Shanghai, UTC+8: 09:00 local is 01:00 UTC.
        ("+8613812345678", "2027-01-15T00:00:00", "2027-01-15T01:00:00"),
        ("+8613812345678", "2027-01-15T12:59:00", "2027-01-15T12:59:00"),
        ("+8613812345678", "2027-01-15T13:00:00", "2027-01-16T01:00:00"),
        # Vladivostok landline, one zone, UTC+10.
        ("+74232123456", "2027-01-15T22:00:00", "2027-01-15T23:00:00"),
        # A Russian mobile may be anywhere from Kaliningrad-ish to Kamchatka (UTC+2..+12): only
        # 07:00-09:00 UTC is daytime in all of them.
        ("+79161234567", "2027-01-15T03:00:00", "2027-01-15T07:00:00"),
        ("+79161234567", "2027-01-15T08:30:00", "2027-01-15T08:30:00"),
        ("+79161234567", "2027-01-15T09:00:00", "2027-01-16T07:00:00"),
        # An Australian mobile: Perth (UTC+8), Sydney (UTC+11 in summer), Lord Howe (+11),
        # Cocos (+6:30), Christmas Island (+7): Sydney's 21:00 (10:00 UTC) ends the window,
        # Cocos' 09:00 (02:30 UTC) begins it.
        ("+61412345678", "2027-01-15T01:00:00", "2027-01-15T02:30:00"),
        ("+61412345678", "2027-01-15T09:59:00", "2027-01-15T09:59:00"),
        ("+61412345678", "2027-01-15T10:00:00", "2027-01-16T02:30:00"),
    ],
)
def test_next_opening_for_numbers_in_many_zones(number: str, now: str, opens: str) -> None:
    assert next_opening(zones(number), DAY, at(now)) == at(opens)


def test_a_russian_mobile_maps_to_many_zones() -> None:
    z = zones("+79161234567")
    assert "Europe/Moscow" in z and "Asia/Kamchatka" in z and len(z) > 10


def test_no_common_daytime_falls_back_to_the_hours_most_zones_share() -> None:
    # A North American toll-free number spans Guam (UTC+10) to Hawaii (UTC-10): no hour is
    # daytime everywhere. The opening is when the most zones are awake, never a night for all.
    z = zones("+18005551234")
    assert len(z) > 30
    t = next_opening(z, DAY, at("2027-01-15T03:00:00"))
    hour_in_new_york = datetime.fromtimestamp(t, UTC).hour - 5
    assert 9 <= hour_in_new_york % 24 < 21


def test_dst_changes_move_the_opening_in_utc() -> None:
    berlin = ("Europe/Berlin",)
    assert next_opening(berlin, DAY, at("2027-03-27T03:00:00")) == at("2027-03-27T08:00:00")
    # The clocks went forward on 2027-03-28: 09:00 CEST is 07:00 UTC.
    assert next_opening(berlin, DAY, at("2027-03-28T03:00:00")) == at("2027-03-28T07:00:00")


def test_window_across_midnight_and_weekdays() -> None:
    night_shift = Window(start=22 * 60, end=2 * 60)
    utc = ("UTC",)
    assert is_open(utc, night_shift, at("2027-01-15T23:30:00"))
    assert is_open(utc, night_shift, at("2027-01-16T01:59:00"))
    assert next_opening(utc, night_shift, at("2027-01-16T02:00:00")) == at("2027-01-16T22:00:00")
    weekdays = Window(start=9 * 60, end=21 * 60, days=frozenset({1, 2, 3, 4, 5}))
    # Saturday morning waits for Monday.
    assert next_opening(utc, weekdays, at("2027-01-16T10:00:00")) == at("2027-01-18T09:00:00")


def test_always_open_and_bad_input() -> None:
    assert is_open(("UTC",), Window(start=0, end=0), at("2027-01-15T03:00:00"))
    with pytest.raises(UnknownZone):
        next_opening(("Mars/Olympus",), DAY, at("2027-01-15T03:00:00"))
    with pytest.raises(ValueError, match="day"):
        next_opening(("UTC",), Window(start=60, end=120, days=frozenset()), 0.0)
    assert parse_hhmm("09:30") == 570
    for bad in ("9:30", "25:00", "09:60", "0930", "ab:cd"):
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_numbers_parse_once_with_details_only_when_asked() -> None:
    plain = parse_number("+49 151 12345678")
    assert plain.e164 == "+4915112345678" and plain.valid and plain.mobile
    assert plain.zones == () and plain.country == ""
    rich = parse_number("+4915112345678", details=True)
    assert rich.country == "DE" and rich.zones == ("Europe/Berlin",)
    assert parse_number("030 1234567", "de").e164 == "+49301234567"
    assert parse_number("030 1234567", "DE").kind == "fixed_line"
    assert not parse_number("+447700900123").valid  # reserved for drama
    with pytest.raises(NumberError, match=r"E\.164"):
        parse_number("030 1234567")
    with pytest.raises(NumberError):
        parse_number("+999 123")
