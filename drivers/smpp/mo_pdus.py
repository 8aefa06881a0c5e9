"""Inbound (MO) messages as the simulator delivers them: split and encoded like a handset would.

The text is planned by :mod:`smsgw.drivers.text` (GSM-7 when it can be, UCS-2 otherwise,
153/67 characters per part) and each part becomes one deliver_sm (SMPP 3.4 §4.6.1): data_coding
0 (unpacked septets) or 8, joined by a UDH (esm_class 0x40) or by the SAR TLVs.
"""

from __future__ import annotations

import struct
from typing import Literal

from smsgw.drivers import text as t
from smsgw.drivers.smpp.addressing import classify_address
from smsgw.drivers.smpp.pdu import DeliverSm, Tag

__all__ = ["mo_pdus"]


def mo_pdus(
    sender: str, to: str, text: str, *, concat: Literal["udh", "sar"] = "udh", ref: int = 0
) -> list[DeliverSm]:
    """The deliver_sm PDUs (without sequence numbers) carrying ``text`` from ``sender``.

    Raises ``ValueError`` for an address that cannot be put in a PDU or text too long to plan.
    """
    src = classify_address(sender)
    dst = classify_address(to)
    p = t.plan(text, max_parts=255, ref_bits=8, smart=False)
    segments = list(p.segments)
    total = len(segments)
    ucs2 = p.encoding == "ucs2"
    pdus = []
    for seq, segment in enumerate(segments, start=1):
        payload = t.encode_ucs2(segment) if ucs2 else t.encode_gsm7(segment)
        esm = 0
        tlvs: tuple[tuple[int, bytes], ...] = ()
        if total > 1 and concat == "udh":
            esm = 0x40
            payload = t.udh_concat(ref, total, seq, 8) + payload
        elif total > 1:
            tlvs = (
                (Tag.SAR_MSG_REF_NUM, struct.pack(">H", ref)),
                (Tag.SAR_TOTAL_SEGMENTS, bytes([total])),
                (Tag.SAR_SEGMENT_SEQNUM, bytes([seq])),
            )
        pdus.append(
            DeliverSm(
                source_addr_ton=src.ton,
                source_addr_npi=src.npi,
                source_addr=src.addr,
                dest_addr_ton=dst.ton,
                dest_addr_npi=dst.npi,
                destination_addr=dst.addr,
                esm_class=esm,
                data_coding=8 if ucs2 else 0,
                short_message=payload,
                tlvs=tlvs,
            )
        )
    return pdus
