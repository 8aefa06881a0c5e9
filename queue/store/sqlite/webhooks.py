"""Webhook deliveries in the store: queued with the change they report, claimed fairly, in
order per message, finished in batches. Runs in the writer thread.

A delivery row belongs to a *lane*: its key and its receiver's origin (scheme, host, port).
The webhook worker claims per lane (an index range read on ``webhooks_claim``), so a receiver
that piled up a backlog costs nothing to the others. Rows of one message (``mid``) go out in
``wid`` order: a row is taken only when every earlier live row of its message is already
taken (held by the worker, which sends them one after the other); a row whose predecessor
waits for a retry is moved to that retry's time, so it never comes due before it.

:func:`step` is the worker's one store call per cycle: it records what finished (done rows
deleted, retries rescheduled, failures marked dead, untried rows released) and claims the
next rows for several lanes, all in one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from smsgw.queue.store.randids import pair_table, random_digits
from smsgw.queue.store.records import (
    DEAD_KEPT,
    Claim,
    Claimed,
    Finished,
    Lane,
    LaneInfo,
    Notify,
    WebhookJob,
)
from smsgw.queue.store.sqlite.rows import Columns, scalar
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "DEAD_KEPT",
    "IN_JSON",
    "Claim",
    "Claimed",
    "Finished",
    "Lane",
    "LaneInfo",
    "Notify",
    "WebhookJob",
    "enqueue",
    "event_ids",
    "insert",
    "json_ids",
    "origin_of",
    "release",
    "step",
]

IN_JSON = "IN (SELECT value FROM json_each(?))"
_json = msgspec.json.Encoder()


def json_ids(ids: Iterable[int]) -> str:
    return _json.encode(list(ids)).decode()


@functools.lru_cache(maxsize=4096)
def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in lower case: the lane a URL's deliveries go in. Never
    raises: an unparsable URL (an old row) gets the empty origin, and fails at delivery."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port is None or port == default else f":{port}")


def event_ids(n: int) -> list[str]:
    """``n`` random event ids (``evt_`` and 80 bits, base32): one per delivery row, the same
    on every retry of it, so receivers can drop duplicates."""
    return ["evt_" + d for d in random_digits(n, _B32_PAIRS)]


_B32_PAIRS = pair_table("abcdefghijklmnopqrstuvwxyz234567")
"""RFC 4648 base32, lower case (the event ids' spelling since they were introduced)."""


def insert(
    tx: Tx, rows: Sequence[tuple[str, str, bytes, int | None, str]], now: float, notify: Notify
) -> None:
    """Queue deliveries (key, url, body, mid, event_id), due now; ``notify`` after commit."""
    if not rows:
        return
    counts: dict[Lane, int] = {}
    values = []
    for key, url, body, mid, event_id in rows:
        origin = origin_of(url)
        counts[key, origin] = counts.get((key, origin), 0) + 1
        values.append((key, url, body, now, now, mid, event_id, origin))
    tx.conn.executemany(
        "INSERT INTO webhooks (key, url, body, next_at, created_at, mid, event_id, origin)"
        " VALUES (?,?,?,?,?,?,?,?)",
        values,
    )
    tx.after_commit(lambda: notify(counts))


def enqueue(
    tx: Tx, items: Sequence[tuple[str, str, dict[str, Any]]], now: float, notify: Notify
) -> list[str]:
    """Queue deliveries of payloads (key, url, payload) that belong to no message (inbound);
    each payload gets its ``event_id``. Returns the event ids."""
    ids = event_ids(len(items))
    rows = []
    for (key, url, payload), event_id in zip(items, ids, strict=True):
        rows.append((key, url, _json.encode({**payload, "event_id": event_id}), None, event_id))
    insert(tx, rows, now, notify)
    return ids


def release(tx: Tx) -> tuple[int, list[LaneInfo]]:
    """At start: rows a previous process had taken are waiting again (it died before it
    finished them); old rows get their origin. Returns how many were taken, and each lane
    with rows waiting (how many, the earliest due time)."""
    conn = tx.conn
    released = conn.execute("UPDATE webhooks SET leased = 0 WHERE leased = 1").rowcount
    missing = conn.execute(
        "SELECT wid, url FROM webhooks WHERE origin = '' AND dead = 0"
    ).fetchall()
    fixed = [(origin_of(url), wid) for wid, url in missing]
    conn.executemany("UPDATE webhooks SET origin = ? WHERE wid = ?", [f for f in fixed if f[0]])
    info = [
        LaneInfo((r.key, r.origin), int(r.pending), float(r.next_at))
        for r in _LANE.read(
            conn.execute(f"SELECT {_LANE.select} FROM webhooks WHERE dead = 0 GROUP BY key, origin")
        )
    ]
    return released, info


class _LaneRow(msgspec.Struct, frozen=True):
    key: str
    origin: str
    pending: int
    next_at: float


_LANE = Columns(_LaneRow, columns={"pending": "count(*)", "next_at": "min(next_at)"})


def step(tx: Tx, finished: Finished, claims: Sequence[Claim], now: float) -> list[Claimed]:
    """Record ``finished`` and take up to ``limit`` due rows per claim, in one transaction.

    Returns one :class:`Claimed` per claim, in order. Taken rows are marked leased: not
    claimable again until finished or released (or the next start).
    """
    _record(tx, finished, now)
    return [_claim(tx, c, now) for c in claims]


def _record(tx: Tx, f: Finished, now: float) -> None:
    conn = tx.conn
    if f.done:
        conn.execute(f"DELETE FROM webhooks WHERE wid {IN_JSON}", (json_ids(f.done),))
    if f.retry:
        conn.executemany(
            "UPDATE webhooks SET attempts = attempts + 1, next_at = ?, last_error = ?,"
            " leased = 0 WHERE wid = ?",
            [(at, error[:500], wid) for wid, _mid, at, error in f.retry],
        )
        # A message's later statuses wait for the earlier one: never due before its retry.
        conn.executemany(
            "UPDATE webhooks SET next_at = max(next_at, ?), leased = 0"
            " WHERE mid = ? AND wid > ? AND dead = 0",
            [(at, mid, wid) for wid, mid, at, _error in f.retry if mid is not None],
        )
    if f.release:
        conn.executemany(
            "UPDATE webhooks SET next_at = max(next_at, ?), leased = 0 WHERE wid = ?",
            [(at, wid) for wid, at in f.release],
        )
    if f.dead:
        conn.executemany(
            "UPDATE webhooks SET dead = 1, leased = 0, attempts = attempts + 1, next_at = ?,"
            " last_error = ? WHERE wid = ?",
            [(now, error[:500], wid) for wid, error in f.dead],
        )
    if f.purge_before is not None:
        conn.execute("DELETE FROM webhooks WHERE dead = 1 AND next_at < ?", (f.purge_before,))


class _Due(msgspec.Struct, frozen=True):
    """A delivery row due for its lane."""

    wid: int
    url: str
    body: object
    attempts: int
    mid: int | None
    event_id: str | None
    next_at: float


_DUE = Columns(_Due)
_CLAIM_SQL = (
    f"SELECT {_DUE.select} FROM webhooks"
    " WHERE key = ? AND origin = ? AND leased = 0 AND dead = 0 AND next_at <= ?"
    " ORDER BY next_at, wid LIMIT ?"
)


def _claim(tx: Tx, claim: Claim, now: float) -> Claimed:
    conn = tx.conn
    key, origin, limit = claim
    rows = _DUE.read(conn.execute(_CLAIM_SQL, (key, origin, now, limit)))
    taken = rows
    if any(r.mid is not None for r in rows):
        taken = _in_order(tx, rows, now)
    if taken:
        conn.execute(
            f"UPDATE webhooks SET leased = 1 WHERE wid {IN_JSON}", (json_ids(r.wid for r in taken),)
        )
    next_at: float | None = None
    if len(rows) < limit:
        first = scalar(
            conn.execute(
                "SELECT min(next_at) FROM webhooks WHERE key = ? AND origin = ? AND leased = 0"
                " AND dead = 0",
                (key, origin),
            )
        )
        next_at = None if first is None else float(first)
    jobs = [
        WebhookJob(
            r.wid,
            key,
            str(r.url),
            _blob(r.body),
            r.attempts,
            r.mid,
            r.event_id or f"evt_{r.wid}",
            origin,
        )
        for r in taken
    ]
    return Claimed(jobs, next_at)


def _blob(value: object) -> bytes:
    """A body as stored: bytes, or text in a row written by hand or an older version."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "replace")


def _in_order(tx: Tx, rows: list[_Due], now: float) -> list[_Due]:
    """The rows that may go now: every earlier live row of their message is taken already
    (leased, or taken in this claim). The others are moved to their blocker's due time."""
    mids = {r.mid for r in rows if r.mid is not None}
    waiting: dict[int, list[tuple[int, float]]] = {}
    for mid, wid, at in tx.conn.execute(
        f"SELECT mid, wid, next_at FROM webhooks WHERE mid {IN_JSON} AND leased = 0"
        " AND dead = 0 ORDER BY mid, wid",
        (json_ids(mids),),
    ):
        waiting.setdefault(mid, []).append((wid, at))
    candidates = {r.wid for r in rows}
    taken: list[_Due] = []
    blocked: set[int] = set()
    moves: list[tuple[float, int]] = []
    for r in sorted(rows, key=lambda r: r.wid):
        wid, mid = r.wid, r.mid
        if mid is None:
            taken.append(r)
            continue
        blockers = [
            (w, at)
            for w, at in waiting.get(mid, ())
            if w < wid and (w not in candidates or w in blocked)
        ]
        if not blockers:
            taken.append(r)
            continue
        blocked.add(wid)
        later = max(at for _, at in blockers)
        if later > r.next_at:
            moves.append((later, wid))
    if moves:
        tx.conn.executemany("UPDATE webhooks SET next_at = ? WHERE wid = ?", moves)
    return taken
