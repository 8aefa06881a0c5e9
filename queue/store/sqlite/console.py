"""Store operations for the ops console, in the writer thread: what it reads at request time
(the scheduled backlog, how late due parts are, today's opt-outs) and its one write, retrying a
message the gateway gave up on.

Every read is bounded whatever the size of the store: an index range with a cap, or the head
of an index. Each function takes ``now`` from the caller and reads no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from smsgw.queue.store.records import BACKLOG_CAP, RETRYABLE, Backlog, RetryResult
from smsgw.queue.store.sqlite.rows import Columns, scalar
from smsgw.queue.store.sqlite.transitions import (
    IN_IDS,
    Change,
    Events,
    apply,
    derive,
    id_list,
    load_infos,
)
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "BACKLOG_CAP",
    "RETRYABLE",
    "Backlog",
    "RetryResult",
    "backlog",
    "figures",
    "optouts_since",
    "retry_message",
]


def backlog(tx: Tx) -> Backlog:
    """The scheduled backlog: two reads of the ``parts_due`` index, each bounded."""
    conn = tx.conn
    counts = dict(
        conn.execute(
            "SELECT status, count(*) FROM (SELECT status FROM parts"
            " WHERE status IN ('scheduled', 'deferred') LIMIT ?) GROUP BY status",
            (BACKLOG_CAP + 1,),
        ).fetchall()
    )
    total = sum(counts.values())
    oldest = scalar(
        conn.execute("SELECT min(due_at) FROM parts WHERE status IN ('scheduled', 'deferred')")
    )
    return Backlog(
        scheduled=int(counts.get("scheduled", 0)),
        deferred=int(counts.get("deferred", 0)),
        capped=total > BACKLOG_CAP,
        oldest_due_at=None if oldest is None else float(oldest),
    )


def optouts_since(tx: Tx, since: float) -> dict[str, int]:
    """Opt-outs recorded at or after ``since`` by source (keyword, api, import): a range of the
    ``optout_events_at`` index."""
    return {
        str(source): int(n)
        for source, n in tx.conn.execute(
            "SELECT source, count(*) FROM optout_events WHERE at >= ? AND action = 'out'"
            " GROUP BY source",
            (since,),
        )
    }


def figures(tx: Tx, since: float) -> tuple[Backlog, dict[str, int]]:
    """The console's store figures in one transaction: the backlog and opt-outs since."""
    return backlog(tx), optouts_since(tx, since)


class _GivenUp(msgspec.Struct, frozen=True):
    """What a retry reads of the message first."""

    mid: int
    first_pid: int
    total: int
    status: str
    msg_class: str
    route: str


_GIVEN_UP = Columns(_GivenUp, columns={"total": "parts_total"})


def retry_message(
    tx: Tx,
    events: Events,
    key: str | None,
    public_id: str,
    now: float,
    validity: Mapping[str, float],
    note: str,
) -> RetryResult:
    """Queue again a message the gateway gave up on (``failed`` or ``expired``).

    Only its parts that never reached the recipient — those ``failed`` or ``expired`` — go back
    to ``queued`` on the message's current route, as new attempts: their attempt count starts
    again, their carrier id and error are cleared (a late receipt for the old submission
    cannot settle the new one). Parts already delivered (or undelivered, submitted) stay as they
    are and are not sent twice. The message is unfinished again: its error is cleared, its
    validity runs ``validity[class]`` seconds from ``now`` if it would end sooner, and the
    change is in its history with ``note`` and in its status webhook, like any other.

    ``key`` None: any key's message (an admin key or the ops token); else only that key's.
    """
    conn = tx.conn
    sql = f"SELECT {_GIVEN_UP.select} FROM messages WHERE id = ?"
    args: tuple[object, ...] = (public_id,)
    if key is not None:
        sql += " AND key = ?"
        args = (public_id, key)
    row = _GIVEN_UP.read_one(conn.execute(sql, args))
    if row is None:
        return RetryResult(result="not_found", id=public_id)
    mid, first, total, status = row.mid, row.first_pid, row.total, row.status
    msg_class, route = row.msg_class, row.route
    if status not in RETRYABLE:
        return RetryResult(result="not_retryable", id=public_id, status=status)
    pids = [
        pid
        for pid, part_status in conn.execute(
            "SELECT pid, status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
        if part_status in RETRYABLE
    ]
    conn.execute(
        "UPDATE parts SET status = 'queued', route = ?, attempts = 0, carrier_id = NULL,"
        " error = NULL, due_at = NULL, sent_at = NULL, submitted_at = NULL, done_at = NULL"
        f" WHERE pid {IN_IDS}",
        (route, id_list(pids)),
    )
    conn.execute(
        "UPDATE messages SET error = NULL, expires_at = max(expires_at, ?) WHERE mid = ?",
        (now + validity.get(msg_class, 86_400.0), mid),
    )
    info = load_infos(tx, [mid])[mid]
    new = derive(tx, info)
    apply(tx, events, [Change(info, new, note)], now)
    return RetryResult(
        result="retried",
        id=public_id,
        status=new,
        previous=status,
        route=route,
        msg_class=msg_class,
        parts=len(pids),
    )
