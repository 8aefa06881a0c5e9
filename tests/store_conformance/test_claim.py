"""Claim through the store interface: what leaves next for a route, in what order, once."""

from __future__ import annotations

from tests.helpers import new_message

from .interface import FailureKind, Outcome, Store


async def test_a_part_carries_what_the_driver_needs(store: Store) -> None:
    [r] = await store.accept([new_message(7, segments=("a" * 153, "tail"), msg_class="otp")])
    parts = await store.claim("sim", 10, 1_001.0)
    assert [(p.message_id, p.route, p.seq, p.total, p.text) for p in parts] == [
        (r.id, "sim", 1, 2, "a" * 153),
        (r.id, "sim", 2, 2, "tail"),
    ]
    first = parts[0]
    assert (first.to, first.sender, first.encoding, first.msg_class) == (
        "+491700000007",
        "Shop",
        "gsm7",
        "otp",
    )
    assert first.ref == parts[1].ref == 7 and first.attempt == 1
    assert first.validity_until == 1_000.0 + 3600.0
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "sending"


async def test_a_code_accepted_last_leaves_before_a_deep_marketing_queue(store: Store) -> None:
    await store.accept([new_message(i, msg_class="marketing") for i in range(300)])
    await store.accept([new_message(i, msg_class="transactional") for i in range(300, 310)])
    [code] = await store.accept([new_message(999, msg_class="otp", now=1_002.0)])
    parts = await store.claim("sim", 11, 1_003.0)
    assert parts[0].message_id == code.id
    assert [p.msg_class for p in parts] == ["otp"] + ["transactional"] * 10


async def test_within_a_class_the_oldest_leaves_first(store: Store) -> None:
    # A message that waited for a retry goes before younger ones of its class, not behind them.
    [old] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes(
        [Outcome(part_id=part.part_id, failure=FailureKind.TEMPORARY, code="0x14")], 1_001.0
    )
    younger = await store.accept([new_message(i, now=1_002.0) for i in range(2, 5)])
    assert await store.promote_due(1_100.0) == {"sim"}
    parts = await store.claim("sim", 10, 1_100.0)
    assert [p.message_id for p in parts] == [old.id] + [r.id for r in younger]
    assert parts[0].attempt == 2


async def test_a_route_claims_only_its_own_parts_and_each_once(store: Store) -> None:
    [a] = await store.accept([new_message(1, routes=("sim",))])
    [b] = await store.accept([new_message(2, routes=("b",))])
    assert [p.message_id for p in await store.claim("b", 10, 1_001.0)] == [b.id]
    assert [p.message_id for p in await store.claim("sim", 10, 1_001.0)] == [a.id]
    assert await store.claim("sim", 10, 1_001.0) == []
    assert await store.claim("b", 10, 1_001.0) == []


async def test_a_claim_takes_at_most_its_limit_and_counts_what_waits(store: Store) -> None:
    await store.accept([new_message(i) for i in range(5)])
    await store.accept([new_message(9, routes=("b",))])
    assert await store.ready_by_route() == {"sim": 5, "b": 1}
    assert len(await store.claim("sim", 2, 1_001.0)) == 2
    assert await store.ready_by_route() == {"sim": 3, "b": 1}
