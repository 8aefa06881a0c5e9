"""The opt-out list and consent records in SQLite (the values are in
:mod:`smsgw.queue.consent.records`; the facade the API uses is
:class:`smsgw.queue.consent.optout_list.Consents`).

The opt-out list is an audit trail. Every opt-out and opt-in is a new row of ``optout_events``
(number, scope, source, time, the inbound message or API key behind it, a note); nothing here
updates or deletes one. ``optouts`` is derived from the trail (one row per number and scope that
is opted out now, naming the event that did it), so the checks on the send path are a
primary-key probe.

A scope is ``*`` (every API key; what a STOP from the recipient means) or one key's name.
Sources are ``keyword``, ``api`` and ``import``. An event's ``key`` is the API key that made it,
or for a keyword the key the inbound message belongs to (None when it belongs to none).

Keys are tenants: a key reads the scopes ``*`` and its own (an admin key, passing ``key=None``,
reads every scope), and :func:`lift` lets a key lift only what it may (see there).

Consent records (``POST /v1/consents``) are evidence of an opt-in: number, scope, source, when,
the text the person was shown. With ``marketing_requires_consent`` a key's marketing goes only
to numbers with a consent record younger than their last opt-out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from smsgw.queue.consent.records import (
    ALL,
    ConsentRecord,
    Lifted,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
)
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "add_consents",
    "blocking_optouts",
    "consent_ok",
    "history",
    "lift",
    "lift_as",
    "list_optouts",
    "opt_in",
    "opt_out",
    "opted_out",
]

_OPTOUT = Columns(
    OptoutRow,
    prefix="e",
    columns={"cursor": "o.eid", "number": "o.number", "scope": "o.scope"},
)
_OPTOUT_FROM = "FROM optouts o JOIN optout_events e ON e.eid = o.eid"
_EVENT = Columns(OptoutEvent)


def _event(tx: Tx, action: str, req: OptoutRequest | OptinRequest, scope: str) -> int:
    cur = tx.conn.execute(
        "INSERT INTO optout_events (number, scope, action, source, at, inbound_id, key, note)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (req.number, scope, action, req.source, req.at, req.inbound_id, req.key, req.note),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def opt_out(tx: Tx, items: Sequence[OptoutRequest]) -> list[bool]:
    """Record opt-outs; each is appended to the trail even when the number was already out
    (a repeated STOP is evidence too). Returns, per item, whether the number's state changed."""
    changed: list[bool] = []
    for req in items:
        eid = _event(tx, "out", req, req.scope)
        cur = tx.conn.execute(
            "INSERT OR IGNORE INTO optouts (number, scope, eid) VALUES (?,?,?)",
            (req.number, req.scope, eid),
        )
        changed.append(cur.rowcount > 0)
    return changed


def opt_in(tx: Tx, items: Sequence[OptinRequest]) -> list[bool]:
    """Record opt-ins: the number leaves the list in ``scope`` (every scope when None). One
    event per scope left, or one event in the asked scope when the number was not out."""
    changed: list[bool] = []
    for req in items:
        if req.scope is None:
            scopes = [
                scope
                for (scope,) in tx.conn.execute(
                    "SELECT scope FROM optouts WHERE number = ?", (req.number,)
                )
            ]
        else:
            scopes = [
                scope
                for (scope,) in tx.conn.execute(
                    "SELECT scope FROM optouts WHERE number = ? AND scope = ?",
                    (req.number, req.scope),
                )
            ]
        for scope in scopes:
            _event(tx, "in", req, scope)
        tx.conn.executemany(
            "DELETE FROM optouts WHERE number = ? AND scope = ?",
            [(req.number, s) for s in scopes],
        )
        if not scopes:
            _event(tx, "in", req, req.scope or ALL)
        changed.append(bool(scopes))
    return changed


def lift(tx: Tx, req: OptinRequest, *, admin: bool) -> Lifted:
    """Lift the opt-out of ``req.number`` in ``req.scope`` (not None) for the key ``req.key``,
    or refuse and change nothing.

    A key's own scope is its own to lift. The every-key scope (``*``) is lifted by an admin key,
    or by the key that made it; never by another key, and a STOP from the recipient only by the
    recipient (START) or an admin key.
    """
    assert req.scope is not None
    row = tx.conn.execute(
        "SELECT e.source, e.key FROM optouts o JOIN optout_events e ON e.eid = o.eid"
        " WHERE o.number = ? AND o.scope = ?",
        (req.number, req.scope),
    ).fetchone()
    if row is None:
        return "not_out"
    source, maker = row
    if req.scope == ALL and not admin:
        if source == "keyword":
            return "by_recipient"
        if maker != req.key:
            return "by_other_key"
    opt_in(tx, [req])
    return "lifted"


def lift_as(tx: Tx, req: OptinRequest, admin: bool) -> Lifted:
    """:func:`lift` with ``admin`` passed by position (the writer's calls take positions)."""
    return lift(tx, req, admin=admin)


def blocking_optouts(tx: Tx, number: str, key: str) -> OptoutRow | None:
    """The opt-out that stops ``key``'s messages to ``number``, if any (the oldest)."""
    return _OPTOUT.read_one(
        tx.conn.execute(
            f"SELECT {_OPTOUT.select} {_OPTOUT_FROM}"
            " WHERE o.number = ? AND o.scope IN (?, ?) ORDER BY o.eid LIMIT 1",
            (number, ALL, key),
        )
    )


def opted_out(tx: Tx, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (number, key) pairs are stopped by an opt-out; one query per 500 numbers."""
    wanted = list(dict.fromkeys(pairs))
    numbers = list(dict.fromkeys(n for n, _ in wanted))
    scopes: dict[str, set[str]] = {}
    for i in range(0, len(numbers), 500):
        chunk = numbers[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for number, scope in tx.conn.execute(
            f"SELECT number, scope FROM optouts WHERE number IN ({marks})", chunk
        ):
            scopes.setdefault(number, set()).add(scope)
    return {(n, k) for n, k in wanted if n in scopes and (ALL in scopes[n] or k in scopes[n])}


def consent_ok(tx: Tx, number: str, key: str) -> bool:
    """A consent record covers ``key`` and is younger than the number's last opt-out."""
    ((given,),) = tx.conn.execute(
        "SELECT max(at) FROM consents WHERE number = ? AND scope IN (?, ?)", (number, ALL, key)
    )
    if given is None:
        return False
    ((withdrawn,),) = tx.conn.execute(
        "SELECT max(at) FROM optout_events WHERE number = ? AND action = 'out' AND scope IN (?, ?)",
        (number, ALL, key),
    )
    return withdrawn is None or given > withdrawn


def add_consents(tx: Tx, records: Sequence[ConsentRecord], now: float) -> list[int]:
    """Append consent records; returns their ids."""
    ids: list[int] = []
    for c in records:
        cur = tx.conn.execute(
            "INSERT INTO consents (number, scope, source, at, text_shown, evidence, key,"
            " inbound_id, recorded_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (c.number, c.scope, c.source, c.at, c.text_shown, c.evidence, c.key, c.inbound_id, now),
        )
        assert cur.lastrowid is not None
        ids.append(cur.lastrowid)
    return ids


def _scopes(key: str | None, column: str) -> tuple[str, tuple[str, ...]]:
    """SQL and arguments limiting ``column`` to the scopes ``key`` reads (None: all)."""
    if key is None:
        return "1", ()
    return f"{column} IN (?, ?)", (ALL, key)


def list_optouts(tx: Tx, key: str | None, after: int, limit: int) -> list[OptoutRow]:
    """Numbers opted out now for every key or for ``key`` (None: in any scope), by cursor (the
    opting event)."""
    where, args = _scopes(key, "o.scope")
    return _OPTOUT.read(
        tx.conn.execute(
            f"SELECT {_OPTOUT.select} {_OPTOUT_FROM} WHERE o.eid > ? AND {where}"
            " ORDER BY o.eid LIMIT ?",
            (after, *args, limit),
        )
    )


def history(tx: Tx, number: str, key: str | None) -> tuple[list[OptoutRow], list[OptoutEvent]]:
    """The number's current opt-outs and its whole trail (scopes ``*`` and ``key``; every
    scope when ``key`` is None)."""
    where, args = _scopes(key, "o.scope")
    current = _OPTOUT.read(
        tx.conn.execute(
            f"SELECT {_OPTOUT.select} {_OPTOUT_FROM} WHERE o.number = ? AND {where} ORDER BY o.eid",
            (number, *args),
        )
    )
    where, args = _scopes(key, "scope")
    events = _EVENT.read(
        tx.conn.execute(
            f"SELECT {_EVENT.select} FROM optout_events WHERE number = ? AND {where} ORDER BY eid",
            (number, *args),
        )
    )
    return current, events
