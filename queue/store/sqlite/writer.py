"""The store's one writer thread: stdlib sqlite3, group commit, answers delivered to trio.

Why a thread and not aiosqlite: aiosqlite is built on asyncio futures and fails under trio,
and a dedicated thread owning one connection is faster than the async wrappers that do work.

Callers on the trio side ``await writer.call(fn, *args)``. The thread takes whatever is queued
(up to ``batch`` operations), runs them all inside ONE transaction and commits once, then wakes
every caller of that batch with a single ``run_sync_soon``. So a 202 waits for exactly one fsync
shared with everything else that arrived in the same tick. While several callers keep the store
busy (the last commit held more than one operation and ended moments ago, see ``_LINGER``) a
batch of a few operations waits a few milliseconds at most for more: a commit rewrites every
page its rows touch, so larger commits write much less per message. An idle store, or one
caller waiting on each call in turn, commits at once.

If one operation raises, the whole transaction is rolled back and the batch is replayed one
operation per transaction, so the failing one gets its exception and the others still commit:
no half-written rows, no innocent bystanders.

A failure of the store itself is different: the disk is full, an I/O error, a read-only file,
the database locked by another process (transient: every caller of the batch gets
:class:`~smsgw.queue.store.health.StoreUnavailable`, nothing was written, and the writer reports
the outage to :class:`~smsgw.queue.store.health.StoreHealth`), or the file was removed, replaced or
found corrupt (fatal: :class:`~smsgw.queue.store.health.StoreFatal`, now and for every later call,
because writing on into an unlinked file would acknowledge messages nobody will ever read).
SQLite does not notice a database file unlinked under it, so the writer checks before each
commit that its path still names the file it opened. The thread never dies of an error: each
caller gets one.

Operations may register ``after_commit`` callbacks on the :class:`Tx` (metrics, wake-ups); they
run only if the transaction committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue as stdlib_queue
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, Literal, TypeVar

import trio

from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.health import (
    FATAL_KINDS,
    ErrorKind,
    StoreClosed,
    StoreFatal,
    StoreHealth,
    StoreUnavailable,
)

__all__ = ["StoreClosed", "Tx", "Writer", "classify"]

log = logging.getLogger("smsgw.store")

T = TypeVar("T")


_LINGER = 0.003
"""Seconds, in all, a small batch waits for more operations while the store is busy."""
_LINGER_OPS = 64
"""A batch of this many operations commits at once."""


# SQLite result codes (primary code = extended code & 0xFF), https://sqlite.org/rescode.html
_KINDS: dict[int, ErrorKind] = {
    5: "busy",  # SQLITE_BUSY: another connection holds the lock past busy_timeout
    6: "busy",  # SQLITE_LOCKED
    15: "busy",  # SQLITE_PROTOCOL: a lock race in WAL; retrying is the cure
    8: "readonly",  # SQLITE_READONLY
    10: "io",  # SQLITE_IOERR and its extended codes
    14: "io",  # SQLITE_CANTOPEN: the -wal or -shm cannot be opened (a full or read-only dir)
    13: "full",  # SQLITE_FULL
    11: "corrupt",  # SQLITE_CORRUPT
    26: "corrupt",  # SQLITE_NOTADB
}
_READONLY_DBMOVED = 1032
_PROBE_BYTES = 256 * 1024
"""The probe allocates this much (and frees it again): room for real work, not one row."""


class _FileGone(Exception):
    """The path no longer names the database file the writer opened."""


def classify(exc: BaseException) -> ErrorKind | None:
    """The store-level kind of ``exc`` (see :data:`~smsgw.queue.store.health.KINDS`), or None for an
    error of one operation (a constraint, a bug) that leaves the store itself sound."""
    if isinstance(exc, _FileGone):
        return "gone"
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code == _READONLY_DBMOVED:
        return "gone"
    if isinstance(code, int):
        return _KINDS.get(code & 0xFF)
    return None


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
    __slots__ = ("args", "control", "error", "event", "fn", "result")

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], control: bool = False):
        self.fn = fn
        self.args = args
        self.control = control
        """Runs alone, outside any transaction (reconnects, test hooks)."""
        self.event = trio.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


def _probe_op(tx: Tx) -> None:
    # Allocate pages and free them again in one transaction: it commits only if the store can
    # grow and write, and leaves the freed pages on the freelist for the real work after it.
    tx.conn.execute("INSERT INTO store_probe (pad) VALUES (zeroblob(?))", (_PROBE_BYTES,))
    tx.conn.execute("DELETE FROM store_probe")


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
        health: StoreHealth | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = os.path.abspath(path)
        self._setup = setup
        self._synchronous = synchronous.upper()
        self._batch = batch
        self._metrics = metrics
        self._health = health
        self._busy_timeout_ms = max(0, round(busy_timeout * 1000))
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
        # Owned by the writer thread:
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._mode: Literal["rwc", "rw", "ro"] = "rwc"
        self._down: ErrorKind | None = None
        self._fatal: tuple[ErrorKind, str] | None = None
        # Trio side: operations refused by a store-level failure, by name (statistics()).
        self._refused: dict[str, int] = {}
        self._refused_changed = trio.Event()

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
        Raises what ``fn`` raised, :class:`~smsgw.queue.store.health.StoreUnavailable` or
        :class:`~smsgw.queue.store.health.StoreFatal` (nothing written), :class:`StoreClosed`.
        """
        return await self._submit(_Op(fn, args))

    async def _submit(self, op: _Op[T]) -> T:
        if self._closed:
            raise StoreClosed("store is closed")
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

    async def probe(self) -> None:
        """Try a small write (reopening the connection first after an I/O or read-only error);
        returns once it committed. Raises like :meth:`call`."""
        await self._submit(_Op(self._reopen_if_needed, (), control=True))
        await self.call(_probe_op)

    async def debug(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Test hook: ``fn(conn)`` in the writer thread outside any transaction, e.g.
        ``PRAGMA max_page_count`` to make the store really full."""
        return await self._submit(_Op(lambda: fn(self._connection()), (), control=True))

    async def debug_reopen(self, mode: Literal["rw", "ro"], *, now: bool = True) -> None:
        """Test hook: open the database ``mode`` from now on (as if its file system had been
        remounted), reopening at once or (``now`` False) at the next reopen."""

        def reopen() -> None:
            self._mode = mode
            if now:
                self._reopen()

        await self._submit(_Op(reopen, (), control=True))

    def statistics(self) -> dict[str, dict[str, int]]:
        """``{"refused": {operation name: count}}``: calls that got StoreUnavailable or
        StoreFatal (which of the gateway's tasks met an outage, and how often)."""
        return {"refused": dict(self._refused)}

    async def wait_refused(self, names: set[str]) -> None:
        """Return once an operation of each of ``names`` has been refused (tests)."""
        while not names <= self._refused.keys():
            await self._refused_changed.wait()

    def _note_refused(self, names: list[str]) -> None:
        for name in names:
            self._refused[name] = self._refused.get(name, 0) + 1
        self._refused_changed.set()
        self._refused_changed = trio.Event()

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

    # -- the thread: connection ----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # "rwc" creates the file only at the first open; a reopen must never make a new,
        # empty database where the store was.
        # The queue holds numbers and texts: the file is 0600 whatever the umask (SQLite gives
        # the -wal and -shm files the database file's permissions).
        if self._mode == "rwc" and self._path != ":memory:":
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        uri = f"file:{urllib.parse.quote(self._path)}?mode={self._mode}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            if self._identity is None:
                self._check_json(conn)
                st = os.stat(self._path)
                self._identity = (st.st_dev, st.st_ino)
            else:
                self._check_file()
        except BaseException:
            conn.close()
            raise
        if self._mode == "rwc":
            self._mode = "rw"
        return conn

    @staticmethod
    def _check_json(conn: sqlite3.Connection) -> None:
        try:  # the store writes many rows per statement through json_each (see transitions)
            conn.execute("SELECT value FROM json_each('[1]')").fetchall()
        except sqlite3.OperationalError as e:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} was built without the JSON functions"
                " (json_each) that the store needs"
            ) from e

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._reopen()
        assert self._conn is not None
        return self._conn

    def _check_file(self) -> None:
        """Raise :class:`_FileGone` when the path no longer names the file that was opened."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            raise _FileGone("the file is no longer there") from None
        except OSError:
            return  # an I/O error says nothing about which file it is; SQLite will tell
        if (st.st_dev, st.st_ino) != self._identity:
            raise _FileGone("another file now has its name")

    def _reopen(self) -> None:
        old, self._conn = self._conn, None
        if old is not None:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        try:
            self._check_file()
            self._conn = self._connect()
        except BaseException as e:
            kind = classify(e) or "io"
            raise self._failed(kind, e) from None

    def _reopen_if_needed(self) -> None:
        if self._fatal is not None:
            raise StoreFatal(self._path, *self._fatal)
        if self._conn is None or self._down in ("io", "readonly"):
            self._reopen()

    # -- the thread: the loop ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._conn = self._connect()
            if self._setup is not None:
                self._setup(self._conn)
        except BaseException as e:  # reported to open()
            if self._conn is not None:
                self._conn.close()
            self._open_error = e
            self._opened.set()
            return
        self._opened.set()
        try:
            pending: _Op[Any] | None = None
            while True:
                first = pending if pending is not None else self._queue.get()
                pending = None
                if first is None:
                    break
                if first.control:
                    self._run_control(first)
                    continue
                batch, pending, stop = self._gather(first)
                self._run_batch(batch)
                self._last_commit = time.perf_counter()
                self._last_ops = len(batch)
                if stop:
                    break
        finally:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()

    def _gather(self, first: _Op[Any]) -> tuple[list[_Op[Any]], _Op[Any] | None, bool]:
        """``first`` and what else is queued (up to ``batch``); a control operation met on the
        way (it runs alone, next); True when close() was asked."""
        batch = [first]
        deadline = 0.0
        while len(batch) < self._batch:
            try:
                nxt = self._queue.get_nowait()
            except stdlib_queue.Empty:
                # Under load a small batch waits, up to LINGER in all, for company: each commit
                # rewrites every page its rows share, so fewer, larger commits write far less.
                if len(batch) >= _LINGER_OPS or not self._loaded():
                    break
                now = time.perf_counter()
                if not deadline:
                    deadline = now + _LINGER
                if now >= deadline:
                    break
                try:
                    nxt = self._queue.get(timeout=deadline - now)
                except stdlib_queue.Empty:
                    break
            if nxt is None:
                return batch, None, True
            if nxt.control:
                return batch, nxt, False
            batch.append(nxt)
        return batch, None, False

    def _loaded(self) -> bool:
        """Several callers keep the store busy: the last commit had company and ended moments
        ago. (One caller waiting on each of its calls in turn gains nothing from a wait.)"""
        return self._last_ops > 1 and time.perf_counter() - self._last_commit < _LINGER

    def _run_control(self, op: _Op[Any]) -> None:
        try:
            op.result = op.fn(*op.args)
        except BaseException as e:
            op.error = e
        self._deliver([op])

    def _run_batch(self, batch: list[_Op[Any]]) -> None:
        started = time.perf_counter()
        try:
            if self._fatal is not None:
                for op in batch:
                    op.error = StoreFatal(self._path, *self._fatal)
            else:
                self._execute(self._connection(), batch)
        except (StoreUnavailable, StoreFatal) as e:  # the reopen failed; _failed reported it
            for op in batch:
                op.result, op.error = None, _like(e)
        except BaseException as e:  # the writer's own machinery: never strand a caller
            log.exception("store writer failed on a batch of %d operations", len(batch))
            for op in batch:
                op.result, op.error = None, e
        finally:
            if self._metrics is not None:
                self._metrics.store_commit.observe(time.perf_counter() - started)
                self._metrics.store_batch.observe(len(batch))
            self._deliver(batch)

    def _execute(self, conn: sqlite3.Connection, batch: list[_Op[Any]]) -> None:
        tx = Tx(conn)
        before = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                op.result = op.fn(tx, *op.args)
            self._check_file()
            conn.execute("COMMIT")
        except BaseException as e:
            self._rollback(conn)
            kind = classify(e)
            if kind is None:
                self._replay_one_by_one(conn, batch)
                return
            error = self._failed(kind, e)
            for op in batch:
                op.result, op.error = None, _like(error)
        else:
            if conn.total_changes != before:
                self._wrote()
            self._after(tx)

    def _replay_one_by_one(self, conn: sqlite3.Connection, batch: list[_Op[Any]]) -> None:
        for i, op in enumerate(batch):
            tx = Tx(conn)
            op.result = None
            op.error = None
            before = conn.total_changes
            try:
                conn.execute("BEGIN IMMEDIATE")
                op.result = op.fn(tx, *op.args)
                self._check_file()
                conn.execute("COMMIT")
            except BaseException as e:
                self._rollback(conn)
                kind = classify(e)
                if kind is None:
                    op.result, op.error = None, e
                    continue
                error = self._failed(kind, e)
                for rest in batch[i:]:  # the store failed: don't hammer it with the rest
                    rest.result, rest.error = None, _like(error)
                return
            else:
                if conn.total_changes != before:
                    self._wrote()
                self._after(tx)

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            # Nothing was committed; a connection that cannot even roll back is reopened.
            log.warning("store rollback failed; reopening the connection", exc_info=True)
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._conn = None

    def _failed(self, kind: ErrorKind, exc: BaseException) -> StoreUnavailable | StoreFatal:
        """Record a store-level failure; returns the error its callers get."""
        detail = str(exc) or type(exc).__name__
        error: StoreUnavailable | StoreFatal
        if kind in FATAL_KINDS:
            self._fatal = (kind, detail)
            error = StoreFatal(self._path, kind, detail)
        else:
            error = StoreUnavailable(kind, detail)
        self._down = kind
        if self._health is not None:
            self.run_in_trio(partial(self._health.report_error, kind, detail))
        return error

    def _wrote(self) -> None:
        if self._down is not None and self._fatal is None:
            self._down = None
            if self._health is not None:
                self.run_in_trio(self._health.report_ok)

    @staticmethod
    def _after(tx: Tx) -> None:
        for fn in tx._after:
            try:
                fn()
            except Exception:  # metrics and wake-ups; the commit stands
                log.exception("after-commit callback failed")

    def _deliver(self, batch: list[_Op[Any]]) -> None:
        refused = [
            getattr(op.fn, "__name__", "?")
            for op in batch
            if isinstance(op.error, StoreUnavailable | StoreFatal)
        ]
        if refused:
            self.run_in_trio(partial(self._note_refused, refused))

        def wake() -> None:
            for op in batch:
                op.event.set()

        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(wake)


def _like(error: StoreUnavailable | StoreFatal) -> StoreUnavailable | StoreFatal:
    """A fresh copy for each caller (one exception object raised in many tasks would share,
    and grow, one traceback)."""
    if isinstance(error, StoreFatal):
        return StoreFatal(error.path, error.kind, error.detail)
    return StoreUnavailable(error.kind, error.detail)
