"""Text on the wire: GSM 03.38 and UCS-2 encoding, segmentation, headers and reassembly.

Sans-IO and standard library only; shared by the API (planning at accept time), the SMPP
driver and the modem driver (wire forms, inbound decoding and reassembly).

- :func:`plan` chooses the encoding and splits a text into the fewest parts, never tearing
  an escape pair or a surrogate pair; the part count it gives is what goes on the wire.
- :func:`encode_gsm7` / :func:`decode_gsm7` (unpacked septets), :func:`pack_septets` /
  :func:`unpack_septets` (packed, with fill bits), :func:`encode_ucs2` /
  :func:`decode_ucs2`, :func:`encode_latin1`: the wire forms.
- :func:`udh_concat` / :func:`parse_udh`: concatenation headers out, any header in.
- :func:`decode_payload`: one inbound part's header and text from its data coding.
- :class:`ReferenceAllocator`: concatenation references unique per destination.
- :class:`Reassembler`: joins inbound parts in order, keeps incomplete ones on timeout.
- :func:`parse_decimal` / :func:`is_decimal`: numbers in text from outside, ASCII digits only.
"""

from smsgw.drivers.text.digits import is_decimal, parse_decimal
from smsgw.drivers.text.errors import (
    DecodeError,
    EncodeError,
    InvalidArgument,
    TextError,
    TooManyParts,
    UdhError,
)
from smsgw.drivers.text.gsm7 import (
    decode_gsm7,
    encode_gsm7,
    encode_latin1,
    gsm7_septets,
    is_gsm7,
    non_gsm7_chars,
)
from smsgw.drivers.text.packing import (
    fill_bits_for,
    header_septets,
    pack_septets,
    unpack_septets,
)
from smsgw.drivers.text.payload import alphabet, decode_payload
from smsgw.drivers.text.reassembly import Reassembled, Reassembler
from smsgw.drivers.text.refs import ReferenceAllocator
from smsgw.drivers.text.segment import MAX_PARTS, Encoding, Plan, capacity, plan
from smsgw.drivers.text.smart import SMART_MAP, smart_replace
from smsgw.drivers.text.ucs2 import decode_ucs2, encode_ucs2, ucs2_units
from smsgw.drivers.text.udh import Concat, Udh, parse_udh, udh_concat

__all__ = [
    "MAX_PARTS",
    "SMART_MAP",
    "Concat",
    "DecodeError",
    "EncodeError",
    "Encoding",
    "InvalidArgument",
    "Plan",
    "Reassembled",
    "Reassembler",
    "ReferenceAllocator",
    "TextError",
    "TooManyParts",
    "Udh",
    "UdhError",
    "alphabet",
    "capacity",
    "decode_gsm7",
    "decode_payload",
    "decode_ucs2",
    "encode_gsm7",
    "encode_latin1",
    "encode_ucs2",
    "fill_bits_for",
    "gsm7_septets",
    "header_septets",
    "is_decimal",
    "is_gsm7",
    "non_gsm7_chars",
    "pack_septets",
    "parse_decimal",
    "parse_udh",
    "plan",
    "smart_replace",
    "ucs2_units",
    "udh_concat",
    "unpack_septets",
]
