"""Only once through the store interface: a dedupe_key holds (key, number) until its window
ends, checked in the accept transaction, kept over a reopen, pruned once the window is over."""

from __future__ import annotations

import msgspec
import trio

from tests.helpers import new_message

from .backends import Harness
from .interface import NewMessage, Store


def once(
    n: int,
    dedupe_key: str = "welcome",
    *,
    now: float = 1_000.0,
    until: float = 2_000.0,
    **kw: object,
) -> NewMessage:
    msg = new_message(n, now=now, **kw)  # type: ignore[arg-type]
    return msgspec.structs.replace(msg, dedupe_key=dedupe_key, dedupe_until=until)


def to(msg: NewMessage, number: str) -> NewMessage:
    return msgspec.structs.replace(msg, to=number)


async def test_a_second_message_inside_the_window_finds_the_first(harness: Harness) -> None:
    store = harness.store
    first_to = new_message(1).to
    [first] = await store.accept([once(1)])
    assert first.created and not first.duplicate
    [again] = await store.accept([to(once(2, now=1_999.0), first_to)])
    assert (again.id, again.created, again.duplicate) == (first.id, False, True)
    assert store.active["transactional"] == 1
    store = await harness.reopen()  # durable: the entry is in the store, not in memory
    [after] = await store.accept([to(once(3, now=1_999.5), first_to)])
    assert (after.id, after.duplicate) == (first.id, True)
    [outside] = await store.accept([to(once(4, now=2_000.0, until=3_000.0), first_to)])
    assert outside.created and outside.id != first.id
    # The new message holds the number now, for its own window.
    [then] = await store.accept([to(once(5, now=2_500.0), first_to)])
    assert (then.id, then.duplicate) == (outside.id, True)
    assert len(await store.list_messages("shop")) == 2


async def test_keys_numbers_and_dedupe_keys_are_independent(store: Store) -> None:
    results = await store.accept(
        [
            once(1),
            to(once(2, key="other"), new_message(1).to),
            once(3),
            to(once(4, "review"), new_message(1).to),
        ]
    )
    assert [r.created for r in results] == [True, True, True, True]
    assert len({r.id for r in results}) == 4


async def test_in_one_batch_only_the_first_is_taken(store: Store) -> None:
    number = new_message(1).to
    results = await store.accept([to(once(i, now=1_000.0 + i / 10), number) for i in range(5)])
    assert [r.created for r in results] == [True, False, False, False, False]
    assert {r.id for r in results} == {results[0].id}
    assert [r.duplicate for r in results] == [False, True, True, True, True]


async def test_concurrent_accepts_take_exactly_one(store: Store) -> None:
    number = new_message(1).to
    got = []

    async def send(i: int) -> None:
        got.extend(await store.accept([to(once(i), number)]))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(send, i)
    assert sum(r.created for r in got) == 1
    assert len({r.id for r in got}) == 1
    assert store.active["transactional"] == 1


async def test_a_client_ref_replay_answers_before_the_dedupe_check(store: Store) -> None:
    [first] = await store.accept([once(1, client_ref="r-1")])
    [replay] = await store.accept([once(1, client_ref="r-1")])
    assert (replay.id, replay.created, replay.duplicate) == (first.id, False, False)


async def test_entries_whose_window_ended_are_pruned(harness: Harness) -> None:
    store = harness.store
    await store.accept([once(1, until=1_500.0), once(2, until=2_500.0), once(3, until=2_500.0)])
    assert await store.expire_dedupe(1_499.0) == 0
    assert await store.expire_dedupe(1_500.0) == 1
    assert await store.expire_dedupe(2_000.0) == 0
    store = await harness.reopen()
    assert await store.expire_dedupe(2_500.0) == 2
    [fresh] = await store.accept([once(4, now=2_100.0)])
    assert fresh.created
