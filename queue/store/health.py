"""The store's health: store errors are an operating state, not a crash.

SQLite can refuse to write for reasons that pass: the disk is full, an I/O error, the file
system went read-only, another process holds the database locked past ``busy_timeout``. Those
are *transient* (:class:`StoreUnavailable`): the gateway keeps running, new sends get ``503
store_unavailable``, route runners stop claiming, the drivers' sink calls wait (so nothing a
carrier answered is dropped and nothing unstored is acknowledged), and a probe retries with
backoff until a write commits again; then everything resumes by itself.

Other failures mean the store itself is gone: the file was deleted or replaced under the
running gateway, or SQLite found it corrupt. Those are *fatal* (:class:`StoreFatal`, a
:class:`~smsgw.drivers.supervise.Fatal`): writing on would lose what is accepted, so the
gateway stops with one line.

:class:`StoreHealth` is the trio-side state the writer thread reports into: ``up``, the
reason, the ``smsgw_store_up`` gauge and ``smsgw_store_errors_total{kind}``, and one log line
per outage (not per request).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal, NoReturn, TypeVar

import trio

from smsgw.drivers.backoff import backoff
from smsgw.drivers.supervise import Fatal
from smsgw.metrics.instruments import Metrics

__all__ = [
    "FATAL_KINDS",
    "KINDS",
    "TRANSIENT_KINDS",
    "ErrorKind",
    "StoreClosed",
    "StoreFatal",
    "StoreHealth",
    "StoreUnavailable",
    "outlasting",
    "until_stored",
]

log = logging.getLogger("smsgw.store")

T = TypeVar("T")

ErrorKind = Literal["full", "busy", "io", "readonly", "corrupt", "gone"]
TRANSIENT_KINDS: tuple[ErrorKind, ...] = ("full", "busy", "io", "readonly")
FATAL_KINDS: tuple[ErrorKind, ...] = ("corrupt", "gone")
KINDS: tuple[ErrorKind, ...] = TRANSIENT_KINDS + FATAL_KINDS

PROBE_MIN = 0.5
"""Seconds before the first probe of an unavailable store."""
PROBE_MAX = 15.0
"""Longest wait between probes."""

_DESCRIPTIONS: dict[str, str] = {
    "full": "the disk is full",
    "busy": "the database is locked by another process",
    "io": "an I/O error",
    "readonly": "the file system or file is read-only",
    "corrupt": "the database file is corrupt",
    "gone": "the database file was removed or replaced",
}


class StoreClosed(RuntimeError):
    """The store was closed; nothing more can be written."""


class StoreUnavailable(Exception):
    """The store cannot write just now (transient); nothing of the operation was written.

    ``kind`` is one of :data:`TRANSIENT_KINDS`; ``detail`` is SQLite's own message.
    """

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"store unavailable: {_DESCRIPTIONS[kind]} ({detail})")
        self.kind = kind
        self.detail = detail


class StoreFatal(Fatal):
    """The store itself failed (removed, replaced, corrupt): the gateway must stop.

    ``str()`` is one line naming the file, the reason and what to do.
    """

    def __init__(self, path: str, kind: ErrorKind, detail: str) -> None:
        super().__init__(
            f"{path}: {_DESCRIPTIONS[kind]} ({detail}); stopping so that nothing more is"
            " accepted into it. Restore the file from a backup (`smsgw store check --path"
            f" {path}` tells whether it is sound), then start smsgw again"
        )
        self.path = path
        self.kind = kind
        self.detail = detail


class StoreHealth:
    """Whether the store can write, and since when; see the module docstring.

    ``report_error`` and ``report_ok`` are called in trio (the writer thread schedules them
    with ``run_sync_soon`` before it wakes the callers of the batch, so a caller that got
    :class:`StoreUnavailable` already sees ``up`` False).
    """

    def __init__(self, path: str, metrics: Metrics, wall: Callable[[], float] = time.time):
        self.path = path
        self.metrics = metrics
        self.wall = wall
        self.up = True
        self.kind: ErrorKind | None = None
        self.detail = ""
        self.since: float | None = None
        """Wall time the current outage began."""
        self.recovered_at = -math.inf
        """trio time the last outage ended (stale in-flight recovery waits after one)."""
        self.fatal: StoreFatal | None = None
        self.errors = 0
        """Failed attempts in the current outage."""
        self._up_event = trio.Event()
        self._up_event.set()
        self._down_event = trio.Event()
        self._fatal_event = trio.Event()
        metrics.store_up.set(1)
        for kind in KINDS:
            metrics.store_errors.labels(kind)

    # -- reports (trio side) -----------------------------------------------------------------

    def report_error(self, kind: ErrorKind, detail: str) -> None:
        """A transaction failed for a store-level reason (see :data:`KINDS`)."""
        self.metrics.store_errors.labels(kind).inc()
        if kind in FATAL_KINDS:
            if self.fatal is None:
                self.fatal = StoreFatal(self.path, kind, detail)
                log.critical("store failed: %s", self.fatal)
                self._go_down(kind, detail)
                self._fatal_event.set()
                self._up_event.set()  # wakes wait_up(), which then raises the fatal error
            return
        self.errors += 1
        if self.up:
            self._go_down(kind, detail)
            log.error(
                "store %s unavailable: %s (%s); new sends get 503 store_unavailable, dispatch"
                " is paused, outcomes and receipts wait; retrying with backoff",
                self.path,
                _DESCRIPTIONS[kind],
                detail,
            )
        elif kind != self.kind:
            self.kind, self.detail = kind, detail

    def report_ok(self) -> None:
        """A transaction that wrote something committed."""
        if self.up or self.fatal is not None:
            return
        took = self.wall() - (self.since or self.wall())
        log.warning(
            "store %s writable again after %.1f s (%d failed attempts); resuming",
            self.path,
            took,
            self.errors,
        )
        self.up = True
        self.kind, self.detail, self.since, self.errors = None, "", None, 0
        self.recovered_at = trio.current_time()
        self.metrics.store_up.set(1)
        self._up_event.set()
        self._down_event = trio.Event()

    def _go_down(self, kind: ErrorKind, detail: str) -> None:
        if self.up:
            self.up = False
            self.since = self.wall()
            self._up_event = trio.Event()
            self._down_event.set()
            self.metrics.store_up.set(0)
        self.kind, self.detail = kind, detail

    # -- for callers ---------------------------------------------------------------------

    def error(self) -> StoreUnavailable | StoreFatal:
        """The exception that describes the current outage (call only while down)."""
        if self.fatal is not None:
            return self.fatal
        return StoreUnavailable(self.kind or "io", self.detail)

    def reason(self) -> str:
        """For ``/readyz``: empty while up."""
        if self.up:
            return ""
        return f"store unavailable: {_DESCRIPTIONS[self.kind or 'io']} ({self.detail})"

    async def wait_up(self) -> None:
        """Return once the store is writable (at once, without a checkpoint, when it is).

        Raises :class:`StoreFatal` if the store failed for good (now or while waiting).
        """
        while not self.up:
            if self.fatal is not None:
                raise self.fatal
            await self._up_event.wait()

    async def wait_down(self) -> None:
        """Return once the store is unavailable (at once when it is)."""
        await self._down_event.wait()

    async def wait_fatal(self) -> StoreFatal:
        """Return the fatal error once there is one."""
        await self._fatal_event.wait()
        assert self.fatal is not None
        return self.fatal

    async def watch(
        self, probe: Callable[[], Awaitable[None]], *, rng: random.Random | None = None
    ) -> NoReturn:
        """While the store is down, call ``probe()`` with exponential backoff and jitter until
        one succeeds (its commit reports the store up). Runs until cancelled."""
        rng = rng or random.Random()
        while True:
            await self.wait_down()
            failed = 1
            while not self.up:
                if self.fatal is not None:
                    await trio.sleep_forever()  # the gateway is stopping; nothing to probe
                await trio.sleep(backoff(failed, PROBE_MIN, PROBE_MAX, rng))
                try:
                    await probe()
                except StoreUnavailable:
                    failed += 1


async def until_stored(health: StoreHealth, fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()``, again and again while it raises :class:`StoreUnavailable`, waiting for
    the store to be writable between tries. For work that must not be dropped (a carrier's
    answer, a receipt, an inbound message not yet acknowledged): the caller is held, not failed.

    ``fn`` must be safe to repeat after a failure (a failed transaction wrote nothing).
    Raises :class:`StoreFatal` when the store failed for good; cancellation passes through.
    """
    while True:
        try:
            return await fn()
        except StoreUnavailable:
            await health.wait_up()


async def outlasting(health: StoreHealth, fn: Callable[[], Awaitable[object]]) -> None:
    """Run a long-running task ``fn``; when it ends by :class:`StoreUnavailable` alone (also
    inside an exception group), wait for the store and run it again. Anything else raised
    passes on (to :func:`~smsgw.drivers.supervise.supervised`, which counts and restarts)."""
    while True:
        try:
            await fn()
            return
        except* StoreUnavailable:
            pass
        await health.wait_up()
