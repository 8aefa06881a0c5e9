"""The SQLite store's own promises, beyond the interface every backend keeps (that is
tests/store_conformance/): the file's format, group commit's isolation, and message ids."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.migrations import SCHEMA_VERSION
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.helpers import new_message


def _store(path: Path) -> SqliteStore:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3, "b": 3}, retry_base=2.0, retry_max=60.0),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = _store(tmp_path / "q.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_the_file_is_at_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    s = _store(tmp_path / "q.db")
    await s.open()
    await s.accept([new_message(1)])
    await s.close()
    conn = sqlite3.connect(tmp_path / "q.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failing_operation_does_not_sink_its_batch(store: SqliteStore) -> None:
    import trio

    from smsgw.queue.store.sqlite.writer import Tx

    def boom(tx: Tx) -> None:
        tx.conn.execute("INSERT INTO messages (mid) VALUES (NULL)")  # violates NOT NULL

    results: dict[str, object] = {}

    async def bad() -> None:
        try:
            await store._writer.call(boom)
        except sqlite3.IntegrityError as e:
            results["bad"] = e

    async def good() -> None:
        results["good"] = await store.accept([new_message(9)])

    async with trio.open_nursery() as n:
        n.start_soon(bad)
        n.start_soon(good)
    assert isinstance(results["bad"], sqlite3.IntegrityError)
    assert store.active["transactional"] == 1
    assert await store.get("shop", results["good"][0].id) is not None  # type: ignore[index]


def test_ids_sort_by_time_and_carry_it() -> None:
    from smsgw.queue.store.sqlite.accept import new_ids

    times = [1_700_000_000.0 + i * 0.001 for i in range(500)]
    ids = new_ids("msg_", times)
    assert len(set(ids)) == 500 and sorted(ids) == ids
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    for t, public in zip(times, ids, strict=True):
        body = public.removeprefix("msg_")
        assert len(body) == 26 and set(body) <= set(alphabet)
        value = 0
        for ch in body:
            value = value * 32 + alphabet.index(ch)
        assert value >> 80 == int(t * 1000)


@pytest.mark.parametrize("prefix", [False, True])
@pytest.mark.parametrize("waiting", [False, True])
async def test_a_cancel_by_reference_reads_an_index_range_per_key(
    store: SqliteStore, prefix: bool, waiting: bool
) -> None:
    from smsgw.queue.store.sqlite.cancel import match_query
    from smsgw.queue.store.sqlite.writer import Tx

    await store.accept([new_message(i, client_ref=f"cart/{i}") for i in range(50)])
    sql, params = match_query(["shop", "other"], "cart/", prefix, waiting, 10)

    def plan(tx: Tx) -> list[str]:
        return [str(row[-1]) for row in tx.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    steps = await store.call(plan)
    assert any("messages_client_ref (key=? AND client_ref" in s for s in steps), steps
    assert not any(s.startswith("SCAN m") for s in steps), steps
