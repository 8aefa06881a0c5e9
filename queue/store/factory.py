"""The one place a store backend is chosen and built from config.

The service, the ``smsgw store`` commands and the tests' fixtures get their store here, so a
second backend (PostgreSQL) plugs in at this module: a branch on the config that selects it,
and its own ``check`` and ``backup``. Today every store is SQLite (``[store] path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from smsgw.config.schema import Config
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.retry import DispatchPolicy
from smsgw.queue.store.interface import Store
from smsgw.queue.store.sqlite import maintenance
from smsgw.queue.store.sqlite.maintenance import BackupResult, CheckResult
from smsgw.queue.store.sqlite.store import SqliteStore

__all__ = [
    "BackupResult",
    "CheckResult",
    "backup_store",
    "check_store",
    "dispatch_policy",
    "make_store",
]


def dispatch_policy(config: Config) -> DispatchPolicy:
    """The retry settings of ``config``: attempts per route, the backoff's base and cap."""
    return DispatchPolicy(
        max_attempts={r.name: r.max_attempts for r in config.routes},
        retry_base=config.scheduler.retry_base,
        retry_max=config.scheduler.retry_max,
    )


def make_store(
    config: Config,
    *,
    metrics: Metrics,
    policy: DispatchPolicy | None = None,
    evidence: Sequence[str] = (),
    wall: Callable[[], float] = time.time,
) -> Store:
    """The store ``config`` describes, not yet opened (``await store.open()``).

    ``policy`` overrides the retry settings taken from ``config``; ``evidence`` names files
    beside the store whose presence says a store existed there (see
    :class:`~smsgw.queue.store.sqlite.store.SqliteStore`).
    """
    s = config.store
    return SqliteStore(
        s.path,
        metrics=metrics,
        policy=policy if policy is not None else dispatch_policy(config),
        synchronous=s.synchronous,
        commit_batch=s.commit_batch,
        busy_timeout=s.busy_timeout,
        evidence=evidence,
        wall=wall,
    )


def check_store(path: str) -> CheckResult:
    """Check the store's integrity without opening it for writing (``smsgw store check``).
    Raises :class:`~smsgw.queue.store.refusals.StoreRefused` when it cannot be read at all."""
    return maintenance.check(path)


def backup_store(path: str, destination: str) -> BackupResult:
    """Copy the store while a gateway may be writing to it (``smsgw store backup``).
    Raises :class:`~smsgw.queue.store.refusals.StoreRefused` when it cannot be copied."""
    return maintenance.backup(path, destination)
