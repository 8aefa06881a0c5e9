"""The opt-out list's and consent records' values (shared by the store operations in
:mod:`smsgw.queue.store.sqlite.consent` and the CSV in :mod:`smsgw.queue.consent.csv_io`)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "ALL",
    "ConsentRecord",
    "Lifted",
    "OptinRequest",
    "OptoutEvent",
    "OptoutRequest",
    "OptoutRow",
    "Source",
]

ALL = "*"
"""The scope of an opt-out that covers every API key."""
Source = Literal["keyword", "api", "import"]
Lifted = Literal["lifted", "not_out", "by_recipient", "by_other_key"]
"""What :func:`lift` did: lifted it, or refused because the number was not out in that scope,
the opt-out is the recipient's own STOP, or another key made it."""


class OptoutRequest(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    scope: str = ALL
    source: Source
    at: float
    inbound_id: str | None = None
    key: str | None = None
    note: str = ""


class OptinRequest(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    scope: str | None = None
    """None: every scope the number is opted out in (a START from the recipient)."""
    source: Source
    at: float
    inbound_id: str | None = None
    key: str | None = None
    note: str = ""


class OptoutEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the audit trail."""

    eid: int
    number: str
    scope: str
    action: Literal["out", "in"]
    source: str
    at: float
    inbound_id: str | None
    key: str | None
    note: str


class OptoutRow(msgspec.Struct, frozen=True, kw_only=True):
    """A number opted out now, with the event that opted it out."""

    cursor: int
    number: str
    scope: str
    source: str
    at: float
    inbound_id: str | None
    key: str | None
    note: str


class ConsentRecord(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    scope: str
    source: str
    at: float
    text_shown: str = ""
    evidence: str = ""
    key: str | None = None
    inbound_id: str | None = None
