"""Receipts through the store interface: matched by route and carrier id, whenever they come."""

from __future__ import annotations

import msgspec

from tests.helpers import new_message

from .interface import OutboundPart, Outcome, Receipt, Store

PENDING_TTL = 3600.0
"""How long a receipt for an id no part has (yet) waits for it."""


async def _submitted(store: Store, n: int, carrier_id: str) -> tuple[str, OutboundPart]:
    [r] = await store.accept([new_message(n)])
    [part] = await store.claim("sim", 1, 1_001.0)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id=carrier_id)], 1_002.0)
    return r.id, part


async def test_an_early_receipt_waits_for_its_submit_response(store: Store) -> None:
    # The carrier's receipt overtakes the submit_sm_resp that carries the id it names.
    [r] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    early = await store.record_receipts(
        [Receipt(route="sim", carrier_id="x1", state="undelivered", error_code="0x0B")], 1_001.5
    )
    assert (early.matched, early.pending) == (0, 1)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "sending"
    summary = await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="x1")], 1_002.0)
    assert summary.receipts_late == 1
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "undelivered"
    assert row.parts[0].error == "0x0B"
    assert [h.status for h in row.history] == ["queued", "sending", "undelivered"]
    assert store.active["transactional"] == 0
    assert await store.awaiting_receipts("sim") == []


async def test_an_early_receipt_tells_the_same_error_as_one_in_order(store: Store) -> None:
    [early] = await store.accept([new_message(1)])
    [part] = await store.claim("sim", 1, 1_001.0)
    failed = Receipt(route="sim", carrier_id="x1", state="undelivered", error_code="0x0B")
    await store.record_receipts([failed], 1_001.5)
    await store.record_outcomes([Outcome(part_id=part.part_id, carrier_id="x1")], 1_002.0)
    in_order, _ = await _submitted(store, 2, "x2")
    await store.record_receipts([msgspec.structs.replace(failed, carrier_id="x2")], 1_003.0)
    a, b = await store.get("shop", early.id), await store.get("shop", in_order)
    assert a is not None and b is not None
    assert b.error == "receipt undelivered 0x0B"
    assert a.error == b.error


async def test_a_late_receipt_still_finishes_its_message(store: Store) -> None:
    public_id, _ = await _submitted(store, 1, "late-1")
    summary = await store.record_receipts(
        [Receipt(route="sim", carrier_id="late-1", state="delivered", done_at=80_000.0)],
        86_000.0,  # a day later
    )
    assert summary.matched == 1
    row = await store.get("shop", public_id)
    assert row is not None and row.status == "delivered" and row.error is None
    assert row.parts[0].done_at == 86_000.0
    assert store.active["transactional"] == 0


async def test_a_duplicate_receipt_changes_nothing(store: Store) -> None:
    public_id, _ = await _submitted(store, 1, "d1")
    await store.record_receipts([Receipt(route="sim", carrier_id="d1", state="delivered")], 1_003.0)
    again = await store.record_receipts(
        [Receipt(route="sim", carrier_id="d1", state="undelivered", error_code="001")], 1_004.0
    )
    assert (again.matched, again.duplicate, again.pending) == (0, 1, 0)
    row = await store.get("shop", public_id)
    assert row is not None and row.status == "delivered"
    assert [h.status for h in row.history].count("delivered") == 1
    assert row.updated_at == 1_003.0


async def test_an_intermediate_state_is_no_outcome(store: Store) -> None:
    public_id, _ = await _submitted(store, 1, "e1")
    summary = await store.record_receipts(
        [Receipt(route="sim", carrier_id="e1", state="accepted")], 1_003.0
    )
    assert summary.matched == 1
    row = await store.get("shop", public_id)
    assert row is not None and row.status == "submitted"
    assert await store.awaiting_receipts("sim") == ["e1"]


async def test_a_receipt_is_matched_on_its_own_route_only(store: Store) -> None:
    public_id, _ = await _submitted(store, 1, "same-id")
    summary = await store.record_receipts(
        [Receipt(route="b", carrier_id="same-id", state="delivered")], 1_003.0
    )
    assert (summary.matched, summary.pending) == (0, 1)
    row = await store.get("shop", public_id)
    assert row is not None and row.status == "submitted"


async def test_a_receipt_for_an_unknown_id_is_dropped_after_a_while(store: Store) -> None:
    public_id, _ = await _submitted(store, 1, "known")
    summary = await store.record_receipts(
        [Receipt(route="sim", carrier_id="nobody", state="delivered")], 1_003.0
    )
    assert summary.pending == 1
    assert await store.expire_pending_receipts(1_003.0 + PENDING_TTL - 1) == []
    assert await store.expire_pending_receipts(1_003.0 + PENDING_TTL + 1) == ["sim"]
    assert await store.expire_pending_receipts(1_003.0 + 2 * PENDING_TTL) == []
    row = await store.get("shop", public_id)
    assert row is not None and row.status == "submitted"  # nothing else was touched


async def test_a_multipart_message_takes_its_worst_part(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a", "b"))])
    parts = await store.claim("sim", 2, 1_001.0)
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"m{p.seq}") for p in parts], 1_002.0
    )
    await store.record_receipts([Receipt(route="sim", carrier_id="m2", state="delivered")], 1_003.0)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted"
    await store.record_receipts([Receipt(route="sim", carrier_id="m1", state="expired")], 1_004.0)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "expired"
    assert [p.status for p in row.parts] == ["expired", "delivered"]


async def test_an_early_failed_receipt_of_one_part_tells_the_error_when_all_are_final(
    store: Store,
) -> None:
    [r] = await store.accept([new_message(1, segments=("a", "b"))])
    parts = await store.claim("sim", 2, 1_001.0)
    failed = Receipt(route="sim", carrier_id="m1", state="undelivered", error_code="0x0B")
    await store.record_receipts([failed], 1_001.5)
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"m{p.seq}") for p in parts], 1_002.0
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "submitted" and row.error is None
    await store.record_receipts([Receipt(route="sim", carrier_id="m2", state="delivered")], 1_003.0)
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "undelivered"
    assert [p.status for p in row.parts] == ["undelivered", "delivered"]


async def test_a_long_message_failed_by_an_earlier_part_says_which_and_why(store: Store) -> None:
    # Part 1's receipt says undelivered, then part 2's says delivered: the message is
    # undelivered, and its error names the part that failed and the carrier's code.
    [r] = await store.accept([new_message(1, segments=("a" * 153, "tail"))])
    parts = await store.claim("sim", 2, 1_001.0)
    await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"m{p.seq}") for p in parts], 1_002.0
    )
    first, second = sorted(parts, key=lambda p: p.seq)
    await store.record_receipts(
        [Receipt(route="sim", carrier_id=f"m{first.seq}", state="undelivered", error_code="005")],
        1_003.0,
    )
    await store.record_receipts(
        [Receipt(route="sim", carrier_id=f"m{second.seq}", state="delivered")], 1_004.0
    )
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "undelivered"
    assert row.error == "part 1 of 2: receipt undelivered 005"
    assert [p.status for p in row.parts] == ["undelivered", "delivered"]
