"""The values the store's calls take and return (besides the message model and the consent
records): webhook deliveries and their lanes, dispatch summaries, queue and console figures,
receipts and inbound messages held for SMPP server accounts, message templates, contacts and
segments, conversions.

Every backend returns these same records; none of them holds anything of SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import msgspec

__all__ = [
    "ATTRIBUTED_BY",
    "BACKLOG_CAP",
    "CANCEL_REFS_LIMIT",
    "DEAD_KEPT",
    "HELD_COUNT_CAP",
    "RETRYABLE",
    "Attributed",
    "AttributedBy",
    "Backlog",
    "Candidate",
    "Claim",
    "Claimed",
    "Click",
    "ClickResult",
    "Coarse",
    "ContactPatch",
    "ContactRow",
    "ConversionRow",
    "Finished",
    "HeldCounts",
    "HeldReceipt",
    "Lane",
    "LaneInfo",
    "NewContact",
    "NewConversion",
    "NewSegment",
    "NewTemplate",
    "Notify",
    "OutcomeSummary",
    "QueueStats",
    "ReceiptSummary",
    "RefCancel",
    "RefMatch",
    "RetryResult",
    "SegmentRow",
    "TemplateRow",
    "WebhookJob",
]

# -- webhooks ------------------------------------------------------------------------------

Lane = tuple[str, str]
"""(key, origin)."""
Notify = Callable[[Mapping[Lane, int]], None]
"""Called after commit with the rows queued per lane (wakes the worker)."""

DEAD_KEPT = 7 * 86400.0
"""Seconds a failed delivery is kept (dead = 1, with its last_error) for an operator to see."""


class WebhookJob(msgspec.Struct, frozen=True):
    """One delivery as the worker holds it."""

    wid: int
    key: str
    url: str
    body: bytes
    attempts: int
    mid: int | None
    event_id: str
    origin: str


class LaneInfo(NamedTuple):
    lane: Lane
    pending: int
    next_at: float


class Claim(NamedTuple):
    key: str
    origin: str
    limit: int


class Claimed(NamedTuple):
    jobs: list[WebhookJob]
    next_at: float | None
    """The lane's earliest row still waiting in the store (None: none)."""


class Finished(msgspec.Struct, kw_only=True):
    """What the worker finished since its last step."""

    done: list[int] = []
    retry: list[tuple[int, int | None, float, str]] = []
    """(wid, mid, next_at, error): one more attempt counted, due again at next_at."""
    dead: list[tuple[int, str]] = []
    """(wid, error): failed for good (refused target, bad URL, attempts used up)."""
    release: list[tuple[int, float]] = []
    """(wid, not_before): taken but not attempted (receiver paused, predecessor retrying)."""
    purge_before: float | None = None
    """Delete dead rows that died before this time."""

    def __bool__(self) -> bool:
        return bool(self.done or self.retry or self.dead or self.release or self.purge_before)


# -- dispatch ------------------------------------------------------------------------------


@dataclass
class OutcomeSummary:
    submitted: list[tuple[int, str]] = field(default_factory=list)
    """(pid, class) of parts the carrier accepted."""
    throttled: int = 0
    temporary: int = 0
    permanent: int = 0
    duplicates_risked: int = 0
    receipts_late: int = 0
    """Receipts that had arrived before these ids and were waiting for them (now matched)."""
    requeued_now: bool = False
    """Some parts went straight back to ``queued`` (throttled): wake the route."""


@dataclass
class ReceiptSummary:
    matched: int = 0
    pending: int = 0
    duplicate: int = 0


# -- figures -------------------------------------------------------------------------------


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    oldest_by_class: dict[str, float]
    """created_at of the oldest unfinished message per class."""
    webhooks_pending: int


BACKLOG_CAP = 100_000
"""Parts counted in the scheduled backlog at most (beyond: "more than"), so a huge backlog
costs a bounded index read per page view."""

RETRYABLE = frozenset({"failed", "expired"})
"""Final statuses of a message the gateway gave up on (the carrier never delivered it)."""


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    """Parts waiting for a time: ``scheduled`` (a ``send_at``) and ``deferred`` (a retry or a
    courtesy policy), each counted up to :data:`BACKLOG_CAP` (``capped`` says one was more)."""

    scheduled: int
    deferred: int
    capped: bool
    oldest_due_at: float | None
    """The earliest due time among them (unix seconds): due parts are promoted every second,
    so one further in the past than that says the promoter is behind."""


class RetryResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`retry_message` did. ``result``: ``retried``; ``not_found`` (no such message
    for this key); ``not_retryable`` (its status is not one of :data:`RETRYABLE`)."""

    result: Literal["retried", "not_found", "not_retryable"]
    id: str
    status: str = ""
    """The message's status after the call (before it, when nothing was done)."""
    previous: str = ""
    route: str = ""
    msg_class: str = ""
    parts: int = 0
    """Parts queued again."""


# -- SMPP server accounts --------------------------------------------------------------


class HeldReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """One receipt waiting for its account's receiver bind."""

    hid: int
    account: str
    public_id: str
    status: str
    error: str | None
    submitted_at: float
    done_at: float
    sender: str
    to: str
    kind: str = "receipt"
    """``receipt`` (for a message the account sent) or ``inbound`` (a message to it)."""
    text: str = ""
    """The inbound message's text (empty for a receipt)."""


HELD_COUNT_CAP = 10_000
"""Held rows counted per account at most (a console figure, read at each page view)."""


class HeldCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What waits for one account: receipts and inbound messages (each counted up to
    :data:`HELD_COUNT_CAP` together; ``capped``: there are more)."""

    receipts: int = 0
    inbound: int = 0
    capped: bool = False


# -- message templates -------------------------------------------------------------------


class NewTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """A template to create, or what replaces one (its text already checked)."""

    key: str
    """The API key it belongs to: only that key (and an admin key) sees or changes it."""
    name: str
    text: str
    variants: dict[str, str] = {}
    """Locale -> text."""
    msg_class: str | None = None
    """The class a message sent with it gets when the request gives none."""
    description: str = ""
    at: float
    """When it was created or replaced."""


class TemplateRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored template; ``cursor`` orders the list pages."""

    cursor: int
    key: str
    name: str
    text: str
    variants: dict[str, str]
    msg_class: str | None
    description: str
    created_at: float
    updated_at: float


# -- tracked links -----------------------------------------------------------------------------


class Click(msgspec.Struct, frozen=True, kw_only=True):
    """Someone (or a link-preview fetcher) opened a short link."""

    code: str
    at: float
    user_agent: str
    preview: bool


class ClickResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a click found: ``redirect`` (recorded; go to ``url``), ``expired`` (not recorded)
    or ``unknown`` (no such code)."""

    outcome: Literal["redirect", "expired", "unknown"]
    url: str = ""


# -- cancel by client_ref ------------------------------------------------------------------

CANCEL_REFS_LIMIT = 10_000
"""Messages one cancel by client_ref or prefix lists (cancelled and already left together)."""


class RefMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A message a cancel by client_ref matched: its id, reference, owner, status after."""

    id: str
    client_ref: str
    key: str
    status: str


class RefCancel(msgspec.Struct, frozen=True, kw_only=True):
    """What one cancel by client_ref or prefix did, in one transaction.

    ``cancelled``: the matches that had not left, now ``cancelled``; ``already_left``: the
    others (a part claimed, submitted, or a final status), with their status. Waiting matches
    come first, so a call that hits the limit (``more``) cancels what it can and the next one
    goes on with the rest."""

    cancelled: list[RefMatch]
    already_left: list[RefMatch]
    more: bool


# -- contacts and segments -----------------------------------------------------------------

Attributes = dict[str, str | int | float | bool]


class NewContact(msgspec.Struct, frozen=True, kw_only=True):
    """A contact to create, or what replaces one whole (its fields already checked:
    :mod:`smsgw.queue.campaigns.contacts`)."""

    key: str
    """The API key it belongs to: only that key (and an admin key) sees or changes it."""
    number: str
    """E.164."""
    first_name: str = ""
    last_name: str = ""
    locale: str | None = None
    time_zone: str | None = None
    tags: list[str] = []
    attributes: Attributes = {}
    at: float
    """When it was written."""


class ContactPatch(msgspec.Struct, frozen=True, kw_only=True):
    """Changes to one contact: each field given (not None) replaces the stored one, except
    ``attributes``, merged in (a name mapped to None is removed). ``clear`` names the fields
    of ``locale`` and ``time_zone`` set back to none."""

    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    clear: frozenset[str] = frozenset()
    tags: list[str] | None = None
    attributes: dict[str, str | int | float | bool | None] = {}
    at: float


class ContactRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored contact; ``cursor`` orders the list pages."""

    cursor: int
    key: str
    number: str
    first_name: str
    last_name: str
    locale: str | None
    time_zone: str | None
    tags: list[str]
    attributes: Attributes
    created_at: float
    updated_at: float


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A contact the coarse selection of a segment found, and whether an opt-out stops the
    key's messages to its number."""

    contact: ContactRow
    opted_out: bool


class NewSegment(msgspec.Struct, frozen=True, kw_only=True):
    """A segment to create, or what replaces one: ``rules`` is its filter as JSON text (the
    store keeps it as given; :mod:`smsgw.queue.campaigns.segments` reads it)."""

    key: str
    name: str
    rules: str
    at: float


class SegmentRow(msgspec.Struct, frozen=True, kw_only=True):
    cursor: int
    key: str
    name: str
    rules: str
    created_at: float
    updated_at: float


class Coarse(msgspec.Struct, frozen=True, kw_only=True):
    """What a store may select contacts by before a segment's filter decides: every tag in
    ``tags_all``, one of ``tags_any`` (when not empty), the locale and time zone (when not
    None). The filter checks them again; a store may select more, never fewer."""

    tags_all: list[str] = []
    tags_any: list[str] = []
    locale: str | None = None
    time_zone: str | None = None


# -- conversions ---------------------------------------------------------------------------

AttributedBy = Literal["click", "delivery", "code", "client_ref"]
ATTRIBUTED_BY: tuple[AttributedBy, ...] = get_args(AttributedBy)
"""How a conversion found its message: the number's last clicked message in the window, else
its last delivered marketing message there; or the tracked link's code, or the client_ref,
given with it."""


class NewConversion(msgspec.Struct, frozen=True, kw_only=True):
    """An order to attribute: exactly one of ``number``, ``code``, ``client_ref`` is set."""

    key: str
    order_id: str
    value: str
    """The amount as a decimal string, exactly as given (``"12.50"``)."""
    currency: str
    number: str | None = None
    code: str | None = None
    client_ref: str | None = None
    at: float
    """When the order was placed (Unix seconds); the window ends there."""
    window: float
    """Seconds before ``at`` a click or a delivery may lie to count for ``number``."""
    received_at: float


class Attributed(msgspec.Struct, frozen=True, kw_only=True):
    """The message a conversion is attributed to (a row of the same key)."""

    message: str
    by: AttributedBy
    client_ref: str | None = None
    flow: str | None = None
    """The flow whose step sent the message, with the step's number."""
    step: int | None = None


class ConversionRow(msgspec.Struct, frozen=True, kw_only=True):
    cursor: int
    id: str
    key: str
    order_id: str
    value: str
    currency: str
    number: str | None
    code: str | None
    client_ref: str | None
    at: float
    created_at: float
    attributed: Attributed | None = None
