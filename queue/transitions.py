"""Message status changes, inside the writer's transaction.

Every change of a message's status goes through :func:`refresh_message`: it derives the status
from the parts, and when it changed, updates the row, appends to the history, queues the status
webhook in the same transaction (so a committed change always has its webhook, and a rolled-back
one never does), and registers the metric updates to run after commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec
from smsgw.queue.model import FINAL, derive_status
from smsgw.queue.writer import Tx

__all__ = ["Events", "StatusEvent", "refresh_message", "set_parts"]


class StatusEvent(msgspec.Struct, frozen=True):
    """A message reached a new status (for metrics and wake-ups, after commit)."""

    msg_class: str
    status: str
    created_at: float
    at: float


class Events:
    """Hooks the store installs; called in the writer thread after commit."""

    def __init__(self) -> None:
        self.on_status: Callable[[Sequence[StatusEvent]], None] = lambda events: None


_webhook_body = msgspec.json.Encoder()


def set_parts(
    tx: Tx,
    pids: Sequence[int],
    status: str,
    now: float,
    *,
    error: str | None = None,
) -> None:
    """Set the status of parts; ``done_at`` is stamped for final ones."""
    if not pids:
        return
    if status in FINAL:
        tx.conn.executemany(
            "UPDATE parts SET status = ?, done_at = ?, error = coalesce(?, error) WHERE pid = ?",
            [(status, now, error, pid) for pid in pids],
        )
    else:
        tx.conn.executemany(
            "UPDATE parts SET status = ?, error = coalesce(?, error) WHERE pid = ?",
            [(status, error, pid) for pid in pids],
        )


def refresh_message(
    tx: Tx,
    events: Events,
    mid: int,
    now: float,
    note: str = "",
    *,
    error: str | None = None,
    route: str | None = None,
) -> str | None:
    """Derive the message's status from its parts and record a change; returns the new status.

    Returns None when the status did not change (no history row, no webhook).
    """
    conn = tx.conn
    row = conn.execute(
        "SELECT status, parts_total, first_pid, msg_class, created_at, callback_url, key, id,"
        " client_ref, error FROM messages WHERE mid = ?",
        (mid,),
    ).fetchone()
    if row is None:
        return None
    old, total, first, msg_class, created_at, callback, key, public_id, client_ref, old_err = row
    if total == 1:
        statuses = [conn.execute("SELECT status FROM parts WHERE pid = ?", (first,)).fetchone()[0]]
    else:
        statuses = [
            r[0]
            for r in conn.execute(
                "SELECT status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
            )
        ]
    new = derive_status(statuses)
    if new == old and route is None:
        return None
    err = error if error is not None else old_err
    if route is not None:
        conn.execute(
            "UPDATE messages SET status = ?, done = ?, updated_at = ?, error = ?, route = ?"
            " WHERE mid = ?",
            (new, int(new in FINAL), now, err, route, mid),
        )
    else:
        conn.execute(
            "UPDATE messages SET status = ?, done = ?, updated_at = ?, error = ? WHERE mid = ?",
            (new, int(new in FINAL), now, err, mid),
        )
    if new == old:
        conn.execute(
            "INSERT INTO history (mid, at, status, note) VALUES (?, ?, ?, ?)", (mid, now, new, note)
        )
        return None
    conn.execute(
        "INSERT INTO history (mid, at, status, note) VALUES (?, ?, ?, ?)", (mid, now, new, note)
    )
    if callback:
        body = _webhook_body.encode(
            {
                "event": "message.status",
                "id": public_id,
                "client_ref": client_ref,
                "status": new,
                "previous_status": old,
                "at": _rfc3339(now),
                "error": err,
                "note": note or None,
            }
        )
        conn.execute(
            "INSERT INTO webhooks (key, url, body, next_at, created_at) VALUES (?, ?, ?, ?, ?)",
            (key, callback, body, now, now),
        )
    if new in FINAL or new == "submitted":
        event = StatusEvent(msg_class, new, created_at, now)
        tx.after_commit(lambda: events.on_status((event,)))
    return new


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
