"""The JSON bodies of ``/v1/events`` and ``/v1/flows``: requests are validated here once, at
the edge (a refused field is a 422 naming it); replies are what the handlers encode."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from smsgw.gateway.schemas import ErrorReply

__all__ = [
    "EventBody",
    "EventReply",
    "EventsReply",
    "FlowDetail",
    "FlowList",
    "FlowSummary",
    "RunPage",
    "RunRef",
    "RunSkipped",
    "RunStopped",
    "RunView",
    "StepDetail",
    "StepView",
]

EventType = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}\Z", description="cart_abandoned")
]
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class EventBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A fact the store reports: ``type`` (``cart_abandoned``), the customer's ``number``,
    optionally a ``ref`` (a cart or order id: stop events with a ref stop only that ref's
    runs), ``data`` (the variables the flow's texts use) and ``at`` (when it happened,
    RFC 3339; default: now; not in the future)."""

    type: EventType
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    ref: Ref | None = None
    data: dict[str, Any] = {}
    at: datetime | None = None


class RunRef(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    run: str


class RunStopped(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    run: str
    cancelled: list[int]
    """Steps (from 1) cancelled: waiting, or their message not yet claimed for sending."""
    sent: list[int]
    """Steps whose message had already been claimed for sending (not cancelled)."""


class RunSkipped(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    run: str
    reason: str
    """``once_per``, ``running`` or ``stopped`` (a stop event came for the same time or
    later)."""


class EventReply(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    number: str
    ref: str | None
    started: list[RunRef]
    stopped: list[RunStopped]
    skipped: list[RunSkipped]


class EventsReply(msgspec.Struct, frozen=True, kw_only=True):
    events: list[EventReply | ErrorReply]
    """One entry per item, in order: the event, or ``{"error": {...}}``."""


class StepView(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    state: str
    """``waiting``, ``sent``, ``skipped``, ``cancelled`` or ``expired``."""
    due_at: str
    message: str | None = None
    cancelled_by: str | None = None
    reason: str | None = None
    done_at: str | None = None


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    flow: str
    number: str
    ref: str | None
    state: str
    """``running``, ``completed``, ``stopped`` or ``skipped``."""
    reason: str | None
    event: str
    started_at: str
    ended_at: str | None
    stopped_by: str | None
    steps: list[StepView]


class RunPage(msgspec.Struct, frozen=True, kw_only=True):
    runs: list[RunView]
    next: str | None


class FlowSummary(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    trigger: str
    stop_on: list[str]
    steps: int
    runs: dict[str, int]
    """Runs by state: running, completed, stopped, skipped."""


class FlowList(msgspec.Struct, frozen=True, kw_only=True):
    flows: list[FlowSummary]


class StepDetail(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    delay: float
    after: str
    template: str | None
    text: str | None
    msg_class: str = msgspec.field(name="class")
    stats: dict[str, int | dict[str, str]]
    """started, completed, stopped, skipped, expired, messages, delivered, clicks, clicked,
    conversions (orders attributed to the step's messages), and revenue: their values summed
    per currency as exact decimal strings (``{"EUR": "42.50"}``; currencies are never added
    together)."""


class FlowDetail(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    trigger: str
    stop_on: list[str]
    match_ref: bool
    once_per: float | None
    runs: dict[str, int]
    steps: list[StepDetail]
