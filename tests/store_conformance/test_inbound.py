"""Inbound messages through the store interface: stored with the key they belong to, paged by
cursor, each key seeing its own."""

from __future__ import annotations

from .interface import InboundMessage, Store

SHOP_NUMBER = "+4917000111"


def mo(n: int, to: str, *, parts: int = 1, complete: bool = True) -> InboundMessage:
    return InboundMessage(
        route="sim",
        sender=f"+4915100000{n:02d}",
        to=to,
        text=f"reply {n}",
        received_at=1_000.0 + n,
        parts=parts,
        complete=complete,
    )


async def test_inbound_is_stored_in_order_and_paged(store: Store) -> None:
    ids = await store.add_inbound([mo(i, SHOP_NUMBER) for i in range(5)])
    assert len(set(ids)) == 5
    first = await store.inbound(limit=2)
    assert [m.id for m in first] == ids[:2]
    rest = await store.inbound(after=first[-1].cursor, limit=10)
    assert [m.id for m in rest] == ids[2:]
    assert (rest[0].sender, rest[0].to, rest[0].text, rest[0].received_at) == (
        "+491510000002",
        SHOP_NUMBER,
        "reply 2",
        1_002.0,
    )


async def test_each_key_sees_the_inbound_that_belongs_to_it(store: Store) -> None:
    store.inbound_owner = lambda m: "shop" if m.to == SHOP_NUMBER else None
    mine, nobodys, partial = await store.add_inbound(
        [mo(1, SHOP_NUMBER), mo(2, "+4917000999"), mo(3, SHOP_NUMBER, parts=3, complete=False)]
    )
    assert [m.id for m in await store.inbound(key="shop")] == [mine, partial]
    assert await store.inbound(key="other") == []
    everything = await store.inbound()  # an admin's view
    assert [m.id for m in everything] == [mine, nobodys, partial]
    assert (everything[2].parts, everything[2].complete) == (3, False)
