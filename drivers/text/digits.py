"""Numbers written in text that came from outside: ASCII decimal digits, nothing else.

``str.isdigit()`` is true for ``"³8"`` (a superscript three, byte 0xB3 in Latin-1), which
``int()`` then refuses with a ValueError; ``int()`` itself also takes Arabic-Indic digits
(``"٣"``), surrounding blanks, a sign and underscores (``"1_000"``), and refuses more than
4,300 digits. Text from a modem, an SMSC, a URL or a config file is read here instead: one or
more of ``0``-``9`` and nothing else, with a bounded length, or no number at all.
"""

from __future__ import annotations

import re

__all__ = ["is_decimal", "parse_decimal"]

_DECIMAL = re.compile(r"[0-9]+")


def is_decimal(text: str, max_digits: int = 18) -> bool:
    """True when ``text`` is 1 to ``max_digits`` ASCII digits (no sign, blank or underscore)."""
    return len(text) <= max_digits and _DECIMAL.fullmatch(text) is not None


def parse_decimal(text: str, max_digits: int = 18) -> int | None:
    """The value of ``text`` when :func:`is_decimal` holds, else None. Never raises."""
    if len(text) > max_digits or _DECIMAL.fullmatch(text) is None:
        return None
    return int(text)
