"""From submit_sm (or data_sm) to a send request, and from accept errors to command_status.

A long message comes as one submit_sm with ``message_payload``, or as several submit_sm
joined by a UDH concatenation header (3GPP TS 23.040 §9.2.3.24.1/.8) or the SAR TLVs
(SMPP 3.4 §5.3.2.22-24). Parts are joined here by (sender, recipient, reference); the
message is accepted once its last part is in, and every part's submit_sm_resp waits for
that commit. Pure: time is passed in.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from smsgw.drivers import text as t
from smsgw.drivers.smpp.addressing import to_display
from smsgw.drivers.smpp.pdu import DataSm, Status, SubmitSm, Tag

__all__ = ["CLASS_BY_SERVICE_TYPE", "Joiner", "Piece", "read_piece", "status_for"]

ESM_UDHI = 0x40
CLASS_BY_SERVICE_TYPE = {"otp": "otp", "mkt": "marketing", "trx": "transactional"}
"""service_type values (at most 5 characters) that pick a message class; any other value,
the empty one included, means ``transactional``."""

_STATUS_BY_CODE = {
    "invalid_number": Status.RINVDSTADR,
    "not_mobile": Status.RINVDSTADR,
    "no_route": Status.RINVDSTADR,
    "route_not_allowed": Status.RINVDSTADR,
    "invalid_sender": Status.RINVSRCADR,
    "sender_not_allowed": Status.RINVSRCADR,
    "empty_text": Status.RINVMSGLEN,
    "too_many_parts": Status.RINVMSGLEN,
    "queue_full": Status.RMSGQFUL,
    "rate_limited": Status.RTHROTTLED,
    "store_down": Status.RSYSERR,
    "shutting_down": Status.RSYSERR,
}


def status_for(code: str) -> int:
    """The submit_sm_resp command_status for an accept error ``code``: bad destination
    ESME_RINVDSTADR, sender not allowed ESME_RINVSRCADR, a full queue ESME_RMSGQFUL; a
    policy refusal (opted out, a class the key may not send) ESME_RX_R_APPN ("rejected by
    the receiving application"); anything else ESME_RSUBMITFAIL."""
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if code.startswith("invalid") or code.endswith("_invalid"):
        return Status.RSUBMITFAIL
    return Status.RX_R_APPN


class Piece(NamedTuple):
    """What one submit_sm says: addresses in our form, text, and where it sits in a long
    message (``concat`` None: the whole message)."""

    to: str
    sender: str
    text: str
    concat: t.Concat | None
    msg_class: str
    receipt: bool
    """registered_delivery asks for a final receipt (§5.2.17, bits 0-1)."""


def read_piece(pdu: SubmitSm | DataSm, *, national: bool) -> Piece:
    """Decode one submit_sm or data_sm; raises :class:`smsgw.drivers.text.TextError` for a
    text that does not decode. ``national``: a default country is configured, so an
    address with TON unknown stays as written instead of being read as international."""
    data = pdu.short_message if isinstance(pdu, SubmitSm) else b""
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
            concat = t.Concat(int.from_bytes(ref, "big"), total[0], seq[0], 16)
    dest_ton = pdu.dest_addr_ton
    if dest_ton == 0 and not national:
        dest_ton = 1  # TON unknown with no default country: only E.164 can be meant
    to = to_display(dest_ton, pdu.destination_addr)
    sender = to_display(pdu.source_addr_ton, pdu.source_addr)
    return Piece(
        to=to,
        sender=sender,
        text=text,
        concat=concat if concat is not None and concat.total > 1 else None,
        msg_class=CLASS_BY_SERVICE_TYPE.get(pdu.service_type, "transactional"),
        receipt=bool(pdu.registered_delivery & 0x03),
    )


A = TypeVar("A")


class Joined(NamedTuple, Generic[A]):
    piece: Piece
    """The first part's addresses and class, with the whole text; it asks for a receipt
    when any part did."""
    tokens: list[A]
    """Every part's answer token, in part order."""


class Joiner(Generic[A]):
    """Joins the parts of long messages of one bind; each part carries an answer token."""

    def __init__(self, timeout: float = 60.0, max_pending: int = 1000) -> None:
        self._reassembler = t.Reassembler(timeout, max_pending)
        self._held: dict[Hashable, tuple[Piece, dict[int, A]]] = {}

    def feed(self, piece: Piece, token: A, now: float) -> Joined[A] | None:
        """The whole message once ``piece`` completes it (a single part comes straight
        back), else None (the part waits, its token unanswered)."""
        concat = piece.concat
        if concat is None:
            return Joined(piece, [token])
        key = (piece.sender, piece.to, concat.ref, concat.total)
        first, tokens = self._held.setdefault(key, (piece, {}))
        if piece.receipt and not first.receipt:  # some clients ask on the last part only
            first = first._replace(receipt=True)
            self._held[key] = (first, tokens)
        tokens.setdefault(concat.seq, token)
        done = self._reassembler.feed(key, concat, piece.text, now)
        if done is None:
            return None
        del self._held[key]
        ordered = [tokens[i] for i in sorted(tokens)]
        return Joined(first._replace(text=done.text, concat=None), ordered)

    def expire(self, now: float) -> list[list[A]]:
        """Tokens of long messages whose other parts did not come in time (each list to be
        refused)."""
        out = []
        for done in self._reassembler.expire(now):
            held = self._held.pop(done.key, None)
            if held is not None:
                out.append(list(held[1].values()))
        return out

    def next_deadline(self) -> float | None:
        return self._reassembler.next_deadline()
