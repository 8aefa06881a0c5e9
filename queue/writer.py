"""The store's one writer thread: stdlib sqlite3, group commit, answers delivered to trio.

Why a thread and not aiosqlite: aiosqlite is built on asyncio futures and fails under trio;
a dedicated thread owning one connection is the fastest measured option (STACK.md).

Callers on the trio side ``await writer.call(fn, *args)``. The thread takes whatever is queued
(up to ``batch`` operations), runs them all inside ONE transaction and commits once, then wakes
every caller of that batch with a single ``run_sync_soon``. So a 202 waits for exactly one fsync
shared with everything else that arrived in the same tick. While several callers keep the store
busy (the last commit held more than one operation and ended less than a millisecond ago) a
batch of a few operations waits up to a millisecond for more: a commit rewrites every page its
rows touch, so larger commits write much less per message. An idle store, or one caller waiting
on each call in turn, commits at once.

If one operation raises, the whole transaction is rolled back and the batch is replayed one
operation per transaction, so the failing one gets its exception and the others still commit:
no half-written rows, no innocent bystanders.

Operations may register ``after_commit`` callbacks on the :class:`Tx` (metrics, wake-ups); they
run only if the transaction committed.
"""

from __future__ import annotations

import contextlib
import os
import queue as stdlib_queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import trio

from smsgw.metrics.instruments import Metrics

__all__ = ["StoreClosed", "Tx", "Writer"]

T = TypeVar("T")


class StoreClosed(RuntimeError):
    """The store was closed; nothing more can be written."""


_LINGER = 0.001
"""Seconds a small batch waits for more operations while the store is busy."""
_LINGER_OPS = 8
"""A batch of this many operations commits at once."""


class Tx:
    """What an operation gets: the connection and a place for after-commit work."""

    __slots__ = ("_after", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the writer thread once this transaction has committed."""
        self._after.append(fn)


class _Op(Generic[T]):
    __slots__ = ("args", "error", "event", "fn", "result")

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.event = trio.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Writer:
    """Owns the connection and the thread; see the module docstring."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "full",
        batch: int = 1000,
        metrics: Metrics | None = None,
        setup: Callable[[sqlite3.Connection], object] | None = None,
    ) -> None:
        self._path = path
        self._setup = setup
        self._synchronous = synchronous.upper()
        self._batch = batch
        self._metrics = metrics
        self._queue: stdlib_queue.SimpleQueue[_Op[Any] | None] = stdlib_queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._closed = False
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.outstanding = 0
        """Calls waiting for their commit (trio side)."""
        self._busy = trio.Event()
        self._last_commit = 0.0
        self._last_ops = 0

    async def open(self) -> None:
        """Start the thread and open the database; raises if the file cannot be opened."""
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._run, name="smsgw-store", daemon=True)
        self._thread.start()
        await trio.to_thread.run_sync(self._opened.wait)
        if self._open_error is not None:
            raise self._open_error

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(tx, *args)`` in the writer thread inside a group-committed transaction.

        Returns once the transaction that ran it has committed. If the caller is cancelled while
        waiting, the operation still runs and commits: cancellation cannot un-write a row.
        """
        if self._closed:
            raise StoreClosed("store is closed")
        op: _Op[T] = _Op(fn, args)
        self._queue.put(op)
        self.outstanding += 1
        self._busy.set()
        try:
            await op.event.wait()
        finally:
            self.outstanding -= 1
            if not self.outstanding:
                self._busy = trio.Event()
        if op.error is not None:
            raise op.error
        return op.result  # type: ignore[return-value]

    async def wait_busy(self) -> None:
        """Return once some call is waiting for the thread (tests use it to hold a mock clock
        still while the database works)."""
        await self._busy.wait()

    def run_in_trio(self, fn: Callable[[], None]) -> None:
        """From the writer thread: have trio call ``fn`` soon (after this batch is answered)."""
        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(fn)

    async def close(self) -> None:
        """Finish what is queued, commit, close the connection and join the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            await trio.to_thread.run_sync(self._thread.join)

    # -- the thread ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # The queue holds numbers and texts: the folder 0700 and the file 0600 whatever the
        # umask. SQLite gives the -wal and -shm files the database file's permissions.
        os.makedirs(os.path.dirname(os.path.abspath(self._path)), mode=0o700, exist_ok=True)
        if self._path != ":memory:":
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        conn.execute("PRAGMA busy_timeout=5000")
        try:  # the store writes many rows per statement through json_each (see transitions)
            conn.execute("SELECT value FROM json_each('[1]')").fetchall()
        except sqlite3.OperationalError as e:
            conn.close()
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} was built without the JSON functions"
                " (json_each) that the store needs"
            ) from e
        return conn

    def _run(self) -> None:
        try:
            conn = self._connect()
            if self._setup is not None:
                self._setup(conn)
        except BaseException as e:  # reported to open()
            self._open_error = e
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    break
                batch, stop = self._gather(first)
                self._run_batch(conn, batch)
                self._last_commit = time.perf_counter()
                self._last_ops = len(batch)
                if stop:
                    break
        finally:
            conn.close()

    def _gather(self, first: _Op[Any]) -> tuple[list[_Op[Any]], bool]:
        """``first`` and what else is queued (up to ``batch``); True when close() was asked."""
        batch = [first]
        lingered = False
        while len(batch) < self._batch:
            try:
                nxt = self._queue.get_nowait()
            except stdlib_queue.Empty:
                # Under load a small batch waits once, up to LINGER, for company: each commit
                # rewrites every page its rows share, so fewer, larger commits write far less.
                if lingered or len(batch) >= _LINGER_OPS or not self._loaded():
                    break
                lingered = True
                try:
                    nxt = self._queue.get(timeout=_LINGER)
                except stdlib_queue.Empty:
                    break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _loaded(self) -> bool:
        """Several callers keep the store busy: the last commit had company and ended moments
        ago. (One caller waiting on each of its calls in turn gains nothing from a wait.)"""
        return self._last_ops > 1 and time.perf_counter() - self._last_commit < _LINGER

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Op[Any]]) -> None:
        started = time.perf_counter()
        tx = Tx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                op.result = op.fn(tx, *op.args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._replay_one_by_one(conn, batch)
        else:
            self._after(tx)
        if self._metrics is not None:
            self._metrics.store_commit.observe(time.perf_counter() - started)
            self._metrics.store_batch.observe(len(batch))
        self._deliver(batch)

    def _replay_one_by_one(self, conn: sqlite3.Connection, batch: list[_Op[Any]]) -> None:
        for op in batch:
            tx = Tx(conn)
            op.result = None
            op.error = None
            try:
                conn.execute("BEGIN IMMEDIATE")
                op.result = op.fn(tx, *op.args)
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                op.error = e
            else:
                self._after(tx)

    @staticmethod
    def _after(tx: Tx) -> None:
        for fn in tx._after:
            fn()

    def _deliver(self, batch: list[_Op[Any]]) -> None:
        def wake() -> None:
            for op in batch:
                op.event.set()

        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(wake)
