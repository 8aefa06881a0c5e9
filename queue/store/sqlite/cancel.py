"""Cancels, in the writer thread, each in one transaction: one message by its id
(:func:`cancel`), or every message of a client_ref or client_ref prefix (:func:`cancel_refs`).

By reference:

The claim runs in the same writer, so a part is either claimed (``sending``) before this
transaction, and its message is reported as already left, or it is ``cancelled`` here and no
later claim sees it. Matches are read from ``messages_client_ref`` (key, client_ref): an exact
reference is one probe per key, a prefix one index range per key, ``[prefix, upper)``, where
``upper`` is the prefix with its last character incremented (UTF-8 keeps code point order, and
SQLite compares text bytewise), so no LIKE pattern is built and ``%`` and ``_`` are literal.
"""

from __future__ import annotations

from collections.abc import Sequence

from smsgw.queue.model import WAITING
from smsgw.queue.store.records import RefCancel, RefMatch
from smsgw.queue.store.sqlite.transitions import (
    IN_IDS,
    MSG,
    MSG_COLS,
    Change,
    Events,
    MsgInfo,
    apply,
    id_list,
    refresh_message,
    set_parts,
)
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["cancel", "cancel_refs", "match_query", "prefix_upper"]

_MAX_CHAR = 0x10FFFF
_WAITING_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(WAITING)) + ")"
_GONE = (
    "(SELECT count(*) FROM parts p WHERE p.pid BETWEEN m.first_pid"
    f" AND m.first_pid + m.parts_total - 1 AND p.status NOT IN {_WAITING_SQL}) AS gone"
)
_NOTE = "cancelled by the client"


def prefix_upper(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (code point
    order), or None when there is none (the prefix is all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last == _MAX_CHAR:
            continue
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are no text: the next character is U+E000
            nxt = 0xE000
        return "".join(chars) + chr(nxt)
    return None


def _condition(ref: str, prefix: bool) -> tuple[str, tuple[object, ...]]:
    if not prefix:
        return "m.client_ref = ?", (ref,)
    upper = prefix_upper(ref)
    if upper is None:
        return "m.client_ref >= ?", (ref,)
    return "m.client_ref >= ? AND m.client_ref < ?", (ref, upper)


def match_query(
    keys: Sequence[str], ref: str, prefix: bool, waiting: bool, limit: int
) -> tuple[str, tuple[object, ...]]:
    """The SELECT of the matches (the waiting ones, or the others) and its parameters."""
    cond, params = _condition(ref, prefix)
    which = f"m.done = 0 AND m.status IN {_WAITING_SQL}"
    sql = (
        f"SELECT {MSG_COLS}, {_GONE} FROM messages m"
        f" WHERE m.key {IN_IDS} AND {cond} AND {which if waiting else f'NOT ({which})'}"
        " ORDER BY m.key, m.client_ref LIMIT ?"
    )
    return sql, (id_list(keys), *params, limit)


def _select(
    tx: Tx, keys: Sequence[str], ref: str, prefix: bool, waiting: bool, limit: int
) -> list[tuple[MsgInfo, int]]:
    cursor = tx.conn.execute(*match_query(keys, ref, prefix, waiting, limit))
    return [(info, int(extra["gone"])) for info, extra in MSG.read_with(cursor)]


def _match(info: MsgInfo, status: str) -> RefMatch:
    assert info.client_ref is not None
    return RefMatch(id=info.public_id, client_ref=info.client_ref, key=info.key, status=status)


def cancel_refs(
    tx: Tx,
    events: Events,
    keys: Sequence[str],
    ref: str,
    prefix: bool,
    now: float,
    limit: int,
) -> RefCancel:
    """Cancel the messages of ``keys`` whose client_ref is ``ref`` (or starts with it, with
    ``prefix``) and that have not left; list the rest as already left. At most ``limit``
    messages are listed, waiting ones first; ``more`` says that more matched."""
    waiting = _select(tx, keys, ref, prefix, True, limit + 1)
    more = len(waiting) > limit
    waiting = waiting[:limit]
    others = [] if more else _select(tx, keys, ref, prefix, False, limit - len(waiting) + 1)
    if len(waiting) + len(others) > limit:
        more = True
        others = others[: limit - len(waiting)]
    cancel = [info for info, gone in waiting if gone == 0]
    # A message whose status reads waiting while one of its parts was claimed has left.
    left = [_match(info, info.status) for info, gone in waiting if gone]
    left += [_match(info, info.status) for info, _ in others]
    pids = [pid for info in cancel for pid in range(info.first_pid, info.first_pid + info.total)]
    set_parts(tx, pids, "cancelled", now)
    apply(tx, events, [Change(info, "cancelled", _NOTE) for info in cancel], now)
    return RefCancel(
        cancelled=[_match(info, "cancelled") for info in cancel],
        already_left=left,
        more=more,
    )


def cancel(tx: Tx, events: Events, key: str, public_id: str, now: float) -> str | None:
    """Cancel a message that has not left; returns its status after, None if unknown.

    A message any part of which is sending or beyond is not cancelled (the caller answers 409).
    """
    info = MSG.read_one(
        tx.conn.execute(
            f"SELECT {MSG_COLS} FROM messages m WHERE m.id = ? AND m.key = ?", (public_id, key)
        )
    )
    if info is None:
        return None
    first, total = info.first_pid, info.total
    statuses = [
        status
        for (status,) in tx.conn.execute(
            "SELECT status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
    ]
    if not all(s in WAITING for s in statuses):
        return info.status
    set_parts(tx, list(range(first, first + total)), "cancelled", now)
    refresh_message(tx, events, info.mid, now, "cancelled by the client")
    return "cancelled"
