"""What the store and the consent and courtesy policy exchange inside accept and claim.

The policy decides; the store reads and writes. At accept and again just before a message
leaves, the store runs, in the transaction of that accept or claim:

1. the policy's *asks* (:class:`AcceptAsk`, :class:`ClaimAsk`): which facts each message
   needs (is its number on the opt-out list, is there a consent record, which sends count
   against its frequency cap since when);
2. its own reads of those facts (:class:`AcceptFacts`, :class:`ClaimFacts`);
3. the policy's decision over them (:class:`AcceptVerdict`, :class:`ClaimVerdict`): pure
   functions of the facts and the time, no I/O;
4. the writes the verdicts call for, and, after commit, the policy's counting.

So a check and the insert or claim it allows cannot be split by another writer, and no
statement of any backend is in the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from smsgw.queue.consent.records import OptoutRow
from smsgw.queue.model import NewMessage

__all__ = [
    "AcceptAsk",
    "AcceptFacts",
    "AcceptGate",
    "AcceptResult",
    "AcceptVerdict",
    "ClaimAsk",
    "ClaimCandidate",
    "ClaimFacts",
    "ClaimGate",
    "ClaimVerdict",
    "Facts",
    "Refusal",
    "Screened",
]


class AcceptResult(msgspec.Struct, frozen=True, kw_only=True):
    """A message as accepted (or found again by its ``client_ref``)."""

    id: str
    status: str
    parts: int
    encoding: str
    client_ref: str | None
    created: bool
    """False when ``client_ref`` matched an earlier message, which is what this describes."""
    route: str
    send_at: float | None = None
    duplicate: bool = False
    """True when ``dedupe_key`` matched an earlier message inside its window, which is what
    this describes (``created`` is False)."""


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the accept path learnt about the destination and keeps in the row for dispatch."""

    zones: tuple[str, ...] = ()
    country: str = ""


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str


class Screened(msgspec.Struct, frozen=True, kw_only=True):
    """One item's fate at accept: a result (taken, maybe deferred) or a refusal."""

    result: AcceptResult | None = None
    refusal: Refusal | None = None
    msg: NewMessage | None = None
    """The message as committed (status, due time and note after policy)."""
    deferred_until: float | None = None
    note: str = ""
    reasons: tuple[str, ...] = ()
    """Policies that deferred it: ``quiet_hours``, ``frequency_cap``."""


# -- accept ------------------------------------------------------------------------------


class AcceptAsk(msgspec.Struct, frozen=True, kw_only=True):
    """The facts the policy needs about one message at accept."""

    optouts: bool = False
    """Whether an opt-out of the number stops this key's message."""
    consent: bool = False
    """Whether a consent record covers the number for this key (and is newer than its last
    opt-out)."""
    slots_since: float | None = None
    """Times of capped sends to the number after this time (None: not capped)."""
    slots_key: str | None = None
    """Only those of this key (None: every key's)."""


class AcceptFacts(msgspec.Struct, frozen=True, kw_only=True):
    """The answers to an :class:`AcceptAsk`, read in the accept transaction."""

    optout: OptoutRow | None = None
    """The opt-out that stops it (the oldest), if asked and any."""
    consented: bool = False
    slots: tuple[float, ...] = ()
    """Planned or actual times of the sends that count against the cap (asked ones only)."""


class AcceptVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The policy's decision for one message at accept."""

    msg: NewMessage
    """The message to insert: as given, or deferred (status, due time, note, validity)."""
    refusal: Refusal | None = None
    """Refused: nothing is inserted (unless its ``client_ref`` names an earlier message)."""
    capped: bool = False
    """It counts against a frequency cap: its planned time is recorded."""
    reasons: tuple[str, ...] = ()
    """The policies that deferred it."""


class AcceptGate(Protocol):
    """The policy as the accept transaction consults it."""

    def accept_asks(self, items: Sequence[tuple[NewMessage, Facts]]) -> list[AcceptAsk | None]:
        """Per item, the facts to read, or None when no policy applies to it."""
        ...

    def screen(
        self,
        items: Sequence[tuple[NewMessage, Facts]],
        facts: Sequence[AcceptFacts | None],
    ) -> list[AcceptVerdict]:
        """Per item, in order, the decision (``facts`` answers the asks, None where none)."""
        ...

    def accepted(self, screened: Sequence[Screened]) -> None:
        """After commit (in the store's thread): what was refused and deferred, for metrics."""
        ...


# -- claim -------------------------------------------------------------------------------


class ClaimCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """A message about to leave, with what the policy may check of it."""

    mid: int
    key: str
    msg_class: str
    to: str
    zones: tuple[str, ...]
    """The destination's time zones found at accept (empty: unknown)."""
    country: str
    attempts: int
    """Times a part of it was handed to a route before (courtesy is checked at the first)."""


class ClaimAsk(msgspec.Struct, frozen=True, kw_only=True):
    optouts: bool = False
    slots_since: float | None = None
    """Times other capped messages to the number actually left after this (None: no cap)."""
    slots_key: str | None = None


class ClaimFacts(msgspec.Struct, frozen=True, kw_only=True):
    optout: OptoutRow | None = None
    slots: tuple[float, ...] = ()


class ClaimVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """What to do with a message about to leave: ``stop`` it (its waiting parts rejected),
    ``defer`` it until ``until`` (validity moved by as much), or let it go and count it
    against its cap from now (``left``)."""

    action: Literal["stop", "defer", "left"]
    note: str = ""
    """The history note of a stop or a deferral."""
    error: str | None = None
    """The message's error after a stop."""
    until: float | None = None
    reasons: tuple[str, ...] = ()
    """Why: ``opted_out`` for a stop, the deferring policies for a deferral."""


class ClaimGate(Protocol):
    """The policy as the claim transaction consults it, just before parts leave."""

    def polices(self, key: str, msg_class: str) -> bool:
        """Whether any check applies to this key's messages of this class."""
        ...

    def claim_asks(self, candidates: Sequence[ClaimCandidate], now: float) -> list[ClaimAsk]:
        """Per candidate, the facts to read."""
        ...

    def check(
        self,
        candidates: Sequence[ClaimCandidate],
        facts: Sequence[ClaimFacts],
        now: float,
    ) -> list[ClaimVerdict | None]:
        """Per candidate, what to do (None: let it go, nothing to record)."""
        ...

    def claimed(self, verdicts: Sequence[ClaimVerdict]) -> None:
        """After commit (in the store's thread): the stops and deferrals, for metrics."""
        ...
