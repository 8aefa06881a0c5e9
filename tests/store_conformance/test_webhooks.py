"""The webhook outbox through the store interface: rows queued in the commit of the change they
report, claimed per lane (key, receiver), in order per message, fairly across lanes."""

from __future__ import annotations

import msgspec

from tests.helpers import new_message

from .backends import Harness
from .interface import Claim, Finished, Outcome, Receipt, Store, WebhookJob

URL = "http://127.0.0.1:9/hook"
SHOP = ("shop", "http://127.0.0.1:9")
OTHER = ("other", "http://127.0.0.1:10")


async def claim(
    store: Store, now: float, lane: tuple[str, str] = SHOP, limit: int = 100
) -> list[WebhookJob]:
    [got] = await store.webhook_step(Finished(), [Claim(lane[0], lane[1], limit)], now)
    return got.jobs


def seen(job: WebhookJob) -> tuple[str, str]:
    body = msgspec.json.decode(job.body)
    return str(body["id"]), str(body["status"])


async def _deliver(store: Store, now: float) -> None:
    """Every queued part of ``sim`` is submitted, then delivered."""
    parts = await store.claim("sim", 1000, now)
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"c{p.part_id}") for p in parts], now + 1
    )
    await store.record_receipts(
        [Receipt(route="sim", carrier_id=f"c{p.part_id}", state="delivered") for p in parts],
        now + 2,
    )


async def test_each_message_is_told_in_the_order_its_status_changed(store: Store) -> None:
    results = await store.accept([new_message(i, callback_url=URL) for i in range(3)])
    ids = [r.id for r in results]
    await _deliver(store, 1_001.0)
    jobs = await claim(store, 1_010.0)
    for public_id in ids:
        mine = [status for mid, status in map(seen, jobs) if mid == public_id]
        assert mine == ["sending", "submitted", "delivered"]
    assert len({j.event_id for j in jobs}) == 9
    assert all(j.url == URL and j.key == "shop" for j in jobs)


async def test_a_retry_holds_back_the_later_statuses_of_its_message_only(store: Store) -> None:
    a, b = await store.accept([new_message(i, callback_url=URL) for i in range(2)])
    parts = await store.claim("sim", 2, 1_001.0)
    first = await claim(store, 1_002.0)
    assert sorted(seen(j) for j in first) == sorted([(a.id, "sending"), (b.id, "sending")])
    failed = next(j for j in first if seen(j)[0] == a.id)
    fine = next(j for j in first if seen(j)[0] == b.id)
    await store.webhook_step(
        Finished(done=[fine.wid], retry=[(failed.wid, failed.mid, 1_100.0, "HTTP 503")]),
        [],
        1_003.0,
    )
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"c{p.part_id}") for p in parts], 1_004.0
    )
    # Both messages moved on; only b's news may go before a's retry is due.
    assert [seen(j) for j in await claim(store, 1_050.0)] == [(b.id, "submitted")]
    later = await claim(store, 1_100.0)
    assert [seen(j) for j in later] == [(a.id, "sending"), (a.id, "submitted")]
    assert later[0].attempts == 1 and later[0].event_id == failed.event_id


async def test_a_busy_lane_does_not_starve_another(store: Store) -> None:
    await store.accept([new_message(i, callback_url=URL) for i in range(200)])
    [quiet] = await store.accept(
        [new_message(500, key="other", callback_url="http://127.0.0.1:10/in")]
    )
    await store.claim("sim", 1000, 1_001.0)
    busy, calm = await store.webhook_step(
        Finished(), [Claim(*SHOP, 10), Claim(*OTHER, 10)], 1_002.0
    )
    assert len(busy.jobs) == 10 and {j.key for j in busy.jobs} == {"shop"}
    assert [seen(j) for j in calm.jobs] == [(quiet.id, "sending")]
    assert calm.next_at is None  # drained: nothing more waits in that lane
    again = await claim(store, 1_002.0, limit=1000)
    assert len(again) == 190 and not {j.wid for j in again} & {j.wid for j in busy.jobs}


async def test_each_lane_is_listed_at_start_with_what_waits(harness: Harness) -> None:
    store = harness.store
    await store.accept([new_message(i, callback_url=URL) for i in range(3)])
    await store.accept([new_message(9, key="other", callback_url="http://127.0.0.1:10/x")])
    await store.claim("sim", 10, 1_001.0)
    assert len(await claim(store, 1_002.0)) == 3  # taken, then the process dies
    store = await harness.reopen()
    released, lanes = await store.release_webhooks()
    assert released == 3
    assert sorted((i.lane, i.pending) for i in lanes) == [(OTHER, 1), (SHOP, 3)]
    assert len(await claim(store, 1_003.0)) == 3


async def test_deliveries_of_no_message_are_queued_with_an_event_id(store: Store) -> None:
    told: list[dict[tuple[str, str], int]] = []
    store.on_webhooks = lambda lanes: told.append(dict(lanes))
    ids = await store.enqueue_webhooks(
        [("shop", URL, {"type": "inbound", "n": 1}), ("shop", URL, {"type": "inbound", "n": 2})],
        1_000.0,
    )
    assert len(set(ids)) == 2 and all(i.startswith("evt_") for i in ids)
    jobs = await claim(store, 1_000.0)
    assert [msgspec.json.decode(j.body) for j in jobs] == [
        {"type": "inbound", "n": 1, "event_id": ids[0]},
        {"type": "inbound", "n": 2, "event_id": ids[1]},
    ]
    assert [j.mid for j in jobs] == [None, None]
    assert told and sum(n for lanes in told for n in lanes.values()) == 2


async def test_finished_deliveries_leave_the_outbox(store: Store) -> None:
    await store.accept([new_message(1, callback_url=URL)])
    await store.claim("sim", 1, 1_001.0)
    [job] = await claim(store, 1_002.0)
    assert (await store.stats()).webhooks_pending == 1
    await store.webhook_step(Finished(done=[job.wid]), [], 1_003.0)
    assert (await store.stats()).webhooks_pending == 0
    assert await claim(store, 1e9) == []
