"""The store: a batch-shaped, transport-neutral interface over SQLite.

Callers (the API, the scheduler, the drivers' sink, the webhook worker) see batches and domain
values, never SQL. Every method returns once its transaction committed (group commit, see
:mod:`smsgw.queue.writer`). The interface is what a later PostgreSQL store would implement too:
accept a batch, claim the next batch for a route by priority, record a batch of outcomes, match a
batch of receipts, queue webhook events with the status change they report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import trio

from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue import ops_accept, ops_console, ops_dispatch, ops_read
from smsgw.queue.model import CLASSES, FINAL, InboundRow, MessageRow, NewMessage
from smsgw.queue.ops_accept import AcceptResult
from smsgw.queue.ops_console import RetryResult
from smsgw.queue.ops_dispatch import ClaimGate, DispatchPolicy, OutcomeSummary, ReceiptSummary
from smsgw.queue.ops_read import QueueStats, WebhookJob
from smsgw.queue.policy import Facts, Policy, Screened
from smsgw.queue.schema import migrate
from smsgw.queue.transitions import Events, StatusEvent
from smsgw.queue.writer import StoreClosed, Tx, Writer

__all__ = ["AcceptResult", "Store", "StoreClosed"]

T = TypeVar("T")


class Store:
    """The durable queue. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(
        self,
        path: str,
        *,
        metrics: Metrics,
        policy: DispatchPolicy,
        synchronous: str = "full",
        commit_batch: int = 1000,
    ) -> None:
        self.path = path
        self.metrics = metrics
        self.policy = policy
        self._writer = Writer(
            path, synchronous=synchronous, batch=commit_batch, metrics=metrics, setup=migrate
        )
        self._events = Events()
        self._events.on_status = self._on_status
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
        """Create the folder and file if needed, migrate the schema, count what is queued."""
        await self._writer.open()
        self.active = await self._writer.call(ops_read.count_active)
        self.opened = True

    async def close(self) -> None:
        self.opened = False
        await self._writer.close()

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
        self, items: Sequence[tuple[NewMessage, Facts]], policy: Policy
    ) -> list[Screened]:
        """Like :meth:`accept`, with the consent and courtesy policy deciding in the same
        transaction which messages are refused and which wait (:meth:`Policy.accept_op`)."""
        ids = ops_accept.new_ids("msg_", [m.created_at for m, _ in items])
        screened = await self._writer.call(policy.accept_op, items, ids)
        ready: set[str] = set()
        for s in screened:
            r = s.result
            if r is not None and r.created and s.msg is not None:
                self.active[s.msg.msg_class] += 1
                if r.status == "queued":
                    ready.add(r.route)
        if ready:
            self.on_ready(ready)
        return screened

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a queue operation ``fn(tx, *args)`` in the writer thread (policy and consent
        modules keep their own operations; see :mod:`smsgw.queue.consent`)."""
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

    async def recover_in_flight(self, now: float, older_than: float | None = None) -> list[str]:
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
        return await self._writer.call(ops_dispatch.cancel, self._events, key, public_id, now)

    async def retry_message(
        self,
        key: str | None,
        public_id: str,
        now: float,
        validity: Mapping[str, float],
        note: str,
    ) -> RetryResult:
        """Queue again a message given up on (see :func:`smsgw.queue.ops_console.retry_message`;
        ``key`` None: any key's); its route is woken."""
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

    # -- inbound and webhooks --------------------------------------------------------------

    async def add_inbound(self, items: Sequence[InboundMessage]) -> list[str]:
        owners = [self.inbound_owner(m) for m in items]
        return await self._writer.call(ops_read.add_inbound, items, owners)

    async def inbound(
        self, after: int = 0, limit: int = 100, *, key: str | None = None
    ) -> list[InboundRow]:
        """Inbound messages of ``key`` (None: all) after the cursor ``after``."""
        return await self._writer.call(ops_read.inbound_page, after, limit, key)

    async def due_webhooks(self, now: float, limit: int, lease: float) -> list[WebhookJob]:
        return await self._writer.call(ops_read.due_webhooks, now, limit, lease)

    async def release_webhooks(self, now: float) -> int:
        return await self._writer.call(ops_read.release_webhooks, now)

    async def webhook_done(self, wids: Sequence[int]) -> None:
        await self._writer.call(ops_read.webhook_done, wids)

    async def webhook_retry(self, wid: int, next_at: float | None, error: str) -> None:
        await self._writer.call(ops_read.webhook_retry, wid, next_at, error)

    async def enqueue_webhook(self, key: str, url: str, body: bytes, now: float) -> None:
        def op(tx: Tx) -> None:
            tx.conn.execute(
                "INSERT INTO webhooks (key, url, body, next_at, created_at) VALUES (?,?,?,?,?)",
                (key, url, body, now, now),
            )

        await self._writer.call(op)
