"""Quiet hours in the recipient's local time. Pure: every function takes ``now`` (unix seconds).

A :class:`Window` says when messages of a class may reach a recipient: from ``start`` to ``end``
local time (minutes after midnight; ``end`` before ``start`` crosses midnight) on the ISO
weekdays in ``days``. A number's time zones come from ``phonenumbers`` at accept time and are
kept in the message row (:mod:`smsgw.queue.consent.numbers`); a message may name its own ``tz``.

A number that maps to several zones (a Russian or Australian mobile) may be in any of them, so
only the hours that are daytime in *all* of them count. When no hour is (a North American
toll-free number spans Guam to Hawaii), the hours that are daytime in the most zones count:
never wake the many to spare the few.

Finding the next opening converts local times to UTC per zone and day, which is dear for a
number with many zones (a 16-zone number: see the README's performance section). The merged open
intervals of a (zones, window) pair are therefore kept for a few days in a bounded cache and
looked up by bisection.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from smsgw.drivers.text.digits import is_decimal
from smsgw.queue.model import rfc3339

__all__ = [
    "ALL_DAYS",
    "UnknownZone",
    "Window",
    "describe",
    "is_open",
    "next_opening",
    "parse_hhmm",
    "utc_text",
    "zone",
]

ALL_DAYS: Final = frozenset(range(1, 8))
_HORIZON: Final = 9 * 86_400.0
"""How far ahead intervals are worked out: a week of days plus slack for offsets."""
_REUSE: Final = 2 * 86_400.0
"""A cached plan is used while ``now`` is at least this far from its horizon."""


class UnknownZone(ValueError):
    """A time zone name the system's tz database does not know."""


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Local hours during which a message may arrive."""

    start: int
    """Minutes after local midnight (0-1439)."""
    end: int
    """Minutes after local midnight; ``end <= start`` means the window ends the next day.
    ``start == end`` is a window that is always open."""
    days: frozenset[int] = ALL_DAYS
    """ISO weekdays (1 = Monday) on which the window opens."""

    @property
    def always(self) -> bool:
        return self.start == self.end and self.days == ALL_DAYS

    def label(self) -> str:
        days = "" if self.days == ALL_DAYS else " on days " + ",".join(map(str, sorted(self.days)))
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}{days}"


def parse_hhmm(text: str) -> int:
    """``"09:30"`` -> 570; raises ValueError for anything else (24:00 is allowed, as midnight)."""
    hh, sep, mm = text.partition(":")
    if not sep or len(hh) != 2 or len(mm) != 2 or not is_decimal(hh + mm, 4):
        raise ValueError(f"{text!r} is not HH:MM")
    h, m = int(hh), int(mm)
    if (h, m) == (24, 0):
        return 0
    if h > 23 or m > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return h * 60 + m


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; raises :class:`UnknownZone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unknown time zone {name!r}") from None


def is_open(zones: Sequence[str], window: Window, now: float) -> bool:
    """True when ``now`` lies inside the window for the number's zones."""
    return next_opening(zones, window, now) == now


def next_opening(zones: Sequence[str], window: Window, now: float) -> float:
    """``now`` if the window is open now for ``zones``, else the next time it opens.

    Raises :class:`UnknownZone` for a bad zone name and ValueError for a window with no days.
    """
    if window.always:
        return now
    if not window.days:
        raise ValueError("a quiet-hours window needs at least one day")
    plan_start, intervals = _plan(tuple(sorted(set(zones))), window, _bucket(now))
    # The first interval ending after now (intervals are disjoint and sorted).
    i = bisect.bisect_right(intervals, now, key=lambda iv: iv[1])
    if i < len(intervals):
        start = intervals[i][0]
        return now if start <= now else start
    # Nothing within the horizon (a window open on no day the zones reach): try a week on.
    return next_opening(zones, window, plan_start + _HORIZON - _REUSE)


def describe(zones: Sequence[str]) -> str:
    """Zones for a note: the zone itself, or how many."""
    if len(zones) == 1:
        return zones[0]
    return f"{len(zones)} time zones ({zones[0]} … {zones[-1]})"


def _bucket(now: float) -> float:
    # Plans start at a whole day boundary so that successive calls share one plan.
    return now - now % 86_400.0


@functools.lru_cache(maxsize=4096)
def _plan(
    zones: tuple[str, ...], window: Window, start: float
) -> tuple[float, tuple[tuple[float, float], ...]]:
    end = start + _HORIZON
    if not zones:
        zones = ("UTC",)
    per_zone = [_zone_intervals(zone(name), window, start, end) for name in zones]
    merged = _intersect_all(per_zone)
    if not merged:
        merged = _most_covered(per_zone)
    return start, tuple(merged)


def _zone_intervals(
    tz: ZoneInfo, window: Window, start: float, end: float
) -> list[tuple[float, float]]:
    """Open intervals (unix seconds) of ``window`` in ``tz`` overlapping [start, end)."""
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date()
    crosses = window.end <= window.start
    out: list[tuple[float, float]] = []
    day = first
    while day <= last:
        if day.isoweekday() in window.days:
            a = _local(day, window.start, tz)
            b = _local(day + timedelta(days=1) if crosses else day, window.end, tz)
            if b > start and a < end:
                out.append((a, b))
        day += timedelta(days=1)
    return _union(out)


def _local(day: date, minutes: int, tz: ZoneInfo) -> float:
    # A local time skipped by a DST change resolves forward (fold=0 reads it with the offset
    # before the change), which is never earlier than the wall clock says.
    return datetime.combine(day, time(minutes // 60, minutes % 60), tz).timestamp()


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(
    xs: list[tuple[float, float]], ys: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a = max(xs[i][0], ys[j][0])
        b = min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def _intersect_all(per_zone: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    merged = per_zone[0]
    for other in per_zone[1:]:
        merged = _intersect(merged, other)
        if not merged:
            break
    return merged


def _most_covered(per_zone: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Intervals where the most zones are open at once (a sweep over interval ends)."""
    events = sorted(
        [(a, 1) for zone_ivs in per_zone for a, _ in zone_ivs]
        + [(b, -1) for zone_ivs in per_zone for _, b in zone_ivs]
    )
    best, count = 0, 0
    spans: list[tuple[float, float, int]] = []
    for k, (t, step) in enumerate(events):
        count += step
        if k + 1 < len(events) and events[k + 1][0] > t:
            spans.append((t, events[k + 1][0], count))
            best = max(best, count)
    if best == 0:
        return []
    return _union((a, b) for a, b, c in spans if c == best)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def utc_text(t: float) -> str:
    """RFC 3339 UTC, to the second (for notes)."""
    return rfc3339(t, millis=False)
