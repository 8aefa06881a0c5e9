"""The message model: statuses, classes and the rows the store hands out.

The statuses and classes themselves are spelled in :mod:`smsgw.words` (re-exported here). A
message's status is derived from its parts' statuses by :func:`derive_status`; a message
refused at the door never gets an id or a row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final, Literal

import msgspec

from smsgw.words import ACTIVE, CLASSES, FINAL, PRIORITY, WAITING, Encoding, MessageClass, Status

__all__ = [
    "ACTIVE",
    "CLASSES",
    "FINAL",
    "PRIORITY",
    "WAITING",
    "ConversionRef",
    "HistoryEntry",
    "InboundRow",
    "LinkRow",
    "MessageClass",
    "MessageRow",
    "NewLink",
    "NewMessage",
    "PartRow",
    "Status",
    "derive_status",
    "rfc3339",
]

# When parts disagree, the message shows the "furthest behind" live state, and among final
# states the worst one: a message is delivered only when every part is.
_LIVE_ORDER: Final[tuple[str, ...]] = ("sending", "queued", "deferred", "scheduled", "submitted")
_FINAL_ORDER: Final[tuple[str, ...]] = (
    "failed",
    "rejected",
    "expired",
    "undelivered",
    "cancelled",
    "delivered",
)


def derive_status(part_statuses: Iterable[str]) -> str:
    """The message status for its parts' statuses.

    Any part failed or rejected: the message is that (the others are stopped by the store). Else,
    while any part is still live, the least advanced live state. Else the worst final state.
    """
    seen = set(part_statuses)
    for s in ("failed", "rejected"):
        if s in seen:
            return s
    for s in _LIVE_ORDER:
        if s in seen:
            return s
    for s in _FINAL_ORDER:
        if s in seen:
            return s
    raise ValueError("a message has at least one part")


class NewLink(msgspec.Struct, frozen=True, kw_only=True):
    """A tracked link in a new message's text (see :mod:`smsgw.queue.links`)."""

    code: str
    url: str
    """The URL the client wrote, where the short link redirects."""
    short_url: str
    """What the text holds in its place: ``<base_url>/<code>``."""
    expires_at: float


class NewMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A validated send request, ready to be committed (built by the accept path)."""

    key: str
    to: str
    sender: str
    text: str
    encoding: Encoding
    segments: tuple[str, ...]
    msg_class: MessageClass
    routes: tuple[str, ...]
    """Failover list; the first is where the message starts."""
    ref: int
    ref_bits: int
    created_at: float
    expires_at: float
    send_at: float | None = None
    client_ref: str | None = None
    callback_url: str | None = None
    webhook_events: Literal["all", "final"] = "all"
    """Which status changes get a webhook: every one, or only the final one."""
    status: str = "queued"
    """``queued``, or ``scheduled`` (send_at later) or ``deferred`` (a policy holds it)."""
    due_at: float | None = None
    note: str = ""
    """Why it waits, for the history."""
    template: str | None = None
    """The template its text was rendered from."""
    links: tuple[NewLink, ...] = ()
    """Tracked links in ``text``, committed with the message."""
    dedupe_key: str | None = None
    """Only once: no second message of this key to this number with this dedupe_key is
    accepted before ``dedupe_until`` (the first is answered instead)."""
    dedupe_until: float | None = None


class HistoryEntry(msgspec.Struct, frozen=True):
    at: float
    status: str
    note: str = ""


class PartRow(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    status: str
    route: str
    carrier_id: str | None
    attempts: int
    submitted_at: float | None
    done_at: float | None
    error: str | None


class LinkRow(msgspec.Struct, frozen=True, kw_only=True):
    """A tracked link of a message and what its recipient did with it (previews apart)."""

    url: str
    short_url: str
    code: str
    clicks: int
    first_click_at: float | None
    previews: int
    expires_at: float


class ConversionRef(msgspec.Struct, frozen=True, kw_only=True):
    """A conversion attributed to a message, as the message shows it."""

    order_id: str
    value: str
    """A decimal string, exactly as given."""
    currency: str


class MessageRow(msgspec.Struct, frozen=True, kw_only=True):
    """A message as GET shows it (store row plus parts and history when asked for)."""

    cursor: int
    id: str
    key: str
    to: str
    sender: str
    text: str
    encoding: str
    msg_class: str
    status: str
    route: str
    parts_total: int
    client_ref: str | None
    callback_url: str | None
    created_at: float
    updated_at: float
    send_at: float | None
    expires_at: float
    error: str | None
    attempts: int
    template: str | None = None
    parts: list[PartRow] = []
    history: list[HistoryEntry] = []
    links: list[LinkRow] = []
    """Its tracked links, in the order of the text (read by ``get`` only)."""
    conversions: list[ConversionRef] = []
    """Orders attributed to it, oldest first (read by ``get`` only)."""


class InboundRow(msgspec.Struct, frozen=True, kw_only=True):
    cursor: int
    id: str
    route: str
    sender: str
    to: str
    text: str
    received_at: float
    parts: int
    complete: bool


def rfc3339(t: float, *, millis: bool = True) -> str:
    """Unix seconds as RFC 3339 UTC: ``2026-11-22T20:56:44.123Z``, rounded to the millisecond;
    with ``millis=False``, ``2026-11-22T20:56:44Z``, the second it falls in.

    The one formatter of the times the gateway writes out (API bodies, webhooks, the console,
    CSV exports, notes).
    """
    if millis:
        ms = round(t * 1000)
        whole, fraction = ms // 1000, f".{ms % 1000:03d}"
    else:
        whole, fraction = round(t * 1_000_000) // 1_000_000, ""
    g = time.gmtime(whole)
    # Not strftime("%Y"): it writes the year 353 as "353", which is not RFC 3339.
    return (
        f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}"
        f"T{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}{fraction}Z"
    )
