"""GSM 03.38 default alphabet: tables, septet encoding and decoding (3GPP TS 23.038 §6.2.1).

Septets here are *unpacked*: one septet per byte, as SMPP carries them with
``data_coding=0``; an extension character is the pair ``0x1B xx``. Packing into octets for
SMS PDUs lives in :mod:`smsgw.drivers.text.packing`.

The work is done in single C passes (Latin-1 encoding plus ``bytes.translate`` for most
text, ``codecs.charmap_*`` and compiled regular expressions for the rest); there is no
per-character Python loop.
"""

from __future__ import annotations

import codecs
import re

from smsgw.drivers.text.errors import DecodeError, EncodeError

__all__ = [
    "BASIC",
    "ESC",
    "EXTENSION",
    "decode_gsm7",
    "encode_gsm7",
    "encode_latin1",
    "extension_positions",
    "gsm7_septets",
    "is_gsm7",
    "non_gsm7_chars",
    "scan_gsm7",
]

ESC = 0x1B
"""Escape to the extension table (TS 23.038 §6.2.1, note 1)."""

# TS 23.038 §6.2.1, the default alphabet, code 0x00..0x7F in order. 0x1B is the escape and
# has no character of its own (received alone it is shown as a space). Look-alikes matter:
# 0x24 is the currency sign ¤ (not $, which is 0x02), 0x5F is the section sign §, 0x00 is @,
# 0x11 is _, 0x09 is capital Ç, and 0x10..0x1A are Greek capitals (Δ U+0394, not ∆ U+2206;
# Ω U+03A9, not the ohm sign U+2126).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

# TS 23.038 §6.2.1.1, the extension table: each costs two septets (ESC + code).
EXTENSION: dict[str, int] = {
    "\x0c": 0x0A,  # form feed
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_CHARS = BASIC.replace("\x1b", "")
_ALL_CHARS = _BASIC_CHARS + "".join(EXTENSION)
_ALL_SET = frozenset(_ALL_CHARS)

# The fast path. Most text fits in Latin-1 (all of ASCII, the accented letters of the
# table), and Latin-1 encoding and bytes.translate are single C passes; so a text is
# encoded to Latin-1 (with € first swapped for U+0080, a control character nobody sends)
# and translated octet by octet into a *marked* form: one octet per character, the septet
# for a basic character, _EXT_MARK for an extension character, _NOT_GSM for the rest.
# Text that does not fit (Greek capitals, anything beyond Latin-1) takes the slow path.
_EXT_MARK = 0xFE
_NOT_GSM = 0xFF
_EURO_STANDIN = "\x80"
_MARK_TABLE = bytearray([_NOT_GSM] * 256)
for _i, _c in enumerate(BASIC):
    if _i != ESC and ord(_c) < 256:
        _MARK_TABLE[ord(_c)] = _i
for _c in EXTENSION:
    _MARK_TABLE[ord(_c) if _c != "€" else ord(_EURO_STANDIN)] = _EXT_MARK
_MARK = bytes(_MARK_TABLE)  # for text whose € became U+0080
_MARK_TABLE[ord(_EURO_STANDIN)] = _NOT_GSM
_MARK_NO_EURO = bytes(_MARK_TABLE)  # for text as it came: a real U+0080 is not GSM
del _MARK_TABLE, _i, _c

# The slow path: a charmap (C) pass; values are the septets as bytes.
_ENCODE_MAP: dict[int, bytes] = {ord(c): bytes([i]) for i, c in enumerate(BASIC) if i != ESC}
_ENCODE_MAP.update({ord(c): bytes([ESC, code]) for c, code in EXTENSION.items()})

# Decoding: the basic table as a charmap string (0x1B handled before it is used).
_DECODE_BASIC = BASIC
# Extension codes; a code missing from the table is shown as its basic-table character
# (TS 23.038 §6.2.1.1, note 3), and ESC ESC (reserved for a further table) as a space.
_DECODE_EXT: dict[int, str] = {code: c for c, code in EXTENSION.items()}
_DECODE_EXT[ESC] = " "

_NON_GSM = re.compile("[^" + re.escape(_ALL_CHARS) + "]")
_EXT_RE = re.compile("[" + re.escape("".join(EXTENSION)) + "]")


def _marked(text: str) -> bytes | None:
    """The marked form of ``text`` (see above), or ``None`` when it is not Latin-1 + €."""
    try:
        return text.encode("latin-1").translate(_MARK_NO_EURO)
    except UnicodeEncodeError:
        pass
    if "€" not in text or _EURO_STANDIN in text:
        return None
    try:
        return text.replace("€", _EURO_STANDIN).encode("latin-1").translate(_MARK)
    except UnicodeEncodeError:
        return None


def _marks(marked: bytes) -> list[int]:
    out: list[int] = []
    i = marked.find(_EXT_MARK)
    while i >= 0:
        out.append(i)
        i = marked.find(_EXT_MARK, i + 1)
    return out


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default alphabet or its extension."""
    m = _marked(text)
    if m is not None:
        return _NOT_GSM not in m
    return _NON_GSM.search(text) is None


def non_gsm7_chars(text: str) -> list[str]:
    """The distinct characters outside the GSM alphabet, in order of first appearance."""
    return [c for c in dict.fromkeys(text) if c not in _ALL_SET]


def extension_positions(text: str) -> list[int]:
    """Indices of the extension-table characters in ``text`` (each costs two septets)."""
    return [m.start() for m in _EXT_RE.finditer(text)]


def scan_gsm7(text: str) -> list[int] | None:
    """``None`` when ``text`` is not GSM 7-bit, else the indices of its extension characters
    (as :func:`extension_positions`)."""
    m = _marked(text)
    if m is not None:
        if _NOT_GSM in m:
            return None
        return _marks(m) if _EXT_MARK in m else []
    if _NON_GSM.search(text) is not None:
        return None
    return extension_positions(text)


def gsm7_septets(text: str) -> int:
    """Septets ``text`` costs in the default alphabet (extension characters count two).

    Only meaningful when :func:`is_gsm7` holds.
    """
    return len(text) + len(_EXT_RE.findall(text))


def encode_gsm7(text: str) -> bytes:
    """``text`` as unpacked septets, one per byte (SMPP ``data_coding=0``).

    Extension characters become ``0x1B xx``. Raises :class:`EncodeError` naming the first
    character outside the alphabet.
    """
    m = _marked(text)
    if m is not None and _NOT_GSM not in m:
        if _EXT_MARK not in m:
            return m
        out = bytearray()
        start = 0
        for i in _marks(m):
            out += m[start:i]
            out.append(ESC)
            out.append(EXTENSION[text[i]])
            start = i + 1
        out += m[start:]
        return bytes(out)
    try:
        return codecs.charmap_encode(text, "strict", _ENCODE_MAP)[0]
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise EncodeError(
            f"character {bad!r} (U+{ord(bad):04X}) at {e.start} is not in the GSM 7-bit alphabet"
        ) from None


def decode_gsm7(septets: bytes) -> str:
    """Text from unpacked septets (one per byte, values 0..127).

    An escape followed by a code not in the extension table reads as that code's
    basic-table character, ``ESC ESC`` and a lone trailing ``ESC`` read as a space
    (TS 23.038 §6.2.1.1). Raises :class:`DecodeError` for a byte over 0x7F.
    """
    if b"\x1b" not in septets:
        try:
            return codecs.charmap_decode(septets, "strict", _DECODE_BASIC)[0]
        except UnicodeDecodeError as e:
            raise DecodeError(
                f"byte 0x{septets[e.start]:02X} at {e.start} is not a 7-bit septet"
            ) from None
    out: list[str] = []
    i = 0
    n = len(septets)
    while i < n:
        j = septets.find(b"\x1b", i)
        if j < 0:
            j = n
        if j > i:
            chunk = septets[i:j]
            try:
                out.append(codecs.charmap_decode(chunk, "strict", _DECODE_BASIC)[0])
            except UnicodeDecodeError as e:
                raise DecodeError(
                    f"byte 0x{chunk[e.start]:02X} at {i + e.start} is not a 7-bit septet"
                ) from None
        if j >= n:
            break
        if j + 1 >= n:
            out.append(" ")
            break
        code = septets[j + 1]
        if code > 0x7F:
            raise DecodeError(f"byte 0x{code:02X} at {j + 1} is not a 7-bit septet")
        c = _DECODE_EXT.get(code)
        out.append(c if c is not None else BASIC[code])
        i = j + 2
    return "".join(out)


def encode_latin1(text: str) -> bytes:
    """``text`` in ISO 8859-1 (SMPP ``data_coding=3``, for SMSCs that want it).

    GSM text usually fits, but not always (€ and the Greek capitals are not Latin-1):
    raises :class:`EncodeError` naming the first character that does not fit.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise EncodeError(
            f"character {bad!r} (U+{ord(bad):04X}) at {e.start} is not in Latin-1"
        ) from None
