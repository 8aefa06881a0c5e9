"""Dispatch operations in the writer thread: claim, outcomes, receipts, timers, failover.

Each function is one operation of a group-committed transaction (see :mod:`.writer`); it takes
``now`` (unix seconds) from the caller and reads no clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from smsgw.drivers.seam import FailureKind, OutboundPart, Outcome, Receipt
from smsgw.queue.model import FINAL, WAITING
from smsgw.queue.retry import backoff
from smsgw.queue.transitions import Events, refresh_message, set_parts
from smsgw.queue.writer import Tx

__all__ = [
    "DispatchPolicy",
    "OutcomeSummary",
    "ReceiptSummary",
    "cancel",
    "claim",
    "expire_overdue",
    "promote_due",
    "record_outcomes",
    "record_receipts",
    "recover_in_flight",
    "reroute",
]

_RECEIPT_STATUS = {
    "delivered": "delivered",
    "undelivered": "undelivered",
    "expired": "expired",
    "rejected": "rejected",
}
PENDING_RECEIPT_TTL = 3600.0


@dataclass
class DispatchPolicy:
    """Per-route and global settings the dispatch operations need."""

    max_attempts: Mapping[str, int]
    retry_base: float = 2.0
    retry_max: float = 600.0
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class OutcomeSummary:
    submitted: list[tuple[int, str]] = field(default_factory=list)
    """(pid, class) of parts the carrier accepted."""
    throttled: int = 0
    temporary: int = 0
    permanent: int = 0
    duplicates_risked: int = 0
    requeued_now: bool = False
    """Some parts went straight back to ``queued`` (throttled): wake the route."""


@dataclass
class ReceiptSummary:
    matched: int = 0
    pending: int = 0
    duplicate: int = 0


def claim(tx: Tx, events: Events, route: str, limit: int, now: float) -> list[OutboundPart]:
    """Take up to ``limit`` ready parts of ``route`` in priority order and mark them sending.

    Parts whose message has expired are marked expired instead and not returned.
    """
    conn = tx.conn
    rows = conn.execute(
        "SELECT p.pid, p.seq, p.text, p.attempts, m.mid, m.id, m.to_number, m.sender,"
        " m.encoding, m.parts_total, m.ref, m.ref_bits, m.msg_class, m.expires_at"
        " FROM parts p JOIN messages m ON m.mid = p.mid"
        " WHERE p.route = ? AND p.status = 'queued'"
        " ORDER BY p.priority, p.pid LIMIT ?",
        (route, limit),
    ).fetchall()
    out: list[OutboundPart] = []
    expired_mids: set[int] = set()
    sending: list[tuple[float, int]] = []
    mids: dict[int, None] = {}
    for pid, seq, text, attempts, mid, mid_id, to, sender, enc, total, ref, bits, cls, exp in rows:
        if exp <= now:
            expired_mids.add(mid)
            continue
        sending.append((now, pid))
        mids[mid] = None
        out.append(
            OutboundPart(
                part_id=pid,
                message_id=mid_id,
                route=route,
                to=to,
                sender=sender,
                text=text,
                encoding=enc,
                seq=seq,
                total=total,
                ref=ref,
                ref_bits=bits,
                msg_class=cls,
                validity_until=exp,
                attempt=attempts + 1,
            )
        )
    conn.executemany(
        "UPDATE parts SET status = 'sending', sent_at = ?, attempts = attempts + 1 WHERE pid = ?",
        sending,
    )
    conn.executemany(
        "UPDATE messages SET attempts = attempts + 1 WHERE mid = ?", [(m,) for m in mids]
    )
    for mid in mids:
        refresh_message(tx, events, mid, now, f"handed to route {route}")
    for mid in expired_mids:
        _stop_waiting_parts(tx, mid, "expired", now, "validity ran out before it could leave")
        refresh_message(tx, events, mid, now, "validity ran out in the queue", error="expired")
    return out


def _stop_waiting_parts(tx: Tx, mid: int, status: str, now: float, error: str) -> None:
    first, total = tx.conn.execute(
        "SELECT first_pid, parts_total FROM messages WHERE mid = ?", (mid,)
    ).fetchone()
    pids = [
        r[0]
        for r in tx.conn.execute(
            "SELECT pid, status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
        if r[1] in WAITING
    ]
    set_parts(tx, pids, status, now, error=error)


def record_outcomes(
    tx: Tx,
    events: Events,
    outcomes: Sequence[Outcome],
    policy: DispatchPolicy,
    now: float,
) -> OutcomeSummary:
    """Apply what the driver reported for parts it took."""
    conn = tx.conn
    summary = OutcomeSummary()
    has_pending = conn.execute("SELECT 1 FROM pending_receipts LIMIT 1").fetchone() is not None
    for o in outcomes:
        row = conn.execute(
            "SELECT p.mid, p.status, p.route, p.attempts, m.msg_class FROM parts p"
            " JOIN messages m ON m.mid = p.mid WHERE p.pid = ?",
            (o.part_id,),
        ).fetchone()
        if row is None or row[1] != "sending":
            continue  # cancelled or already settled meanwhile; nothing to undo
        mid, _, route, attempts, msg_class = row
        if o.failure is None:
            conn.execute(
                "UPDATE parts SET status = 'submitted', carrier_id = ?, submitted_at = ?"
                " WHERE pid = ?",
                (o.carrier_id, now, o.part_id),
            )
            summary.submitted.append((o.part_id, msg_class))
            if has_pending and o.carrier_id is not None:
                _match_pending(tx, route, o.carrier_id, o.part_id, now)
            refresh_message(tx, events, mid, now, f"submitted to {route} as {o.carrier_id}")
            continue
        reason = f"{o.code} {o.reason}".strip()
        if o.maybe_sent:
            summary.duplicates_risked += 1
        if o.failure is FailureKind.THROTTLED:
            summary.throttled += 1
            summary.requeued_now = True
            conn.execute(
                "UPDATE parts SET status = 'queued', attempts = attempts - 1 WHERE pid = ?",
                (o.part_id,),
            )
            refresh_message(tx, events, mid, now, f"throttled by {route}, requeued: {reason}")
        elif o.failure is FailureKind.TEMPORARY and attempts < policy.max_attempts.get(route, 5):
            summary.temporary += 1
            due = now + backoff(attempts, policy.retry_base, policy.retry_max, policy.rng)
            conn.execute(
                "UPDATE parts SET status = 'deferred', due_at = ?, error = ? WHERE pid = ?",
                (due, reason, o.part_id),
            )
            refresh_message(
                tx, events, mid, now, f"temporary failure ({reason}); retry at {due:.3f}"
            )
        else:
            if o.failure is FailureKind.TEMPORARY:
                summary.temporary += 1
                reason = f"gave up after {attempts} attempts: {reason}"
            else:
                summary.permanent += 1
            set_parts(tx, [o.part_id], "failed", now, error=reason)
            _stop_waiting_parts(tx, mid, "failed", now, "another part of the message failed")
            refresh_message(tx, events, mid, now, reason, error=reason)
    return summary


def _match_pending(tx: Tx, route: str, carrier_id: str, pid: int, now: float) -> None:
    row = tx.conn.execute(
        "SELECT rowid, state, error_code FROM pending_receipts"
        " WHERE route = ? AND carrier_id = ? ORDER BY rowid LIMIT 1",
        (route, carrier_id),
    ).fetchone()
    if row is None:
        return
    tx.conn.execute("DELETE FROM pending_receipts WHERE rowid = ?", (row[0],))
    status = _RECEIPT_STATUS.get(row[1])
    if status is not None:
        set_parts(tx, [pid], status, now, error=row[2] or None)


def record_receipts(
    tx: Tx, events: Events, receipts: Sequence[Receipt], now: float
) -> ReceiptSummary:
    """Match receipts to parts by (route, carrier id); keep the unmatched for late ids."""
    conn = tx.conn
    summary = ReceiptSummary()
    for r in receipts:
        status = _RECEIPT_STATUS.get(r.state)
        row = conn.execute(
            "SELECT pid, mid, status FROM parts WHERE route = ? AND carrier_id = ?"
            " ORDER BY pid DESC LIMIT 1",
            (r.route, r.carrier_id),
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO pending_receipts (route, carrier_id, state, error_code, done_at,"
                " received_at) VALUES (?,?,?,?,?,?)",
                (r.route, r.carrier_id, r.state, r.error_code, r.done_at, now),
            )
            summary.pending += 1
            continue
        pid, mid, part_status = row
        if status is None:
            summary.matched += 1  # an intermediate state (accepted, enroute): nothing changes
            continue
        if part_status in FINAL:
            summary.duplicate += 1
            continue
        summary.matched += 1
        error = None if status == "delivered" else (r.error_code or status)
        set_parts(tx, [pid], status, now, error=error)
        refresh_message(
            tx,
            events,
            mid,
            now,
            f"receipt: {r.state}" + (f" (err {r.error_code})" if r.error_code else ""),
            error=None if status == "delivered" else f"receipt {r.state} {r.error_code}".strip(),
        )
    return summary


def expire_pending_receipts(tx: Tx, now: float) -> list[str]:
    """Drop receipts that found no part within the TTL; returns their routes (for counting)."""
    rows = tx.conn.execute(
        "SELECT rowid, route FROM pending_receipts WHERE received_at < ?",
        (now - PENDING_RECEIPT_TTL,),
    ).fetchall()
    tx.conn.executemany("DELETE FROM pending_receipts WHERE rowid = ?", [(r[0],) for r in rows])
    return [r[1] for r in rows]


def promote_due(tx: Tx, events: Events, now: float, limit: int = 5000) -> set[str]:
    """Scheduled and deferred parts whose time came become queued; returns routes to wake."""
    rows = tx.conn.execute(
        "SELECT pid, mid, route FROM parts WHERE status IN ('scheduled', 'deferred')"
        " AND due_at <= ? ORDER BY due_at LIMIT ?",
        (now, limit),
    ).fetchall()
    set_parts(tx, [r[0] for r in rows], "queued", now)
    for mid in dict.fromkeys(r[1] for r in rows):
        refresh_message(tx, events, mid, now, "due")
    return {r[2] for r in rows}


def expire_overdue(tx: Tx, events: Events, now: float, scan: int = 2000) -> int:
    """Expire unfinished messages past validity that have not left (oldest first, bounded)."""
    count = 0
    for priority in (0, 1, 2):
        rows = tx.conn.execute(
            "SELECT mid, expires_at FROM messages WHERE done = 0 AND priority = ?"
            " ORDER BY mid LIMIT ?",
            (priority, scan),
        ).fetchall()
        for mid, expires_at in rows:
            if expires_at > now:
                continue
            _stop_waiting_parts(tx, mid, "expired", now, "validity ran out before it could leave")
            if refresh_message(tx, events, mid, now, "validity ran out", error="expired"):
                count += 1
    return count


def recover_in_flight(tx: Tx, events: Events, now: float, older_than: float | None) -> list[str]:
    """Parts left ``sending`` (a crash, or a driver that lost them) go back to the queue.

    They may have left already: each is a duplicate risk, returned as its route for counting.
    ``older_than`` None takes every sending part (start-up); otherwise only those sent before it.
    """
    if older_than is None:
        rows = tx.conn.execute("SELECT pid, mid, route FROM parts WHERE status = 'sending'")
    else:
        rows = tx.conn.execute(
            "SELECT pid, mid, route FROM parts WHERE status = 'sending' AND sent_at < ?",
            (older_than,),
        )
    found = rows.fetchall()
    tx.conn.executemany(
        "UPDATE parts SET status = 'queued', attempts = max(0, attempts - 1) WHERE pid = ?",
        [(r[0],) for r in found],
    )
    for mid in dict.fromkeys(r[1] for r in found):
        refresh_message(tx, events, mid, now, "requeued: its submit was interrupted")
    return [r[2] for r in found]


def reroute(
    tx: Tx,
    events: Events,
    route: str,
    is_up: Callable[[str], bool],
    now: float,
    limit: int = 5000,
) -> dict[str, int]:
    """Move ready parts of a down ``route`` to the next up route in their message's list.

    Returns how many parts went to each new route. Messages with no other route wait.
    """
    rows = tx.conn.execute(
        "SELECT p.pid, p.mid, m.routes FROM parts p JOIN messages m ON m.mid = p.mid"
        " WHERE p.route = ? AND p.status = 'queued' ORDER BY p.priority, p.pid LIMIT ?",
        (route, limit),
    ).fetchall()
    moved: dict[str, int] = {}
    per_message: dict[int, str] = {}
    updates: list[tuple[str, int]] = []
    for pid, mid, routes in rows:
        names = routes.split(",")
        target = _next_up(names, route, is_up)
        if target is None:
            continue
        updates.append((target, pid))
        per_message[mid] = target
        moved[target] = moved.get(target, 0) + 1
    tx.conn.executemany("UPDATE parts SET route = ? WHERE pid = ?", updates)
    for mid, target in per_message.items():
        refresh_message(
            tx,
            events,
            mid,
            now,
            f"failover: route {route} is down, moved to {target}",
            route=target,
        )
    return moved


def _next_up(names: Iterable[str], current: str, is_up: Callable[[str], bool]) -> str | None:
    names = list(names)
    if current not in names:
        return None
    start = names.index(current)
    for name in names[start + 1 :] + names[:start]:
        if is_up(name):
            return name
    return None


def cancel(tx: Tx, events: Events, key: str, public_id: str, now: float) -> str | None:
    """Cancel a message that has not left; returns its status after, None if unknown.

    A message any part of which is sending or beyond is not cancelled (the caller answers 409).
    """
    row = tx.conn.execute(
        "SELECT mid, first_pid, parts_total, status FROM messages WHERE id = ? AND key = ?",
        (public_id, key),
    ).fetchone()
    if row is None:
        return None
    mid, first, total, status = row
    statuses = [
        r[0]
        for r in tx.conn.execute(
            "SELECT status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
    ]
    if not all(s in WAITING for s in statuses):
        return str(status)
    set_parts(tx, list(range(first, first + total)), "cancelled", now)
    refresh_message(tx, events, mid, now, "cancelled by the client")
    return "cancelled"
