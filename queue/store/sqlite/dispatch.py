"""Dispatch operations in the writer thread: claim, outcomes, receipts, timers, failover.

Each function is one operation of a group-committed transaction (see :mod:`.writer`); it takes
``now`` (unix seconds) from the caller and reads no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, NamedTuple

import msgspec

from smsgw.drivers.seam import FailureKind, OutboundPart, Outcome, Receipt
from smsgw.queue.model import FINAL, WAITING
from smsgw.queue.scheduling.retry import DispatchPolicy, decide
from smsgw.queue.store.records import OutcomeSummary, ReceiptSummary
from smsgw.queue.store.screening import ClaimGate
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.screening import check_claim
from smsgw.queue.store.sqlite.transitions import (
    IN_IDS,
    MSG,
    MSG_COLS,
    Change,
    Events,
    MsgInfo,
    apply,
    derive,
    id_list,
    load_infos,
    refresh_message,
    set_parts,
)
from smsgw.queue.store.sqlite.writer import Tx
from smsgw.words import Encoding

__all__ = [
    "ClaimGate",
    "DispatchPolicy",
    "OutcomeSummary",
    "ReceiptSummary",
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


class _Ready(msgspec.Struct, frozen=True):
    """A part about to be claimed, with what it needs of its message."""

    pid: int
    seq: int
    text: str
    attempts: int
    to: str
    sender: str
    encoding: Encoding
    ref: int
    ref_bits: Literal[8, 16]
    expires_at: float


_READY = Columns(
    _Ready,
    prefix="p",
    columns={
        "to": "m.to_number",
        "sender": "m.sender",
        "encoding": "m.encoding",
        "ref": "m.ref",
        "ref_bits": "m.ref_bits",
        "expires_at": "m.expires_at",
    },
)


class _PartState(msgspec.Struct, frozen=True):
    """Where a part is: its status, route and attempts so far (and its carrier id)."""

    pid: int
    part_status: str
    route: str
    attempts: int
    carrier_id: str | None


_PART_STATE = Columns(_PartState, prefix="p", columns={"part_status": "p.status"})


class _Moving(msgspec.Struct, frozen=True):
    """A part that changes route or state in bulk (timers, recovery, failover)."""

    pid: int
    mid: int
    route: str


_MOVING = Columns(_Moving)


class _Pending(msgspec.Struct, frozen=True):
    """A receipt kept until a part with its carrier id appears."""

    row_id: int
    route: str
    state: str
    error_code: str | None


_PENDING = Columns(_Pending, columns={"row_id": "rowid"})


class _Failover(msgspec.Struct, frozen=True):
    pid: int
    mid: int
    routes: str
    """The message's route list, comma-separated, in failover order."""


_FAILOVER = Columns(_Failover, prefix="p", columns={"routes": "m.routes"})


class _Due(msgspec.Struct, frozen=True):
    mid: int
    expires_at: float


_DUE = Columns(_Due)


def claim(
    tx: Tx, events: Events, route: str, limit: int, now: float, gate: ClaimGate | None = None
) -> list[OutboundPart]:
    """Take up to ``limit`` ready parts of ``route`` in priority order and mark them sending.

    Parts whose message has expired are marked expired instead and not returned; messages the
    ``gate`` holds back (an opt-out arrived, quiet hours began) are not returned either.
    """
    conn = tx.conn
    cur = conn.execute(
        f"SELECT {_READY.select}, {MSG_COLS}"
        " FROM parts p JOIN messages m ON m.mid = p.mid"
        " WHERE p.route = ? AND p.status = 'queued'"
        " ORDER BY p.priority, p.pid LIMIT ?",
        (route, limit),
    )
    part_of, info_of = _READY.reader(cur), MSG.reader(cur)
    out: list[OutboundPart] = []
    expired: dict[int, MsgInfo] = {}
    sending: dict[int, MsgInfo] = {}
    for row in cur.fetchall():
        part, info = part_of(row), info_of(row)
        if part.expires_at <= now:
            expired[info.mid] = info
            continue
        sending[info.mid] = info
        out.append(
            OutboundPart(
                part_id=part.pid,
                message_id=info.public_id,
                route=route,
                to=part.to,
                sender=part.sender,
                text=part.text,
                encoding=part.encoding,
                seq=part.seq,
                total=info.total,
                ref=part.ref,
                ref_bits=part.ref_bits,
                msg_class=info.msg_class,  # type: ignore[arg-type]
                validity_until=part.expires_at,
                attempt=part.attempts + 1,
            )
        )
    held = check_claim(tx, gate, sending.values(), now) if gate is not None and sending else {}
    if held:
        stopped = {held[mid].info.public_id for mid in held}
        out = [p for p in out if p.message_id not in stopped]
        sending = {mid: info for mid, info in sending.items() if mid not in held}
    if out:
        conn.execute(
            "UPDATE parts SET status = 'sending', sent_at = ?, attempts = attempts + 1"
            f" WHERE pid {IN_IDS}",
            (now, id_list([p.part_id for p in out])),
        )
    note = f"handed to route {route}"
    changes = [
        Change(info, "sending" if info.total == 1 else derive(tx, info), note)
        for info in sending.values()
    ]
    for info in expired.values():
        _stop_waiting_parts(tx, info, "expired", now, "validity ran out before it could leave")
        changes.append(Change(info, derive(tx, info), "validity ran out in the queue", "expired"))
    changes += held.values()
    apply(tx, events, changes, now, attempted=sending.keys())
    return out


def _stop_waiting_parts(tx: Tx, info: MsgInfo, status: str, now: float, error: str) -> None:
    first, total = info.first_pid, info.total
    pids = [
        pid
        for pid, part_status in tx.conn.execute(
            "SELECT pid, status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
        if part_status in WAITING
    ]
    set_parts(tx, pids, status, now, error=error)


def _parts_with_messages(tx: Tx, pids: Sequence[int]) -> dict[int, tuple[_PartState, MsgInfo]]:
    """pid -> (where the part is, its message), in chunks."""
    out: dict[int, tuple[_PartState, MsgInfo]] = {}
    for i in range(0, len(pids), 500):
        chunk = pids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        cur = tx.conn.execute(
            f"SELECT {_PART_STATE.select}, {MSG_COLS} FROM parts p"
            f" JOIN messages m ON m.mid = p.mid WHERE p.pid IN ({marks})",
            chunk,
        )
        part_of, info_of = _PART_STATE.reader(cur), MSG.reader(cur)
        for row in cur:
            part = part_of(row)
            out[part.pid] = (part, info_of(row))
    return out


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
    found = _parts_with_messages(tx, [o.part_id for o in outcomes])
    submitted: list[tuple[object, ...]] = []
    requeued: list[tuple[int]] = []
    deferred: list[tuple[object, ...]] = []
    touched: dict[int, _Touch] = {}
    for o in outcomes:
        entry = found.get(o.part_id)
        if entry is None or entry[0].part_status != "sending":
            continue  # cancelled or already settled meanwhile; nothing to undo
        part, info = entry
        route, attempts = part.route, part.attempts
        single = info.total == 1
        if o.failure is None:
            submitted.append((o.carrier_id, now, o.part_id))
            summary.submitted.append((o.part_id, info.msg_class))
            touched[info.mid] = _Touch(
                info, "submitted" if single else None, f"submitted to {route} as {o.carrier_id}"
            )
            if has_pending and o.carrier_id is not None:
                pending = _take_pending(tx, route, o.carrier_id)
                if pending is not None:
                    status, code = pending
                    summary.receipts_late += 1
                    # Write the submit first so the receipt's final state wins below.
                    _mark_submitted(tx, [submitted.pop()])
                    set_parts(tx, [o.part_id], status, now, error=_part_error(status, code))
                    touched[info.mid] = _Touch(
                        info,
                        status if single else None,
                        f"receipt (early): {status}",
                        _message_error(status, code),
                        status,
                    )
            continue
        if o.maybe_sent:
            summary.duplicates_risked += 1
        if o.failure is FailureKind.THROTTLED:
            summary.throttled += 1
        elif o.failure is FailureKind.TEMPORARY:
            summary.temporary += 1
        else:
            summary.permanent += 1
        d = decide(o, attempts, policy.for_route(route), now)
        if d.action == "requeue":
            summary.requeued_now = True
            requeued.append((o.part_id,))
            touched[info.mid] = _Touch(
                info, "queued" if single else None, f"throttled by {route}, requeued: {d.reason}"
            )
        elif d.action == "retry" and d.due_at is not None:
            deferred.append((d.due_at, d.reason, o.part_id))
            touched[info.mid] = _Touch(
                info,
                "deferred" if single else None,
                f"temporary failure ({d.reason}); retry at {d.due_at:.3f}",
            )
        else:
            error = d.error or d.reason
            set_parts(tx, [o.part_id], "failed", now, error=error)
            _stop_waiting_parts(tx, info, "failed", now, "another part of the message failed")
            touched[info.mid] = _Touch(info, "failed", error, error, "failed")
    _mark_submitted(tx, submitted)
    conn.executemany(
        "UPDATE parts SET status = 'queued', attempts = attempts - 1 WHERE pid = ?", requeued
    )
    conn.executemany(
        "UPDATE parts SET status = 'deferred', due_at = ?, error = ? WHERE pid = ?", deferred
    )
    apply(tx, events, [t.change(tx) for t in touched.values()], now)
    return summary


class _Touch(NamedTuple):
    """What an outcome did to its message, turned into a :class:`Change` once every part of
    the batch is written."""

    info: MsgInfo
    status: str | None
    """The message's new status when it is known (one part), None to derive from the parts."""
    note: str
    error: str | None = None
    error_with: str | None = None
    """The status ``error`` belongs to: the message takes the error only when it reaches it
    (one failed part of three does not make the message's error)."""

    def change(self, tx: Tx) -> Change:
        new = self.status if self.status is not None else derive(tx, self.info)
        return Change(self.info, new, self.note, self.error if new == self.error_with else None)


def _part_error(status: str, code: str | None) -> str | None:
    """A part's error for a receipt's final status: the carrier's code (or the status)."""
    return None if status == "delivered" else (code or status)


def _message_error(status: str, code: str | None) -> str | None:
    """A message's error for a receipt's final status: what the receipt said."""
    return None if status == "delivered" else f"receipt {status} {code or ''}".strip()


def _failed_part_error(tx: Tx, info: MsgInfo, status: str) -> str | None:
    """A long message ended ``status`` through another part than the one whose receipt came
    last (part 2 delivered, part 1 undelivered): the error names that part and what its
    receipt said, so a message is never final and failed without a reason."""
    if status == "delivered":
        return None
    row = tx.conn.execute(
        "SELECT pid, error FROM parts WHERE pid BETWEEN ? AND ? AND status = ? ORDER BY pid"
        " LIMIT 1",
        (info.first_pid, info.first_pid + info.total - 1, status),
    ).fetchone()
    if row is None:
        return status
    pid, error = row
    said = "" if error in (None, status) else f" {error}"
    return f"part {pid - info.first_pid + 1} of {info.total}: receipt {status}{said}"


def _mark_submitted(tx: Tx, rows: Sequence[tuple[object, ...]]) -> None:
    """Parts the carrier took, as (carrier id, submitted at, pid) rows."""
    tx.conn.executemany(
        "UPDATE parts SET status = 'submitted', carrier_id = ?, submitted_at = ? WHERE pid = ?",
        rows,
    )


def _take_pending(tx: Tx, route: str, carrier_id: str) -> tuple[str, str | None] | None:
    """A receipt that arrived before its id: (final status, the carrier's error code) if
    there is one with a final state."""
    found = _PENDING.read_one(
        tx.conn.execute(
            f"SELECT {_PENDING.select} FROM pending_receipts"
            " WHERE route = ? AND carrier_id = ? ORDER BY rowid LIMIT 1",
            (route, carrier_id),
        )
    )
    if found is None:
        return None
    tx.conn.execute("DELETE FROM pending_receipts WHERE rowid = ?", (found.row_id,))
    status = _RECEIPT_STATUS.get(found.state)
    if status is None:
        return None
    return status, found.error_code


def record_receipts(
    tx: Tx, events: Events, receipts: Sequence[Receipt], now: float
) -> ReceiptSummary:
    """Match receipts to parts by (route, carrier id); keep the unmatched for late ids.

    One query per route finds the parts with their messages; when a carrier reused an id, the
    newest part with it is the one meant.
    """
    conn = tx.conn
    summary = ReceiptSummary()
    wanted: dict[str, set[str]] = {}
    for r in receipts:
        wanted.setdefault(r.route, set()).add(r.carrier_id)
    found: dict[tuple[str, str], tuple[_PartState, MsgInfo]] = {}
    for route, ids in wanted.items():
        cur = conn.execute(
            f"SELECT {_PART_STATE.select}, {MSG_COLS} FROM parts p"
            " JOIN messages m ON m.mid = p.mid"
            f" WHERE p.route = ? AND p.carrier_id {IN_IDS}",
            (route, id_list(ids)),
        )
        part_of, info_of = _PART_STATE.reader(cur), MSG.reader(cur)
        for row in cur:
            part = part_of(row)
            assert part.carrier_id is not None
            key = (route, part.carrier_id)
            seen = found.get(key)
            if seen is None or part.pid > seen[0].pid:
                found[key] = (part, info_of(row))
    pending: list[tuple[object, ...]] = []
    finals: dict[tuple[str, str | None], list[int]] = {}
    touched: dict[int, tuple[MsgInfo, str, str, str | None]] = {}
    for r in receipts:
        hit = found.get((r.route, r.carrier_id))
        if hit is None:
            pending.append((r.route, r.carrier_id, r.state, r.error_code, r.done_at, now))
            continue
        part, info = hit
        status = _RECEIPT_STATUS.get(r.state)
        if status is None:
            summary.matched += 1  # an intermediate state (accepted, enroute): nothing changes
            continue
        if part.part_status in FINAL:
            summary.duplicate += 1
            continue
        summary.matched += 1
        finals.setdefault((status, _part_error(status, r.error_code)), []).append(part.pid)
        note = f"receipt: {r.state}" + (f" (err {r.error_code})" if r.error_code else "")
        msg_error = _message_error(status, r.error_code)
        touched[info.mid] = (info, status, note, msg_error)
    summary.pending = len(pending)
    if pending:
        conn.executemany(
            "INSERT INTO pending_receipts (route, carrier_id, state, error_code, done_at,"
            " received_at) VALUES (?,?,?,?,?,?)",
            pending,
        )
    for (status, error), pids in finals.items():
        set_parts(tx, pids, status, now, error=error)
    changes = []
    for info, status, note, msg_error in touched.values():
        new = status if info.total == 1 else derive(tx, info)
        if new != status:
            msg_error = _failed_part_error(tx, info, new) if new in FINAL else None
        changes.append(Change(info, new, note, msg_error))
    apply(tx, events, changes, now)
    return summary


def expire_pending_receipts(tx: Tx, now: float) -> list[str]:
    """Drop receipts that found no part within the TTL; returns their routes (for counting)."""
    rows = _PENDING.read(
        tx.conn.execute(
            f"SELECT {_PENDING.select} FROM pending_receipts WHERE received_at < ?",
            (now - PENDING_RECEIPT_TTL,),
        )
    )
    tx.conn.executemany("DELETE FROM pending_receipts WHERE rowid = ?", [(r.row_id,) for r in rows])
    return [r.route for r in rows]


def promote_due(tx: Tx, events: Events, now: float, limit: int = 5000) -> set[str]:
    """Scheduled and deferred parts whose time came become queued; returns routes to wake."""
    rows = _MOVING.read(
        tx.conn.execute(
            f"SELECT {_MOVING.select} FROM parts WHERE status IN ('scheduled', 'deferred')"
            " AND due_at <= ? ORDER BY due_at LIMIT ?",
            (now, limit),
        )
    )
    set_parts(tx, [r.pid for r in rows], "queued", now)
    for mid in dict.fromkeys(r.mid for r in rows):
        refresh_message(tx, events, mid, now, "due")
    return {r.route for r in rows}


def expire_overdue(tx: Tx, events: Events, now: float, scan: int = 2000) -> int:
    """Expire unfinished messages past validity that have not left (oldest first, bounded)."""
    count = 0
    for priority in (0, 1, 2):
        rows = _DUE.read(
            tx.conn.execute(
                f"SELECT {_DUE.select} FROM messages WHERE done = 0 AND priority = ?"
                " ORDER BY mid LIMIT ?",
                (priority, scan),
            )
        )
        due = [r.mid for r in rows if r.expires_at <= now]
        changes = []
        for info in load_infos(tx, due).values():
            _stop_waiting_parts(tx, info, "expired", now, "validity ran out before it could leave")
            changes.append(Change(info, derive(tx, info), "validity ran out", "expired"))
        count += apply(tx, events, changes, now)
    return count


def recover_in_flight(tx: Tx, events: Events, now: float, older_than: float | None) -> list[str]:
    """Parts left ``sending`` (a crash, or a driver that lost them) go back to the queue.

    They may have left already: each is a duplicate risk, returned as its route for counting.
    ``older_than`` None takes every sending part (start-up); otherwise only those sent before it.
    """
    sql = f"SELECT {_MOVING.select} FROM parts WHERE status = 'sending'"
    if older_than is None:
        found = _MOVING.read(tx.conn.execute(sql))
    else:
        found = _MOVING.read(tx.conn.execute(sql + " AND sent_at < ?", (older_than,)))
    tx.conn.executemany(
        "UPDATE parts SET status = 'queued', attempts = max(0, attempts - 1) WHERE pid = ?",
        [(r.pid,) for r in found],
    )
    for mid in dict.fromkeys(r.mid for r in found):
        refresh_message(tx, events, mid, now, "requeued: its submit was interrupted")
    return [r.route for r in found]


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
    rows = _FAILOVER.read(
        tx.conn.execute(
            f"SELECT {_FAILOVER.select} FROM parts p JOIN messages m ON m.mid = p.mid"
            " WHERE p.route = ? AND p.status = 'queued' ORDER BY p.priority, p.pid LIMIT ?",
            (route, limit),
        )
    )
    moved: dict[str, int] = {}
    per_message: dict[int, str] = {}
    updates: list[tuple[str, int]] = []
    for row in rows:
        target = _next_up(row.routes.split(","), route, is_up)
        if target is None:
            continue
        updates.append((target, row.pid))
        per_message[row.mid] = target
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
