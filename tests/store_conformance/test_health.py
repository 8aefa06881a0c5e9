"""Store health through the interface: open and up, closed means closed, and a store reopened
after a close reads back everything it held."""

from __future__ import annotations

import pytest

from tests.helpers import new_message
from tests.policy_helpers import BERLIN, at

from .backends import Harness
from .interface import (
    InboundMessage,
    MessageRow,
    OptoutRequest,
    Outcome,
    Receipt,
    Store,
    StoreClosed,
)

URL = "http://127.0.0.1:9/hook"


async def test_an_open_store_is_up_and_a_closed_one_takes_nothing(harness: Harness) -> None:
    store = harness.store
    assert store.opened and store.health.up
    await harness.close()
    assert not store.opened
    # mypy keeps store.opened narrowed to True across close(), which changes it.
    with pytest.raises(StoreClosed):  # type: ignore[unreachable]
        await store.accept([new_message(1)])


async def _snapshot(store: Store, ids: list[str]) -> list[MessageRow]:
    rows = [await store.get("shop", i) for i in ids]
    assert all(r is not None for r in rows)
    return [r for r in rows if r is not None]


async def test_everything_reads_back_after_a_reopen(harness: Harness) -> None:
    store = harness.store
    now = at("2027-01-15T10:00:00")
    accepted = await store.accept(
        [
            new_message(1, now=now, callback_url=URL, client_ref="o-1"),
            new_message(2, now=now, segments=("a" * 153, "b")),
            new_message(3, now=now, msg_class="otp"),
            new_message(4, now=now, send_at=now + 600),
            new_message(5, now=now, msg_class="marketing"),
        ]
    )
    ids = [r.id for r in accepted]
    delivered, multipart, otp, _scheduled, cancelled = ids
    assert await store.cancel("shop", cancelled, now + 1) == "cancelled"
    parts = {p.message_id: p for p in await store.claim("sim", 3, now + 2)}
    assert set(parts) == {otp, delivered, multipart}  # the multipart's first part only
    await store.record_outcomes(
        [
            Outcome(part_id=parts[delivered].part_id, carrier_id="c-delivered"),
            Outcome(part_id=parts[multipart].part_id, carrier_id="c-multi-1"),
        ],
        now + 3,
    )
    await store.record_receipts(
        [
            Receipt(route="sim", carrier_id="c-delivered", state="delivered"),
            Receipt(route="sim", carrier_id="c-otp", state="delivered"),  # early
        ],
        now + 4,
    )
    [inbound_id] = await store.add_inbound(
        [InboundMessage(route="sim", sender=BERLIN, to="+4917000", text="STOP", received_at=now)]
    )
    await harness.consents.opt_out(
        [OptoutRequest(number=BERLIN, source="keyword", at=now, inbound_id=inbound_id)]
    )
    before = await _snapshot(store, ids)
    pages = await store.list_messages("shop")
    active = dict(store.active)
    stats = await store.stats()
    waiting = await store.ready_by_route()

    store = await harness.reopen()
    assert await _snapshot(store, ids) == before
    assert await store.list_messages("shop") == pages
    assert store.active == active == {"otp": 1, "transactional": 2, "marketing": 0}
    assert await store.stats() == stats and stats.webhooks_pending == 3
    assert await store.ready_by_route() == waiting == {"sim": 1}
    assert [m.id for m in await store.list_messages("shop", client_ref="o-1")] == [delivered]
    [inbound] = await store.inbound()
    assert (inbound.id, inbound.text, inbound.sender) == (inbound_id, "STOP", BERLIN)
    [optout] = await harness.consents.page(None, 0, 10)
    assert (optout.number, optout.inbound_id) == (BERLIN, inbound_id)
    assert await store.awaiting_receipts("sim") == ["c-multi-1"]
    # What was in flight and waiting goes on where it stopped.
    assert await store.recover_in_flight(now + 10) == ["sim"]
    again = await store.claim("sim", 5, now + 10)
    assert {p.message_id for p in again} == {otp, multipart}
    summary = await store.record_outcomes(
        [Outcome(part_id=p.part_id, carrier_id=f"c-{p.msg_class}") for p in again], now + 11
    )
    assert summary.receipts_late == 1  # the early receipt waited across the restart
    row = await store.get("shop", otp)
    assert row is not None and row.status == "delivered"
    assert await store.promote_due(now + 600) == {"sim"}
    _, lanes = await store.release_webhooks()
    assert [(i.lane, i.pending) for i in lanes] == [(("shop", "http://127.0.0.1:9"), 3)]
