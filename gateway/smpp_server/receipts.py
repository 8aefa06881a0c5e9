"""Held receipts as deliver_sm (SMPP 3.4 §4.6.1, the receipt text of Appendix B), and which
receipts each account has in flight. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smsgw.drivers.smpp.pdu import DeliverSm, Tag
from smsgw.drivers.text.digits import is_decimal
from smsgw.drivers.text.gsm7 import encode_gsm7, is_gsm7
from smsgw.drivers.text.ucs2 import encode_ucs2
from smsgw.queue.store.records import HeldReceipt

__all__ = ["HeldState", "held_pdu", "inbound_pdu", "receipt_pdu"]

_STAT = {
    "delivered": ("DELIVRD", 2),
    "expired": ("EXPIRED", 3),
    "cancelled": ("DELETED", 4),
    "undelivered": ("UNDELIV", 5),
    "failed": ("UNDELIV", 5),
    "rejected": ("REJECTD", 8),
}
"""Our final status -> (the receipt's stat word, message_state §5.2.28)."""


def _date(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%y%m%d%H%M")


def _address(addr: str) -> tuple[int, int, str]:
    """(TON, NPI, address) for an address in our form."""
    if addr.startswith("+") and is_decimal(addr[1:], 20):
        return 1, 1, addr[1:]
    if is_decimal(addr, 20):
        return 0, 1, addr
    return 5, 0, addr


def receipt_pdu(row: HeldReceipt) -> DeliverSm:
    """The deliver_sm receipt for ``row``: from the recipient to the sender, esm_class 0x04,
    the usual ``id:... stat:...`` text and the receipted_message_id and message_state TLVs,
    so clients that read either find the message id their submit_sm_resp carried.

    The text is ASCII marked Latin-1 (data_coding 3, §5.2.19): a client that decodes
    data_coding 0 as GSM 7-bit would read the ``_`` of ``msg_...`` as ``§`` (0x5F in GSM
    03.38), and then the id would not match."""
    stat, state = _STAT.get(row.status, ("UNKNOWN", 7))
    delivered = row.status == "delivered"
    text = (
        f"id:{row.public_id} sub:001 dlvrd:{'001' if delivered else '000'}"
        f" submit date:{_date(row.submitted_at)} done date:{_date(row.done_at)}"
        f" stat:{stat} err:{'000' if delivered else '001'} text:"
    )
    ston, snpi, source = _address(row.to)
    dton, dnpi, dest = _address(row.sender)
    return DeliverSm(
        source_addr_ton=ston,
        source_addr_npi=snpi,
        source_addr=source,
        dest_addr_ton=dton,
        dest_addr_npi=dnpi,
        destination_addr=dest,
        esm_class=0x04,
        data_coding=0x03,
        short_message=text.encode("ascii", "replace"),
        tlvs=(
            (Tag.RECEIPTED_MESSAGE_ID, row.public_id.encode("ascii", "replace") + b"\0"),
            (Tag.MESSAGE_STATE, bytes((state,))),
        ),
    )


def inbound_pdu(row: HeldReceipt) -> DeliverSm:
    """The deliver_sm for a held inbound message: from its sender to our number, GSM 7-bit
    unpacked (data_coding 0) when the text allows, else UCS-2 (8); a text over 254 octets
    rides in message_payload, whole (smsgw joined its parts already)."""
    if is_gsm7(row.text):
        data, coding = encode_gsm7(row.text), 0
    else:
        data, coding = encode_ucs2(row.text), 8
    ston, snpi, source = _address(row.sender)
    dton, dnpi, dest = _address(row.to)
    long = len(data) > 254
    return DeliverSm(
        source_addr_ton=ston,
        source_addr_npi=snpi,
        source_addr=source,
        dest_addr_ton=dton,
        dest_addr_npi=dnpi,
        destination_addr=dest,
        data_coding=coding,
        short_message=b"" if long else data,
        tlvs=((Tag.MESSAGE_PAYLOAD, data),) if long else (),
    )


def held_pdu(row: HeldReceipt) -> DeliverSm:
    """The deliver_sm for any held row."""
    return inbound_pdu(row) if row.kind == "inbound" else receipt_pdu(row)


class HeldState:
    """One account's receipts in flight: which connection sent each (by hid), and when one
    that was refused may go again. ``receivers`` are its connections bound to receive, as
    the listener's connection objects (opaque here)."""

    def __init__(self) -> None:
        self.receivers: list[Any] = []
        self.inflight: dict[int, Any] = {}
        self.retry_at: dict[int, float] = {}

    def skip(self, now: float) -> set[int]:
        """Receipts not to send now: in flight, or refused and waiting to be sent again."""
        return set(self.inflight) | {h for h, t in self.retry_at.items() if t > now}

    def next_retry(self, now: float) -> float | None:
        later = [t for t in self.retry_at.values() if t > now]
        return min(later) if later else None
