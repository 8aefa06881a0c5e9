"""Inbound user data to text: the data coding scheme, the header, the alphabet.

``data_coding`` 0..14 is read as SMPP 3.4 §5.2.19 defines it; any other value as a GSM
TP-DCS (3GPP TS 23.038 §4), which is what SMSCs pass through for flash or class messages
(0x10, 0x18, 0xF0...). A modem's TP-DCS 0x00/0x04/0x08 means the same in both tables.

What each alphabet becomes:

- GSM 7-bit: unpacked septets (SMPP) or packed septets (``packed=True``, modem PDUs, with
  the fill bits after a header handled here). Unpacked "GSM" data holding an octet over
  0x7F cannot be septets: SMPP's ``data_coding=0`` is the *SMSC default alphabet*, which
  some SMSCs make Latin-1, so such data is read as Latin-1 rather than refused.
- IA5/ASCII (1) and Latin-1 (3): Latin-1 (a superset of ASCII; never fails).
- UCS-2 (8): UTF-16BE, malformed code units replaced by U+FFFD (:func:`decode_ucs2`).
- 8-bit data (2, 4, TP-DCS 8-bit classes) and the unknown: Latin-1, one character per
  octet, so ``text.encode("latin-1")`` gives the exact octets back.
- The national SMPP codings (5 JIS, 6 Cyrillic, 7 Hebrew, 10 ISO-2022-JP, 13 JIS X 0212,
  14 KS C 5601): their Python codecs, undecodable octets replaced by U+FFFD.
- Compressed text (TS 23.038 §4, bit 5 of the general group): :class:`DecodeError`.
"""

from __future__ import annotations

from typing import Literal

from smsgw.drivers.text.errors import DecodeError, TextError
from smsgw.drivers.text.gsm7 import decode_gsm7
from smsgw.drivers.text.packing import fill_bits_for, header_septets, unpack_septets
from smsgw.drivers.text.ucs2 import decode_ucs2
from smsgw.drivers.text.udh import Udh, parse_udh

__all__ = ["alphabet", "decode_payload"]


# SMPP 3.4 §5.2.19: the values with a meaning of their own.
_SMPP: dict[int, str] = {
    0: "gsm7",
    1: "latin1",  # IA5 / ASCII, read as its superset
    2: "8bit",
    3: "latin1",
    4: "8bit",
    5: "shift_jis",  # JIS (X 0208-1990); SMSCs send it Shift-JIS encoded
    6: "iso8859_5",
    7: "iso8859_8",
    8: "ucs2",
    9: "8bit",  # pictogram encoding: vendor specific
    10: "iso2022_jp",
    13: "euc_jis_2004",  # extended Kanji JIS (X 0212-1990)
    14: "euc_kr",  # KS C 5601
}

_GSM_GROUP_ALPHABET = ("gsm7", "8bit", "ucs2", "gsm7")  # bits 3..2; 11 reserved, read as GSM


def alphabet(data_coding: int) -> str:
    """What ``data_coding`` says the octets are: ``gsm7``, ``8bit``, ``ucs2``, ``latin1``,
    ``compressed`` or a Python codec name (see the module docstring for the tables)."""
    dc = data_coding & 0xFF
    if dc in _SMPP:
        return _SMPP[dc]
    group = dc >> 4
    if group <= 0x7:  # general data coding (00xx) and automatic deletion (01xx)
        if dc & 0x20:
            return "compressed"
        return _GSM_GROUP_ALPHABET[(dc >> 2) & 0x3]
    if group in (0xC, 0xD):  # message waiting, discard / store: GSM 7-bit
        return "gsm7"
    if group == 0xE:  # message waiting, store: UCS-2
        return "ucs2"
    if group == 0xF:  # data coding / message class: bit 2 picks 8-bit over GSM
        return "8bit" if dc & 0x04 else "gsm7"
    return "8bit"  # reserved groups 1000..1011: keep the octets


def _gsm_packed(data: bytes, udh_octets: int, septet_count: int | None) -> str:
    hs = header_septets(udh_octets) if udh_octets else 0
    fill = fill_bits_for(udh_octets) if udh_octets else 0
    body = data[udh_octets:]
    if septet_count is None:
        count = max(0, (8 * len(body) - fill) // 7)  # a header and nothing after it: no text
    else:
        count = septet_count - hs
        if count < 0:
            raise DecodeError(f"{septet_count} septets cannot hold a {udh_octets}-octet header")
    return decode_gsm7(unpack_septets(body, count, fill))


def decode_payload(
    data: bytes | bytearray | memoryview,
    data_coding: int,
    *,
    udhi: bool = False,
    packed: bool = False,
    septet_count: int | None = None,
    smsc_default: Literal["gsm7", "latin1"] = "gsm7",
) -> tuple[Udh | None, str]:
    """The header (when ``udhi``) and text of one inbound part.

    ``packed`` and ``septet_count`` (TP-UDL, header septets included) matter only for GSM
    7-bit: packed data comes from modem PDUs, unpacked from SMPP. Without ``septet_count``
    every whole septet in the data is read. The header is returned as parsed even when the
    text after it is empty. ``smsc_default`` says what an SMSC means by ``data_coding=0``
    (its default alphabet) when it is not GSM 7-bit: set ``"latin1"`` for SMSCs configured
    to send Latin-1 or ASCII there (unpacked data only; a modem's TP-DCS 0 is always GSM).

    Raises only :class:`TextError` subclasses: :class:`UdhError` for a malformed header,
    :class:`DecodeError` for septets that do not fit the data or compressed text.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    udh: Udh | None = None
    rest = data
    if udhi:
        udh, rest = parse_udh(data)
    try:
        kind = alphabet(data_coding)
        if kind == "gsm7":
            if packed:
                return udh, _gsm_packed(data, len(data) - len(rest), septet_count)
            if rest.isascii() and (smsc_default == "gsm7" or data_coding & 0xFF):
                return udh, decode_gsm7(rest)
            return udh, rest.decode("latin-1")
        if kind == "ucs2":
            return udh, decode_ucs2(rest)
        if kind in ("8bit", "latin1"):
            return udh, rest.decode("latin-1")
        if kind == "compressed":
            raise DecodeError(f"compressed text (data coding 0x{data_coding:02X}) is not supported")
        return udh, rest.decode(kind, "replace")
    except TextError:
        raise
    except (ValueError, LookupError) as e:  # a codec's own complaint: still typed for callers
        raise DecodeError(f"cannot decode data coding 0x{data_coding:02X}: {e}") from None
