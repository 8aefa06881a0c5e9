"""User data header: concatenation elements out, any header in (3GPP TS 23.040 §9.2.3.24).

Layout: ``UDHL`` (octets that follow in the header), then information elements, each
``IEI, IEDL, IEDL octets``. The two concatenation elements (§9.2.3.24.1, §9.2.3.24.8)::

    IEI 0x00, IEDL 3: ref (1 octet), total, seq         8-bit reference
    IEI 0x08, IEDL 4: ref (2 octets, big-endian), total, seq   16-bit reference

so a whole 8-bit header is ``05 00 03 rr tt ss`` (6 octets) and a 16-bit one
``06 08 04 rr rr tt ss`` (7 octets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smsgw.drivers.text.errors import InvalidArgument, UdhError

__all__ = ["IEI_CONCAT_8", "IEI_CONCAT_16", "Concat", "Udh", "parse_udh", "udh_concat"]

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message.

    ``ref`` is shared by every part of one message (0..255 or 0..65535 by ``ref_bits``),
    ``total`` is the number of parts (1..255) and ``seq`` this part's 1-based position.
    Also built from SMPP SAR TLVs (``ref_bits=16``).
    """

    ref: int
    total: int
    seq: int
    ref_bits: int = 8


@dataclass(frozen=True, slots=True)
class Udh:
    """A parsed user data header.

    ``concat`` is the (last valid) concatenation element, ``None`` when there is none or
    it is invalid (a total or sequence of 0, a sequence past the total: §9.2.3.24.1 says to
    ignore such an element). ``elements`` holds every element as ``(iei, data)`` in order,
    unknown ones included, so callers can look at what they understand and skip the rest.
    """

    concat: Concat | None
    elements: tuple[tuple[int, bytes], ...]


def udh_concat(ref: int, total: int, seq: int, ref_bits: Literal[8, 16] = 8) -> bytes:
    """The whole concatenation header, UDHL octet included (6 octets, or 7 for 16-bit).

    Raises :class:`InvalidArgument` when ``ref`` does not fit ``ref_bits``, ``total`` is not
    1..255 or ``seq`` is not 1..``total``.
    """
    if not 1 <= total <= 255:
        raise InvalidArgument(f"total parts must be 1..255, not {total}")
    if not 1 <= seq <= total:
        raise InvalidArgument(f"part number must be 1..{total}, not {seq}")
    if ref_bits == 8:
        if not 0 <= ref <= 0xFF:
            raise InvalidArgument(f"an 8-bit reference is 0..255, not {ref}")
        return bytes((5, IEI_CONCAT_8, 3, ref, total, seq))
    if ref_bits == 16:
        if not 0 <= ref <= 0xFFFF:
            raise InvalidArgument(f"a 16-bit reference is 0..65535, not {ref}")
        return bytes((6, IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, total, seq))
    raise InvalidArgument(f"ref_bits must be 8 or 16, not {ref_bits}")


def _concat(iei: int, data: bytes) -> Concat | None:
    if iei == IEI_CONCAT_8 and len(data) == 3:
        ref, total, seq, bits = data[0], data[1], data[2], 8
    elif iei == IEI_CONCAT_16 and len(data) == 4:
        ref, total, seq, bits = (data[0] << 8) | data[1], data[2], data[3], 16
    else:
        return None
    if total == 0 or seq == 0 or seq > total:
        return None
    return Concat(ref=ref, total=total, seq=seq, ref_bits=bits)


def parse_udh(data: bytes) -> tuple[Udh, bytes]:
    """Split user data that starts with a header into ``(header, rest)``.

    Unknown elements are kept and otherwise ignored. Raises :class:`UdhError` (a
    :class:`DecodeError`) when ``data`` is empty, the header length overruns the data, or an
    element's length overruns the header.
    """
    if not data:
        raise UdhError("user data header indicated but user data is empty")
    udhl = data[0]
    end = 1 + udhl
    if end > len(data):
        raise UdhError(f"header length {udhl} overruns {len(data) - 1} octets of user data")
    elements: list[tuple[int, bytes]] = []
    concat: Concat | None = None
    i = 1
    while i < end:
        if i + 2 > end:
            raise UdhError(f"information element at header offset {i - 1} is cut short")
        iei, iedl = data[i], data[i + 1]
        j = i + 2 + iedl
        if j > end:
            raise UdhError(f"information element 0x{iei:02X} of {iedl} octets overruns the header")
        body = data[i + 2 : j]
        elements.append((iei, body))
        c = _concat(iei, body)
        if c is not None:
            concat = c
        i = j
    return Udh(concat=concat, elements=tuple(elements)), data[end:]
