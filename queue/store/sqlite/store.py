"""The SQLite store: :class:`~smsgw.queue.store.interface.Store` on one SQLite file.

Every method runs its statements (the modules of this package) in the writer thread and
returns once its transaction committed (group commit, see
:mod:`smsgw.queue.store.sqlite.writer`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import trio

from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.records import (
    ConsentRecord,
    Lifted,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
)
from smsgw.queue.model import CLASSES, FINAL, InboundRow, MessageRow, NewMessage
from smsgw.queue.store.health import ErrorKind, StoreFatal, StoreHealth, StoreUnavailable
from smsgw.queue.store.lock import StoreLock
from smsgw.queue.store.records import (
    CANCEL_REFS_LIMIT,
    HeldCounts,
    HeldReceipt,
    RefCancel,
)
from smsgw.queue.store.refusals import CHECK_HINT, StoreRefused, preflight
from smsgw.queue.store.screening import AcceptGate, AcceptResult, Facts, Screened
from smsgw.queue.store.sqlite import accept as ops_accept
from smsgw.queue.store.sqlite import cancel as ops_cancel
from smsgw.queue.store.sqlite import consent as ops_consent
from smsgw.queue.store.sqlite import console as ops_console
from smsgw.queue.store.sqlite import dispatch as ops_dispatch
from smsgw.queue.store.sqlite import reads as ops_read
from smsgw.queue.store.sqlite import screening as ops_screening
from smsgw.queue.store.sqlite import smpp_held as ops_smpp_held
from smsgw.queue.store.sqlite import webhooks as ops_webhooks
from smsgw.queue.store.sqlite.console import Backlog, RetryResult
from smsgw.queue.store.sqlite.dispatch import (
    ClaimGate,
    DispatchPolicy,
    OutcomeSummary,
    ReceiptSummary,
)
from smsgw.queue.store.sqlite.migrations import SCHEMA_VERSION, NotAStore, SchemaTooNew, migrate
from smsgw.queue.store.sqlite.reads import QueueStats
from smsgw.queue.store.sqlite.store_campaigns import CampaignCalls
from smsgw.queue.store.sqlite.transitions import Events, StatusEvent
from smsgw.queue.store.sqlite.writer import Writer, classify

__all__ = ["SqliteStore"]

T = TypeVar("T")


class SqliteStore(CampaignCalls):
    """The durable queue. Open with :meth:`open`, close with :meth:`close`.

    Errors: a store-level failure is :class:`StoreUnavailable` (transient: full, busy, I/O,
    read-only; nothing written) or :class:`StoreFatal` (removed, replaced, corrupt) from any
    method; :attr:`health` tracks it. ``evidence`` names files beside the store (the API
    token) whose presence says a store existed here, so an empty file is not taken as new.
    """

    def __init__(
        self,
        path: str,
        *,
        metrics: Metrics,
        policy: DispatchPolicy,
        synchronous: str = "full",
        commit_batch: int = 1000,
        busy_timeout: float = 5.0,
        evidence: Sequence[str] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.metrics = metrics
        self.policy = policy
        self.evidence = tuple(evidence)
        self.health = StoreHealth(path, metrics, wall)
        self._writer = Writer(
            path,
            synchronous=synchronous,
            batch=commit_batch,
            metrics=metrics,
            setup=migrate,
            health=self.health,
            busy_timeout=busy_timeout,
        )
        self._lock: StoreLock | None = None
        self._events = Events()
        self._events.on_status = self._on_status
        self._events.on_webhooks = self._on_webhooks
        self._events.on_smpp_held = lambda: self._writer.run_in_trio(self.on_smpp_held)
        self.on_smpp_held: Callable[[], None] = lambda: None
        """Called (in trio) when receipts for SMPP server accounts were committed."""
        self.smpp_account_of: Callable[[str | None, InboundMessage], str | None]
        self.smpp_account_of = lambda key, msg: None
        """The SMPP server account an inbound message owned by this API key is held for."""
        self.on_webhooks: ops_webhooks.Notify = lambda lanes: None
        """Called (in trio) with the lanes (key, origin) that got webhook rows committed."""
        self.active: dict[str, int] = dict.fromkeys(CLASSES, 0)
        """Unfinished messages per class (kept in memory after one count at start)."""
        self.on_ready: Callable[[Iterable[str]], None] = lambda routes: None
        """Called (in trio) with routes that got parts ready to leave."""
        self.opened = False
        self.version = 0
        """Counts commits that changed a message's status (for :meth:`wait_changed`)."""
        self._changed = trio.Event()
        self.gate: ClaimGate | None = None
        """Checked for every message about to leave (the consent and courtesy policy)."""
        self.inbound_owner: Callable[[InboundMessage], str | None] = lambda msg: None
        """The API key an inbound message belongs to, stored with it (see queue.inbound_owner)."""

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock the store, create the folder and file if needed, migrate the schema, count
        what is queued.

        Raises :class:`StoreRefused` (one line: file, reason, what to do) when the store is
        locked by another process (:class:`StoreLocked`), the data directory is not writable,
        or the file is empty where a store existed, truncated, foreign, corrupt or from a
        newer smsgw. Nothing is changed then.
        """
        lock = await trio.to_thread.run_sync(self._lock_and_check)
        try:
            try:
                await self._writer.open()
                self.active = await self._writer.call(ops_read.count_active)
            except BaseException as e:
                refusal = _refusal(self.path, e)
                if refusal is None:
                    raise
                raise refusal from None
        except BaseException:
            lock.release(forget=True)
            with trio.CancelScope(shield=True):
                await self._writer.close()
            raise
        self._lock = lock
        self.opened = True

    def _lock_and_check(self) -> StoreLock:
        lock = StoreLock.acquire(self.path)
        try:
            evidence = [lock.path] if lock.existed else []
            folder = os.path.dirname(os.path.abspath(self.path))
            evidence += [os.path.join(folder, name) for name in self.evidence]
            preflight(self.path, evidence=evidence)
        except BaseException:
            lock.release(forget=True)
            raise
        return lock

    @property
    def held(self) -> bool:
        """This process holds the store's lock (see :mod:`smsgw.queue.store.lock`)."""
        return self._lock is not None and self._lock.held

    async def close(self) -> None:
        self.opened = False
        await self._writer.close()
        if self._lock is not None:
            self._lock.release()

    async def watch_health(self) -> None:
        """Probe the store with backoff while it is unavailable, until cancelled (the writes
        that succeed report it up again; see :class:`~smsgw.queue.store.health.StoreHealth`)."""
        await self.health.watch(self._writer.probe)

    def _on_status(self, events: Sequence[StatusEvent]) -> None:
        # Runs in the writer thread after commit; prometheus-client is thread-safe and dict
        # updates of ints are atomic under the GIL.
        self._writer.run_in_trio(self._notify_changed)
        finals: dict[tuple[str, str], int] = {}
        ages: dict[str, list[float]] = {}
        for e in events:
            if e.status in FINAL:
                finals[e.msg_class, e.status] = finals.get((e.msg_class, e.status), 0) + 1
                ages.setdefault(e.msg_class, []).append(max(0.0, e.at - e.created_at))
        for msg_class, values in ages.items():
            self.active[msg_class] = self.active.get(msg_class, len(values)) - len(values)
            self.metrics.end_to_end_latency.labels(msg_class).observe_many(values)
        for (msg_class, status), n in finals.items():
            self.metrics.messages_final.labels(msg_class, status).inc(n)

    def _on_webhooks(self, lanes: Mapping[ops_webhooks.Lane, int]) -> None:
        # Writer thread, after commit: the worker learns of new rows at once (no poll).
        self._writer.run_in_trio(lambda: self.on_webhooks(lanes))

    def _notify_changed(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self, since: int) -> int:
        """Wait until a message reached a new submitted or final status after ``since``
        (a :attr:`version`); returns the current version."""
        while self.version <= since:
            await self._changed.wait()
        return self.version

    @property
    def active_total(self) -> int:
        return sum(self.active.values())

    # -- accept ----------------------------------------------------------------------------

    async def accept(self, msgs: Sequence[NewMessage]) -> list[AcceptResult]:
        """Commit new messages (idempotent per key + client_ref); ids are assigned here."""
        ids = ops_accept.new_ids("msg_", [m.created_at for m in msgs])
        results = await self._writer.call(ops_accept.accept, msgs, ids)
        ready: set[str] = set()
        for msg, r in zip(msgs, results, strict=True):
            if r.created:
                self.active[msg.msg_class] += 1
                if r.status == "queued":
                    ready.add(r.route)
        if ready:
            self.on_ready(ready)
        return results

    async def accept_screened(
        self,
        items: Sequence[tuple[NewMessage, Facts]],
        policy: AcceptGate,
        receipts_to: str | None = None,
        wants_receipt: Sequence[bool] = (),
    ) -> list[Screened]:
        """Like :meth:`accept`, with the consent and courtesy policy deciding in the same
        transaction which messages are refused and which wait (see
        :mod:`smsgw.queue.store.screening`). With ``receipts_to`` (an SMPP server account),
        the accepted messages whose ``wants_receipt`` is true are marked in that transaction
        too, so their receipts are held for the account."""
        ids = ops_accept.new_ids("msg_", [m.created_at for m, _ in items])
        if receipts_to is None:
            screened = await self._writer.call(ops_screening.accept_screened, policy, items, ids)
        else:
            screened = await self._writer.call(
                ops_screening.accept_marked, policy, items, ids, receipts_to, wants_receipt
            )
        self._count_accepted(screened)
        return screened

    def _count_accepted(self, screened: Sequence[Screened]) -> None:
        """Count the new messages as active and wake the routes with some ready to leave."""
        ready: set[str] = set()
        for s in screened:
            r = s.result
            if r is not None and r.created and s.msg is not None:
                self.active[s.msg.msg_class] += 1
                if r.status == "queued":
                    ready.add(r.route)
        if ready:
            self.on_ready(ready)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(tx, *args)`` of this SQLite backend in its writer thread, in a transaction.

        Not part of the store interface (a second backend has no such call): tests use it to
        look at or break the database underneath. Code of the gateway calls the methods of
        this class instead."""
        return await self._writer.call(fn, *args)

    # -- dispatch --------------------------------------------------------------------------

    async def claim(self, route: str, limit: int, now: float) -> list[OutboundPart]:
        return await self._writer.call(
            ops_dispatch.claim, self._events, route, limit, now, self.gate
        )

    async def record_outcomes(self, outcomes: Sequence[Outcome], now: float) -> OutcomeSummary:
        summary = await self._writer.call(
            ops_dispatch.record_outcomes, self._events, outcomes, self.policy, now
        )
        return summary

    async def record_receipts(self, receipts: Sequence[Receipt], now: float) -> ReceiptSummary:
        return await self._writer.call(ops_dispatch.record_receipts, self._events, receipts, now)

    async def promote_due(self, now: float) -> set[str]:
        routes = await self._writer.call(ops_dispatch.promote_due, self._events, now)
        if routes:
            self.on_ready(routes)
        return routes

    async def expire_overdue(self, now: float) -> int:
        return await self._writer.call(ops_dispatch.expire_overdue, self._events, now)

    async def expire_pending_receipts(self, now: float) -> list[str]:
        return await self._writer.call(ops_dispatch.expire_pending_receipts, now)

    async def expire_dedupe(self, now: float) -> int:
        """Forget dedupe entries whose window ended by ``now`` (a bounded batch per call);
        how many went."""
        return await self._writer.call(ops_accept.expire_dedupe, now)

    async def recover_in_flight(self, now: float, older_than: float | None = None) -> list[str]:
        """Parts left ``sending`` go back to the queue: all of them (``older_than`` None, at
        start), or those sent before ``older_than``. Taking all back is only for a store this
        process holds locked: another gateway's in-flight parts would be sent twice."""
        if older_than is None and not self.held:
            raise RuntimeError(f"{self.path}: in-flight parts are taken back only under lock")
        routes = await self._writer.call(
            ops_dispatch.recover_in_flight, self._events, now, older_than
        )
        if routes:
            self.on_ready(set(routes))
        return routes

    async def reroute(self, route: str, is_up: Callable[[str], bool], now: float) -> dict[str, int]:
        moved = await self._writer.call(ops_dispatch.reroute, self._events, route, is_up, now)
        if moved:
            self.on_ready(moved.keys())
        return moved

    async def cancel(self, key: str, public_id: str, now: float) -> str | None:
        return await self._writer.call(ops_cancel.cancel, self._events, key, public_id, now)

    async def cancel_refs(
        self,
        keys: Sequence[str],
        ref: str,
        now: float,
        *,
        prefix: bool = False,
        limit: int = CANCEL_REFS_LIMIT,
    ) -> RefCancel:
        """Cancel in one transaction every message of ``keys`` with client_ref ``ref`` (or a
        client_ref starting with it) that has not left (see
        :func:`smsgw.queue.store.sqlite.cancel.cancel_refs`)."""
        return await self._writer.call(
            ops_cancel.cancel_refs, self._events, keys, ref, prefix, now, limit
        )

    async def retry_message(
        self,
        key: str | None,
        public_id: str,
        now: float,
        validity: Mapping[str, float],
        note: str,
    ) -> RetryResult:
        """Queue again a message given up on (``key`` None: any key's); its route is woken
        (see :func:`smsgw.queue.store.sqlite.console.retry_message`)."""
        result = await self._writer.call(
            ops_console.retry_message, self._events, key, public_id, now, validity, note
        )
        if result.result == "retried":
            self.active[result.msg_class] = self.active.get(result.msg_class, 0) + 1
            self.on_ready({result.route})
        return result

    # -- reads -----------------------------------------------------------------------------

    async def get(self, key: str | None, public_id: str) -> MessageRow | None:
        return await self._writer.call(ops_read.get_message, key, public_id)

    async def list_messages(
        self,
        key: str | None,
        *,
        status: str | None = None,
        client_ref: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[MessageRow]:
        return await self._writer.call(
            ops_read.list_messages, key, status, client_ref, after, limit
        )

    async def awaiting_receipts(self, route: str) -> list[str]:
        """Carrier ids of the route's parts that were submitted and have no receipt yet."""
        return await self._writer.call(ops_read.awaiting_receipts, route)

    async def stats(self) -> QueueStats:
        return await self._writer.call(ops_read.queue_stats)

    async def ready_by_route(self) -> dict[str, int]:
        return await self._writer.call(ops_read.ready_by_route)

    async def console_figures(self, since: float) -> tuple[Backlog, dict[str, int]]:
        """For the ops console, in one read: the scheduled backlog (bounded counts) and the
        opt-outs recorded at or after ``since`` by source."""
        return await self._writer.call(ops_console.figures, since)

    # -- receipts and inbound held for SMPP server accounts -------------------------------

    async def smpp_held_page(
        self, account: str, limit: int, skip: Collection[int] = ()
    ) -> list[HeldReceipt]:
        """Up to ``limit`` receipts and inbound messages held for ``account``, oldest first,
        leaving out the ids in ``skip`` (sent and not yet acknowledged)."""
        return await self._writer.call(ops_smpp_held.held_page, account, limit, skip)

    async def smpp_held_counts(self, accounts: Sequence[str]) -> dict[str, HeldCounts]:
        """Receipts and inbound messages waiting per account (bounded counts)."""
        return await self._writer.call(ops_smpp_held.held_counts, accounts)

    async def drop_smpp_held(self, hids: Collection[int]) -> None:
        """Forget held items the client acknowledged."""
        await self._writer.call(ops_smpp_held.drop_held, hids)

    async def expire_smpp_held(self, before: float) -> int:
        """Drop held items stored before ``before``; how many went."""
        return await self._writer.call(ops_smpp_held.expire_held, before)

    # -- opt-outs and consent records ------------------------------------------------------

    async def opt_out(self, items: Sequence[OptoutRequest]) -> list[bool]:
        """Append opt-outs to the trail; per item, whether the number's state changed (a
        repeated STOP is recorded too, and changes nothing)."""
        return await self._writer.call(ops_consent.opt_out, items)

    async def opt_in(self, items: Sequence[OptinRequest]) -> list[bool]:
        """Append opt-ins (scope None: every scope the number is out in); per item, whether
        the number left the list anywhere."""
        return await self._writer.call(ops_consent.opt_in, items)

    async def lift_optout(self, req: OptinRequest, *, admin: bool) -> Lifted:
        """Lift one opt-out in ``req.scope`` as ``req.key`` may, or refuse and change nothing
        (a STOP from the recipient only by START or an admin key; the every-key scope only by
        its maker or an admin key)."""
        return await self._writer.call(ops_consent.lift_as, req, admin)

    async def add_consents(self, records: Sequence[ConsentRecord], now: float) -> list[int]:
        """Append consent records (evidence of an opt-in); returns their ids."""
        return await self._writer.call(ops_consent.add_consents, records, now)

    async def blocking_optout(self, number: str, key: str) -> OptoutRow | None:
        """The opt-out (the oldest) that stops ``key``'s messages to ``number``, if any."""
        return await self._writer.call(ops_consent.blocking_optouts, number, key)

    async def consent_on_record(self, number: str, key: str) -> bool:
        """A consent record covers ``key`` for ``number`` and is younger than its last
        opt-out (what ``marketing_requires_consent`` asks for)."""
        return await self._writer.call(ops_consent.consent_ok, number, key)

    async def optouts_page(self, key: str | None, after: int, limit: int) -> list[OptoutRow]:
        """Numbers opted out now for every key or for ``key`` (None: in any scope), after the
        cursor ``after``, in cursor order."""
        return await self._writer.call(ops_consent.list_optouts, key, after, limit)

    async def optout_history(
        self, number: str, key: str | None
    ) -> tuple[list[OptoutRow], list[OptoutEvent]]:
        """The number's current opt-outs and its whole trail, in the scopes ``key`` reads."""
        return await self._writer.call(ops_consent.history, number, key)

    # -- inbound and webhooks --------------------------------------------------------------

    async def add_inbound(self, items: Sequence[InboundMessage]) -> list[str]:
        owners = [self.inbound_owner(m) for m in items]
        accounts = [self.smpp_account_of(k, m) for k, m in zip(owners, items, strict=True)]
        if not any(accounts):
            return await self._writer.call(ops_read.add_inbound, items, owners)
        return await self._writer.call(
            ops_read.add_inbound_held, items, owners, accounts, self._events.on_smpp_held
        )

    async def inbound(
        self, after: int = 0, limit: int = 100, *, key: str | None = None
    ) -> list[InboundRow]:
        """Inbound messages of ``key`` (None: all) after the cursor ``after``."""
        return await self._writer.call(ops_read.inbound_page, after, limit, key)

    async def release_webhooks(self) -> tuple[int, list[ops_webhooks.LaneInfo]]:
        """At start: deliveries taken by the last process are waiting again; returns how
        many, and every lane (key, receiver) with deliveries waiting."""
        return await self._writer.call(ops_webhooks.release)

    async def webhook_step(
        self,
        finished: ops_webhooks.Finished,
        claims: Sequence[ops_webhooks.Claim],
        now: float,
    ) -> list[ops_webhooks.Claimed]:
        """Record finished deliveries and claim the next ones, per lane, in one commit
        (:func:`smsgw.queue.store.sqlite.webhooks.step`)."""
        return await self._writer.call(ops_webhooks.step, finished, claims, now)

    async def enqueue_webhooks(
        self, items: Sequence[tuple[str, str, dict[str, Any]]], now: float
    ) -> list[str]:
        """Queue deliveries (key, url, payload) that belong to no message, such as inbound
        messages; each payload gets an ``event_id`` (returned)."""
        return await self._writer.call(ops_webhooks.enqueue, items, now, self._events.on_webhooks)

    async def enqueue_webhook(self, key: str, url: str, body: bytes, now: float) -> None:
        """One delivery of a JSON object body (see :meth:`enqueue_webhooks`)."""
        payload = msgspec.json.decode(body)
        await self.enqueue_webhooks([(key, url, payload)], now)


def _refusal(path: str, exc: BaseException) -> StoreRefused | None:
    """The one-line refusal for what opening the store raised, or None to let it pass."""
    hint = CHECK_HINT.format(path=path)
    if isinstance(exc, SchemaTooNew):
        return StoreRefused(
            path,
            f"written by a newer smsgw (schema {exc.found}; this one knows {SCHEMA_VERSION})",
            "upgrade smsgw, or restore a backup this version wrote",
        )
    if isinstance(exc, NotAStore):
        return StoreRefused(
            path, f"not an smsgw store: {exc}", "point [store] path at the smsgw store"
        )
    if isinstance(exc, StoreRefused):
        return exc
    kind: ErrorKind | None
    if isinstance(exc, StoreUnavailable | StoreFatal):
        kind, detail = exc.kind, exc.detail
    elif isinstance(exc, sqlite3.Error):
        kind, detail = classify(exc), str(exc)
    else:
        return None
    if kind in ("corrupt", "gone"):
        return StoreRefused(path, f"the store is damaged ({detail})", hint)
    if kind == "readonly":
        return StoreRefused(
            path, f"the store is read-only ({detail})", "make it and its folder writable"
        )
    if kind == "busy":
        return StoreRefused(
            path,
            f"the database is locked by another process ({detail})",
            "close whatever holds it open (an sqlite3 shell?)",
        )
    if kind == "full":
        return StoreRefused(path, f"the disk is full ({detail})", "free some space")
    return StoreRefused(
        path, f"cannot open the store ({detail})", "check the disk, the file and its folder"
    )
