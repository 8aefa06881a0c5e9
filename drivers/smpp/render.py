"""An :class:`OutboundPart` as a submit_sm, per the route's settings.

The text was split at accept time; here one part becomes exactly one submit_sm (SMPP 3.4
§4.4.1):

* data_coding (§5.2.19): GSM-7 text goes out as the route's ``data_coding_gsm`` (0: the SMSC
  default alphabet as unpacked septets, 3: Latin-1, 1: IA5/ASCII); UCS-2 as 8 (UTF-16BE);
* concatenation of a part of a multipart message: ``udh`` puts a concatenation header in
  short_message and sets the UDHI bit 0x40 of esm_class (3GPP TS 23.040 §9.2.3.24.1/.8);
  ``sar`` adds the sar_msg_ref_num/sar_total_segments/sar_segment_seqnum TLVs (§5.3.2.22-24);
  ``payload`` sends the text in the message_payload TLV (§5.3.2.32), with the SAR TLVs when
  the message has several parts so the SMSC can still join them;
* registered_delivery = 1 (§5.2.17: a receipt on success and failure);
* priority_flag (§5.2.14) from the class: otp 2, transactional 1, marketing 0 (GSM treats
  every non-zero value as "priority"; 3 means "emergency" on IS-95, which a code is not);
* validity_period (§5.2.16) as an absolute UTC time, ``YYMMDDhhmmss000+`` (§7.1.1).
"""

from __future__ import annotations

import functools
import struct
import time

from smsgw.config.schema import SmppRouteConfig
from smsgw.drivers.seam import OutboundPart
from smsgw.drivers.smpp.addressing import Addressing
from smsgw.drivers.smpp.pdu import SubmitSm, Tag
from smsgw.drivers.text import EncodeError, encode_gsm7, encode_latin1, encode_ucs2, udh_concat

__all__ = ["PRIORITY", "RenderError", "Renderer", "smpp_absolute_time"]

PRIORITY = {"otp": 2, "transactional": 1, "marketing": 0}
ESM_UDHI = 0x40


class RenderError(ValueError):
    """This part cannot be put on the wire for this route (its outcome is PERMANENT)."""


def smpp_absolute_time(unix: float) -> str:
    """``YYMMDDhhmmss`` + tenths + quarter-hours from UTC + ``+`` (SMPP 3.4 §7.1.1), in UTC."""
    second = int(unix)
    tenths = int((unix - second) * 10) % 10
    return _utc_second(second) + f"{tenths}00+"


@functools.lru_cache(maxsize=64)
def _utc_second(second: int) -> str:
    # The parts of one batch share their validity end: format each second once.
    return time.strftime("%y%m%d%H%M%S", time.gmtime(second))


class Renderer:
    """Turns parts into submit_sm for one route; cheap to call per part."""

    def __init__(self, config: SmppRouteConfig) -> None:
        self.concat = config.concat
        self.data_coding_gsm = config.data_coding_gsm
        self.addressing = Addressing(
            source_ton=config.source_ton,
            source_npi=config.source_npi,
            dest_ton=config.dest_ton,
            dest_npi=config.dest_npi,
        )
        self._addr_cache: dict[str, tuple[int, int, str]] = {}

    def _payload(self, part: OutboundPart) -> tuple[int, bytes]:
        if part.encoding == "ucs2":
            return 8, encode_ucs2(part.text)
        dc = self.data_coding_gsm
        if dc == 0:
            return 0, encode_gsm7(part.text)
        if dc == 3:
            try:
                return 3, encode_latin1(part.text)
            except EncodeError:
                # GSM text with € or a Greek capital: Latin-1 cannot carry it, and UCS-2 would
                # not fit the parts planned at accept. The SMSC default alphabet (GSM 03.38,
                # one septet per octet) carries every GSM character in the planned length.
                return 0, encode_gsm7(part.text)
        try:
            return 1, part.text.encode("ascii")
        except UnicodeEncodeError:
            raise RenderError(
                "text has characters outside IA5/ASCII (data_coding_gsm = 1)"
            ) from None

    def _source(self, sender: str) -> tuple[int, int, str]:
        a = self._addr_cache.get(sender)
        if a is None:
            a = tuple(self.addressing.source(sender))  # type: ignore[assignment]
            if len(self._addr_cache) < 1024:  # senders are few; bound the cache anyway
                self._addr_cache[sender] = a  # type: ignore[assignment]
        return a  # type: ignore[return-value]

    def render(self, part: OutboundPart, wall_now: float) -> SubmitSm:
        """The submit_sm for ``part``; raises :class:`RenderError` if it cannot be sent."""
        try:
            ston, snpi, saddr = self._source(part.sender)
            dton, dnpi, daddr = self.addressing.dest(part.to)
            dc, payload = self._payload(part)
        except RenderError:
            raise
        except ValueError as exc:  # AddressError, the text module's encoding errors
            raise RenderError(str(exc)) from None
        validity = ""
        if part.validity_until is not None:
            if part.validity_until <= wall_now:
                raise RenderError("validity period ended before the part could be submitted")
            validity = smpp_absolute_time(part.validity_until)
        esm = 0
        short = payload
        tlvs: tuple[tuple[int, bytes], ...] = ()
        multipart = part.total > 1
        if self.concat == "payload":
            short = b""
            tlvs = ((Tag.MESSAGE_PAYLOAD, payload),)
            if multipart:
                tlvs = self._sar(part) + tlvs
        elif multipart and self.concat == "sar":
            tlvs = self._sar(part)
        elif multipart:
            esm = ESM_UDHI
            short = udh_concat(part.ref, part.total, part.seq, part.ref_bits) + payload
        if len(short) > 254:
            # Only a part longer than any split would make gets here; the TLV carries 64 KiB.
            if esm:
                raise RenderError(f"part of {len(short)} octets does not fit short_message")
            tlvs = ((Tag.MESSAGE_PAYLOAD, short), *tlvs)
            short = b""
        return SubmitSm(
            source_addr_ton=ston,
            source_addr_npi=snpi,
            source_addr=saddr,
            dest_addr_ton=dton,
            dest_addr_npi=dnpi,
            destination_addr=daddr,
            esm_class=esm,
            priority_flag=PRIORITY.get(part.msg_class, 1),
            validity_period=validity,
            registered_delivery=1,
            data_coding=dc,
            short_message=short,
            tlvs=tlvs,
        )

    @staticmethod
    def _sar(part: OutboundPart) -> tuple[tuple[int, bytes], ...]:
        if not (1 <= part.seq <= part.total <= 255):
            raise RenderError(f"part {part.seq} of {part.total} cannot be numbered in SAR TLVs")
        return (
            (Tag.SAR_MSG_REF_NUM, struct.pack(">H", part.ref & 0xFFFF)),
            (Tag.SAR_TOTAL_SEGMENTS, bytes([part.total])),
            (Tag.SAR_SEGMENT_SEQNUM, bytes([part.seq])),
        )
