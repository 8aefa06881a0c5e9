"""API bodies of ``/v1/templates``: msgspec Structs decoded once at the edge, and the source
of their part of the OpenAPI document. The template syntax itself is checked afterwards
(:mod:`smsgw.queue.campaigns.templates`, 422 ``invalid_template`` naming the field)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType, field

from smsgw.gateway.schemas import (
    TEMPLATE_NAME_PATTERN,
    Cursor,
    EncodingText,
    ErrorReply,
    Locale,
    TemplateName,
    Timestamp,
    Vars,
)
from smsgw.queue.campaigns.templates import (
    MAX_TEXT,
    MAX_VARIANTS,
    TEMPLATE_PATTERN,
    VARIANT_PATTERN,
)
from smsgw.words import MessageClass

__all__ = [
    "MAX_PREVIEW",
    "NAME_RE",
    "Locale",
    "PreviewRecipient",
    "RecipientPreview",
    "TemplateBody",
    "TemplateDeleted",
    "TemplateName",
    "TemplatePage",
    "TemplatePreviewReply",
    "TemplatePreviewRequest",
    "TemplateUpdate",
    "TemplateView",
    "Vars",
    "WorstCase",
]

NAME_RE = TEMPLATE_NAME_PATTERN
MAX_PREVIEW = 1000
"""Recipients one preview renders at most."""

TemplateText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_TEXT,
        description="Text with {{variable}} and {{variable|default}} placeholders; {{{{ is a"
        " literal {{ (422 invalid_template for an unclosed {{ or a bad name).",
        extra_json_schema={"pattern": TEMPLATE_PATTERN},
    ),
]
VariantLocale = Annotated[
    str,
    Meta(
        pattern=VARIANT_PATTERN,
        description="A locale in canonical case: de, fr-CA, zh-Hant-TW, es-419.",
    ),
]
Variants = Annotated[
    dict[VariantLocale, TemplateText],
    Meta(max_length=MAX_VARIANTS, description="Locale -> template text."),
]
Description = Annotated[str, Meta(max_length=500)]


class TemplateBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A template to create."""

    name: TemplateName
    text: TemplateText
    variants: Variants = {}
    msg_class: MessageClass | None = field(default=None, name="class")
    """The class of a message sent with it that gives none."""
    description: Description = ""


class TemplateUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What replaces a template: all of it but the name (a template is not renamed)."""

    text: TemplateText
    variants: Variants = {}
    msg_class: MessageClass | None = field(default=None, name="class")
    description: Description = ""


class TemplateView(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    text: str
    variants: dict[str, str]
    msg_class: MessageClass | None = field(name="class")
    description: str
    created_at: Timestamp
    updated_at: Timestamp
    key: str | None = None
    """The key it belongs to: shown to an admin key only."""


class TemplateDeleted(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool


class TemplatePage(msgspec.Struct, kw_only=True):
    templates: list[TemplateView]
    next: Cursor | None


class PreviewRecipient(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    vars: Vars = {}
    locale: Locale | None = None


class TemplatePreviewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One recipient's ``vars``, or up to 1,000 ``recipients``; ``locale`` is the locale of
    the recipients that name none."""

    vars: Vars | UnsetType = UNSET
    locale: Locale | None = None
    recipients: Annotated[list[PreviewRecipient], Meta(max_length=MAX_PREVIEW)] | UnsetType = UNSET
    smart_encoding: bool | None = None


class RecipientPreview(msgspec.Struct, kw_only=True):
    text: str
    encoding: EncodingText
    parts: int
    units: int
    ucs2_chars: list[str]
    """The characters that forced UCS-2 (empty for GSM-7)."""


class WorstCase(msgspec.Struct, kw_only=True):
    parts: int
    """The most parts any rendered recipient needs."""
    ucs2: bool
    """Whether any rendered recipient needs UCS-2."""
    within_limit: bool
    """Whether every rendered recipient fits ``text.max_parts``."""
    refused: int
    """Recipients refused (a missing variable), each answered with its error."""


class TemplatePreviewReply(msgspec.Struct, kw_only=True):
    recipients: list[RecipientPreview | ErrorReply]
    """In order: the rendering, or ``{"error": {...}}`` for a recipient refused."""
    worst: WorstCase
