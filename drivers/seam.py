"""The driver seam: what the scheduler hands a transport and what the transport reports back.

A driver owns one route's way out (a simulated carrier, SMPP binds, a modem bank). The scheduler
never knows which transport is behind a route: it takes tokens from the route's bucket, hands the
driver a batch of :class:`OutboundPart` with :meth:`Driver.submit`, and learns what became of each
part from the :class:`Sink` the driver was started with:

* every part accepted by ``submit`` gets exactly one final :class:`Outcome` (submitted with
  the carrier's id, or a typed failure), reported through :meth:`Sink.outcomes`; an outcome
  with ``resend`` (its link died) is not final when the route resends the part;
* delivery receipts go to :meth:`Sink.receipts`, inbound (MO) messages to :meth:`Sink.inbound`.

Sink calls return only after what they carry is committed to disk, so a driver acknowledges a
receipt or an inbound message to its peer (deliver_sm_resp, AT+CMGD, AT+CNMA) only after the
call returns: a crash in between means the peer sends it again, never that it is lost.

A link of a route (an SMPP bind, a modem's port) that cannot go on raises a :class:`LinkError`
subclass of its driver, built from the transport's own exception by one mapper per driver
(``smsgw.drivers.smpp.link_errors``, ``smsgw.drivers.modem.link_errors``); the driver handles
it by reconnecting, so it never leaves :meth:`Driver.run`.

This module imports nothing of ours but :mod:`smsgw.words` (besides the standard library,
trio and msgspec); drivers import
it, the queue imports it, nothing here imports upward.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec
import trio

from smsgw.words import Encoding, MessageClass

__all__ = [
    "Driver",
    "DriverState",
    "FailureKind",
    "InboundMessage",
    "LinkError",
    "LinkState",
    "OutboundPart",
    "Outcome",
    "Receipt",
    "ReceiptState",
    "Sink",
]


class OutboundPart(msgspec.Struct, frozen=True, kw_only=True):
    """One segment of one message, ready to go on the wire.

    The text was split at accept time (``smsgw.drivers.text``), so the count of parts a client
    was told is the count that is sent. A driver renders ``text`` into its own wire form (SMPP
    short_message with a UDH or SAR TLVs, a packed SMS-SUBMIT TPDU for a modem) using the text
    module; it never re-splits.
    """

    part_id: int
    """The store's key for this part; outcomes name it."""
    message_id: str
    route: str
    to: str
    """Destination, E.164 with the leading ``+``."""
    sender: str
    """Sender id: E.164 number, short code or alphanumeric (<= 11 GSM characters)."""
    text: str
    """This segment's text (for a one-part message, the whole text)."""
    encoding: Encoding
    seq: int
    """1-based position of this part in its message."""
    total: int
    """Number of parts of the message; 1 means no concatenation header."""
    ref: int
    """Concatenation reference shared by all parts of the message (0-255 or 0-65535)."""
    ref_bits: Literal[8, 16] = 8
    msg_class: MessageClass = "transactional"
    validity_until: float | None = None
    """Unix time after which the carrier should give up (SMPP validity_period)."""
    attempt: int = 1


class LinkError(Exception):
    """One link of a route cannot go on: its transport failed, or the peer ended or broke it.

    ``reason`` is short and for people: logged, and shown as the link's ``error`` in
    ``GET /v1/routes`` and the ops console. Each driver raises its own subclasses and catches
    them itself (the link reconnects); the route and the gateway go on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FailureKind(enum.StrEnum):
    """Why a submit failed, which decides what the scheduler does next."""

    THROTTLED = "throttled"
    """The carrier asked us to slow down: retry the part, slow the route; never fail it."""
    TEMPORARY = "temporary"
    """Try again later with backoff (network out of order, busy modem, timeout)."""
    PERMANENT = "permanent"
    """The part can never be sent as it is (invalid destination, barred): fail the message."""


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one submitted part.

    ``carrier_id`` set and ``failure`` None: the carrier accepted the part (status
    ``submitted``). ``failure`` set: it was not accepted; ``code`` is the carrier's or modem's
    code as text (``"0x00000058"``, ``"CMS 38"``), ``reason`` is for people.

    ``maybe_sent`` marks a failure after which the part may still have left (a response that
    never came, ``+CMS ERROR`` after the PDU): a retry risks a duplicate, which is counted.

    ``resend`` marks a TEMPORARY failure of the link, not of the part: the bind or modem it was
    on died before it was answered. The route may hand the part to :meth:`Driver.submit` again
    at once (on its other links); it then gets another outcome. A sink that does not resend
    records it like any other TEMPORARY failure.
    """

    part_id: int
    carrier_id: str | None = None
    failure: FailureKind | None = None
    code: str = ""
    reason: str = ""
    maybe_sent: bool = False
    resend: bool = False


ReceiptState = Literal["delivered", "undelivered", "expired", "rejected", "accepted", "unknown"]


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery receipt (DLR) for one part, named by the route and the carrier's id.

    ``carrier_id`` must be normalised by the driver to the same form it reported in the
    :class:`Outcome` (case, leading zeros, hex or decimal), so that the store matches it
    exactly. A receipt may arrive before the outcome that carries its id: the store keeps
    unmatched receipts for a while and matches them when the id appears.
    """

    route: str
    carrier_id: str
    state: ReceiptState
    error_code: str = ""
    done_at: float | None = None
    """Unix time the carrier says the final state was reached, if it says."""


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A whole (reassembled) message a recipient sent to us."""

    route: str
    sender: str
    """The number that sent it (our ``from``), E.164 where the transport says so."""
    to: str
    """Our number or short code it was sent to."""
    text: str
    received_at: float
    parts: int = 1
    complete: bool = True
    """False when the reassembly timeout passed before every part arrived."""


class Sink(Protocol):
    """Where a driver reports; each call returns once its items are durably stored."""

    async def outcomes(self, items: Sequence[Outcome]) -> None: ...

    async def receipts(self, items: Sequence[Receipt]) -> None: ...

    async def inbound(self, items: Sequence[InboundMessage]) -> None: ...


LinkState = Literal["up", "down", "connecting"]


class DriverState(msgspec.Struct, kw_only=True):
    """A driver's health, for ``GET /v1/routes``, ``/readyz`` and route metrics."""

    up: bool
    links: list[dict[str, object]] = msgspec.field(default_factory=list)
    """One entry per bind or modem: at least ``name`` and ``state`` (a :data:`LinkState`)."""
    window: int = 0
    """Parts the driver can have outstanding at once, over all its links."""
    in_flight: int = 0


class Driver(abc.ABC):
    """One route's transport.

    Lifecycle: ``await nursery.start(driver.run, sink)`` connects what can be connected and
    reports started once the driver is ready to be asked for capacity (links may still be coming
    up: ``state().up`` tells). ``run`` returns or raises only on cancellation, which is the
    shutdown path: a driver unbinds or closes its links on the way out. A lost link is never an
    exception out of ``run``: the driver reconnects with backoff by itself.
    """

    name: str

    @abc.abstractmethod
    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        """Run the transport until cancelled; see the class docstring."""

    @abc.abstractmethod
    def capacity(self) -> int:
        """How many parts :meth:`submit` can take right now without waiting (0 when down).

        A driver puts parts it takes within its capacity on the wire at once (the scheduler
        paces the route by handing them over at their token times); a modem bank puts each on
        a modem, which keeps its own per-modem rate.
        """

    @abc.abstractmethod
    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        """Take parts for sending; each will get exactly one outcome through the sink.

        Waits while the driver has no room (window full) rather than refusing. If the driver
        goes down with parts it has taken but not sent, it reports them as TEMPORARY failures
        so they return to the queue.
        """

    @abc.abstractmethod
    def state(self) -> DriverState:
        """Current health; cheap, called at every scrape."""

    #: Whether :meth:`resume` needs to be called after a restart (the store is only asked when
    #: it does).
    forgets_on_restart: bool = False

    async def resume(self, awaiting: Sequence[str]) -> None:
        """Carrier ids of parts this route submitted before the process restarted that still
        await their receipts.

        A real carrier keeps them and sends the receipts once a link is back, so transports
        leave this alone. A carrier that lived inside the crashed process (the simulator) sets
        :attr:`forgets_on_restart` and schedules those receipts again here.
        """
        return None

    def hold_link(self, link: str, held: bool) -> bool:
        """An operator's disconnect (``held``) or reconnect of the link named ``link``.

        A held link closes its connection the way it would at shutdown (an SMPP bind drains
        and unbinds, a modem gives back what it holds) and stays down, its state showing
        ``held``, until released; releasing connects it at once (and cuts short the backoff of
        a link that is down for another reason). Returns False when the driver has no such
        link. Transports that cannot do this keep the default.
        """
        return False

    @abc.abstractmethod
    async def wait_capacity(self) -> None:
        """Return once :meth:`capacity` is above zero (a link came up, the window drained).

        Drivers wake waiters with a ``trio.Event`` or condition, not by polling.
        """
