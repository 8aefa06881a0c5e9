"""The JSON bodies of ``/v1/conversions``: the request is validated here once, at the edge (a
refused field is a 422 naming it); replies are what the handlers encode."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from smsgw.gateway.schemas import Cursor, Timestamp

__all__ = [
    "AttributedView",
    "ConversionBody",
    "ConversionPage",
    "ConversionView",
    "FlowStepRef",
]

OrderId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_.:-]{1,128}\Z",
        description="The shop's order id: 1 to 128 letters, digits, '_', '.', ':' or '-'.",
    ),
]
Currency = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Z]{3}\Z", description="ISO 4217 code, three capital letters."),
]


class ConversionBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An order to attribute: its ``order_id``, ``value`` and ``currency``, with exactly one
    of ``number`` (the customer's), ``code`` (a tracked link's code) or ``client_ref`` (a
    message's), and ``at`` (when it was placed, RFC 3339; default now; not in the future)."""

    order_id: OrderId
    value: Annotated[
        str | int | float,
        msgspec.Meta(
            description='The amount, >= 0: a decimal string ("49.90", kept exactly as'
            " written, at most 15 digits before the point and 6 after) or a whole number."
        ),
    ]
    currency: Currency
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | UnsetType = UNSET
    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{1,32}\Z")] | UnsetType = UNSET
    client_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | UnsetType = UNSET
    at: datetime | UnsetType = UNSET


class FlowStepRef(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    step: int


class AttributedView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    message: str
    """The id of the message the order is attributed to."""
    by: Literal["click", "delivery", "code", "client_ref"]
    """``click``: the number's last clicked message in the window; ``delivery``: else its last
    delivered marketing message there; ``code`` / ``client_ref``: the one given."""
    flow: FlowStepRef | None = None
    """The flow step that sent the message, when a flow did."""
    client_ref: str | None = None
    """The message's client_ref, when it has one."""


class ConversionView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    order_id: str
    value: str
    """The amount as a decimal string, exactly as given."""
    currency: str
    number: str | None
    code: str | None
    client_ref: str | None
    at: Timestamp
    created_at: Timestamp
    attributed: AttributedView | None


class ConversionPage(msgspec.Struct, frozen=True, kw_only=True):
    conversions: list[ConversionView]
    next: Cursor | None
