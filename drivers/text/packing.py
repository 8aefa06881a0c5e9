"""Packing septets into octets for SMS PDUs (3GPP TS 23.038 §6.1.2.1.1, TS 23.040 §9.2.3.24).

Septets are laid end to end, least significant bit first: septet *i* occupies bits
``fill + 7*i`` .. ``fill + 7*i + 6`` of the octet stream, bit *n* being bit ``n % 8`` of
octet ``n // 8``. When a user data header precedes the text, ``fill`` zero bits pad the
header out to a septet boundary so that a receiver that ignores the header still finds the
text on septet boundaries (§9.2.3.24): ``fill = (7 - (8 * header_octets) % 7) % 7``.
"""

from __future__ import annotations

from smsgw.drivers.text.errors import DecodeError, InvalidArgument

__all__ = ["fill_bits_for", "header_septets", "pack_septets", "unpack_septets"]


def fill_bits_for(header_octets: int) -> int:
    """Fill bits after a user data header of ``header_octets`` octets (UDHL octet included).

    ``fill_bits_for(6) == 1`` (an 8-bit-reference concatenation header), ``fill_bits_for(0)
    == 0``.
    """
    return (7 - (8 * header_octets) % 7) % 7


def header_septets(header_octets: int) -> int:
    """Septets a header of ``header_octets`` octets takes in TP-UDL, fill bits included."""
    return (8 * header_octets + 6) // 7


def _check_fill(fill_bits: int) -> None:
    if not 0 <= fill_bits <= 6:
        raise InvalidArgument(f"fill_bits must be 0..6, not {fill_bits}")


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack unpacked septets (one per byte) into octets, after ``fill_bits`` zero bits.

    ``pack_septets(encode_gsm7("hellohello")) == bytes.fromhex("E8329BFD4697D9EC37")``.
    The result has ``ceil((fill_bits + 7 * len(septets)) / 8)`` octets; the unused high bits
    of the last octet are zero. Raises :class:`InvalidArgument` for a byte over 0x7F or
    ``fill_bits`` outside 0..6.
    """
    _check_fill(fill_bits)
    if not septets:
        return bytes((fill_bits + 7) // 8)  # the fill bits alone still take an octet
    if max(septets) > 0x7F:
        raise InvalidArgument("a septet is 0..0x7F")
    # Eight septets are exactly seven octets: build each group as one 56-bit integer.
    n = len(septets)
    pad = (-n) % 8
    src = septets + bytes(pad)
    out = bytearray()
    for k in range(0, len(src), 8):
        s0, s1, s2, s3, s4, s5, s6, s7 = src[k : k + 8]
        v = s0 | s1 << 7 | s2 << 14 | s3 << 21 | s4 << 28 | s5 << 35 | s6 << 42 | s7 << 49
        out += v.to_bytes(7, "little")
    if fill_bits:
        whole = int.from_bytes(out, "little") << fill_bits
        out = bytearray(whole.to_bytes(len(out) + 1, "little"))
    length = (fill_bits + 7 * n + 7) // 8
    return bytes(out[:length])


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Read ``count`` septets (one per byte in the result) from packed ``data``, skipping
    ``fill_bits`` bits first.

    Raises :class:`DecodeError` when ``data`` is too short for ``count`` septets and
    :class:`InvalidArgument` for a negative count or ``fill_bits`` outside 0..6.
    """
    _check_fill(fill_bits)
    if count < 0:
        raise InvalidArgument(f"septet count must not be negative, not {count}")
    if count == 0:
        return b""  # even from no data at all: a header's fill bits need no octet of text
    if fill_bits + 7 * count > 8 * len(data):
        raise DecodeError(
            f"{len(data)} octets hold at most {(8 * len(data) - fill_bits) // 7} septets,"
            f" not {count}"
        )
    used = (fill_bits + 7 * count + 7) // 8
    v = int.from_bytes(data[:used], "little") >> fill_bits
    out = bytearray(count)
    for i in range(count):
        out[i] = v & 0x7F
        v >>= 7
    return bytes(out)
