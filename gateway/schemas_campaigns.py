"""API bodies of ``/v1/campaigns``: msgspec Structs decoded once at the edge, and the source
of their part of the OpenAPI document. What a Struct cannot say (exactly one of ``template``,
``text`` and ``variants``; a template's syntax; a known template, segment or route) is checked
by :mod:`smsgw.gateway.api_campaigns`, each refusal naming its field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from smsgw.gateway.schemas import E164_PATTERN, Cursor, TemplateName, Timestamp, Vars
from smsgw.gateway.schemas_templates import TemplateText

__all__ = [
    "MAX_RECIPIENTS",
    "MAX_VARIANTS",
    "AbBody",
    "AbView",
    "CampaignBody",
    "CampaignPage",
    "CampaignStats",
    "CampaignView",
    "RecipientBody",
    "VariantBody",
    "VariantStats",
    "VariantView",
]

MAX_RECIPIENTS = 100_000
"""Recipients one draft lists at most (a segment has no such limit)."""
MAX_VARIANTS = 10
Weight = Annotated[
    float,
    Meta(
        ge=1,
        le=1000,
        multiple_of=1,
        description="A whole number: the variant's share of the recipients is its weight over"
        " the sum.",
    ),
]
"""A float that is a whole number: JSON says 150.0 and 150 alike."""


class VariantBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One variant: a template of the key's or a text (exactly one), and its weight."""

    template: TemplateName | UnsetType = UNSET
    text: TemplateText | UnsetType = UNSET
    weight: Weight = 1


class RecipientBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    to: Annotated[str, Meta(pattern=E164_PATTERN, description="E.164 (+4917012345678).")]
    vars: Vars = {}


class AbBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An A/B test with a winner (2 variants or more): the test share is sent first; ``wait``
    after its last message was accepted, the best variant by ``metric`` goes to the rest."""

    test_fraction: Annotated[
        float, Meta(gt=0, lt=1, description="About this share of the recipients is tested.")
    ]
    wait: Annotated[
        str | float,
        Meta(description='A duration ("4h", "90m", "2d") or seconds, at least one second.'),
    ]
    metric: Annotated[
        Literal["clicks", "conversions"],
        Meta(description="Unique clicks or attributed orders, per message sent."),
    ]


class AbView(msgspec.Struct, kw_only=True):
    """An A/B test's state: ``testing`` (its test share is being sent), ``waiting`` (for
    ``wait`` to pass), ``decided`` (``winner`` is the winning variant's index)."""

    phase: Literal["testing", "waiting", "decided"]
    test_fraction: float
    wait: float
    """Seconds."""
    metric: str
    winner: int | None = None
    decided_at: Timestamp | None = None
    reason: str | None = None
    values: list[float] = []
    """The metric per variant now, in their order (``reason`` holds them as decided)."""


class CampaignBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A draft: what to send (``template``, ``text`` or ``variants``), to whom (``segment``
    or ``recipients``), and optionally when, by which route, how fast, with tracked links."""

    name: Annotated[str, Meta(min_length=1, max_length=128)]
    template: TemplateName | UnsetType = UNSET
    text: TemplateText | UnsetType = UNSET
    variants: (
        Annotated[list[VariantBody], Meta(min_length=1, max_length=MAX_VARIANTS)] | UnsetType
    ) = UNSET
    segment: TemplateName | UnsetType = UNSET
    recipients: (
        Annotated[list[RecipientBody], Meta(min_length=1, max_length=MAX_RECIPIENTS)] | UnsetType
    ) = UNSET
    send_at: (
        Annotated[
            datetime,
            Meta(
                description="RFC 3339 with a time zone: the runner starts no sooner.",
                extra_json_schema={"format": "date-time"},
            ),
        ]
        | None
    ) = None
    route: Annotated[str, Meta(description="A configured route (422 no_route).")] | None = None
    rate: Annotated[float, Meta(gt=0, le=10_000, description="Messages per second.")] | None = None
    track_links: bool = False
    ab: AbBody | None = None


class VariantView(msgspec.Struct, kw_only=True, omit_defaults=True):
    template: str | None = None
    text: str | None = None
    weight: int


class VariantStats(msgspec.Struct, kw_only=True):
    """One variant's recipients and messages (the whole campaign's in ``CampaignStats``)."""

    recipients: int = 0
    pending: int = 0
    accepted: int = 0
    cancelled: int = 0
    held: int = 0
    """An A/B test's rest, waiting for the winner (counted in the campaign's total only)."""
    skipped: dict[str, int] = {}
    """By reason: ``opted_out``, a policy's or the accept path's refusal code."""
    sent: int = 0
    """Messages that left for the carrier (submitted, or a carrier's final status)."""
    delivered: int = 0
    failed: int = 0
    """Undelivered, expired, failed or rejected."""
    parts: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    """Messages whose tracked links were clicked at least once."""
    click_rate: float = 0.0
    """unique_clicks / sent (0 while none was sent)."""
    cost: float | None = None
    """parts times their routes' price_per_part; null when no route has a price."""
    conversions: int = 0
    """Orders attributed to these messages (``POST /v1/conversions``)."""
    revenue: dict[str, str] = {}
    """Their values summed per currency, exact decimals as text."""


class CampaignStats(VariantStats, kw_only=True):
    currency: str | None = None
    """The routes' currency, when they share one."""
    variants: list[VariantStats] = []
    """In the order of the campaign's variants."""


class CampaignView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    state: str
    """draft, running, paused, cancelled or completed."""
    variants: list[VariantView]
    segment: str | None = None
    recipients: int | None = None
    """How many recipients the draft lists (with ``segment``: none)."""
    send_at: Timestamp | None = None
    route: str | None = None
    rate: float | None = None
    track_links: bool = False
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    ab: AbView | None = None
    stats: CampaignStats | None = None
    """Once started: the recipients by state."""
    key: str | None = None
    """The key it belongs to: shown to an admin key only."""


class CampaignPage(msgspec.Struct, kw_only=True):
    campaigns: list[CampaignView]
    next: Cursor | None
