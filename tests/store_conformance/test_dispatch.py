"""Dispatch through the store interface: durability, priority, idempotency, outcomes,
receipts, timers, failover and cancel (moved here from the SQLite-only store tests)."""

from __future__ import annotations

from tests.helpers import new_message

from .backends import Harness
from .interface import FailureKind, Outcome, Receipt, Store


async def test_accepted_messages_survive_reopen(harness: Harness) -> None:
    results = await harness.store.accept([new_message(i) for i in range(50)])
    s2 = await harness.reopen()
    assert s2.active == {"otp": 0, "transactional": 50, "marketing": 0}
    row = await s2.get("shop", results[7].id)
    assert row is not None and row.to == "+491700000007" and row.status == "queued"
    assert [h.status for h in row.history] == ["queued"]


async def test_claim_is_priority_then_fifo(store: Store) -> None:
    await store.accept([new_message(i, msg_class="marketing") for i in range(5)])
    await store.accept([new_message(100 + i) for i in range(3)])
    await store.accept([new_message(200, msg_class="otp")])
    parts = await store.claim("sim", 4, 1_001.0)
    assert [p.to[-3:] for p in parts] == ["200", "100", "101", "102"]
    assert [p.msg_class for p in parts] == ["otp"] + ["transactional"] * 3
    rest = await store.claim("sim", 10, 1_001.0)
    assert [p.to[-3:] for p in rest] == ["000", "001", "002", "003", "004"]
    assert await store.claim("sim", 10, 1_001.0) == []


async def test_client_ref_is_idempotent_within_a_batch_and_later(store: Store) -> None:
    first = await store.accept(
        [new_message(1, client_ref="order-1"), new_message(2, client_ref="order-1")]
    )
    assert first[0].created and not first[1].created and first[0].id == first[1].id
    again = await store.accept([new_message(3, client_ref="order-1")])
    assert again[0].id == first[0].id and not again[0].created
    other_key = await store.accept([new_message(3, client_ref="order-1", key="other")])
    assert other_key[0].created
    assert store.active["transactional"] == 2


async def test_outcome_then_receipt_delivers_and_records_history(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="abc")], 1_002.0)
    summary = await store.record_receipts(
        [Receipt(route="sim", carrier_id="abc", state="delivered")], 1_003.0
    )
    assert summary.matched == 1
    row = await store.get("shop", r.id)
    assert row is not None
    assert row.status == "delivered"
    assert [(h.status, h.at) for h in row.history] == [
        ("queued", 1_000.0),
        ("sending", 1_001.0),
        ("submitted", 1_002.0),
        ("delivered", 1_003.0),
    ]
    assert row.parts[0].carrier_id == "abc" and row.parts[0].done_at == 1_003.0
    assert store.active["transactional"] == 0


async def test_receipt_before_its_submit_response_is_matched_late(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    early = await store.record_receipts(
        [Receipt(route="sim", carrier_id="x1", state="delivered")], 1_001.5
    )
    assert early.pending == 1
    summary = await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="x1")], 1_002.0)
    assert summary.receipts_late == 1  # counted, so "pending" is not read as lost
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "delivered"


async def test_multipart_is_delivered_only_when_every_part_is(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a" * 153, "b" * 10))])
    parts = await store.claim("sim", 5, 1_001.0)
    assert [(p.seq, p.total) for p in parts] == [(1, 2), (2, 2)]
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"c{p.seq}") for p in parts], 1_002.0
    )
    await store.record_receipts([Receipt(route="sim", carrier_id="c1", state="delivered")], 1_003)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted"
    await store.record_receipts(
        [Receipt(route="sim", carrier_id="c2", state="undelivered", error_code="001")], 1_004
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "undelivered"


async def test_temporary_failure_is_retried_with_backoff_then_fails(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    now = 1_001.0
    for attempt in (1, 2):
        [part] = await store.claim("sim", 1, now)
        assert part.attempt == attempt
        await store.record_outcomes(
            [Outcome(part_id=part.part_id, failure=FailureKind.TEMPORARY, code="0x08")], now
        )
        row = await store.get("shop", r.id)
        assert row is not None and row.status == "deferred" and row.attempts == attempt
        assert await store.claim("sim", 1, now) == []
        # Equal jitter: the retry comes between half and all of base * 2^(attempt-1).
        assert await store.promote_due(now + 2.0 ** (attempt - 1) * 2 / 2 - 0.01) == set()
        assert await store.promote_due(now + 2.0 ** (attempt - 1) * 2) == {"sim"}
        now += 2.0**attempt
    [part] = await store.claim("sim", 1, now)
    await store.record_outcomes(
        [Outcome(part_id=part.part_id, failure=FailureKind.TEMPORARY, code="0x08")], now
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "failed"
    assert row.error is not None and "gave up after 3 attempts" in row.error


async def test_throttled_part_goes_back_without_counting_an_attempt(store: Store) -> None:
    await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    summary = await store.record_outcomes(
        [Outcome(part_id=part.part_id, failure=FailureKind.THROTTLED)], 1_001.0
    )
    assert summary.throttled == 1 and summary.requeued_now
    [again] = await store.claim("sim", 1, 1_001.5)
    assert again.part_id == part.part_id and again.attempt == 1


async def test_permanent_failure_stops_the_other_parts(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a", "b", "c"))])
    [p1] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes(
        [Outcome(part_id=p1.part_id, failure=FailureKind.PERMANENT, code="0x0B")], 1_002.0
    )
    assert await store.claim("sim", 5, 1_003.0) == []
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "failed"
    assert [p.status for p in row.parts] == ["failed", "failed", "failed"]


async def test_expired_messages_never_leave(store: Store) -> None:
    [r] = await store.accept([new_message(1, validity=60)])
    assert await store.claim("sim", 5, 1_061.0) == []
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "expired"


async def test_scheduled_message_waits_for_send_at(store: Store) -> None:
    [r] = await store.accept([new_message(1, send_at=2_000.0)])
    assert r.status == "scheduled"
    assert await store.claim("sim", 5, 1_500.0) == []
    assert await store.promote_due(1_999.0) == set()
    assert await store.promote_due(2_000.0) == {"sim"}
    assert len(await store.claim("sim", 5, 2_000.0)) == 1


async def test_in_flight_parts_are_recovered_after_a_crash(harness: Harness) -> None:
    s = harness.store
    await s.accept([new_message(i) for i in range(3)])
    assert len(await s.claim("sim", 3, 1_001.0)) == 3
    # As if the process died with three parts handed to a carrier.
    s2 = await harness.reopen()
    assert await s2.recover_in_flight(1_100.0) == ["sim", "sim", "sim"]
    again = await s2.claim("sim", 5, 1_100.0)
    assert len(again) == 3 and all(p.attempt == 1 for p in again)


async def test_cancel_only_before_it_leaves(store: Store) -> None:
    a, b = await store.accept([new_message(1), new_message(2, msg_class="marketing")])
    await store.claim("sim", 1, 1_001.0)  # takes a
    assert await store.cancel("shop", a.id, 1_002.0) == "sending"
    assert await store.cancel("shop", b.id, 1_002.0) == "cancelled"
    assert await store.cancel("other", b.id, 1_002.0) is None
    assert await store.claim("sim", 5, 1_003.0) == []


async def test_failover_moves_ready_parts_to_the_next_up_route(store: Store) -> None:
    [r] = await store.accept([new_message(1, routes=("sim", "b"))])
    [stuck] = await store.accept([new_message(2, routes=("sim",))])
    moved = await store.reroute("sim", lambda name: name == "b", 1_010.0)
    assert moved == {"b": 1}
    assert len(await store.claim("b", 5, 1_011.0)) == 1
    row = await store.get("shop", r.id)
    assert row is not None and row.route == "b"
    assert "failover: route sim is down, moved to b" in [h.note for h in row.history]
    assert len(await store.claim("sim", 5, 1_011.0)) == 1  # no other route: it waits
    assert stuck.route == "sim"
