"""Choosing the encoding and splitting text into parts (3GPP TS 23.038, TS 23.040 §9.2.3.24).

A part carries at most 140 octets of user data, header included. Without a header that is
160 septets of GSM 7-bit text or 70 UTF-16 code units; a concatenation header takes 6
octets (8-bit reference) or 7 (16-bit), leaving 153/152 septets (the header plus its fill
bits take 7/8 septets) or 67/66 code units.

Two characters must never be torn apart: a GSM extension character is two septets (ESC +
code) and a character outside the BMP is two UTF-16 code units (a surrogate pair). A part
that ends with half of one shows garbage in both parts. The splitter counts each such
character as one indivisible two-unit item and fills each part greedily; for items of size
1 and 2 in a fixed order, filling every part as full as it can go gives the fewest parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smsgw.drivers.text.errors import InvalidArgument, TooManyParts
from smsgw.drivers.text.gsm7 import non_gsm7_chars, scan_gsm7
from smsgw.drivers.text.smart import smart_replace
from smsgw.drivers.text.ucs2 import ucs2_wide
from smsgw.words import Encoding

__all__ = ["MAX_PARTS", "Encoding", "Plan", "capacity", "plan", "split"]

MAX_PARTS = 255
"""A part's sequence number is one octet (TS 23.040 §9.2.3.24.1)."""

# (single part, per part with an 8-bit reference header, with a 16-bit one)
_CAPACITY: dict[str, tuple[int, int, int]] = {
    "gsm7": (160, 153, 152),  # septets
    "ucs2": (70, 67, 66),  # UTF-16 code units
}


def capacity(encoding: Encoding, *, multipart: bool, ref_bits: Literal[8, 16] = 8) -> int:
    """Units one part holds: septets for ``gsm7``, UTF-16 code units for ``ucs2``."""
    single, c8, c16 = _CAPACITY[encoding]
    if not multipart:
        return single
    return c8 if ref_bits == 8 else c16


@dataclass(frozen=True, slots=True)
class Plan:
    """How a text goes on the wire: encoding, parts, and each part's text.

    ``text`` is what is actually sent (after smart replacement, if it happened);
    ``"".join(segments) == text`` and ``len(segments) == parts``. ``units`` counts septets
    (``gsm7``, extension characters as two) or UTF-16 code units (``ucs2``) of the whole
    text.
    """

    text: str
    encoding: Encoding
    segments: tuple[str, ...]
    parts: int
    units: int
    smart_replaced: bool

    @property
    def ucs2_chars(self) -> tuple[str, ...]:
        """The distinct characters that forced UCS-2, in order of first appearance (empty
        for ``gsm7``). Computed when asked: only a preview needs it."""
        if self.encoding == "gsm7":
            return ()
        return tuple(non_gsm7_chars(self.text))


def _ends(n: int, wide: list[int], cap: int) -> list[int]:
    """Where each piece of the greedy split ends (see :func:`split`), as text indices."""
    if n + len(wide) <= cap:
        return [n]
    if not wide:
        return [*range(cap, n, cap), n]
    ends: list[int] = []
    s = 0
    idx = 0
    nw = len(wide)
    while s < n:
        k = 0  # two-unit characters taken into this piece so far
        end = -1
        while idx < nw:
            w = wide[idx]
            used = w - s + k  # units of the piece before character w
            if used + 2 <= cap:
                k += 1
                idx += 1
                continue
            # w does not fit: the piece ends at w, or earlier if it is full before w
            end = min(w, s + cap - k)
            break
        if end < 0:
            end = min(n, s + cap - k)
        ends.append(end)
        s = end
    return ends


def split(text: str, wide: list[int], cap: int) -> list[str]:
    """Split ``text`` into the fewest pieces of at most ``cap`` units each.

    ``wide`` lists, in increasing order, the indices of the characters that cost two units
    and cannot be divided; every other character costs one. Every piece but the last is as
    full as it can be. Empty text gives one empty piece.
    """
    out: list[str] = []
    s = 0
    for e in _ends(len(text), wide, cap):
        out.append(text[s:e])
        s = e
    return out


def _cap(encoding: Encoding, units: int, ref_bits: Literal[8, 16]) -> int:
    single, c8, c16 = _CAPACITY[encoding]
    if units <= single:
        return single
    return c8 if ref_bits == 8 else c16


def _layout(
    text: str, wide: list[int], encoding: Encoding, ref_bits: Literal[8, 16], max_parts: int
) -> tuple[str, ...]:
    """The segments of ``text``; :class:`TooManyParts` with the count when over the limit."""
    units = len(text) + len(wide)
    cap = _cap(encoding, units, ref_bits)
    if units <= cap:
        return (text,)
    ends = _ends(len(text), wide, cap)
    if len(ends) > max_parts:
        raise TooManyParts(len(ends), max_parts)
    if not wide:
        return tuple(text[i : i + cap] for i in range(0, len(text), cap))
    segments = []
    s = 0
    for e in ends:
        segments.append(text[s:e])
        s = e
    return tuple(segments)


def _parts(text: str, wide: list[int], encoding: Encoding, ref_bits: Literal[8, 16]) -> int:
    units = len(text) + len(wide)
    return len(_ends(len(text), wide, _cap(encoding, units, ref_bits)))


def plan(
    text: str, *, max_parts: int = 10, ref_bits: Literal[8, 16] = 8, smart: bool = False
) -> Plan:
    """Pick the encoding for ``text`` and split it into the fewest parts.

    GSM 7-bit when every character is in the default alphabet or its extension table,
    UCS-2 otherwise. With ``smart=True``, typographic characters (curly quotes, dashes,
    ellipsis, odd spaces: :data:`smsgw.drivers.text.smart.SMART_MAP`) are replaced when that
    makes the whole text GSM 7-bit and does not take more parts; otherwise the original text
    is planned in UCS-2 unchanged (``smart_replaced`` says which happened).

    ``ref_bits`` is the concatenation reference the route uses: it decides the room per
    part (153 or 152 septets, 67 or 66 code units). Empty text is one empty part.

    Raises :class:`TooManyParts` (with the count) when more than ``max_parts`` parts are
    needed, never truncating; :class:`EncodeError` for text holding a lone surrogate;
    :class:`InvalidArgument` for ``max_parts`` outside 1..255 or ``ref_bits`` not 8 or 16.
    """
    if not 1 <= max_parts <= MAX_PARTS:
        raise InvalidArgument(f"max_parts must be 1..{MAX_PARTS}, not {max_parts}")
    if ref_bits != 8 and ref_bits != 16:
        raise InvalidArgument(f"ref_bits must be 8 or 16, not {ref_bits}")
    wide = scan_gsm7(text)
    if wide is not None:
        segments = _layout(text, wide, "gsm7", ref_bits, max_parts)
        return Plan(text, "gsm7", segments, len(segments), len(text) + len(wide), False)
    u_wide = ucs2_wide(text)  # refuses a lone surrogate
    u_units = len(text) + len(u_wide)
    if smart:
        replaced = smart_replace(text)
        g_wide = scan_gsm7(replaced)
        # GSM unless it would take more parts than UCS-2 (a text of ellipses, say)
        if g_wide is not None and _parts(replaced, g_wide, "gsm7", ref_bits) <= _parts(
            text, u_wide, "ucs2", ref_bits
        ):
            segments = _layout(replaced, g_wide, "gsm7", ref_bits, max_parts)
            units = len(replaced) + len(g_wide)
            return Plan(replaced, "gsm7", segments, len(segments), units, True)
    segments = _layout(text, u_wide, "ucs2", ref_bits, max_parts)
    return Plan(text, "ucs2", segments, len(segments), u_units, False)
