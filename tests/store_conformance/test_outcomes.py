"""Outcomes through the store interface: what a driver reports decides a part's fate."""

from __future__ import annotations

from tests.helpers import new_message

from .backends import MAX_ATTEMPTS, RETRY_BASE
from .interface import FailureKind, Outcome, Store


async def test_an_accepted_part_is_submitted_with_the_carriers_id(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    summary = await store.record_outcomes(
        [Outcome(part_id=part.part_id, carrier_id="c-77")], 1_002.0
    )
    assert summary.submitted == [(part.part_id, "transactional")]
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted"
    assert (row.parts[0].carrier_id, row.parts[0].submitted_at) == ("c-77", 1_002.0)
    assert await store.awaiting_receipts("sim") == ["c-77"]
    assert store.active["transactional"] == 1  # not final until its receipt


async def test_a_temporary_failure_waits_and_is_retried_later(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    summary = await store.record_outcomes(
        [Outcome(part_id=part.part_id, failure=FailureKind.TEMPORARY, code="0x14")], 1_001.0
    )
    assert summary.temporary == 1
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "deferred" and row.error is None
    assert await store.claim("sim", 1, 1_001.0) == []
    assert await store.promote_due(1_001.0 + RETRY_BASE) == {"sim"}
    [again] = await store.claim("sim", 1, 1_001.0 + RETRY_BASE)
    assert again.part_id == part.part_id and again.attempt == 2
    await store.record_outcomes([Outcome(part_id=again.part_id, carrier_id="c1")], 1_004.0)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted" and row.attempts == 2


async def test_a_permanent_failure_fails_the_message_at_once(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes(
        [
            Outcome(
                part_id=part.part_id, failure=FailureKind.PERMANENT, code="0x0B", reason="bad dest"
            )
        ],
        1_002.0,
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "failed"
    assert row.error == "0x0B bad dest" and row.attempts == 1
    assert store.active["transactional"] == 0
    assert await store.promote_due(1e9) == set()  # never retried


async def test_temporary_failures_end_when_the_attempts_are_used_up(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    now = 1_001.0
    for _ in range(MAX_ATTEMPTS):
        await store.promote_due(now)
        [part] = await store.claim("sim", 1, now)
        await store.record_outcomes(
            [Outcome(part_id=part.part_id, failure=FailureKind.TEMPORARY, code="0x08")], now
        )
        now += 100.0
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "failed" and row.attempts == MAX_ATTEMPTS
    assert await store.promote_due(1e9) == set()


async def test_a_multipart_message_is_final_only_when_every_part_is(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a", "b", "c"))])
    p1, p2, p3 = await store.claim("sim", 3, 1_001.0)
    await store.record_outcomes(
        [
            Outcome(part_id=p1.part_id, carrier_id="c1"),
            Outcome(part_id=p2.part_id, carrier_id="c2"),
        ],
        1_002.0,
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "sending"  # the third is still on its way
    await store.record_outcomes([Outcome(part_id=p3.part_id, carrier_id="c3")], 1_003.0)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted"
    assert [p.carrier_id for p in row.parts] == ["c1", "c2", "c3"]


async def test_an_outcome_for_a_part_no_longer_sending_changes_nothing(store: Store) -> None:
    # A cancelled, recovered or already settled part: a late report does not undo it.
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="c1")], 1_002.0)
    summary = await store.record_outcomes(
        [Outcome(part_id=part.part_id, failure=FailureKind.PERMANENT, code="0x0B")], 1_003.0
    )
    assert summary.permanent == 0
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted" and row.error is None
