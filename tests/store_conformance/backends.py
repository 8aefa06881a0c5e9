"""The backends the conformance suite runs against, and the harness a test gets.

A backend is an id and a factory: given a folder of throwaway data (the test's tmp dir) and a
metrics registry, it builds a :class:`Store` on the data there, unopened. The same data opens
again after a close (that is how the tests restart the store). A backend whose server is absent
says why in :attr:`Backend.unavailable`, and its tests are skipped with that reason.

A PostgreSQL backend plugs in by adding a :class:`Backend` to :data:`BACKENDS`: its factory
gives each test a database of its own, ``unavailable`` returns a reason when no server answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from smsgw.config.loader import load_default
from smsgw.config.schema import Config
from smsgw.metrics.instruments import Metrics

from .interface import (
    Consents,
    DispatchPolicy,
    Facts,
    NewMessage,
    Policy,
    Screened,
    Store,
    make_store,
)

__all__ = ["BACKENDS", "MAX_ATTEMPTS", "RETRY_BASE", "RETRY_MAX", "Backend", "Harness"]

MAX_ATTEMPTS = 3
"""Attempts every route of the suite allows a part before a temporary failure is final."""
RETRY_BASE = 2.0
RETRY_MAX = 60.0


def dispatch_policy() -> DispatchPolicy:
    """The retry settings every backend gets (routes ``sim`` and ``b``)."""
    return DispatchPolicy(
        max_attempts={"sim": MAX_ATTEMPTS, "b": MAX_ATTEMPTS},
        retry_base=RETRY_BASE,
        retry_max=RETRY_MAX,
        rng=random.Random(15),
    )


@dataclass(frozen=True)
class Backend:
    id: str
    make: Callable[[Path, Metrics], Store]
    """A store on the data in the folder (created on first open), not yet opened."""
    unavailable: Callable[[], str | None] = lambda: None
    """Why this backend cannot run here (its server is absent), or None."""


def _sqlite(folder: Path, metrics: Metrics) -> Store:
    default = load_default({})
    store = msgspec.structs.replace(default.store, path=str(folder / "store.db"))
    config = msgspec.structs.replace(default, store=store)
    return make_store(config, metrics=metrics, policy=dispatch_policy())


BACKENDS: tuple[Backend, ...] = (Backend("sqlite", _sqlite),)


class Harness:
    """One backend's store on throwaway data, opened and reopened as a test needs.

    :attr:`store` is the open store; :meth:`reopen` closes it and opens a new one on the same
    data (a restart); :attr:`consents` is the opt-out and consent facade over the open store.
    """

    def __init__(self, backend: Backend, folder: Path, config: Config) -> None:
        self.backend = backend
        self.folder = folder
        self.metrics = Metrics()
        self.policy = Policy(config, self.metrics)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        assert self._store is not None, "the harness has no open store"
        return self._store

    @property
    def consents(self) -> Consents:
        return Consents(self.store, self.metrics)

    async def open(self) -> Store:
        """Open a store on the data (the consent and courtesy policy as its claim gate)."""
        assert self._store is None
        store = self.backend.make(self.folder, self.metrics)
        store.gate = self.policy
        await store.open()
        self._store = store
        return store

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def reopen(self) -> Store:
        """Close the store and open it again on the same data, as after a restart."""
        await self.close()
        return await self.open()

    async def accept_screened(self, items: Sequence[tuple[NewMessage, Facts]]) -> list[Screened]:
        """Accept with the consent and courtesy policy deciding in the same commit."""
        return await self.store.accept_screened(items, self.policy)

    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value
