"""Conversions: orders reported by a key, each attributed to one of the key's messages, in the
writer thread.

:func:`record` finds the order (by key and order_id) or attributes and inserts it, in one
transaction: a second report of the same order changes nothing. Attribution never leaves the
key: every lookup is by the key's own rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from smsgw.queue.model import ConversionRef
from smsgw.queue.store.records import Attributed, AttributedBy, ConversionRow, NewConversion
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["get", "of_message", "page", "record", "revenue_by_step", "revenue_by_variant"]

_SELECT = (
    "SELECT v.vid, v.id, v.key, v.order_id, v.value, v.currency, v.number, v.code,"
    " v.client_ref, v.at, v.created_at, v.attributed_by, m.id, m.client_ref, r.flow, s.n"
    " FROM conversions v LEFT JOIN messages m ON m.mid = v.mid"
    " LEFT JOIN flow_steps s ON s.message = m.id LEFT JOIN flow_runs r ON r.rid = s.rid"
)


def _row(r: Sequence[Any]) -> ConversionRow:
    (vid, public_id, key, order_id, value, currency, number, code, ref, at, created_at) = r[:11]
    by, message, message_ref, flow, step = r[11:]
    attributed = None
    if by is not None and message is not None:
        attributed = Attributed(
            message=message, by=by, client_ref=message_ref, flow=flow, step=step
        )
    return ConversionRow(
        cursor=vid,
        id=public_id,
        key=key,
        order_id=order_id,
        value=value,
        currency=currency,
        number=number,
        code=code,
        client_ref=ref,
        at=at,
        created_at=created_at,
        attributed=attributed,
    )


def get(tx: Tx, key: str, order_id: str) -> ConversionRow | None:
    """The key's conversion of that order."""
    found = tx.conn.execute(
        f"{_SELECT} WHERE v.key = ? AND v.order_id = ?", (key, order_id)
    ).fetchone()
    return None if found is None else _row(found)


def page(tx: Tx, key: str, after: int, limit: int) -> list[ConversionRow]:
    """The key's conversions in the order they were recorded, after the cursor ``after``."""
    rows = tx.conn.execute(
        f"{_SELECT} WHERE v.key = ? AND v.vid > ? ORDER BY v.vid LIMIT ?", (key, after, limit)
    )
    return [_row(r) for r in rows]


def _attribute(tx: Tx, c: NewConversion) -> tuple[int, AttributedBy] | None:
    conn = tx.conn
    if c.code is not None:
        found = conn.execute(
            "SELECT mid FROM links WHERE code = ? AND key = ?", (c.code, c.key)
        ).fetchone()
        return None if found is None else (found[0], "code")
    if c.client_ref is not None:
        found = conn.execute(
            "SELECT mid FROM messages WHERE key = ? AND client_ref = ?", (c.key, c.client_ref)
        ).fetchone()
        return None if found is None else (found[0], "client_ref")
    since = c.at - c.window
    found = conn.execute(
        "SELECT mid FROM clicks WHERE key = ? AND to_number = ? AND preview = 0"
        " AND at >= ? AND at <= ? ORDER BY at DESC, cid DESC LIMIT 1",
        (c.key, c.number, since, c.at),
    ).fetchone()
    if found is not None:
        return found[0], "click"
    found = conn.execute(
        "SELECT mid FROM messages WHERE key = ? AND to_number = ? AND msg_class = 'marketing'"
        " AND status = 'delivered' AND updated_at >= ? AND updated_at <= ?"
        " ORDER BY updated_at DESC, mid DESC LIMIT 1",
        (c.key, c.number, since, c.at),
    ).fetchone()
    return None if found is None else (found[0], "delivery")


def record(tx: Tx, c: NewConversion, public_id: str) -> tuple[ConversionRow, bool]:
    """The key's conversion of ``c.order_id`` and True when this call recorded it; the one
    recorded first and False when the order was reported before (nothing is written).

    ``number``: the key's message with the last click (previews not counted) to that number
    in ``[at - window, at]``, else its last marketing message delivered there; ``code``: the
    message of the key's tracked link; ``client_ref``: the key's message of that reference.
    None qualifying: recorded unattributed.
    """
    first = get(tx, c.key, c.order_id)
    if first is not None:
        return first, False
    found = _attribute(tx, c)
    mid, by = (None, None) if found is None else found
    tx.conn.execute(
        "INSERT INTO conversions (id, key, order_id, value, currency, number, code,"
        " client_ref, at, created_at, mid, attributed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            public_id,
            c.key,
            c.order_id,
            c.value,
            c.currency,
            c.number,
            c.code,
            c.client_ref,
            c.at,
            c.received_at,
            mid,
            by,
        ),
    )
    row = get(tx, c.key, c.order_id)
    assert row is not None
    return row, True


def of_message(tx: Tx, mid: int) -> list[ConversionRef]:
    """The conversions attributed to the message, oldest first."""
    rows = tx.conn.execute(
        "SELECT order_id, value, currency FROM conversions WHERE mid = ? ORDER BY vid", (mid,)
    )
    return [ConversionRef(order_id=o, value=v, currency=cur) for o, v, cur in rows]


def revenue_by_step(tx: Tx, key: str, flow: str) -> dict[int, tuple[int, dict[str, str]]]:
    """Per step of the key's flow: the conversions attributed to its messages and their
    values summed per currency (exact decimal sums, as strings)."""
    return _summed(
        tx.conn.execute(
            "SELECT s.n, v.currency, v.value FROM flow_steps s JOIN flow_runs r ON r.rid = s.rid"
            " JOIN messages m ON m.id = s.message JOIN conversions v ON v.mid = m.mid"
            " WHERE r.key = ? AND r.flow = ? AND v.key = ?",
            (key, flow, key),
        )
    )


def revenue_by_variant(tx: Tx, cid: int) -> dict[int, tuple[int, dict[str, str]]]:
    """Per variant of the campaign: the conversions attributed to its recipients' messages and
    their values summed per currency (exact decimal sums, as strings)."""
    return _summed(
        tx.conn.execute(
            "SELECT r.variant, v.currency, v.value FROM campaign_recipients r"
            " JOIN messages m ON m.id = r.message JOIN conversions v ON v.mid = m.mid"
            " WHERE r.cid = ? AND r.message IS NOT NULL AND v.key = m.key",
            (cid,),
        )
    )


def _summed(rows: Iterable[tuple[int, str, str]]) -> dict[int, tuple[int, dict[str, str]]]:
    out: dict[int, tuple[int, dict[str, Decimal]]] = {}
    for n, currency, value in rows:
        count, sums = out.setdefault(n, (0, {}))
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(value)
        out[n] = (count + 1, sums)
    return {
        n: (count, {c: format(d, "f") for c, d in sorted(s.items())})
        for n, (count, s) in out.items()
    }
