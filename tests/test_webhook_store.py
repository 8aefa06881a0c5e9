"""Webhook rows in the store (a real SQLite file): queued with the change, claimed per lane,
in order per message, finished in batches, kept when they failed for good."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from smsgw.drivers.seam import Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from smsgw.queue.store.sqlite.webhooks import DEAD_KEPT, Claim, Finished, WebhookJob, origin_of
from tests.helpers import new_message

URL = "http://127.0.0.1:9/hook"
LANE = ("shop", "http://127.0.0.1:9")


def _store(path: Path) -> Store:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = _store(tmp_path / "q.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def claim(
    store: Store, now: float, limit: int = 10, lane: tuple[str, str] = LANE
) -> list[WebhookJob]:
    [got] = await store.webhook_step(Finished(), [Claim(lane[0], lane[1], limit)], now)
    return got.jobs


async def deliver_three(store: Store, **kw: object) -> str:
    """queued -> sending -> submitted -> delivered; returns the message id."""
    [r] = await store.accept([new_message(1, callback_url=URL, **kw)])  # type: ignore[arg-type]
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="c1")], 1_002.0)
    await store.record_receipts([Receipt(route="sim", carrier_id="c1", state="delivered")], 1_003.0)
    return r.id


def status(job: WebhookJob) -> str:
    return str(msgspec.json.decode(job.body)["status"])


async def test_each_status_change_queues_a_signed_able_event_in_its_transaction(
    store: Store,
) -> None:
    committed: list[dict[tuple[str, str], int]] = []
    store.on_webhooks = lambda lanes: committed.append(dict(lanes))
    public_id = await deliver_three(store)
    assert committed == [{LANE: 1}, {LANE: 1}, {LANE: 1}]  # told after each commit
    jobs = await claim(store, 1_004.0)
    # In order; the worker sends them one after the other.
    assert [status(j) for j in jobs] == ["sending", "submitted", "delivered"]
    body = msgspec.json.decode(jobs[0].body)
    assert body["id"] == public_id and body["event_id"] == jobs[0].event_id
    assert jobs[0].event_id.startswith("evt_") and jobs[0].origin == LANE[1]
    assert len({j.event_id for j in jobs}) == 3
    assert await claim(store, 1_004.0) == []  # leased
    await store.webhook_step(Finished(done=[j.wid for j in jobs[:2]]), [], 1_005.0)
    assert (await store.stats()).webhooks_pending == 1


async def test_a_message_asking_for_the_final_status_stores_only_that(store: Store) -> None:
    await deliver_three(store, webhook_events="final")
    jobs = await claim(store, 1_004.0)
    assert [status(j) for j in jobs] == ["delivered"]
    assert (await store.stats()).webhooks_pending == 1


async def test_later_statuses_wait_for_an_earlier_ones_retry(store: Store) -> None:
    await deliver_three(store)
    first, *later = await claim(store, 1_004.0)
    # The first failed (retry at 1_100); the worker hands back what it held behind it.
    await store.webhook_step(
        Finished(
            retry=[(first.wid, first.mid, 1_100.0, "HTTP 500")],
            release=[(j.wid, 1_100.0) for j in later],
        ),
        [],
        1_005.0,
    )
    assert await claim(store, 1_050.0) == []
    again = await claim(store, 1_100.0)
    assert [status(j) for j in again] == ["sending", "submitted", "delivered"]
    assert [j.attempts for j in again] == [1, 0, 0]


async def test_a_status_queued_while_an_earlier_one_waits_for_its_retry_waits_too(
    store: Store,
) -> None:
    await store.accept([new_message(1, callback_url=URL)])
    [part] = await store.claim("sim", 1, 1_001.0)
    [first] = await claim(store, 1_002.0)
    await store.webhook_step(
        Finished(retry=[(first.wid, first.mid, 1_100.0, "timeout")]), [], 1_003.0
    )
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="c1")], 1_010.0)
    assert await claim(store, 1_020.0) == []  # "submitted" is due, but "sending" is not
    assert [status(j) for j in await claim(store, 1_100.0)] == ["sending", "submitted"]


async def test_messages_do_not_wait_for_each_other(store: Store) -> None:
    await store.accept([new_message(i, callback_url=URL) for i in range(5)])
    await store.claim("sim", 5, 1_001.0)
    jobs = await claim(store, 1_002.0)
    assert len(jobs) == 5 and len({j.mid for j in jobs}) == 5


async def test_lanes_are_claimed_apart(store: Store) -> None:
    await store.accept(
        [
            new_message(1, callback_url=URL),
            new_message(2, callback_url="http://127.0.0.1:10/x", key="other"),
        ]
    )
    await store.claim("sim", 5, 1_001.0)
    assert [j.key for j in await claim(store, 1_002.0)] == ["shop"]
    assert [j.key for j in await claim(store, 1_002.0, lane=("other", "http://127.0.0.1:10"))] == [
        "other"
    ]


async def test_a_dead_delivery_is_kept_with_its_reason_then_purged(
    store: Store, tmp_path: Path
) -> None:
    await store.accept([new_message(1, callback_url=URL)])
    [part] = await store.claim("sim", 1, 1_001.0)
    [first] = await claim(store, 1_002.0)
    dead = Finished(dead=[(first.wid, "10.0.0.1 is a private address")])
    await store.webhook_step(dead, [], 1_005.0)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="c1")], 1_006.0)
    # The next status goes on: a delivery that failed for good blocks nothing.
    assert [status(j) for j in await claim(store, 1_006.0)] == ["submitted"]
    conn = sqlite3.connect(tmp_path / "q.db")
    row = conn.execute(
        "SELECT dead, last_error, attempts FROM webhooks WHERE wid = ?", (first.wid,)
    ).fetchone()
    assert row == (1, "10.0.0.1 is a private address", 1)
    assert (await store.stats()).webhooks_pending == 1
    await store.webhook_step(Finished(purge_before=1_004.0), [], 1_006.0 + DEAD_KEPT)
    assert conn.execute("SELECT count(*) FROM webhooks WHERE dead = 1").fetchone()[0] == 1
    await store.webhook_step(Finished(purge_before=1_005.5), [], 1_006.0 + DEAD_KEPT)
    assert conn.execute("SELECT count(*) FROM webhooks WHERE dead = 1").fetchone()[0] == 0


async def test_released_rows_wait_until_their_time(store: Store) -> None:
    await store.accept([new_message(1, callback_url=URL)])
    await store.claim("sim", 1, 1_001.0)
    [job] = await claim(store, 1_002.0)
    await store.webhook_step(Finished(release=[(job.wid, 1_030.0)]), [], 1_003.0)
    assert await claim(store, 1_029.0) == []
    [again] = await claim(store, 1_030.0)
    assert again.wid == job.wid and again.attempts == 0  # not an attempt


async def test_a_restart_hands_back_what_was_taken(tmp_path: Path) -> None:
    s = _store(tmp_path / "q.db")
    await s.open()
    await s.accept([new_message(i, callback_url=URL) for i in range(3)])
    await s.claim("sim", 3, 1_001.0)
    assert len(await claim(s, 1_002.0)) == 3
    await s.close()
    s = _store(tmp_path / "q.db")
    await s.open()
    try:
        released, lanes = await s.release_webhooks()
        assert released == 3
        assert [(i.lane, i.pending, i.next_at) for i in lanes] == [(LANE, 3, 1_001.0)]
        assert len(await claim(s, 1_002.0)) == 3
    finally:
        await s.close()


async def test_old_rows_get_an_event_id_and_a_lane(tmp_path: Path) -> None:
    # A store of schema 3 with a delivery queued before this version, then upgraded.
    path = tmp_path / "q.db"
    s = _store(path)
    await s.open()
    await s.close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO webhooks (key, url, body, next_at, created_at, event_id, origin)"
        " VALUES ('shop', 'http://127.0.0.1:99999/x', x'7b7d', 1000, 1000, NULL, '')"
    )
    conn.execute("UPDATE webhooks SET event_id = 'evt_' || lower(hex(randomblob(10)))")
    conn.commit()
    conn.close()
    s = _store(path)
    await s.open()
    try:
        _, lanes = await s.release_webhooks()
        assert [i.lane for i in lanes] == [("shop", "")]  # unparsable: its own lane
        [job] = await claim(s, 1_001.0, lane=("shop", ""))
        assert job.url == "http://127.0.0.1:99999/x" and job.event_id.startswith("evt_")
    finally:
        await s.close()


def test_origin_of() -> None:
    assert origin_of("HTTP://Hooks.Example:80/a") == "http://hooks.example"
    assert origin_of("https://h:8443/") == "https://h:8443"
    assert origin_of("http://[::1]:9/") == "http://[::1]:9"
    assert origin_of("http://127.0.0.1:99999/x") == ""
