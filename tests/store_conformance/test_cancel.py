"""Cancel through the store interface: only what has not left, only by its own key."""

from __future__ import annotations

from tests.helpers import new_message

from .backends import Harness
from .interface import Store


async def test_a_waiting_message_is_cancelled_for_good(harness: Harness) -> None:
    store = harness.store
    queued, scheduled = await store.accept(
        [new_message(1, segments=("a", "b")), new_message(2, send_at=5_000.0)]
    )
    assert await store.cancel("shop", queued.id, 1_002.0) == "cancelled"
    assert await store.cancel("shop", scheduled.id, 1_002.0) == "cancelled"
    assert store.active["transactional"] == 0
    assert await store.claim("sim", 5, 1_003.0) == []
    assert await store.promote_due(6_000.0) == set()
    store = await harness.reopen()
    row = await store.get("shop", queued.id)
    assert row is not None and row.status == "cancelled"
    assert [p.status for p in row.parts] == ["cancelled", "cancelled"]
    assert row.history[-1].status == "cancelled"
    assert store.active["transactional"] == 0


async def test_a_message_that_left_is_not_cancelled(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a", "b"))])
    await store.claim("sim", 1, 1_001.0)  # one part left, the other waits
    assert await store.cancel("shop", r.id, 1_002.0) == "sending"
    row = await store.get("shop", r.id)
    assert row is not None and [p.status for p in row.parts] == ["sending", "queued"]
    assert len(await store.claim("sim", 5, 1_003.0)) == 1


async def test_another_keys_message_is_unknown(store: Store) -> None:
    [r] = await store.accept([new_message(1)])
    assert await store.cancel("other", r.id, 1_002.0) is None
    assert await store.cancel("shop", "msg_nosuchmessage", 1_002.0) is None
    row = await store.get("shop", r.id)
    assert row is not None and row.status == "queued"
