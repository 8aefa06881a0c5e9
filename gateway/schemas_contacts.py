"""API bodies of ``/v1/contacts`` and ``/v1/segments``: msgspec Structs decoded once at the
edge, and the source of their part of the OpenAPI document. What a schema cannot say (a number
phonenumbers does not know, with ``policy.validate_numbers``) is checked afterwards and
answered 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from smsgw.gateway.schemas import Cursor, ErrorReply, Locale, TemplateName, Timestamp
from smsgw.queue.campaigns.contacts import (
    ATTRIBUTE_NAME_PATTERN,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_NAME,
    MAX_TAGS,
    TAG_PATTERN,
)
from smsgw.queue.campaigns.segments import SegmentRules

__all__ = [
    "MAX_CONTACT_BATCH",
    "Attributes",
    "ContactBody",
    "ContactDeleted",
    "ContactPage",
    "ContactPatchBody",
    "ContactView",
    "ContactWritten",
    "ContactsReply",
    "ImportError_",
    "ImportSummary",
    "SegmentBody",
    "SegmentContacts",
    "SegmentCount",
    "SegmentDeleted",
    "SegmentPage",
    "SegmentRules",
    "SegmentView",
]

MAX_CONTACT_BATCH = 1000
"""Contacts one ``POST /v1/contacts`` writes at most."""

Number = Annotated[str, Meta(description="E.164 (or national, with policy.default_country).")]
Name = Annotated[str, Meta(max_length=MAX_NAME)]
Tag = Annotated[str, Meta(pattern=TAG_PATTERN)]
Tags = Annotated[
    list[Tag], Meta(max_length=MAX_TAGS, description="Short labels; repeats count once.")
]
ZoneName = Annotated[str, Meta(max_length=64, description="An IANA time zone: Europe/Berlin.")]
AttrName = Annotated[str, Meta(pattern=ATTRIBUTE_NAME_PATTERN)]
AttrValue = str | int | float | bool
_VALUE_DOC = [
    {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT},
    {"type": "number"},
    {"type": "boolean"},
]
# Values are checked after decoding (check_attributes), so a refusal names the attribute
# (``attributes.note``), which msgspec's own message for a dict value cannot.
Attributes = Annotated[
    dict[AttrName, Any],
    Meta(
        max_length=MAX_ATTRIBUTES,
        description="A flat object: up to 25 names, each a string (100 characters at most), a"
        " number or a boolean (under 4 KB in all); 422 invalid_attribute naming"
        " attributes.<name> otherwise.",
        extra_json_schema={"additionalProperties": {"anyOf": _VALUE_DOC}},
    ),
]
PatchAttributes = Annotated[
    dict[AttrName, Any],
    Meta(
        max_length=MAX_ATTRIBUTES,
        description="Merged into the stored attributes; a name given null is removed.",
        extra_json_schema={"additionalProperties": {"anyOf": [*_VALUE_DOC, {"type": "null"}]}},
    ),
]


class ContactBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A contact, written whole: fields not given are empty."""

    number: Number
    first_name: Name = ""
    last_name: Name = ""
    locale: Locale | None = None
    time_zone: ZoneName | None = None
    tags: Tags = []
    attributes: Attributes = {}


class ContactPatchBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a contact: each field given replaces the stored one (null clears
    ``locale`` and ``time_zone``); ``attributes`` are merged."""

    first_name: Name | UnsetType = UNSET
    last_name: Name | UnsetType = UNSET
    locale: Locale | UnsetType | None = UNSET
    time_zone: ZoneName | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET
    attributes: PatchAttributes = {}


class ContactView(msgspec.Struct, kw_only=True, omit_defaults=True):
    number: str
    first_name: str
    last_name: str
    locale: str | None
    time_zone: str | None
    tags: list[str]
    attributes: dict[str, AttrValue]
    created_at: Timestamp
    updated_at: Timestamp
    key: str | None = None
    """The key it belongs to: shown to an admin key only."""


class ContactWritten(msgspec.Struct, kw_only=True):
    number: str
    """E.164, as stored."""
    created: bool
    """False: a contact of that number was replaced."""


class ContactsReply(msgspec.Struct, kw_only=True):
    contacts: list[ContactWritten | ErrorReply]
    """One entry per item, in order: what was written, or the error that refused it."""


class ContactPage(msgspec.Struct, kw_only=True):
    contacts: list[ContactView]
    next: Cursor | None


class ContactDeleted(msgspec.Struct, kw_only=True):
    number: str
    deleted: bool


class ImportError_(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One refused row of a CSV import."""

    line: int
    """The line of the body the row starts on (the header is line 1)."""
    row: int
    """The row's place among the data rows (the first after the header is 1)."""
    code: str
    message: str
    field: str | None = None


class ImportSummary(msgspec.Struct, kw_only=True):
    rows: int
    """Data rows read (blank lines are not rows)."""
    created: int
    updated: int
    failed: int
    errors: list[ImportError_]
    """The first 100 refused rows; ``failed`` counts them all."""


# -- segments --------------------------------------------------------------------------------


class SegmentBody(SegmentRules, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A segment to create: its name and its filter."""

    name: TemplateName


class SegmentView(SegmentRules, kw_only=True, omit_defaults=True):
    name: str
    created_at: Timestamp
    updated_at: Timestamp
    key: str | None = None


class SegmentPage(msgspec.Struct, kw_only=True):
    segments: list[SegmentView]
    next: Cursor | None


class SegmentDeleted(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool


class SegmentContacts(msgspec.Struct, kw_only=True):
    contacts: list[ContactView]
    """The segment's contacts in this stretch of the key's list, opted-out numbers left out."""
    opted_out: int
    """Contacts of the segment in this stretch left out for an opt-out."""
    next: Cursor | None


class SegmentCount(msgspec.Struct, kw_only=True):
    count: int
    """Contacts the segment holds now, opted-out numbers left out."""
    opted_out: int
    """Contacts it would hold but for an opt-out."""
