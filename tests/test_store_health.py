"""Store errors are an operating state: real SQLite failures, injected without mocks.

Disk full is ``PRAGMA max_page_count`` on the live connection (SQLite's own SQLITE_FULL), a
lock held by another process is a second connection in ``BEGIN EXCLUSIVE`` (SQLITE_BUSY past
busy_timeout), a read-only file system is the connection reopened read-only (SQLITE_READONLY).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.health import StoreFatal, StoreUnavailable
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from smsgw.queue.store.sqlite.writer import Tx
from tests.helpers import new_message

WAIT = 30.0
"""Seconds (real time) a test may wait for the store's probe; it is never reached."""


def make_store(path: Path, **kw: object) -> SqliteStore:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = make_store(tmp_path / "q.db", busy_timeout=0.05)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def metric(store: SqliteStore, name: str, labels: dict[str, str] | None = None) -> float:
    value = store.metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


async def fill_up(store: SqliteStore) -> StoreUnavailable:
    """Make the disk 'full' at its current size and accept until the store refuses."""
    pages = await store._writer.debug(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    await store._writer.debug(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
    for n in range(1000):
        try:
            await store.accept([new_message(n * 100 + i) for i in range(100)])
        except StoreUnavailable as e:
            return e
    raise AssertionError("the store never filled up")


async def give_space_back(store: SqliteStore) -> None:
    await store._writer.debug(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))


async def test_a_full_disk_is_unavailable_and_resumes_by_itself(
    store: SqliteStore, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "smsgw.store")
    nursery.start_soon(store.watch_health)
    error = await fill_up(store)
    assert error.kind == "full" and "full" in error.detail
    assert not store.health.up and store.health.kind == "full"
    assert "disk is full" in store.health.reason()
    assert metric(store, "smsgw_store_up") == 0
    assert metric(store, "smsgw_store_errors_total", {"kind": "full"}) >= 1
    queued = store.active_total
    # Every further write that needs room fails the same way and writes nothing; reads work.
    for n in range(3):
        with pytest.raises(StoreUnavailable):
            await store.accept([new_message(90_000 + n * 100 + i) for i in range(100)])
    assert store.active_total == queued
    assert (await store.stats()).webhooks_pending == 0
    # The outage is logged once, not per failed write.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "new sends get 503" in errors[0].getMessage()

    await give_space_back(store)
    with trio.fail_after(WAIT):
        await store.health.wait_up()
    assert metric(store, "smsgw_store_up") == 1
    assert any("writable again" in r.getMessage() for r in caplog.records)
    [result] = await store.accept([new_message(99_999)])
    assert result.created and store.active_total == queued + 1


async def test_a_lock_held_by_another_connection_is_unavailable(
    store: SqliteStore, nursery: trio.Nursery, tmp_path: Path
) -> None:
    nursery.start_soon(store.watch_health)
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable) as refused:
            await store.accept([new_message(1)])
        assert refused.value.kind == "busy"
        assert not store.health.up and "locked by another process" in store.health.reason()
        with pytest.raises(StoreUnavailable):
            await store.claim("sim", 10, 1_001.0)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with trio.fail_after(WAIT):
        await store.health.wait_up()
    assert (await store.accept([new_message(2)]))[0].created
    assert metric(store, "smsgw_store_errors_total", {"kind": "busy"}) >= 2


async def test_a_read_only_file_system_is_unavailable_until_writable(
    store: SqliteStore, nursery: trio.Nursery
) -> None:
    nursery.start_soon(store.watch_health)
    await store.accept([new_message(1)])
    await store._writer.debug_reopen("ro")
    with pytest.raises(StoreUnavailable) as refused:
        await store.accept([new_message(2)])
    assert refused.value.kind == "readonly"
    assert (await store.get(None, "nope")) is None  # reads go on
    # Writable again (as after a remount): the probe reopens the connection by itself.
    await store._writer.debug_reopen("rw", now=False)
    with trio.fail_after(WAIT):
        await store.health.wait_up()
    assert (await store.accept([new_message(3)]))[0].created
    assert store.active_total == 2


@pytest.mark.parametrize("how", ["unlinked", "replaced"])
async def test_a_store_file_removed_under_the_gateway_is_fatal(
    store: SqliteStore, tmp_path: Path, how: str
) -> None:
    await store.accept([new_message(1)])
    db = tmp_path / "q.db"
    if how == "unlinked":
        os.unlink(db)
    else:
        os.rename(db, tmp_path / "old.db")
        db.write_bytes(b"")
    # SQLite would happily go on committing into the unlinked file: every 202 a lie.
    with pytest.raises(StoreFatal) as failed:
        await store.accept([new_message(2)])
    assert failed.value.kind == "gone" and str(db) in str(failed.value)
    assert store.health.fatal is not None
    with pytest.raises(StoreFatal):
        await store.health.wait_up()
    with pytest.raises(StoreFatal):  # and for good: nothing more goes into it
        await store.claim("sim", 10, 1_001.0)
    assert metric(store, "smsgw_store_errors_total", {"kind": "gone"}) >= 1


async def test_corruption_found_mid_run_is_fatal(store: SqliteStore, tmp_path: Path) -> None:
    def rootpage(conn: sqlite3.Connection) -> tuple[int, int]:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'consents'")
        return page.fetchone()[0], conn.execute("PRAGMA page_size").fetchone()[0]

    page, size = await store._writer.debug(rootpage)
    await store._writer.debug_reopen("rw")  # a fresh page cache: the next read is from disk
    data = bytearray((tmp_path / "q.db").read_bytes())
    data[(page - 1) * size : page * size] = b"\xff" * size
    (tmp_path / "q.db").write_bytes(bytes(data))

    def read_consents(tx: Tx) -> int:  # the table itself, not the index count(*) would use
        return len(tx.conn.execute("SELECT evidence FROM consents").fetchall())

    with pytest.raises(StoreFatal) as failed:
        await store.call(read_consents)
    assert failed.value.kind == "corrupt" and "smsgw store check" in str(failed.value)


async def test_the_writer_survives_its_own_failures(store: SqliteStore) -> None:
    def commit_then_fail_after(tx: Tx) -> str:
        tx.conn.execute("INSERT INTO store_probe (pad) VALUES (x'00')")

        def boom() -> None:
            raise ValueError("a bug in an after-commit callback")

        tx.after_commit(boom)
        return "committed"

    assert await store.call(commit_then_fail_after) == "committed"
    with trio.fail_after(WAIT):  # the thread is alive: the next call is answered
        assert (await store.accept([new_message(1)]))[0].created


async def test_an_operations_own_error_fails_only_that_operation(store: SqliteStore) -> None:
    def bad(tx: Tx) -> None:
        tx.conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def accept_one() -> None:
        await store.accept([new_message(1)])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_one)
        with pytest.raises(sqlite3.OperationalError):
            await store.call(bad)
    assert store.health.up and store.active_total == 1
