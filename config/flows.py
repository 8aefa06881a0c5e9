"""The ``[[flows]]`` tables: message sequences that events start and stop.

A flow belongs to one API key (its templates, senders and policies apply to the flow's
messages). An event of type ``trigger`` starts a run for the event's number; each step sends
one message, ``delay`` after the trigger or after the previous step's message; an event of a
type in ``stop_on`` stops the number's running runs. :func:`flow_problems` is the loader's
cross check, each problem naming its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import msgspec

from smsgw.config.durations import parse_duration
from smsgw.words import MessageClass

__all__ = ["FlowConfig", "FlowStepConfig", "flow_problems"]

_Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}\Z")]
_EventType = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}\Z")]
Duration = str | int | float
"""A duration as :func:`smsgw.config.durations.parse_duration` reads it: ``"1h"``, ``"2d"``,
or seconds."""


class FlowStepConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One message of a flow: ``template`` (a template of the flow's key) or ``text`` (with
    ``{{variables}}`` from the event's data), exactly one of the two."""

    delay: Duration = 0
    after: Literal["trigger", "previous"] = "previous"
    """What ``delay`` counts from: the trigger event, or the previous step's message (the
    trigger for the first step). A step never goes before the previous step's message."""
    template: str = ""
    text: str = ""
    msg_class: MessageClass = msgspec.field(default="transactional", name="class")
    sender: str | None = msgspec.field(default=None, name="from")
    validity: Duration = "24h"
    """How late a step may still fire (after a long stop); later, it is dropped as expired."""
    track_links: bool = False
    """Each http(s) URL of the step's text becomes a tracked short link (needs ``[links]``);
    the step's stats count their clicks."""

    def delay_seconds(self) -> float:
        return parse_duration(self.delay, minimum=0)

    def validity_seconds(self) -> float:
        return parse_duration(self.validity)


class FlowConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A flow: its key, the event that starts a run, its steps, what stops a run."""

    name: _Name
    key: str
    trigger: _EventType
    steps: list[FlowStepConfig]
    stop_on: list[_EventType] = []
    match_ref: bool = True
    """A stop event with a ref stops only runs with the same ref (or none); without a ref it
    stops every run of the number."""
    once_per: Duration | None = None
    """At most one run per number in this window (a later trigger is skipped, recorded)."""

    def once_per_seconds(self) -> float | None:
        return None if self.once_per is None else parse_duration(self.once_per)


def flow_problems(
    flows: list[FlowConfig], keys: set[str], *, links_on: bool = False
) -> Iterator[tuple[str, str]]:
    """(key, reason) for each thing the schema's types let through that smsgw refuses
    (``links_on``: tracked links are configured, so a step may track its links)."""
    names: set[str] = set()
    for i, f in enumerate(flows):
        at = f"flows[{i}]"
        if f.name in names:
            yield f"{at}.name", f"duplicate flow name {f.name!r}"
        names.add(f.name)
        if f.key not in keys:
            yield f"{at}.key", f"unknown key {f.key!r}"
        if not f.steps:
            yield f"{at}.steps", "a flow needs at least one step"
        if f.trigger in f.stop_on:
            yield f"{at}.stop_on", f"{f.trigger!r} is the trigger; it cannot also stop the flow"
        if f.once_per is not None:
            yield from _duration(f.once_per, f"{at}.once_per")
        for j, s in enumerate(f.steps):
            where = f"{at}.steps[{j}]"
            yield from _duration(s.delay, f"{where}.delay", minimum=0)
            yield from _duration(s.validity, f"{where}.validity")
            if bool(s.template) == bool(s.text):
                yield f"{where}.text", "give exactly one of template and text"
            if s.track_links and not links_on:
                yield f"{where}.track_links", "needs tracked links configured ([links] listen)"
            if s.msg_class == "otp":
                yield f"{where}.class", "a flow step is transactional or marketing, not otp"


def _duration(value: Duration, key: str, minimum: float = 1.0) -> Iterator[tuple[str, str]]:
    try:
        parse_duration(value, minimum=minimum)
    except ValueError as e:
        yield key, str(e)
