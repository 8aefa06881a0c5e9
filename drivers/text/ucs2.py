"""UCS-2 on the wire: really UTF-16BE without a byte order mark (SMPP ``data_coding=8``,
TP-DCS 0x08, 3GPP TS 23.038 §5).

A character outside the Basic Multilingual Plane (an emoji) is a surrogate pair: two code
units, four octets. Every modern handset reads pairs; the segmenter never splits one.
"""

from __future__ import annotations

import re

from smsgw.drivers.text.errors import EncodeError

__all__ = [
    "astral_positions",
    "decode_ucs2",
    "encode_ucs2",
    "has_lone_surrogate",
    "ucs2_units",
    "ucs2_wide",
]

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point (which no wire form can carry)."""
    return _SURROGATE.search(text) is not None


def astral_positions(text: str) -> list[int]:
    """Indices of the characters outside the BMP (each costs two UTF-16 code units)."""
    return [m.start() for m in _ASTRAL.finditer(text)]


def ucs2_wide(text: str) -> list[int]:
    """Indices of the characters outside the BMP, after checking that ``text`` can be sent.

    Raises :class:`EncodeError` for a lone surrogate.
    """
    try:
        units = len(text.encode("utf-16-be")) // 2
    except UnicodeEncodeError as e:
        raise EncodeError(
            f"lone surrogate U+{ord(text[e.start]):04X} at {e.start} cannot be sent"
        ) from None
    return astral_positions(text) if units != len(text) else []


def ucs2_units(text: str) -> int:
    """UTF-16 code units of ``text`` (a character outside the BMP counts two)."""
    if text.isascii():
        return len(text)
    return len(text) + len(_ASTRAL.findall(text))


def encode_ucs2(text: str) -> bytes:
    """``text`` as UTF-16BE, no BOM. Raises :class:`EncodeError` for a lone surrogate."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as e:
        raise EncodeError(
            f"lone surrogate U+{ord(text[e.start]):04X} at {e.start} cannot be sent"
        ) from None


def decode_ucs2(data: bytes) -> str:
    """Text from UTF-16BE octets; never raises.

    Inbound text is kept, not refused: a lone surrogate (half an emoji, as some senders split
    them across parts) and a trailing odd octet each become U+FFFD REPLACEMENT CHARACTER, so
    the result is always valid Unicode that can be stored and sent on as JSON.
    """
    return data.decode("utf-16-be", "replace")
