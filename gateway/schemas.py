"""API bodies as msgspec Structs: decoded and validated once at the edge, and the source of the
OpenAPI document (:mod:`smsgw.gateway.openapi`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

from smsgw.queue.policy import REFUSAL_REASONS

__all__ = [
    "REFUSAL_CODES",
    "Accepted",
    "BatchReply",
    "ErrorBody",
    "ErrorReply",
    "HistoryView",
    "InboundPage",
    "InboundView",
    "MessagePage",
    "MessageView",
    "PartView",
    "PreviewReply",
    "PreviewRequest",
    "SendRequest",
]

REFUSAL_CODES = (
    "invalid", "invalid_number", "not_mobile", "invalid_tz", "empty_text", "invalid_sender",
    "sender_not_allowed", "invalid_url", "invalid_time", "send_at_past", "no_route",
    "too_many_parts", *REFUSAL_REASONS,
)  # fmt: skip
"""Codes a send item can be refused with (422; ``smsgw_messages_refused_total{code}``):
``invalid`` when the JSON does not fit :class:`SendRequest`, the accept path's
(:mod:`smsgw.gateway.accept`), then the consent policy's."""

MessageClass = Literal["otp", "transactional", "marketing"]
TimeZone = Annotated[
    str,
    Meta(
        max_length=64,
        description="IANA time zone of the recipient (Europe/Berlin); overrides the zones known"
        " for the number when quiet hours apply.",
    ),
]


class SendRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One message to send."""

    to: Annotated[str, Meta(description="Destination, E.164 (+4917012345678).")]
    text: str
    sender: str | None = field(default=None, name="from")
    msg_class: MessageClass = field(default="transactional", name="class")
    client_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    callback_url: Annotated[str, Meta(max_length=2048)] | None = None
    send_at: datetime | None = None
    validity: Annotated[int, Meta(ge=1, le=7 * 86400, description="Seconds.")] | None = None
    route: str | None = None
    smart_encoding: bool | None = None
    tz: TimeZone | None = None


class PreviewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: str
    smart_encoding: bool | None = None


class PreviewReply(msgspec.Struct, kw_only=True):
    encoding: str
    parts: int
    units: int
    text: str
    smart_encoded: bool
    ucs2_chars: list[str]


class Accepted(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: str
    parts: int
    encoding: str
    client_ref: str | None = None
    send_at: str | None = None
    smart_encoded: bool = False
    deferred_until: str | None = None
    """When a courtesy policy (quiet hours, frequency cap) lets the message leave."""
    note: str | None = None
    """Which policy holds the message and until when."""


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


class ErrorReply(msgspec.Struct, kw_only=True):
    error: ErrorBody


class BatchReply(msgspec.Struct, kw_only=True):
    messages: list[Accepted | ErrorReply]


class PartView(msgspec.Struct, kw_only=True):
    seq: int
    status: str
    route: str
    carrier_id: str | None
    attempts: int
    submitted_at: str | None
    done_at: str | None
    error: str | None


class HistoryView(msgspec.Struct, kw_only=True):
    at: str
    status: str
    note: str


class MessageView(msgspec.Struct, kw_only=True):
    id: str
    status: str
    to: str
    sender: str = field(name="from")
    msg_class: str = field(name="class")
    text: str
    encoding: str
    part_count: int
    parts: list[PartView]
    client_ref: str | None
    callback_url: str | None
    route: str
    attempts: int
    error: str | None
    created_at: str
    updated_at: str
    send_at: str | None
    expires_at: str
    history: list[HistoryView]


class MessagePage(msgspec.Struct, kw_only=True):
    messages: list[MessageView]
    next: str | None


class InboundView(msgspec.Struct, kw_only=True):
    id: str
    sender: str = field(name="from")
    to: str
    text: str
    route: str
    received_at: str
    parts: int
    complete: bool


class InboundPage(msgspec.Struct, kw_only=True):
    inbound: list[InboundView]
    next: str | None
