"""Durations as people write them: ``"90s"``, ``"15m"``, ``"1h"``, ``"30d"``, or seconds.
One spelling for config and the API (delays, windows, expiries), parsed here and nowhere else.

Pure: :func:`parse_duration` turns one into seconds or raises :class:`ValueError` with a
message fit for the client; :func:`whole_units_pattern` is the regular expression of the
written forms up to a maximum, so a document that publishes it promises exactly what the
parser takes; :func:`format_duration` writes seconds back in the largest whole unit.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["UNITS", "format_duration", "parse_duration", "whole_units_pattern"]

UNITS: Final[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""The unit letters and their seconds."""

_WRITTEN = re.compile(r"(0|[1-9][0-9]{0,9})([smhd])\Z")


def parse_duration(value: str | float, *, maximum: float = math.inf, minimum: float = 1.0) -> float:
    """Seconds of ``value``: a whole number and a unit (``"90s"``, ``"1h"``, ``"2d"``; no
    spaces, no leading zeros) or a number of seconds (not a bool); at least ``minimum`` (one
    second unless the caller allows zero: a delay of ``"0s"`` is "now") and at most
    ``maximum``. Raises :class:`ValueError` saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a duration is a number of seconds or text like 90s, 1h, 30d")
    if isinstance(value, str):
        m = _WRITTEN.match(value)
        if m is None:
            raise ValueError(
                f"{value!r} is not a duration: a whole number then s, m, h or d (90s, 1h, 30d)"
            )
        seconds = float(int(m.group(1)) * UNITS[m.group(2)])
    else:
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("a duration must be a finite number of seconds")
    if seconds < minimum:
        raise ValueError(f"a duration is at least {format_duration(minimum)}")
    if seconds > maximum:
        raise ValueError(f"a duration is at most {maximum:g} seconds ({maximum / 86400:g} days)")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest unit that holds it whole (``"2d"``, ``"90s"``), which
    :func:`parse_duration` reads back; otherwise seconds with a fraction (``"1.5s"``)."""
    for unit, size in sorted(UNITS.items(), key=lambda kv: -kv[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _at_most(n: int) -> str:
    """A regular expression (no anchors) of the whole numbers 1 to ``n``, without leading
    zeros: the shorter numbers, then per digit of ``n`` those equal up to it and less there."""
    digits = str(n)
    alternatives = [f"[1-9][0-9]{{{k}}}" if k else "[1-9]" for k in range(len(digits) - 1)]
    for i, d in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(d) > low:
            rest = len(digits) - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            alternatives.append(f"{digits[:i]}[{low}-{int(d) - 1}]{tail}")
    alternatives.append(digits)
    return "|".join(alternatives)


def whole_units_pattern(maximum: float) -> str:
    """The anchored pattern of the written durations :func:`parse_duration` takes up to
    ``maximum`` seconds (a number and a unit)."""
    forms = [
        f"(?:{_at_most(int(maximum // seconds))}){unit}"
        for unit, seconds in UNITS.items()
        if maximum >= seconds
    ]
    return "^(?:" + "|".join(forms) + ")$"
