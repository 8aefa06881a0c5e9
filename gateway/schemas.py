"""API bodies as msgspec Structs: decoded and validated once at the edge, and the source of the
OpenAPI document (:mod:`smsgw.gateway.openapi`).

Two kinds of constraint live here. ``Meta(ge=, le=, min_length=, max_length=)`` and ``Literal``
types are enforced by msgspec as the body is decoded (a 422 ``invalid`` naming the field).
``Meta(extra_json_schema=...)`` only documents what the accept path enforces afterwards with
its own error code (``invalid_number``, ``invalid_sender``, ``empty_text``...): the document
says it, the code that refuses it keeps its code. Reply Structs that the handlers build as
dicts are declared too, so every answer has its schema in the document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType, field

from smsgw.config.durations import whole_units_pattern
from smsgw.gateway.errors import ErrorBody, ErrorReply
from smsgw.queue.campaigns.templates import LOCALE_PATTERN
from smsgw.queue.consent.policy import REFUSAL_REASONS
from smsgw.words import CLASSES, ENCODINGS, MessageClass
from smsgw.words import STATUSES as _STATUSES

__all__ = [
    "DEDUPE_WINDOW",
    "DEDUPE_WINDOW_MAX",
    "E164_PATTERN",
    "REFUSAL_CODES",
    "SENDER_PATTERN",
    "STATUSES",
    "TEMPLATE_NAME_PATTERN",
    "URL_PATTERN",
    "Accepted",
    "BatchReply",
    "CancelRefsReply",
    "CancelRefsRequest",
    "CancelReply",
    "ConsentReply",
    "ConversionRefView",
    "ErrorBody",
    "ErrorReply",
    "HealthReply",
    "HistoryView",
    "ImportReply",
    "InboundPage",
    "InboundView",
    "LinkView",
    "Locale",
    "MessagePage",
    "MessageView",
    "OptinReply",
    "OptoutEventView",
    "OptoutPage",
    "OptoutState",
    "OptoutView",
    "PartView",
    "PreviewReply",
    "PreviewRequest",
    "ReadyReply",
    "RefCancelled",
    "RefLeft",
    "RouteList",
    "RouteView",
    "SendRequest",
    "TemplateName",
    "Vars",
]

REFUSAL_CODES = (
    "invalid", "invalid_number", "not_mobile", "invalid_tz", "empty_text", "invalid_sender",
    "sender_not_allowed", "invalid_url", "url_not_allowed", "webhook_secret_required",
    "invalid_time", "send_at_past", "send_at_too_far", "no_route", "route_not_allowed",
    "too_many_parts", "invalid_text", "unknown_template", "missing_variable",
    "invalid_variable", "links_off", *REFUSAL_REASONS,
)  # fmt: skip
"""Codes a send item can be refused with (422; ``smsgw_messages_refused_total{code}``):
``invalid`` when the JSON does not fit :class:`SendRequest`, the accept path's
(:mod:`smsgw.gateway.accept`), then the consent policy's."""

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
"""E.164 as the API reads it: ``+``, then 7 to 15 digits, the first not 0."""
SENDER_PATTERN = r"^(?:\+[1-9][0-9]{6,14}|[0-9]{3,8}|[A-Za-z0-9 .\-_&'!?]{1,11})$"
"""A sender id: E.164, a short code (3-8 digits) or 1-11 letters, digits and ``.-_&'!?``
and spaces (:func:`smsgw.gateway.accept.valid_sender`; a test keeps the two in step)."""
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
"""The last label of a host name starts with a letter: then no reading of the host is an IPv4
address (``inet_aton`` takes ``127.1``, ``0x7f.1``, ``0``)."""
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    rf"(?:{_LABEL}\.){{0,3}}{_TOP_LABEL}\.?"  # a host name of up to four DNS labels
    rf"(?::{_PORT})?"
    r"(?:[/?#][!-~]*)?$"  # path, query, fragment: visible ASCII
)
"""A ``callback_url`` by name: http(s), a DNS host name, a port from 1 to 65535, the rest in
visible ASCII (percent-encode anything else); what :func:`smsgw.gateway.httpclient.url.parse_url`
takes, less a few spellings it also reads (an IP address, a non-ASCII name, a port with
leading zeros), which the document leaves out because whether they are allowed depends on the
address (422 ``url_not_allowed``)."""

STATUSES = list(_STATUSES)
_STATUS_DOC = {"enum": STATUSES}

StatusText = Annotated[str, Meta(extra_json_schema=_STATUS_DOC)]
EncodingText = Annotated[str, Meta(extra_json_schema={"enum": list(ENCODINGS)})]
Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
"""RFC 3339 UTC, as the API writes times."""
Cursor = Annotated[
    str,
    Meta(
        extra_json_schema={
            "pattern": "^[0-9]+$",
            "description": "Pass as ``after`` to get the next page; null on the last page.",
        }
    ),
]
TimeZone = Annotated[
    str,
    Meta(
        max_length=64,
        description="IANA time zone of the recipient (Europe/Berlin); overrides the zones known"
        " for the number when quiet hours apply.",
    ),
]


TEMPLATE_NAME_PATTERN = "^[a-z0-9_-]{1,64}$"
"""A template's name: 1-64 lower-case letters, digits, ``_`` and ``-``."""
TemplateName = Annotated[
    str, Meta(pattern=TEMPLATE_NAME_PATTERN, description="1-64 of a-z, 0-9, _ and -.")
]
Locale = Annotated[
    str,
    Meta(
        max_length=35,
        pattern=LOCALE_PATTERN,
        description="A locale like de or fr-CA, in any case: its variant, else its"
        " language's, else the default text.",
    ),
]
Vars = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Any],
    Meta(
        max_length=100,
        description="Variable -> value, a string or a number (422 invalid_variable naming"
        " vars.<name> otherwise); variables the text does not use are ignored.",
        extra_json_schema={
            "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}]}
        },
    ),
]
DEDUPE_WINDOW = 30 * 86400.0
"""Seconds a dedupe_key holds its number when the message gives no dedupe_window."""
DEDUPE_WINDOW_MAX = 400 * 86400.0
"""The longest dedupe_window."""


class SendRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One message to send: its ``text``, or a ``template`` of the key's with the
    recipient's ``vars`` (exactly one of the two)."""

    to: Annotated[
        str,
        Meta(
            description="Destination, E.164 (+4917012345678); national formats only with"
            " policy.default_country. With policy.validate_numbers, a number phonenumbers does"
            " not know is refused (422 invalid_number).",
            extra_json_schema={"pattern": E164_PATTERN},
        ),
    ]
    text: (
        Annotated[
            str,
            Meta(
                description="GSM-7 or UCS-2 text; more parts than text.max_parts is 422"
                " too_many_parts (never truncated).",
                extra_json_schema={"minLength": 1},
            ),
        ]
        | UnsetType
    ) = UNSET
    template: (
        Annotated[
            str,
            Meta(
                pattern=TEMPLATE_NAME_PATTERN,
                description="One of the key's templates, rendered with vars into the text"
                " (404 unknown_template; in a batch, the item's error).",
            ),
        ]
        | UnsetType
    ) = UNSET
    vars: Vars | UnsetType = UNSET
    """The recipient's variables, for ``template``."""
    locale: Locale | UnsetType = UNSET
    """The recipient's locale, for ``template``: the variant it picks."""
    sender: (
        Annotated[
            str,
            Meta(
                description="Sender id: E.164, a short code, or up to 11 letters and digits;"
                " one of the key's senders when it lists any (422 sender_not_allowed).",
                extra_json_schema={"pattern": SENDER_PATTERN},
            ),
        ]
        | None
    ) = field(default=None, name="from")
    msg_class: MessageClass = field(default="transactional", name="class")
    client_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    callback_url: (
        Annotated[str, Meta(max_length=2048, extra_json_schema={"pattern": URL_PATTERN})] | None
    ) = None
    send_at: (
        Annotated[
            datetime,
            Meta(
                description="RFC 3339 with a time zone; not in the past (422 send_at_past).",
                extra_json_schema={"format": "date-time"},
            ),
        ]
        | None
    ) = None
    validity: (
        Annotated[float, Meta(ge=1, le=7 * 86400, description="Seconds (a whole number, or not).")]
        | None
    ) = None
    route: (
        Annotated[str, Meta(description="A configured route; its name (422 no_route).")] | None
    ) = None
    smart_encoding: bool | None = None
    tz: TimeZone | None = None
    webhook_events: (
        Annotated[
            Literal["all", "final"],
            Meta(
                description="Status webhooks for every change or only the final one;"
                " default: the key's webhook_events."
            ),
        ]
        | None
    ) = None
    track_links: Annotated[
        bool,
        Meta(
            description="Replace each http(s) URL in the text by a tracked short link"
            " (<links.base_url>/<code>) before it is encoded and split; clicks show in the"
            " message's links and fire message.clicked webhooks. 422 links_off without a"
            " [links] listener."
        ),
    ] = False
    # The dedupe fields are left out or given, never null: the document says that one needs
    # the other by their presence (dependentRequired).
    dedupe_key: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=128,
                description="Only once: a second message of this API key to the same number"
                " with the same dedupe_key inside the window is refused (409 duplicate), or"
                " answered with the first (dedupe: return_first).",
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    dedupe_window: (
        Annotated[
            str,
            Meta(
                description="How long the dedupe_key holds, from this message's acceptance:"
                " a whole number and s, m, h or d (90s, 1h, 30d; default 30d, at most 400d).",
                extra_json_schema={"pattern": whole_units_pattern(DEDUPE_WINDOW_MAX)},
            ),
        ]
        | Annotated[float, Meta(ge=1, le=DEDUPE_WINDOW_MAX, description="The window in seconds.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    dedupe: (
        Annotated[
            Literal["refuse", "return_first"],
            Meta(
                description="What a duplicate gets: refused (409 duplicate; in a batch, its"
                " item's error), the default, or the first message's answer (200)."
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


ClientRef = Annotated[str, Meta(min_length=1, max_length=128)]


class CancelRefsRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which messages to cancel: ``client_ref`` or ``prefix``, exactly one (422 naming it)."""

    client_ref: (
        Annotated[ClientRef, Meta(description="Every message with this client_ref.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    prefix: (
        Annotated[
            ClientRef,
            Meta(
                description="Every message whose client_ref starts with this text, taken"
                " literally (% and _ are no wildcards)."
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    key: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=128,
                description="An admin key: only this key's messages (default: every"
                " configured key's). Another key may name only itself (403 not_your_key).",
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class PreviewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: str
    smart_encoding: bool | None = None


class PreviewReply(msgspec.Struct, kw_only=True):
    encoding: EncodingText
    parts: int
    units: int
    text: str
    smart_encoded: bool
    ucs2_chars: list[str]


class Accepted(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: StatusText
    parts: int
    encoding: EncodingText
    client_ref: str | None = None
    send_at: Timestamp | None = None
    smart_encoded: bool = False
    deferred_until: Timestamp | None = None
    """When a courtesy policy (quiet hours, frequency cap) lets the message leave."""
    note: str | None = None
    """Which policy holds the message and until when."""


class BatchReply(msgspec.Struct, kw_only=True):
    messages: list[Accepted | ErrorReply]


class PartView(msgspec.Struct, kw_only=True):
    seq: int
    status: StatusText
    route: str
    carrier_id: str | None
    attempts: int
    submitted_at: Timestamp | None
    done_at: Timestamp | None
    error: str | None


class HistoryView(msgspec.Struct, kw_only=True):
    at: Timestamp
    status: StatusText
    note: str


class LinkView(msgspec.Struct, kw_only=True):
    """A tracked link of a message (``track_links``) and its clicks."""

    url: str
    """The URL the message was sent with; where the short link redirects."""
    short_url: str
    """What the recipient got in its place."""
    clicks: int
    """Times a person followed it (link-preview fetchers and HEAD requests not counted)."""
    first_click_at: Timestamp | None
    previews: int
    """Times a link-preview fetcher (or a HEAD request) fetched it."""


class ConversionRefView(msgspec.Struct, kw_only=True):
    """An order attributed to a message."""

    order_id: str
    value: str
    """A decimal string, exactly as reported."""
    currency: str


class MessageView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: StatusText
    to: str
    sender: str = field(name="from")
    msg_class: Annotated[str, Meta(extra_json_schema={"enum": list(CLASSES)})] = field(name="class")
    text: str
    encoding: EncodingText
    part_count: int
    parts: list[PartView]
    client_ref: str | None
    callback_url: str | None
    route: str
    attempts: int
    error: str | None
    template: str | None
    """The template its text was rendered from (null: sent as text)."""
    created_at: Timestamp
    updated_at: Timestamp
    send_at: Timestamp | None
    expires_at: Timestamp
    history: list[HistoryView]
    links: list[LinkView] = []
    """Its tracked links (``track_links``), in the order of the text; absent for a message
    without any, and in lists (``GET /v1/messages/{id}`` shows them)."""
    conversions: list[ConversionRefView] = []
    """Orders attributed to it (``POST /v1/conversions``), oldest first; absent without any,
    and in lists."""


class MessagePage(msgspec.Struct, kw_only=True):
    messages: list[MessageView]
    next: Cursor | None


class InboundView(msgspec.Struct, kw_only=True):
    id: str
    sender: str = field(name="from")
    to: str
    text: str
    route: str
    received_at: Timestamp
    parts: int
    complete: bool


class InboundPage(msgspec.Struct, kw_only=True):
    inbound: list[InboundView]
    next: Cursor | None


# -- replies the handlers build as dicts, declared for the document ---------------------------

Scope = Annotated[str, Meta(description="all: every key; otherwise the key's name.")]


class CancelReply(msgspec.Struct, kw_only=True):
    id: str
    status: Literal["cancelled"]


class RefCancelled(msgspec.Struct, kw_only=True):
    id: str
    client_ref: str


class RefLeft(msgspec.Struct, kw_only=True):
    id: str
    client_ref: str
    status: StatusText
    """sending, submitted, or a final status (cancelled too, by an earlier cancel)."""


class CancelRefsReply(msgspec.Struct, kw_only=True):
    cancelled: list[RefCancelled]
    """The matches that had not left: cancelled now, none of them goes out."""
    already_left: list[RefLeft]
    """The other matches (a part handed to a route, or finished), with their status."""
    more: bool
    """More messages matched than the answer lists (at most 10,000, waiting ones first):
    call again while ``cancelled`` is not empty."""


class RouteView(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    driver: Literal["simulator", "smpp", "modem"]
    up: bool
    links: list[dict[str, Any]]
    """One per bind or modem: at least ``name`` and ``state``."""
    window: int
    rate: float
    effective_rate: float
    in_flight: int | None = None
    """This and the figures below sum every key's traffic: for an admin key only."""
    tokens: float | None = None
    queued: int | None = None
    throttle_events: int | None = None


class RouteList(msgspec.Struct, kw_only=True):
    routes: list[RouteView]


class HealthReply(msgspec.Struct, kw_only=True):
    status: Literal["ok"]


class ReadyReply(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: Literal["ready", "not ready"]
    store: bool
    routes_up: list[str]
    shutting_down: bool
    reason: str | None = None
    """Why not ready: shutting down, the store's state, or no route up."""


class OptoutView(msgspec.Struct, kw_only=True):
    number: str
    scope: Scope
    source: str
    at: Timestamp
    inbound_id: str | None
    note: str


class OptoutPage(msgspec.Struct, kw_only=True):
    optouts: list[OptoutView]
    next: Cursor | None


class OptoutEventView(msgspec.Struct, kw_only=True):
    action: Literal["opt_out", "opt_in"]
    scope: Scope
    source: str
    at: Timestamp
    inbound_id: str | None
    key: str | None
    note: str


class OptoutState(msgspec.Struct, kw_only=True):
    number: str
    opted_out: bool
    optouts: list[OptoutView]
    history: list[OptoutEventView]


class OptinReply(msgspec.Struct, kw_only=True):
    number: str
    opted_out: bool
    """Still out in another scope."""


class ImportReply(msgspec.Struct, kw_only=True):
    imported: int
    added: int


class ConsentReply(msgspec.Struct, kw_only=True):
    id: str
    number: str
    scope: Literal["all", "key"]
    source: str
    at: Timestamp
