"""The opt-out list and consent records as the API and the keyword handler use them: a facade
over the store that moves the metrics after each commit (the values are in
:mod:`smsgw.queue.consent.records`, CSV in and out in :mod:`smsgw.queue.consent.csv_io`).

The opt-out list is an audit trail. Every opt-out and opt-in is a new row of the trail (number,
scope, source, time, the inbound message or API key behind it, a note); nothing updates or
deletes one. What is opted out now is derived from the trail, so the checks on the send path
are a primary-key probe.

A scope is ``*`` (every API key; what a STOP from the recipient means) or one key's name.
Sources are ``keyword``, ``api`` and ``import``. An event's ``key`` is the API key that made it,
or for a keyword the key the inbound message belongs to (None when it belongs to none).

Keys are tenants: a key reads the scopes ``*`` and its own (an admin key, passing ``key=None``,
reads every scope), and a key lifts only what it may (:meth:`Consents.lift`).

Consent records (``POST /v1/consents``) are evidence of an opt-in: number, scope, source, when,
the text the person was shown. With ``marketing_requires_consent`` a key's marketing goes only
to numbers with a consent record younger than their last opt-out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.records import (
    ConsentRecord,
    Lifted,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
)

__all__ = ["Consents", "OptoutStore"]


class OptoutStore(Protocol):
    """What :class:`Consents` needs of the store: its opt-out and consent calls."""

    async def opt_out(self, items: Sequence[OptoutRequest]) -> list[bool]: ...

    async def opt_in(self, items: Sequence[OptinRequest]) -> list[bool]: ...

    async def lift_optout(self, req: OptinRequest, *, admin: bool) -> Lifted: ...

    async def add_consents(self, records: Sequence[ConsentRecord], now: float) -> list[int]: ...

    async def blocking_optout(self, number: str, key: str) -> OptoutRow | None: ...

    async def optouts_page(self, key: str | None, after: int, limit: int) -> list[OptoutRow]: ...

    async def optout_history(
        self, number: str, key: str | None
    ) -> tuple[list[OptoutRow], list[OptoutEvent]]: ...


class Consents:
    """Opt-outs and consents over a :class:`~smsgw.queue.store.Store`, moving the metrics
    (``smsgw_optouts_total{source}``, ``smsgw_optins_total{source}``) after each commit.

    Every method returns once its transaction committed; on cancellation the write still
    commits (the store's rule) and the metrics are not moved.
    """

    def __init__(self, store: OptoutStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def opt_out(self, items: Sequence[OptoutRequest]) -> list[bool]:
        changed = await self._store.opt_out(items)
        for req, did in zip(items, changed, strict=True):
            if did:
                self._metrics.optouts.labels(req.source).inc()
        return changed

    async def opt_in(self, items: Sequence[OptinRequest]) -> list[bool]:
        changed = await self._store.opt_in(items)
        for req, did in zip(items, changed, strict=True):
            if did:
                self._metrics.optins.labels(req.source).inc()
        return changed

    async def lift(self, req: OptinRequest, *, admin: bool) -> Lifted:
        """Lift one opt-out as ``req.key`` may (:meth:`Store.lift_optout`); moves
        ``smsgw_optins_total`` when lifted."""
        done = await self._store.lift_optout(req, admin=admin)
        if done == "lifted":
            self._metrics.optins.labels(req.source).inc()
        return done

    async def add_consents(self, records: Sequence[ConsentRecord], now: float) -> list[int]:
        return await self._store.add_consents(records, now)

    async def blocking(self, number: str, key: str) -> OptoutRow | None:
        return await self._store.blocking_optout(number, key)

    async def page(self, key: str | None, after: int, limit: int) -> list[OptoutRow]:
        return await self._store.optouts_page(key, after, limit)

    async def history(
        self, number: str, key: str | None
    ) -> tuple[list[OptoutRow], list[OptoutEvent]]:
        return await self._store.optout_history(number, key)

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
