"""Durations as people write them: ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"4w"``, a
combination (``"1h30m"``), or a number of seconds. One spelling for config and the API
(delays, windows, expiries), parsed here and nowhere else."""

from __future__ import annotations

import math
import re

__all__ = ["UNITS", "format_duration", "parse_duration"]

UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
"""Seconds per unit: seconds, minutes, hours, days, weeks (no months: their length varies)."""

_PART = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)([smhdw])")
_WHOLE = re.compile(r"(?:[0-9]{1,9}(?:\.[0-9]{1,6})?[smhdw])+")


def parse_duration(value: str | int | float, *, maximum: float | None = None) -> float:
    """Seconds in ``value``; raises ValueError with a reason a person can act on.

    A number (int or float, not bool) is seconds; a string is one or more ``<number><unit>``
    with units from :data:`UNITS`, ASCII digits only, each unit at most once, largest first
    (``"1d12h"``). Negative, not finite, zero-length text and values over ``maximum`` are
    refused."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '90s', '1h', '2d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError("a duration is a number of seconds or text like '90s', '1h', '2d'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration of zero or more seconds")
    if maximum is not None and seconds > maximum:
        raise ValueError(f"{value!r} is longer than {format_duration(maximum)}")
    return seconds


def _parse_text(text: str) -> float:
    if not text.isascii() or _WHOLE.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a duration: write a number of seconds, or a number and a unit"
            " (s, m, h, d, w) such as '90s', '1h', '2d', '1h30m'"
        )
    parts = _PART.findall(text)
    units = [u for _, u in parts]
    order = list(UNITS)
    if len(set(units)) != len(units) or units != sorted(units, key=order.index, reverse=True):
        raise ValueError(f"{text!r}: give each unit once, largest first (such as '1d12h')")
    return sum(float(n) * UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """The shortest text :func:`parse_duration` reads back as ``seconds`` when it is a whole
    number of one unit (``"2d"``, ``"90s"``); otherwise the seconds (``"1.5s"``)."""
    for unit, size in sorted(UNITS.items(), key=lambda kv: -kv[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
