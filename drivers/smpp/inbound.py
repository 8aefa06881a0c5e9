"""Inbound (MO) messages: decode each deliver_sm, join the parts, and decide when to ack them.

Sans-IO: fed PDUs with an opaque acknowledgement token each (the driver's bind, session and
sequence), it returns whole :class:`InboundMessage` values to store and the tokens to answer,
and with which command_status. Parts of one message may arrive on different binds; they are
joined by sender, recipient and reference (UDH per 3GPP TS 23.040 §9.2.3.24.1/.8, or the SAR
TLVs of SMPP 3.4 §5.3.2.22-24).

When to acknowledge: a part is acknowledged once the message it belongs to is stored — so a
crash never loses a part the SMSC thinks we have. A message whose other parts do not come
would leave its parts unanswered, and the SMSC would resend them until it gives up; so a held
part is acknowledged anyway after ``hold`` seconds (its text stays in the reassembler until the
message completes or ``reassembly_timeout`` passes and it is stored as incomplete).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

import msgspec

from smsgw.drivers import text as t
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.smpp.addressing import to_display
from smsgw.drivers.smpp.pdu import DataSm, DeliverSm, Status, Tag

__all__ = ["InboundAssembler", "Settled"]

A = TypeVar("A")

ESM_UDHI = 0x40


class Settled(msgspec.Struct, Generic[A]):
    """What to do now: store ``messages``, then answer each token of ``acks`` with its status."""

    messages: list[InboundMessage] = msgspec.field(default_factory=list)
    acks: list[tuple[A, int]] = msgspec.field(default_factory=list)
    errors: list[str] = msgspec.field(default_factory=list)
    """Protocol error kinds to count (undecodable parts)."""


class InboundAssembler(Generic[A]):
    """Joins inbound parts for one route; time is given, never read."""

    def __init__(self, route: str, *, reassembly_timeout: float, hold: float) -> None:
        self.route = route
        self.hold = hold
        self._reassembler = t.Reassembler(reassembly_timeout)
        # reassembly key -> [(token, held since)]
        self._held: dict[Hashable, list[tuple[A, float]]] = {}
        self._reassembly_timeout = reassembly_timeout
        self._oldest_part: dict[Hashable, float] = {}

    def _decode(self, pdu: DeliverSm | DataSm) -> tuple[t.Concat | None, str]:
        data = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        if not data:
            data = pdu.tlv(Tag.MESSAGE_PAYLOAD) or b""
        udh, text = t.decode_payload(data, pdu.data_coding, udhi=bool(pdu.esm_class & ESM_UDHI))
        concat = udh.concat if udh is not None else None
        if concat is None:
            ref, total, seq = (
                pdu.tlv(Tag.SAR_MSG_REF_NUM),
                pdu.tlv(Tag.SAR_TOTAL_SEGMENTS),
                pdu.tlv(Tag.SAR_SEGMENT_SEQNUM),
            )
            if (
                ref is not None
                and total is not None
                and seq is not None
                and (len(ref), len(total), len(seq)) == (2, 1, 1)
                and total[0] > 1
            ):
                concat = t.Concat(
                    ref=int.from_bytes(ref, "big"), total=total[0], seq=seq[0], ref_bits=16
                )
        return concat, text

    def feed(
        self, items: list[tuple[DeliverSm | DataSm, A]], now: float, wall: float
    ) -> Settled[A]:
        """Take inbound parts (``now``: monotonic seconds; ``wall``: Unix time of arrival)."""
        out: Settled[A] = Settled()
        for pdu, token in items:
            try:
                concat, text = self._decode(pdu)
            except ValueError:
                # Undecodable: tell the SMSC it is permanently refused rather than have it
                # resend the same bytes forever.
                out.errors.append("bad_inbound")
                out.acks.append((token, Status.RX_P_APPN))
                continue
            sender = to_display(pdu.source_addr_ton, pdu.source_addr)
            to = to_display(pdu.dest_addr_ton, pdu.destination_addr)
            if concat is None or concat.total <= 1:
                out.messages.append(
                    InboundMessage(
                        route=self.route, sender=sender, to=to, text=text, received_at=wall
                    )
                )
                out.acks.append((token, Status.ROK))
                continue
            key = (sender, to, concat.ref, concat.total)
            self._held.setdefault(key, []).append((token, now))
            done = self._reassembler.feed(key, concat, text, now)
            if done is not None:
                out.messages.append(self._message(sender, to, done, wall))
                for tok, _ in self._held.pop(key, []):
                    out.acks.append((tok, Status.ROK))
        return out

    def _message(self, sender: str, to: str, done: t.Reassembled, wall: float) -> InboundMessage:
        return InboundMessage(
            route=self.route,
            sender=sender,
            to=to,
            text=done.text,
            received_at=wall,
            parts=done.parts,
            complete=done.complete,
        )

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has something to do."""
        starts = [since for held in self._held.values() for _, since in held[:1]]
        deadlines = [s + self.hold for s in starts]
        nxt = (
            self._reassembler.next_deadline()
            if hasattr(self._reassembler, "next_deadline")
            else None
        )
        if nxt is not None:
            deadlines.append(nxt)
        return min(deadlines) if deadlines else None

    def expire(self, now: float, wall: float) -> Settled[A]:
        """Acknowledge parts held past ``hold``; store messages past the reassembly timeout."""
        out: Settled[A] = Settled()
        for key in list(self._held):
            keep = []
            for tok, since in self._held[key]:
                if now >= since + self.hold:
                    out.acks.append((tok, Status.ROK))
                else:
                    keep.append((tok, since))
            if keep:
                self._held[key] = keep
            else:
                del self._held[key]
        for done in self._reassembler.expire(now):
            sender, to, _, _ = done.key
            out.messages.append(self._message(sender, to, done, wall))
            for tok, _ in self._held.pop(done.key, []):
                out.acks.append((tok, Status.ROK))
        return out
