"""What the gateway and the store exchange about flows: definitions, events, runs, steps.

A **run** is one flow for one number, started by a trigger event; its steps are sent one
after the other. Only a run's next step exists as a row at any time (a durable timer with its
due time); when it fires, it becomes a message through the accept path and the following step
is scheduled. Run states: ``running``, ``completed``, ``stopped`` (a stop event), ``skipped``
(never started: ``once_per``, already running, or stopped by an earlier event). Step states:
``waiting``, ``sent``, ``skipped`` (refused by a policy, with its reason), ``cancelled`` (a
stop event, before the message left), ``expired`` (due too long ago).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from smsgw.queue.model import NewMessage
from smsgw.queue.store.screening import Facts

__all__ = [
    "RUN_RESULTS",
    "STEP_RESULTS",
    "DueStep",
    "EventResult",
    "Fired",
    "FlowCounts",
    "FlowSpec",
    "NewEvent",
    "RunRow",
    "SkippedRun",
    "StepFire",
    "StepRow",
    "StepSpec",
    "StepStats",
    "StoppedRun",
    "client_ref",
]

RUN_RESULTS = ("started", "skipped", "stopped", "completed")
"""``smsgw_flow_runs_total{result}``."""
STEP_RESULTS = ("sent", "skipped", "cancelled", "expired")
"""``smsgw_flow_steps_total{result}``."""


def client_ref(flow: str, run_id: str, n: int) -> str:
    """The ``client_ref`` of step ``n`` (from 1) of a run: ``flow:<flow>:<run id>:<n>``."""
    return f"flow:{flow}:{run_id}:{n}"


class StepSpec(msgspec.Struct, frozen=True, kw_only=True):
    delay: float
    after: Literal["trigger", "previous"] = "previous"
    validity: float = 86_400.0


class FlowSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A flow as the store needs it: what starts it, stops it, and when its steps fall due."""

    name: str
    key: str
    trigger: str
    steps: tuple[StepSpec, ...]
    stop_on: tuple[str, ...] = ()
    match_ref: bool = True
    once_per: float | None = None


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    type: str
    number: str
    ref: str | None = None
    data: dict[str, Any] = {}
    at: float
    """When it happened (at most the time it was received)."""
    received_at: float


class SkippedRun(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    reason: str
    """``once_per``, ``running`` (a run of the flow for the number and ref is under way),
    ``stopped`` (a stop event of the flow came at or after the trigger's time)."""
    run: str


class StoppedRun(msgspec.Struct, frozen=True, kw_only=True):
    flow: str
    run: str
    cancelled: tuple[int, ...] = ()
    """Steps (from 1) cancelled: waiting, or their message not yet claimed for sending."""
    sent: tuple[int, ...] = ()
    """Steps whose message had already been claimed for sending: they are not cancelled."""


class EventResult(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    started: tuple[tuple[str, str], ...] = ()
    """(flow, run id) of each run started."""
    stopped: tuple[StoppedRun, ...] = ()
    skipped: tuple[SkippedRun, ...] = ()


class DueStep(msgspec.Struct, frozen=True, kw_only=True):
    """A step whose time came, with what its message is made of."""

    sid: int
    run: str
    flow: str
    key: str
    number: str
    ref: str | None
    data: dict[str, Any]
    n: int
    """From 1."""
    due_at: float


class StepFire(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a due step: a message to accept (``msg``), or a refusal at the accept
    path before the store (``reason``: its error code), or ``expired``."""

    sid: int
    msg: NewMessage | None = None
    facts: Facts = Facts()
    reason: str = ""
    expired: bool = False


class Fired(msgspec.Struct, frozen=True, kw_only=True):
    """What a due step became: ``sent`` (``message``), ``skipped`` (``reason``), ``expired``,
    or ``gone`` (a stop event got there first: nothing sent). ``completed`` names the flow
    when this was the run's last step."""

    sid: int
    flow: str
    state: str
    message: str | None = None
    reason: str | None = None
    completed: bool = False


class StepRow(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    state: str
    due_at: float
    message: str | None = None
    event: str | None = None
    """The stop event that cancelled it."""
    reason: str | None = None
    """The policy that refused it."""
    done_at: float | None = None


class RunRow(msgspec.Struct, frozen=True, kw_only=True):
    cursor: int
    id: str
    flow: str
    number: str
    ref: str | None
    state: str
    reason: str | None
    event: str
    started_at: float
    ended_at: float | None
    stopped_by: str | None
    steps: tuple[StepRow, ...] = ()


class StepStats(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    started: int = 0
    """Steps scheduled (rows made)."""
    completed: int = 0
    """Sent as a message."""
    stopped: int = 0
    skipped: int = 0
    expired: int = 0
    messages: int = 0
    delivered: int = 0
    clicks: int = 0
    """Clicks on the tracked links of the step's messages (previews not counted)."""
    clicked: int = 0
    """The step's messages with at least one click."""
    conversions: int = 0
    """Orders attributed to the step's messages (``POST /v1/conversions``)."""
    revenue: dict[str, str] = {}
    """Their values summed per currency, as exact decimal strings: ``{"EUR": "42.50"}``."""


class FlowCounts(msgspec.Struct, frozen=True, kw_only=True):
    running: int = 0
    completed: int = 0
    stopped: int = 0
    skipped: int = 0
