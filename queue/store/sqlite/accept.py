"""Accepting messages: rows written in the writer thread, idempotent per (key, client_ref)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

import msgspec

from smsgw.queue.model import PRIORITY, NewMessage
from smsgw.queue.store.randids import pair_table, random_digits
from smsgw.queue.store.screening import AcceptResult
from smsgw.queue.store.sqlite.links import fresh_codes, insert_links
from smsgw.queue.store.sqlite.rows import Columns, scalar
from smsgw.queue.store.sqlite.transitions import add_history
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["AcceptResult", "accept", "expire_dedupe", "new_id", "new_ids"]

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str, now: float | None = None) -> str:
    """A sortable, unguessable id: 48 bits of milliseconds then 80 random bits, base32."""
    return new_ids(prefix, [time.time() if now is None else now])[0]


def new_ids(prefix: str, times: Sequence[float]) -> list[str]:
    """:func:`new_id` for each time. The 80 random bits are exactly the last 16 digits
    (:func:`~smsgw.queue.store.randids.random_digits`, from pooled random bytes); the 10 digits of
    the time are worked out once per millisecond.
    """
    pairs = _PAIRS
    rnd = random_digits(len(times), pairs)
    out = []
    last = -1
    head = ""
    for i, t in enumerate(times):
        ms = int(t * 1000) & ((1 << 48) - 1)
        if ms != last:
            last = ms
            head = prefix + "".join([pairs[(ms >> s) & 1023] for s in (40, 30, 20, 10, 0)])
        out.append(head + rnd[i])
    return out


_PAIRS: Final = pair_table(_CROCKFORD)


def accept(tx: Tx, msgs: Sequence[NewMessage], ids: Sequence[str]) -> list[AcceptResult]:
    """Insert each message with its parts, first history entry and tracked links, or find its
    original. A link code already taken is drawn again (in the text and parts too)."""
    conn = tx.conn
    msgs = fresh_codes(tx, msgs)
    tracked: list[tuple[int, NewMessage]] = []
    out: list[AcceptResult] = []
    part_rows: list[tuple[object, ...]] = []
    history: dict[tuple[float, str, str], list[int]] = {}
    next_pid = int(scalar(conn.execute("SELECT coalesce(max(pid), 0) + 1 FROM parts")))
    next_mid = int(scalar(conn.execute("SELECT coalesce(max(mid), 0) + 1 FROM messages")))
    message_rows: list[tuple[object, ...]] = []
    batch_refs: dict[tuple[str, str], AcceptResult] = {}
    batch_dedupe: dict[tuple[str, str, str], AcceptResult] = {}
    dedupe_rows: list[tuple[object, ...]] = []
    for msg, public_id in zip(msgs, ids, strict=True):
        if msg.client_ref is not None:
            seen = batch_refs.get((msg.key, msg.client_ref))
            if seen is None:
                seen = _find_by_ref(tx, msg.key, msg.client_ref)
            if seen is not None:
                out.append(msgspec.structs.replace(seen, created=False))
                continue
        once = None if msg.dedupe_key is None else (msg.key, msg.to, msg.dedupe_key)
        if once is not None:
            first = batch_dedupe.get(once) or _find_first(tx, once, msg.created_at)
            if first is not None:
                out.append(msgspec.structs.replace(first, created=False, duplicate=True))
                continue
        priority = PRIORITY[msg.msg_class]
        first_pid = next_pid
        mid = next_mid
        next_mid += 1
        message_rows.append(
            (
                mid,
                public_id,
                msg.key,
                msg.client_ref,
                msg.msg_class,
                priority,
                msg.status,
                msg.to,
                msg.sender,
                msg.text,
                msg.encoding,
                len(msg.segments),
                first_pid,
                msg.ref,
                msg.ref_bits,
                ",".join(msg.routes),
                msg.routes[0],
                msg.callback_url,
                None if msg.webhook_events == "all" else msg.webhook_events,
                msg.created_at,
                msg.created_at,
                msg.send_at,
                msg.expires_at,
                msg.template,
            )
        )
        for seq, segment in enumerate(msg.segments, start=1):
            part_rows.append(
                (next_pid, mid, seq, segment, msg.status, msg.routes[0], priority, msg.due_at)
            )
            next_pid += 1
        history.setdefault((msg.created_at, msg.status, msg.note or "accepted"), []).append(mid)
        if msg.links:
            tracked.append((mid, msg))
        result = AcceptResult(
            id=public_id,
            status=msg.status,
            parts=len(msg.segments),
            encoding=msg.encoding,
            client_ref=msg.client_ref,
            created=True,
            route=msg.routes[0],
            send_at=msg.send_at,
        )
        if msg.client_ref is not None:
            batch_refs[(msg.key, msg.client_ref)] = result
        if once is not None:
            batch_dedupe[once] = result
            until = msg.dedupe_until if msg.dedupe_until is not None else msg.expires_at
            dedupe_rows.append((*once, mid, until))
        out.append(result)
    conn.executemany(
        "INSERT INTO messages (mid, id, key, client_ref, msg_class, priority, status, to_number,"
        " sender, text, encoding, parts_total, first_pid, ref, ref_bits, routes, route,"
        " callback_url, webhook_events, created_at, updated_at, send_at, expires_at, template)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        message_rows,
    )
    conn.executemany(
        "INSERT INTO parts (pid, mid, seq, text, status, route, priority, due_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        part_rows,
    )
    add_history(tx, history)
    if tracked:
        insert_links(tx, tracked)
    if dedupe_rows:
        # An entry found above was still in its window; one that ended is replaced.
        conn.executemany(
            "INSERT OR REPLACE INTO dedupe (key, to_number, dedupe_key, mid, expires_at)"
            " VALUES (?,?,?,?,?)",
            dedupe_rows,
        )
    return out


_ORIGINAL = Columns(
    AcceptResult,
    columns={"parts": "parts_total", "created": "0"},
    convert={"created": bool},
    skip=("duplicate",),
)
"""An earlier message as the answer to its ``client_ref`` seen again."""


def _find_by_ref(tx: Tx, key: str, client_ref: str) -> AcceptResult | None:
    return _ORIGINAL.read_one(
        tx.conn.execute(
            f"SELECT {_ORIGINAL.select} FROM messages WHERE key = ? AND client_ref = ?",
            (key, client_ref),
        )
    )


def _find_first(tx: Tx, once: tuple[str, str, str], now: float) -> AcceptResult | None:
    """The message holding (key, number, dedupe_key) whose window is still open at ``now``."""
    return _ORIGINAL.read_one(
        tx.conn.execute(
            f"SELECT {_ORIGINAL.select} FROM dedupe d JOIN messages m ON m.mid = d.mid"
            " WHERE d.key = ? AND d.to_number = ? AND d.dedupe_key = ? AND d.expires_at > ?",
            (*once, now),
        )
    )


def expire_dedupe(tx: Tx, now: float, limit: int = 10_000) -> int:
    """Drop up to ``limit`` dedupe entries whose window ended by ``now``; how many went."""
    cursor = tx.conn.execute(
        "DELETE FROM dedupe WHERE (key, to_number, dedupe_key) IN (SELECT key, to_number,"
        " dedupe_key FROM dedupe WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
        (now, limit),
    )
    return cursor.rowcount
