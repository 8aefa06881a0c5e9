"""The store interface: the durable queue as batch-shaped, transport-neutral calls.

Callers (the API, the scheduler, the drivers' sink, the webhook worker, the SMPP server, the
console) see batches and domain values (:mod:`smsgw.queue.store.records`, the message model,
the consent records, the driver seam's parts, outcomes and receipts), never SQL. Every call
returns once its transaction committed; a store-level failure raises
:class:`~smsgw.queue.store.health.StoreUnavailable` (transient, nothing written) or
:class:`~smsgw.queue.store.health.StoreFatal`.

:class:`Store` is a protocol: the SQLite backend
(:class:`smsgw.queue.store.sqlite.store.SqliteStore`) implements it; a second backend
implements the same calls and runs the same conformance tests (``tests/store_conformance``).
Backends are built by :func:`smsgw.queue.store.factory.make_store`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue.campaigns import records as crec
from smsgw.queue.consent.records import (
    ConsentRecord,
    Lifted,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
)
from smsgw.queue.flows.records import (
    DueStep,
    EventResult,
    Fired,
    FlowCounts,
    FlowSpec,
    NewEvent,
    RunRow,
    StepFire,
    StepStats,
)
from smsgw.queue.model import InboundRow, MessageRow, NewMessage
from smsgw.queue.scheduling.retry import DispatchPolicy
from smsgw.queue.store.health import StoreHealth
from smsgw.queue.store.records import (
    CANCEL_REFS_LIMIT,
    Backlog,
    Candidate,
    Claim,
    Claimed,
    Click,
    ClickResult,
    Coarse,
    ContactPatch,
    ContactRow,
    ConversionRow,
    Finished,
    HeldCounts,
    HeldReceipt,
    LaneInfo,
    NewContact,
    NewConversion,
    NewSegment,
    NewTemplate,
    Notify,
    OutcomeSummary,
    QueueStats,
    ReceiptSummary,
    RefCancel,
    RetryResult,
    SegmentRow,
    TemplateRow,
)
from smsgw.queue.store.screening import AcceptGate, AcceptResult, ClaimGate, Facts, Screened

__all__ = ["Store"]


class Store(Protocol):
    """The durable queue. Build with :func:`~smsgw.queue.store.factory.make_store`, then
    :meth:`open`; :meth:`close` at the end."""

    # -- what the store is, and the hooks the gateway installs -----------------------------

    path: str
    """Where the store lives, as the operator named it (for messages and logs)."""
    metrics: Metrics
    policy: DispatchPolicy
    """The retry settings outcomes are recorded with."""
    health: StoreHealth
    """Up or unavailable, and since when (the readiness check and the scheduler read it)."""
    opened: bool
    version: int
    """Counts commits that changed a message's status (for :meth:`wait_changed`)."""
    active: dict[str, int]
    """Unfinished messages per class."""
    gate: ClaimGate | None
    """Checked for every message about to leave (the consent and courtesy policy)."""
    on_ready: Callable[[Iterable[str]], None]
    """Called (in trio) with routes that got parts ready to leave."""
    on_webhooks: Notify
    """Called (in trio) with the lanes (key, origin) that got webhook deliveries committed."""
    on_smpp_held: Callable[[], None]
    """Called (in trio) when receipts or inbound messages for SMPP server accounts were held."""
    smpp_account_of: Callable[[str | None, InboundMessage], str | None]
    """The SMPP server account an inbound message (owned by this API key) is held for."""
    inbound_owner: Callable[[InboundMessage], str | None]
    """The API key an inbound message belongs to, stored with it."""

    @property
    def held(self) -> bool:
        """This process holds the store exclusively (a second gateway is refused)."""
        ...

    @property
    def active_total(self) -> int: ...

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Take the store, create and migrate it if needed, count what is queued; or raise
        :class:`~smsgw.queue.store.refusals.StoreRefused` (one line) and change nothing."""
        ...

    async def close(self) -> None: ...

    async def watch_health(self) -> None:
        """While the store is unavailable, probe it with backoff; until cancelled."""
        ...

    async def wait_changed(self, since: int) -> int:
        """Wait until a message's status changed after ``since`` (a :attr:`version`)."""
        ...

    # -- accept ----------------------------------------------------------------------------

    async def accept(self, msgs: Sequence[NewMessage]) -> list[AcceptResult]:
        """Commit new messages (idempotent per key + client_ref); ids are assigned here."""
        ...

    async def accept_screened(
        self,
        items: Sequence[tuple[NewMessage, Facts]],
        policy: AcceptGate,
        receipts_to: str | None = None,
        wants_receipt: Sequence[bool] = (),
    ) -> list[Screened]:
        """Accept with the consent and courtesy policy deciding, in the same transaction,
        what is refused and what waits; with ``receipts_to`` (an SMPP server account) the
        messages whose ``wants_receipt`` is true get their receipts held for it."""
        ...

    # -- dispatch --------------------------------------------------------------------------

    async def claim(self, route: str, limit: int, now: float) -> list[OutboundPart]:
        """Up to ``limit`` parts of ``route`` to send now, by priority, marked in flight."""
        ...

    async def record_outcomes(self, outcomes: Sequence[Outcome], now: float) -> OutcomeSummary:
        """One outcome per part sent: submitted, retried later, or final."""
        ...

    async def record_receipts(self, receipts: Sequence[Receipt], now: float) -> ReceiptSummary:
        """Match delivery receipts to the parts they report on."""
        ...

    async def promote_due(self, now: float) -> set[str]:
        """Messages whose time came (scheduled, retry, quiet hours) become ready; their
        routes are returned and woken."""
        ...

    async def expire_overdue(self, now: float) -> int: ...

    async def expire_pending_receipts(self, now: float) -> list[str]: ...

    async def expire_dedupe(self, now: float) -> int:
        """Forget the dedupe entries (``NewMessage.dedupe_key``) whose window ended by
        ``now``, a bounded batch per call; how many went."""
        ...

    async def recover_in_flight(self, now: float, older_than: float | None = None) -> list[str]:
        """Parts left in flight go back to the queue: all (only under :attr:`held`), or
        those sent before ``older_than``; their routes are returned."""
        ...

    async def reroute(
        self, route: str, is_up: Callable[[str], bool], now: float
    ) -> dict[str, int]: ...

    async def cancel(self, key: str, public_id: str, now: float) -> str | None:
        """Cancel one message of ``key`` that has not left: ``cancelled``, the status of one
        that has (nothing changed), or None for an unknown id."""
        ...

    async def cancel_refs(
        self,
        keys: Sequence[str],
        ref: str,
        now: float,
        *,
        prefix: bool = False,
        limit: int = CANCEL_REFS_LIMIT,
    ) -> RefCancel:
        """In one transaction, cancel every message of ``keys`` whose client_ref is ``ref``
        (with ``prefix``: starts with ``ref``, taken literally) and that has not left, as
        :meth:`cancel` does one; list the matches that have left with their status. At most
        ``limit`` matches are listed, the waiting ones first; ``more`` says more matched."""
        ...

    async def retry_message(
        self,
        key: str | None,
        public_id: str,
        now: float,
        validity: Mapping[str, float],
        note: str,
    ) -> RetryResult:
        """Queue again a message given up on (``key`` None: any key's)."""
        ...

    # -- reads -----------------------------------------------------------------------------

    async def get(self, key: str | None, public_id: str) -> MessageRow | None: ...

    async def list_messages(
        self,
        key: str | None,
        *,
        status: str | None = None,
        client_ref: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[MessageRow]: ...

    async def awaiting_receipts(self, route: str) -> list[str]:
        """Carrier ids of the route's parts submitted and without a receipt yet."""
        ...

    async def stats(self) -> QueueStats: ...

    async def ready_by_route(self) -> dict[str, int]: ...

    async def console_figures(self, since: float) -> tuple[Backlog, dict[str, int]]:
        """The scheduled backlog (bounded counts) and opt-outs since ``since`` by source."""
        ...

    # -- receipts and inbound held for SMPP server accounts -------------------------------

    async def smpp_held_page(
        self, account: str, limit: int, skip: Collection[int] = ()
    ) -> list[HeldReceipt]:
        """Up to ``limit`` items held for ``account``, oldest first, leaving out ``skip``."""
        ...

    async def smpp_held_counts(self, accounts: Sequence[str]) -> dict[str, HeldCounts]:
        """Receipts and inbound messages waiting per account (bounded counts)."""
        ...

    async def drop_smpp_held(self, hids: Collection[int]) -> None: ...

    async def expire_smpp_held(self, before: float) -> int: ...

    # -- opt-outs and consent records ------------------------------------------------------

    async def opt_out(self, items: Sequence[OptoutRequest]) -> list[bool]: ...

    async def opt_in(self, items: Sequence[OptinRequest]) -> list[bool]: ...

    async def lift_optout(self, req: OptinRequest, *, admin: bool) -> Lifted: ...

    async def add_consents(self, records: Sequence[ConsentRecord], now: float) -> list[int]: ...

    async def blocking_optout(self, number: str, key: str) -> OptoutRow | None: ...

    async def consent_on_record(self, number: str, key: str) -> bool: ...

    async def optouts_page(self, key: str | None, after: int, limit: int) -> list[OptoutRow]: ...

    async def optout_history(
        self, number: str, key: str | None
    ) -> tuple[list[OptoutRow], list[OptoutEvent]]: ...

    # -- message templates -----------------------------------------------------------------

    async def add_template(self, t: NewTemplate) -> TemplateRow | None:
        """Store a new template; None (nothing written) when ``t.key`` has one of that name."""
        ...

    async def get_template(self, key: str, name: str) -> TemplateRow | None: ...

    async def templates_page(self, key: str | None, after: int, limit: int) -> list[TemplateRow]:
        """``key``'s templates (None: every key's) after the cursor ``after``, in cursor
        order."""
        ...

    async def replace_template(self, t: NewTemplate) -> TemplateRow | None:
        """Replace ``t.key``'s template ``t.name`` (text, variants, class, description); None
        when there is none."""
        ...

    async def delete_template(self, key: str, name: str) -> bool:
        """Remove ``key``'s template ``name``; whether there was one."""
        ...

    # -- flows -----------------------------------------------------------------------------

    async def record_events(
        self, specs: Sequence[FlowSpec], items: Sequence[NewEvent]
    ) -> list[EventResult]:
        """Record events and, in the same transaction, stop the runs of ``specs`` they stop
        (pending steps cancelled, messages not yet claimed for sending cancelled) and start
        the runs they trigger (first step scheduled) or record those skipped, with why."""
        ...

    async def due_flow_steps(self, now: float, limit: int) -> list[DueStep]:
        """Waiting steps due at ``now``, in due order."""
        ...

    async def next_flow_due(self) -> float | None:
        """When the earliest waiting step falls due (None: none waits)."""
        ...

    async def fire_flow_steps(
        self,
        specs: Mapping[str, FlowSpec],
        fires: Sequence[StepFire],
        policy: AcceptGate,
        now: float,
    ) -> list[Fired]:
        """Accept the messages of due steps through the policy, mark each step sent, skipped
        or expired, and schedule each run's following step (or complete it), in one commit."""
        ...

    async def flow_runs(
        self, key: str, flow: str, number: str | None, after: int, limit: int
    ) -> list[RunRow]:
        """``key``'s runs of ``flow`` after the cursor, each with its steps."""
        ...

    async def flow_stats(
        self, key: str, names: Sequence[str]
    ) -> dict[str, tuple[FlowCounts, list[StepStats]]]:
        """Per flow: runs by state and per-step counts."""
        ...

    # -- campaigns -------------------------------------------------------------------------

    async def add_campaign(self, c: crec.NewCampaign) -> crec.CampaignRow:
        """Store a new draft (state ``draft``) under a new id, ``cmp_...``."""
        ...

    async def get_campaign(self, key: str | None, campaign_id: str) -> crec.CampaignRow | None:
        """The campaign ``campaign_id`` of ``key`` (None: of any key)."""
        ...

    async def draft_recipients(self, cid: int) -> list[crec.SpecRecipient]:
        """The recipients a draft was given as a list, in order (empty for a segment's, and
        once started: the list is dropped when its rows are written)."""
        ...

    async def campaigns_page(
        self, key: str | None, after: int, limit: int
    ) -> list[crec.CampaignRow]:
        """``key``'s campaigns (None: every key's) after the cursor ``after``."""
        ...

    async def start_campaign(
        self, key: str, campaign_id: str, recipients: Sequence[crec.NewRecipient], now: float
    ) -> crec.CampaignRow | str | None:
        """Fix a draft's recipients (numbered from 1 in order) and set it running (completed
        when none is pending), in one commit; the campaign's state when it is no draft, None
        when ``key`` has no such campaign."""
        ...

    async def campaign_action(
        self, key: str, campaign_id: str, action: crec.CampaignAction, now: float
    ) -> crec.CampaignRow | str | None:
        """Pause, resume or cancel, in one commit: pause and cancel take back the messages of
        the campaign that have not left (pause makes their recipients pending again under the
        next generation, cancel cancels them with the pending ones). The campaign's state when
        the action does not apply to it, None when ``key`` has no such campaign."""
        ...

    async def running_campaigns(self, now: float) -> list[crec.CampaignRow]:
        """The running campaigns, oldest first."""
        ...

    async def pending_recipients(self, cid: int, limit: int) -> list[crec.RecipientRow]:
        """The first ``limit`` pending recipients of the campaign whose cursor is ``cid``."""
        ...

    async def accept_campaign_chunk(
        self,
        policy: AcceptGate,
        cid: int,
        gen: int,
        fires: Sequence[crec.RecipientFire],
        now: float,
    ) -> list[tuple[int, str, str | None]] | None:
        """Accept a chunk's messages (screened like any accept) and mark their recipients in
        the same commit, completing the campaign when none is left pending; None (nothing
        written) when the campaign is no longer running in generation ``gen``. Returns
        (seq, state, reason) of each recipient marked."""
        ...

    async def campaign_counts(self, cid: int) -> list[crec.RecipientCount]:
        """The campaign's recipients by variant, state and reason."""
        ...

    async def campaign_messages(
        self, cid: int
    ) -> tuple[list[crec.MessageTally], list[crec.ClickTally]]:
        """The messages the campaign's recipients hold now, by variant and route (statuses
        and parts), and the clicks on their tracked links by variant."""
        ...

    async def decide_campaign_ab(self, cid: int, now: float) -> crec.CampaignRow | None:
        """Pick a running campaign's A/B winner in one transaction when it is due (no
        recipient pending, the test's ``wait`` passed since its last message was accepted):
        record it (when, why) and make every held recipient pending with its variant. None
        when nothing was decided (no test, not running, decided already, not due)."""
        ...

    async def campaign_ab_values(self, cid: int, n_variants: int, metric: str) -> list[float]:
        """Each variant's A/B metric: unique clicks or attributed orders per message sent."""
        ...

    # -- contacts and segments -------------------------------------------------------------

    async def upsert_contacts(self, items: Sequence[NewContact]) -> list[bool]:
        """Write each contact whole (replacing the stored one of its key and number, which
        keeps its creation time); whether each was created, in order."""
        ...

    async def get_contact(self, key: str, number: str) -> ContactRow | None: ...

    async def contacts_page(
        self, key: str | None, after: int, limit: int, tag: str | None = None
    ) -> list[ContactRow]:
        """``key``'s contacts (None: every key's) after the cursor ``after``, in cursor
        order; with ``tag``, only those carrying it."""
        ...

    async def patch_contact(self, key: str, number: str, p: ContactPatch) -> ContactRow | None:
        """Apply ``p`` to ``key``'s contact ``number``; None when there is none. Raises
        :class:`~smsgw.queue.campaigns.contacts.ContactError` (nothing written) when the
        merged attributes would be more than a contact holds."""
        ...

    async def delete_contact(self, key: str, number: str) -> bool:
        """Remove ``key``'s contact ``number``; whether there was one."""
        ...

    async def segment_candidates(
        self, key: str, coarse: Coarse, after: int, limit: int
    ) -> list[Candidate]:
        """Up to ``limit`` of ``key``'s contacts after the cursor ``after`` that ``coarse``
        selects (perhaps more than it asks, never fewer), in cursor order, each with whether
        an opt-out stops ``key``'s messages to its number."""
        ...

    async def add_segment(self, s: NewSegment) -> SegmentRow | None:
        """Store a new segment; None (nothing written) when ``s.key`` has one of that name."""
        ...

    async def get_segment(self, key: str, name: str) -> SegmentRow | None: ...

    async def segments_page(self, key: str | None, after: int, limit: int) -> list[SegmentRow]:
        """``key``'s segments (None: every key's) after the cursor ``after``."""
        ...

    async def replace_segment(self, s: NewSegment) -> SegmentRow | None:
        """Replace the rules of ``s.key``'s segment ``s.name``; None when there is none."""
        ...

    async def delete_segment(self, key: str, name: str) -> bool: ...

    # -- inbound and webhooks --------------------------------------------------------------

    async def add_inbound(self, items: Sequence[InboundMessage]) -> list[str]: ...

    async def inbound(
        self, after: int = 0, limit: int = 100, *, key: str | None = None
    ) -> list[InboundRow]: ...

    async def release_webhooks(self) -> tuple[int, list[LaneInfo]]:
        """At start: deliveries taken by the last process wait again; how many, and the
        lanes with deliveries waiting."""
        ...

    async def webhook_step(
        self, finished: Finished, claims: Sequence[Claim], now: float
    ) -> list[Claimed]:
        """Record finished deliveries and claim the next ones, per lane, in one commit."""
        ...

    async def enqueue_webhooks(
        self, items: Sequence[tuple[str, str, dict[str, Any]]], now: float
    ) -> list[str]:
        """Queue deliveries (key, url, payload) that belong to no message; returns the
        ``event_id`` each payload got."""
        ...

    async def enqueue_webhook(self, key: str, url: str, body: bytes, now: float) -> None: ...

    # -- tracked links ---------------------------------------------------------------------

    async def record_clicks(self, clicks: Sequence[Click]) -> list[ClickResult]:
        """Per click, what its code leads to; a click on a live link is recorded (attributed
        to the link's message, recipient and key) and, when it is not a preview and the
        message has a callback_url, its ``message.clicked`` webhook queued, in the commit
        this returns after. Links are written by :meth:`accept` with their messages
        (``NewMessage.links``) and read with them by :meth:`get`."""
        ...

    # -- conversions -----------------------------------------------------------------------

    async def record_conversion(self, c: NewConversion) -> tuple[ConversionRow, bool]:
        """Record an order of ``c.key`` attributed, in the same commit, to one of the key's
        messages: for ``number``, the last one clicked (a non-preview click on its tracked
        links) within ``c.window`` seconds before ``c.at``, else the last marketing message
        delivered to the number then; for ``code``, the message of that tracked link; for
        ``client_ref``, the message of that reference (unattributed when none qualifies).
        Returns the row and True; for an order the key reported before, its first row and
        False, changing nothing."""
        ...

    async def get_conversion(self, key: str, order_id: str) -> ConversionRow | None:
        """The key's conversion of the order (None: it reported none)."""
        ...

    async def conversions_page(self, key: str, after: int, limit: int) -> list[ConversionRow]:
        """The key's conversions in recording order after the cursor ``after``."""
        ...
