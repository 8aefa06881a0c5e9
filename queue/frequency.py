"""Frequency caps: at most N capped (marketing) messages per recipient in any rolling window.

The count is of messages, not parts, and lives in SQLite (``marketing_sends``), so it survives
restarts. Each capped message has one row: while it waits, its planned time (so two messages
accepted in the same second do not both take the last slot); once it leaves, the time it left.
A waiting message that ends without leaving (cancelled, expired, rejected) stops counting.

:func:`earliest_slot` is pure; the ``tx`` functions run inside the store's writer thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from smsgw.queue.writer import Tx

__all__ = [
    "Cap",
    "earliest_slot",
    "left_slots",
    "mark_left",
    "move_planned",
    "planned_slots",
    "reserve",
]


class Cap(msgspec.Struct, frozen=True, kw_only=True):
    """``limit`` messages per ``window`` seconds; ``per_key`` counts each API key apart."""

    limit: int
    window: float
    per_key: bool = True


def earliest_slot(slots: Sequence[float], t: float, limit: int, window: float) -> float:
    """The earliest time ``>= t`` at which one more message keeps every half-open window
    ``[s, s + window)`` at ``limit`` messages or fewer, given the messages at ``slots``.

    Moving later only ever frees a slot when an earlier message drops out of the window (at
    ``x + window``), so the answer is ``t`` or one of those points. ``limit`` 0 means no cap.
    """
    if limit <= 0:
        return t
    points = sorted(slots)
    candidates = sorted({t, *(x + window for x in points if x + window > t)})
    for c in candidates:
        if _fits(points, c, limit, window):
            return c
    return candidates[-1]  # unreachable: after the last slot's window everything fits


def _fits(points: Sequence[float], c: float, limit: int, window: float) -> bool:
    # Only windows that contain c can be pushed over the limit by it; the fullest of those
    # start at c itself or at an existing message in (c - window, c].
    starts = [x for x in points if c - window < x <= c]
    starts.append(c)
    for s in starts:
        inside = sum(1 for x in points if s <= x < s + window)
        if inside + 1 > limit:
            return False
    return True


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
    return [r[0] for r in tx.conn.execute(sql, args)]


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
    return [r[0] for r in tx.conn.execute(sql, args)]


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
