"""The opt-out list and consent records: store operations and a facade (the values are in
:mod:`smsgw.queue.consent_model`, CSV in and out in :mod:`smsgw.queue.consent_csv`; both
re-exported here).

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

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent_csv import CSV_MAX_ROWS, CsvError, export_csv, parse_csv
from smsgw.queue.consent_model import (
    ALL,
    ConsentRecord,
    Lifted,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
    Source,
)
from smsgw.queue.writer import Tx

__all__ = [
    "ALL",
    "CSV_MAX_ROWS",
    "ConsentRecord",
    "Consents",
    "CsvError",
    "Lifted",
    "OpRunner",
    "OptinRequest",
    "OptoutEvent",
    "OptoutRequest",
    "OptoutRow",
    "Source",
    "add_consents",
    "blocking_optouts",
    "consent_ok",
    "export_csv",
    "history",
    "lift",
    "list_optouts",
    "opt_in",
    "opt_out",
    "opted_out",
    "parse_csv",
]

T = TypeVar("T")

# -- operations (writer thread) ----------------------------------------------------------------

_ROW_COLS = (
    "o.eid, o.number, o.scope, e.source, e.at, e.inbound_id, e.key, e.note"
    " FROM optouts o JOIN optout_events e ON e.eid = o.eid"
)


def _row(r: Sequence[object]) -> OptoutRow:
    return OptoutRow(
        cursor=r[0],  # type: ignore[arg-type]
        number=r[1],  # type: ignore[arg-type]
        scope=r[2],  # type: ignore[arg-type]
        source=r[3],  # type: ignore[arg-type]
        at=r[4],  # type: ignore[arg-type]
        inbound_id=r[5],  # type: ignore[arg-type]
        key=r[6],  # type: ignore[arg-type]
        note=r[7],  # type: ignore[arg-type]
    )


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
                r[0]
                for r in tx.conn.execute(
                    "SELECT scope FROM optouts WHERE number = ?", (req.number,)
                )
            ]
        else:
            scopes = [
                r[0]
                for r in tx.conn.execute(
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


def blocking_optouts(tx: Tx, number: str, key: str) -> OptoutRow | None:
    """The opt-out that stops ``key``'s messages to ``number``, if any (the oldest)."""
    r = tx.conn.execute(
        f"SELECT {_ROW_COLS} WHERE o.number = ? AND o.scope IN (?, ?) ORDER BY o.eid LIMIT 1",
        (number, ALL, key),
    ).fetchone()
    return None if r is None else _row(r)


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
    given = tx.conn.execute(
        "SELECT max(at) FROM consents WHERE number = ? AND scope IN (?, ?)", (number, ALL, key)
    ).fetchone()[0]
    if given is None:
        return False
    withdrawn = tx.conn.execute(
        "SELECT max(at) FROM optout_events WHERE number = ? AND action = 'out' AND scope IN (?, ?)",
        (number, ALL, key),
    ).fetchone()[0]
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
    return [
        _row(r)
        for r in tx.conn.execute(
            f"SELECT {_ROW_COLS} WHERE o.eid > ? AND {where} ORDER BY o.eid LIMIT ?",
            (after, *args, limit),
        )
    ]


def history(tx: Tx, number: str, key: str | None) -> tuple[list[OptoutRow], list[OptoutEvent]]:
    """The number's current opt-outs and its whole trail (scopes ``*`` and ``key``; every
    scope when ``key`` is None)."""
    where, args = _scopes(key, "o.scope")
    current = [
        _row(r)
        for r in tx.conn.execute(
            f"SELECT {_ROW_COLS} WHERE o.number = ? AND {where} ORDER BY o.eid",
            (number, *args),
        )
    ]
    where, args = _scopes(key, "scope")
    events = [
        OptoutEvent(
            eid=r[0],
            number=r[1],
            scope=r[2],
            action=r[3],
            source=r[4],
            at=r[5],
            inbound_id=r[6],
            key=r[7],
            note=r[8],
        )
        for r in tx.conn.execute(
            "SELECT eid, number, scope, action, source, at, inbound_id, key, note"
            f" FROM optout_events WHERE number = ? AND {where} ORDER BY eid",
            (number, *args),
        )
    ]
    return current, events


# -- the facade (trio side) --------------------------------------------------------------------


class OpRunner(Protocol):
    """What :class:`Consents` needs of the store: run an operation in its writer thread."""

    async def call(self, fn: Callable[..., T], *args: Any) -> T: ...


class Consents:
    """Opt-outs and consents over a :class:`~smsgw.queue.store.Store`, moving the metrics
    (``smsgw_optouts_total{source}``, ``smsgw_optins_total{source}``) after each commit.

    Every method returns once its transaction committed; on cancellation the write still
    commits (the store's rule) and the metrics are not moved.
    """

    def __init__(self, store: OpRunner, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def opt_out(self, items: Sequence[OptoutRequest]) -> list[bool]:
        changed = await self._store.call(opt_out, items)
        for req, did in zip(items, changed, strict=True):
            if did:
                self._metrics.optouts.labels(req.source).inc()
        return changed

    async def opt_in(self, items: Sequence[OptinRequest]) -> list[bool]:
        changed = await self._store.call(opt_in, items)
        for req, did in zip(items, changed, strict=True):
            if did:
                self._metrics.optins.labels(req.source).inc()
        return changed

    async def lift(self, req: OptinRequest, *, admin: bool) -> Lifted:
        """:func:`lift` in the writer thread; moves ``smsgw_optins_total`` when lifted."""
        done = await self._store.call(partial(lift, admin=admin), req)
        if done == "lifted":
            self._metrics.optins.labels(req.source).inc()
        return done

    async def add_consents(self, records: Sequence[ConsentRecord], now: float) -> list[int]:
        return await self._store.call(add_consents, records, now)

    async def blocking(self, number: str, key: str) -> OptoutRow | None:
        return await self._store.call(blocking_optouts, number, key)

    async def page(self, key: str | None, after: int, limit: int) -> list[OptoutRow]:
        return await self._store.call(list_optouts, key, after, limit)

    async def history(
        self, number: str, key: str | None
    ) -> tuple[list[OptoutRow], list[OptoutEvent]]:
        return await self._store.call(history, number, key)

    async def export_all(self, key: str | None) -> list[OptoutRow]:
        """Every number opted out for ``key`` or for all keys (None: in any scope), in cursor
        order."""
        rows: list[OptoutRow] = []
        after = 0
        while True:
            page = await self.page(key, after, 5000)
            rows += page
            if len(page) < 5000:
                return rows
            after = page[-1].cursor
