"""Read operations and inbound storage in the writer thread (webhooks: ops_webhooks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from smsgw.drivers.seam import InboundMessage
from smsgw.queue.model import HistoryEntry, InboundRow, MessageRow, PartRow
from smsgw.queue.ops_accept import new_ids
from smsgw.queue.writer import Tx

__all__ = [
    "QueueStats",
    "add_inbound",
    "awaiting_receipts",
    "count_active",
    "get_message",
    "inbound_page",
    "list_messages",
    "queue_stats",
    "ready_by_route",
]

_MESSAGE_COLUMNS = (
    "mid, id, key, to_number, sender, text, encoding, msg_class, status, route, parts_total,"
    " client_ref, callback_url, created_at, updated_at, send_at, expires_at, error, attempts,"
    " first_pid"
)


def _message(row: Any) -> MessageRow:
    return MessageRow(
        cursor=row[0],
        id=row[1],
        key=row[2],
        to=row[3],
        sender=row[4],
        text=row[5],
        encoding=row[6],
        msg_class=row[7],
        status=row[8],
        route=row[9],
        parts_total=row[10],
        client_ref=row[11],
        callback_url=row[12],
        created_at=row[13],
        updated_at=row[14],
        send_at=row[15],
        expires_at=row[16],
        error=row[17],
        attempts=row[18],
    )


def get_message(tx: Tx, key: str | None, public_id: str) -> MessageRow | None:
    """One message with its parts and history; ``key`` None reads any key's (operator tools)."""
    conn = tx.conn
    if key is None:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (public_id,)
        ).fetchone()
    else:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ? AND key = ?", (public_id, key)
        ).fetchone()
    if row is None:
        return None
    mid, first, total = row[0], row[19], row[10]
    parts = [
        PartRow(
            seq=r[0],
            status=r[1],
            route=r[2],
            carrier_id=r[3],
            attempts=r[4],
            submitted_at=r[5],
            done_at=r[6],
            error=r[7],
        )
        for r in conn.execute(
            "SELECT seq, status, route, carrier_id, attempts, submitted_at, done_at, error"
            " FROM parts WHERE pid BETWEEN ? AND ? ORDER BY pid",
            (first, first + total - 1),
        )
    ]
    history = [
        HistoryEntry(r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT at, status, note FROM history WHERE mid = ? ORDER BY rowid", (mid,)
        )
    ]
    return msgspec.structs.replace(_message(row), parts=parts, history=history)


def list_messages(
    tx: Tx,
    key: str | None,
    status: str | None,
    client_ref: str | None,
    after: int,
    limit: int,
) -> list[MessageRow]:
    """A page of the key's messages (every key's when ``key`` is None: an admin key) in
    acceptance order, after the cursor ``after``."""
    where = ["mid > ?"] if key is None else ["key = ?", "mid > ?"]
    args: list[object] = [after] if key is None else [key, after]
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if client_ref is not None:
        where.append("client_ref = ?")
        args.append(client_ref)
    args.append(limit)
    rows = tx.conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY mid LIMIT ?",
        args,
    ).fetchall()
    return [_message(r) for r in rows]


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    oldest_by_class: dict[str, float]
    """created_at of the oldest unfinished message per class."""
    webhooks_pending: int


def count_active(tx: Tx) -> dict[str, int]:
    """Unfinished messages per class: a full index count, done once at start-up."""
    return {
        name: int(
            tx.conn.execute(
                "SELECT count(*) FROM messages WHERE done = 0 AND priority = ?", (priority,)
            ).fetchone()[0]
        )
        for priority, name in ((0, "otp"), (1, "transactional"), (2, "marketing"))
    }


def awaiting_receipts(tx: Tx, route: str) -> list[str]:
    rows = tx.conn.execute(
        "SELECT carrier_id FROM parts"
        " WHERE route = ? AND carrier_id IS NOT NULL AND status = 'submitted'",
        (route,),
    ).fetchall()
    return [r[0] for r in rows]


def ready_by_route(tx: Tx) -> dict[str, int]:
    """Parts ready to leave per route (an index count: for /v1/routes, not for every scrape)."""
    return {
        r[0]: int(r[1])
        for r in tx.conn.execute(
            "SELECT route, count(*) FROM parts WHERE status = 'queued' GROUP BY route"
        )
    }


def queue_stats(tx: Tx) -> QueueStats:
    """Ages for gauges: reads the head of an index per class, cheap at any depth."""
    conn = tx.conn
    oldest: dict[str, float] = {}
    for priority, name in ((0, "otp"), (1, "transactional"), (2, "marketing")):
        row = conn.execute(
            "SELECT created_at FROM messages WHERE done = 0 AND priority = ? ORDER BY mid LIMIT 1",
            (priority,),
        ).fetchone()
        if row is not None:
            oldest[name] = float(row[0])
    webhooks = int(conn.execute("SELECT count(*) FROM webhooks WHERE dead = 0").fetchone()[0])
    return QueueStats(oldest_by_class=oldest, webhooks_pending=webhooks)


def add_inbound(
    tx: Tx, items: Sequence[InboundMessage], owners: Sequence[str | None] | None = None
) -> list[str]:
    """Store inbound messages, each with the key it belongs to (``owners``, in order; None:
    none); returns their ids."""
    ids = new_ids("in_", [m.received_at for m in items])
    keys = owners if owners is not None else [None] * len(items)
    tx.conn.executemany(
        "INSERT INTO inbound"
        " (id, route, sender, to_number, text, received_at, parts, complete, key)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (i, m.route, m.sender, m.to, m.text, m.received_at, m.parts, int(m.complete), k)
            for i, m, k in zip(ids, items, keys, strict=True)
        ],
    )
    return ids


def inbound_page(tx: Tx, after: int, limit: int, key: str | None = None) -> list[InboundRow]:
    """A page of inbound messages after the cursor: those of ``key``, or all when None."""
    where, args = ("iid > ?", (after,)) if key is None else ("key = ? AND iid > ?", (key, after))
    return [
        InboundRow(
            cursor=r[0],
            id=r[1],
            route=r[2],
            sender=r[3],
            to=r[4],
            text=r[5],
            received_at=r[6],
            parts=r[7],
            complete=bool(r[8]),
        )
        for r in tx.conn.execute(
            "SELECT iid, id, route, sender, to_number, text, received_at, parts, complete"
            f" FROM inbound WHERE {where} ORDER BY iid LIMIT ?",
            (*args, limit),
        )
    ]
