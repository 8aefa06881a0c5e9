"""Courtesy facts in SQLite: the frequency cap's bookkeeping (``marketing_sends``).

Each capped message has one row: while it waits, its planned time (so two messages accepted in
the same second do not both take the last slot); once it leaves, the time it left. A waiting
message that ends without leaving (cancelled, expired, rejected) stops counting. The decisions
over these times are pure (:mod:`smsgw.queue.consent.frequency`); these functions run inside the
store's writer thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["left_slots", "mark_left", "move_planned", "planned_slots", "reserve"]


def planned_slots(tx: Tx, number: str, key: str | None, since: float) -> list[float]:
    """Times of messages to ``number`` after ``since`` that left or still may (accept view)."""
    sql = (
        "SELECT s.at FROM marketing_sends s JOIN messages m ON m.mid = s.mid"
        " WHERE s.number = ? AND s.at > ? AND (s.left_at IS NOT NULL OR m.done = 0)"
    )
    args: list[object] = [number, since]
    if key is not None:
        sql += " AND s.key = ?"
        args.append(key)
    return [at for (at,) in tx.conn.execute(sql, args)]


def left_slots(tx: Tx, number: str, key: str | None, since: float, exclude: int) -> list[float]:
    """Times messages to ``number`` actually left after ``since`` (dispatch view), but for the
    message ``exclude`` itself."""
    sql = (
        "SELECT at FROM marketing_sends WHERE number = ? AND at > ? AND left_at IS NOT NULL"
        " AND mid != ?"
    )
    args: list[object] = [number, since, exclude]
    if key is not None:
        sql += " AND key = ?"
        args.append(key)
    return [at for (at,) in tx.conn.execute(sql, args)]


def reserve(tx: Tx, rows: Iterable[tuple[str, str, str, float]]) -> None:
    """Record planned messages: (public id, key, number, planned time)."""
    tx.conn.executemany(
        "INSERT OR IGNORE INTO marketing_sends (mid, key, number, at)"
        " SELECT mid, ?, ?, ? FROM messages WHERE id = ?",
        [(key, number, at, public_id) for public_id, key, number, at in rows],
    )


def mark_left(tx: Tx, rows: Iterable[tuple[int, str, str, float]]) -> None:
    """Messages (mid, key, number, now) left now: they count from now on."""
    tx.conn.executemany(
        "INSERT INTO marketing_sends (mid, key, number, at, left_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT(mid) DO UPDATE SET at = excluded.at, left_at = excluded.left_at",
        [(mid, key, number, now, now) for mid, key, number, now in rows],
    )


def move_planned(tx: Tx, mid: int, at: float) -> None:
    """A waiting message was deferred again: its planned time moves."""
    tx.conn.execute(
        "UPDATE marketing_sends SET at = ? WHERE mid = ? AND left_at IS NULL", (at, mid)
    )
