"""What the gateway and the store exchange about campaigns: drafts, recipients, their fate.

A **campaign** is one marketing message to many numbers: a draft (its text, template or
weighted variants, and a segment or a list of recipients) until it is started; then its
recipients are fixed as rows, each sent once by the campaign runner through the accept path.
Campaign states: ``draft``, ``running``, ``paused``, ``cancelled``, ``completed`` (every
recipient accepted or skipped; a pause or a cancel may still take back what has not left). Recipient
states: ``pending`` (to be sent), ``accepted`` (its message is queued or left), ``skipped``
(never sent, with its reason: ``opted_out``, a policy's refusal, a refused text or number),
``cancelled`` (the campaign was cancelled first), ``held`` (an A/B test's rest, variant ``-1``,
waiting for the winner: see :class:`AbSpec`).

Each message's client_ref is ``cmp:<id>:<seq>:<gen>``: ``gen`` counts the pauses, so a
recipient whose message a pause took back is sent again under a new reference on resume, and
a chunk run twice (a restart) is answered by the accept path with the first message.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from smsgw.queue.model import NewMessage
from smsgw.queue.store.screening import Facts

__all__ = [
    "AB_METRICS",
    "CAMPAIGN_STATES",
    "HELD",
    "RECIPIENT_STATES",
    "AbSpec",
    "CampaignAction",
    "CampaignRow",
    "CampaignSpec",
    "ClickTally",
    "MessageTally",
    "NewCampaign",
    "NewRecipient",
    "RecipientCount",
    "RecipientFire",
    "RecipientRow",
    "SpecRecipient",
    "SpecVariant",
    "client_ref",
    "ref_prefix",
]

CAMPAIGN_STATES = ("draft", "running", "paused", "cancelled", "completed")
RECIPIENT_STATES = ("pending", "accepted", "skipped", "cancelled", "held")
CampaignAction = Literal["pause", "resume", "cancel"]
AB_METRICS = ("clicks", "conversions")
HELD = -1
"""The variant of a held recipient: none yet."""


class AbSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An A/B test with a winner: about ``test_fraction`` of the recipients (the test share)
    get their variants by weight and are sent first; the rest are held. ``wait`` seconds after
    the last test message was accepted, the variant with the highest ``metric`` per message
    sent (``clicks``: unique clicks; ``conversions``: attributed orders; ties to the lower
    index) becomes the winner and every held recipient gets it."""

    test_fraction: float
    wait: float
    metric: str


class SpecVariant(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One variant: a template of the key's or a text, and its weight."""

    template: str | None = None
    text: str | None = None
    weight: int = 1


class SpecRecipient(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    to: str
    vars: dict[str, Any] = {}


class CampaignSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A draft as checked: what to send (one variant or more), to whom (a segment of the
    key's, else the list kept beside it), when, and how (route, messages per second, tracked
    links). Read with every look at the campaign, so it holds no recipient list."""

    variants: list[SpecVariant]
    segment: str | None = None
    send_at: float | None = None
    route: str | None = None
    rate: float | None = None
    track_links: bool = False
    ab: AbSpec | None = None


class NewCampaign(msgspec.Struct, frozen=True, kw_only=True):
    """A draft to store (the store gives it its id, ``cmp_...``)."""

    key: str
    name: str
    spec: CampaignSpec
    recipients: list[SpecRecipient] | None = None
    """The draft's list (None: its segment is evaluated at start)."""
    at: float


class CampaignRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored campaign; ``cursor`` orders the list pages, ``gen`` counts its pauses."""

    cursor: int
    id: str
    key: str
    name: str
    spec: CampaignSpec
    listed: int | None
    """How many recipients the draft lists (None: a segment)."""
    state: str
    gen: int
    created_at: float
    updated_at: float
    started_at: float | None
    ended_at: float | None
    ab_winner: int | None = None
    """An A/B test's winning variant, once decided."""
    ab_decided_at: float | None = None
    ab_reason: str | None = None
    """Why it won: the metric and each variant's value."""


class NewRecipient(msgspec.Struct, frozen=True, kw_only=True):
    """A recipient fixed at start: ``pending``, or ``skipped`` with its reason."""

    number: str
    vars: dict[str, Any]
    variant: int
    state: Literal["pending", "skipped", "held"] = "pending"
    reason: str | None = None


class RecipientRow(msgspec.Struct, frozen=True, kw_only=True):
    """A pending recipient, as the runner takes it."""

    seq: int
    number: str
    vars: dict[str, Any]
    variant: int


class RecipientFire(msgspec.Struct, frozen=True, kw_only=True):
    """A pending recipient's message (with the number's facts), or the reason it is not sent."""

    seq: int
    msg: NewMessage | None = None
    facts: Facts | None = None
    reason: str | None = None


class RecipientCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many of a campaign's recipients of one variant are in one state (with one reason)."""

    variant: int
    state: str
    reason: str | None
    n: int


class MessageTally(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's messages of one variant on one route: how many, how many left for the
    carrier (``sent``: submitted or a carrier's final status), ``delivered``, ``failed``
    (undelivered, expired, failed, rejected) and their parts."""

    variant: int
    route: str
    messages: int
    sent: int
    delivered: int
    failed: int
    parts: int


class ClickTally(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's clicks on the tracked links of one variant's messages, how many of those
    messages were clicked at least once (unique clicks), and the orders attributed to them."""

    variant: int
    clicks: int
    clicked: int
    conversions: int = 0
    """Orders attributed to the variant's messages (see ``POST /v1/conversions``)."""
    revenue: dict[str, str] = {}
    """Their values summed per currency, exact decimals as text."""


def ref_prefix(campaign_id: str) -> str:
    """The client_ref prefix every message of the campaign starts with."""
    return f"cmp:{campaign_id}:"


def client_ref(campaign_id: str, seq: int, gen: int) -> str:
    """The client_ref of recipient ``seq``'s message in generation ``gen``."""
    return f"{ref_prefix(campaign_id)}{seq}:{gen}"
