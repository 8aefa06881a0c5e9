"""Read operations and inbound storage in the writer thread (webhooks: :mod:`.webhooks`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from smsgw.drivers.seam import InboundMessage
from smsgw.queue.model import HistoryEntry, InboundRow, MessageRow, PartRow
from smsgw.queue.store.records import QueueStats
from smsgw.queue.store.sqlite import conversions as ops_conversions
from smsgw.queue.store.sqlite import links as ops_links
from smsgw.queue.store.sqlite.accept import new_ids
from smsgw.queue.store.sqlite.rows import Columns, scalar
from smsgw.queue.store.sqlite.smpp_held import hold_inbound
from smsgw.queue.store.sqlite.writer import Tx
from smsgw.words import PRIORITY

__all__ = [
    "QueueStats",
    "add_inbound",
    "add_inbound_held",
    "awaiting_receipts",
    "count_active",
    "get_message",
    "inbound_page",
    "list_messages",
    "queue_stats",
    "ready_by_route",
]

_MESSAGE = Columns(
    MessageRow,
    columns={"cursor": "mid", "to": "to_number"},
    skip=("parts", "history", "links", "conversions"),
)
_PART = Columns(PartRow)
_HISTORY = Columns(HistoryEntry)
_INBOUND = Columns(
    InboundRow, columns={"cursor": "iid", "to": "to_number"}, convert={"complete": bool}
)


def get_message(tx: Tx, key: str | None, public_id: str) -> MessageRow | None:
    """One message with its parts and history; ``key`` None reads any key's (operator tools)."""
    conn = tx.conn
    where, args = (
        ("id = ?", (public_id,)) if key is None else ("id = ? AND key = ?", (public_id, key))
    )
    found = _MESSAGE.read_with(
        conn.execute(f"SELECT {_MESSAGE.select}, first_pid FROM messages WHERE {where}", args)
    )
    if not found:
        return None
    msg, values = found[0]
    first = values["first_pid"]
    parts = _PART.read(
        conn.execute(
            f"SELECT {_PART.select} FROM parts WHERE pid BETWEEN ? AND ? ORDER BY pid",
            (first, first + msg.parts_total - 1),
        )
    )
    history = _HISTORY.read(
        conn.execute(
            f"SELECT {_HISTORY.select} FROM history WHERE mid = ? ORDER BY rowid", (msg.cursor,)
        )
    )
    links = ops_links.links_of(tx, msg.cursor)
    conversions = ops_conversions.of_message(tx, msg.cursor)
    return msgspec.structs.replace(
        msg, parts=parts, history=history, links=links, conversions=conversions
    )


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
    return _MESSAGE.read(
        tx.conn.execute(
            f"SELECT {_MESSAGE.select} FROM messages WHERE {' AND '.join(where)}"
            " ORDER BY mid LIMIT ?",
            args,
        )
    )


def count_active(tx: Tx) -> dict[str, int]:
    """Unfinished messages per class: a full index count, done once at start-up."""
    return {
        name: int(
            scalar(
                tx.conn.execute(
                    "SELECT count(*) FROM messages WHERE done = 0 AND priority = ?", (priority,)
                )
            )
        )
        for name, priority in PRIORITY.items()
    }


def awaiting_receipts(tx: Tx, route: str) -> list[str]:
    return [
        carrier_id
        for (carrier_id,) in tx.conn.execute(
            "SELECT carrier_id FROM parts"
            " WHERE route = ? AND carrier_id IS NOT NULL AND status = 'submitted'",
            (route,),
        )
    ]


def ready_by_route(tx: Tx) -> dict[str, int]:
    """Parts ready to leave per route (an index count: for /v1/routes, not for every scrape)."""
    return {
        route: int(n)
        for route, n in tx.conn.execute(
            "SELECT route, count(*) FROM parts WHERE status = 'queued' GROUP BY route"
        )
    }


def queue_stats(tx: Tx) -> QueueStats:
    """Ages for gauges: reads the head of an index per class, cheap at any depth."""
    conn = tx.conn
    oldest: dict[str, float] = {}
    for name, priority in PRIORITY.items():
        for (created_at,) in conn.execute(
            "SELECT created_at FROM messages WHERE done = 0 AND priority = ? ORDER BY mid LIMIT 1",
            (priority,),
        ):
            oldest[name] = float(created_at)
    webhooks = int(scalar(conn.execute("SELECT count(*) FROM webhooks WHERE dead = 0")))
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
    return _INBOUND.read(
        tx.conn.execute(
            f"SELECT {_INBOUND.select} FROM inbound WHERE {where} ORDER BY iid LIMIT ?",
            (*args, limit),
        )
    )


def add_inbound_held(
    tx: Tx,
    items: Sequence[InboundMessage],
    owners: Sequence[str | None],
    accounts: Sequence[str | None],
    notify: Callable[[], None],
) -> list[str]:
    """Store inbound messages and hold those owned by SMPP server accounts for them, in one
    transaction."""
    ids = add_inbound(tx, items, owners)
    held = [
        (a, i, m.sender, m.to, m.text, m.received_at)
        for a, i, m in zip(accounts, ids, items, strict=True)
        if a is not None
    ]
    hold_inbound(tx, held, notify)
    return ids
