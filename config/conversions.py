"""``[conversions]``: how orders reported by ``POST /v1/conversions`` find their message."""

from __future__ import annotations

import msgspec

from smsgw.config.durations import parse_duration

__all__ = ["MAX_WINDOW", "ConversionsConfig", "conversions_problems"]

MAX_WINDOW = 365 * 86_400.0
"""The longest attribution window (a year)."""


class ConversionsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Attribution of an order reported by number."""

    window: str | int | float = "7d"
    """How long before the order a click on a tracked link, or a delivered marketing message,
    still counts for it: ``"7d"``, ``"36h"`` or seconds (at most a year)."""

    def window_seconds(self) -> float:
        """``window`` in seconds; raises ValueError for a bad one (the loader refuses those)."""
        return parse_duration(self.window, maximum=MAX_WINDOW)


def conversions_problems(conversions: ConversionsConfig) -> list[tuple[str, str]]:
    """Every (key, reason) wrong in ``conversions`` beyond the types (empty: all good)."""
    try:
        conversions.window_seconds()
    except ValueError as e:
        return [("conversions.window", str(e))]
    return []
