"""Timers through the store interface: send_at, validity, and parts lost in flight."""

from __future__ import annotations

from tests.helpers import new_message

from .backends import Harness
from .interface import Outcome, Store


async def test_a_scheduled_message_is_promoted_at_send_at(store: Store) -> None:
    [r] = await store.accept([new_message(1, send_at=2_000.0, segments=("a", "b"))])
    assert await store.ready_by_route() == {}
    assert await store.promote_due(1_999.9) == set()
    assert await store.promote_due(2_000.0) == {"sim"}
    assert await store.promote_due(2_000.0) == set()  # once
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "queued"
    assert [h.status for h in row.history] == ["scheduled", "queued"]
    assert len(await store.claim("sim", 5, 2_000.0)) == 2


async def test_a_message_that_could_not_leave_in_time_expires(store: Store) -> None:
    [waiting] = await store.accept([new_message(1, validity=60.0)])
    [scheduled] = await store.accept([new_message(2, send_at=1_030.0, validity=60.0)])
    [gone] = await store.accept([new_message(3, validity=60.0)])
    [part] = await store.claim("sim", 1, 1_001.0)
    assert part.message_id == waiting.id
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="c1")], 1_002.0)
    assert await store.expire_overdue(1_059.0) == 0
    assert await store.expire_overdue(1_060.0) == 1  # the third; the second has until 1_090
    assert await store.expire_overdue(1_090.0) == 1
    statuses = {
        public_id: row.status
        for public_id in (waiting.id, scheduled.id, gone.id)
        if (row := await store.get("shop", public_id)) is not None
    }
    # One that left is the carrier's to finish (its receipt will say).
    assert statuses == {waiting.id: "submitted", scheduled.id: "expired", gone.id: "expired"}
    assert store.active["transactional"] == 1
    assert await store.promote_due(2_000.0) == set()
    assert await store.claim("sim", 5, 2_000.0) == []


async def test_parts_claimed_before_a_restart_go_back_to_the_queue(harness: Harness) -> None:
    store = harness.store
    [r] = await store.accept([new_message(1, segments=("a", "b"))])
    [settled] = await store.accept([new_message(2)])
    parts = await store.claim("sim", 3, 1_001.0)
    assert len(parts) == 3
    done = next(p for p in parts if p.message_id == settled.id)
    await store.record_outcomes([Outcome(part_id=done.part_id, carrier_id="c1")], 1_002.0)
    store = await harness.reopen()
    assert await store.recover_in_flight(1_100.0) == ["sim", "sim"]
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "queued"
    again = await store.claim("sim", 5, 1_100.0)
    assert [(p.message_id, p.seq, p.attempt) for p in again] == [(r.id, 1, 1), (r.id, 2, 1)]
    row = await store.get("shop", settled.id)
    assert row is not None and row.status == "submitted"


async def test_parts_stuck_sending_are_taken_back_by_age(store: Store) -> None:
    await store.accept([new_message(1)])
    [old] = await store.claim("sim", 1, 1_001.0)
    await store.accept([new_message(2)])
    [young] = await store.claim("sim", 1, 1_050.0)
    assert await store.recover_in_flight(1_060.0, older_than=1_010.0) == ["sim"]
    [again] = await store.claim("sim", 5, 1_060.0)
    assert again.part_id == old.part_id and again.part_id != young.part_id
