"""Receipts held for SMPP server accounts: every statement on ``smpp_origin`` and
``smpp_held``.

A message accepted through the SMPP server with a receipt asked for gets an ``smpp_origin``
row in the accept transaction (:func:`mark_origin`). When it reaches a final status, the
status change's own transaction turns that row into an ``smpp_held`` receipt
(:func:`queue_receipts`), so a committed final status always has its receipt waiting and a
rolled-back one never does. The SMPP server reads held receipts in order
(:func:`held_page`), drops each once the client acknowledged it (:func:`drop_held`), and
expires what waited longer than the account's hold (:func:`expire_held`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import msgspec

from smsgw.queue.store.records import HELD_COUNT_CAP, HeldCounts, HeldReceipt
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "HeldReceipt",
    "drop_held",
    "expire_held",
    "held_counts",
    "held_page",
    "hold_inbound",
    "mark_origin",
    "queue_receipts",
]

_IN = "IN (SELECT value FROM json_each(?))"
_json = msgspec.json.Encoder()


def _ids(values: Collection[int] | Sequence[str]) -> str:
    return _json.encode(list(values)).decode()


def held_counts(tx: Tx, accounts: Sequence[str]) -> dict[str, HeldCounts]:
    """Receipts and inbound messages held per account: a bounded range of the
    ``smpp_held_account`` index for each."""
    out: dict[str, HeldCounts] = {}
    for account in accounts:
        counts = dict(
            tx.conn.execute(
                "SELECT kind, count(*) FROM (SELECT kind FROM smpp_held WHERE account = ?"
                " LIMIT ?) GROUP BY kind",
                (account, HELD_COUNT_CAP + 1),
            ).fetchall()
        )
        out[account] = HeldCounts(
            receipts=int(counts.get("receipt", 0)),
            inbound=int(counts.get("inbound", 0)),
            capped=sum(counts.values()) > HELD_COUNT_CAP,
        )
    return out


def mark_origin(tx: Tx, account: str, public_ids: Sequence[str]) -> None:
    """Remember that these messages came from ``account`` and want a receipt."""
    if public_ids:
        tx.conn.execute(
            "INSERT OR IGNORE INTO smpp_origin (mid, account)"
            f" SELECT mid, ? FROM messages WHERE id {_IN}",
            (account, _ids(public_ids)),
        )


def queue_receipts(tx: Tx, mids: Collection[int], now: float, notify: Callable[[], None]) -> None:
    """Inside a status change: the messages ``mids`` just became final; hold a receipt for
    those that came from an SMPP account (their rows already hold the new status)."""
    conn = tx.conn
    ids = _ids(mids)
    cur = conn.execute(
        "INSERT INTO smpp_held (account, mid, public_id, status, error, submitted_at, done_at,"
        " sender, to_number)"
        " SELECT o.account, m.mid, m.id, m.status, m.error, m.created_at, ?, m.sender,"
        f" m.to_number FROM smpp_origin o JOIN messages m ON m.mid = o.mid WHERE o.mid {_IN}"
        " ORDER BY m.mid",
        (now, ids),
    )
    if cur.rowcount:
        conn.execute(f"DELETE FROM smpp_origin WHERE mid {_IN}", (ids,))
        tx.after_commit(notify)


def held_page(tx: Tx, account: str, limit: int, skip: Collection[int] = ()) -> list[HeldReceipt]:
    """The oldest receipts held for ``account``, in order, leaving out ``skip`` (in flight)."""
    rows = tx.conn.execute(
        "SELECT hid, account, public_id, status, error, submitted_at, done_at, sender,"
        " to_number, kind, text FROM smpp_held"
        f" WHERE account = ? AND hid NOT {_IN} ORDER BY hid LIMIT ?",
        (account, _ids(skip), limit),
    ).fetchall()
    return [
        HeldReceipt(
            hid=r[0],
            account=r[1],
            public_id=r[2],
            status=r[3],
            error=r[4],
            submitted_at=r[5],
            done_at=r[6],
            sender=r[7],
            to=r[8],
            kind=r[9],
            text=r[10],
        )
        for r in rows
    ]


def hold_inbound(
    tx: Tx,
    items: Sequence[tuple[str, str, str, str, str, float]],
    notify: Callable[[], None],
) -> None:
    """Hold inbound messages for SMPP accounts, in the transaction that stores them: each
    item is (account, inbound id, sender, to, text, received_at)."""
    if items:
        tx.conn.executemany(
            "INSERT INTO smpp_held (account, mid, public_id, status, error, submitted_at,"
            " done_at, sender, to_number, kind, text)"
            " VALUES (?, 0, ?, 'inbound', NULL, ?, ?, ?, ?, 'inbound', ?)",
            [(a, i, at, at, sender, to, text) for a, i, sender, to, text, at in items],
        )
        tx.after_commit(notify)


def drop_held(tx: Tx, hids: Collection[int]) -> None:
    """The client acknowledged these receipts (deliver_sm_resp ESME_ROK)."""
    if hids:
        tx.conn.execute(f"DELETE FROM smpp_held WHERE hid {_IN}", (_ids(hids),))


def expire_held(tx: Tx, before: float) -> int:
    """Drop receipts that became final before ``before``; returns how many."""
    return tx.conn.execute("DELETE FROM smpp_held WHERE done_at < ?", (before,)).rowcount
