"""Cancel by client_ref or prefix through the store interface: every waiting match of the keys
named, in one transaction with dispatch; what has left is listed with its status."""

from __future__ import annotations

import msgspec
import trio

from tests.helpers import new_message

from .backends import Harness
from .interface import Claim, FailureKind, Finished, Outcome, Store

URL = "http://127.0.0.1:9/hook"
DAY = 86_400.0


def ids(matches: object) -> list[tuple[str, str]]:
    return [(m.client_ref, m.status) for m in matches]  # type: ignore[attr-defined]


async def test_waiting_matches_are_cancelled_and_the_rest_listed_as_left(
    harness: Harness,
) -> None:
    store = harness.store
    retry, sending, sent = await store.accept(
        [
            new_message(1, client_ref="cart-1/retry", validity=DAY),
            new_message(2, client_ref="cart-1/sending", validity=DAY),
            new_message(3, client_ref="cart-1/sent", validity=DAY),
        ]
    )
    parts = {p.message_id: p for p in await store.claim("sim", 10, 1_001.0)}
    await store.record_outcomes(
        [
            Outcome(part_id=parts[retry.id].part_id, failure=FailureKind.TEMPORARY, code="0x14"),
            Outcome(part_id=parts[sent.id].part_id, carrier_id="c-3"),
        ],
        1_002.0,
    )
    queued, scheduled, ten, others = await store.accept(
        [
            new_message(4, client_ref="cart-1/queued", callback_url=URL, validity=DAY),
            new_message(5, client_ref="cart-1/scheduled", send_at=5_000.0, validity=DAY),
            new_message(6, client_ref="cart-10/queued", validity=DAY),
            new_message(7, client_ref="cart-1/queued", key="other", validity=DAY),
        ]
    )
    before = store.active["transactional"]

    got = await store.cancel_refs(["shop"], "cart-1/", 1_003.0, prefix=True)

    assert ids(got.cancelled) == [
        ("cart-1/queued", "cancelled"),
        ("cart-1/retry", "cancelled"),
        ("cart-1/scheduled", "cancelled"),
    ]
    assert {m.id for m in got.cancelled} == {queued.id, retry.id, scheduled.id}
    assert ids(got.already_left) == [("cart-1/sending", "sending"), ("cart-1/sent", "submitted")]
    assert [m.id for m in got.already_left] == [sending.id, sent.id]
    assert {m.key for m in got.cancelled + got.already_left} == {"shop"}
    assert got.more is False
    assert store.active["transactional"] == before - 3
    # Nothing cancelled leaves later: not now, not at its retry time, not at its send time.
    await store.promote_due(50_000.0)
    later = await store.claim("sim", 10, 50_001.0)
    assert sorted(p.message_id for p in later) == sorted([ten.id, others.id])
    # The status change has its webhook, as a cancel by id does.
    [lane] = await store.webhook_step(
        Finished(), [Claim("shop", "http://127.0.0.1:9", 10)], 1_004.0
    )
    bodies = [msgspec.json.decode(j.body) for j in lane.jobs]
    assert [(b["id"], b["status"]) for b in bodies][-1] == (queued.id, "cancelled")
    store = await harness.reopen()
    for r in (queued, scheduled, retry):
        row = await store.get("shop", r.id)
        assert row is not None and row.status == "cancelled"
        assert [p.status for p in row.parts] == ["cancelled"]
        assert row.history[-1].status == "cancelled"
    again = await store.cancel_refs(["shop"], "cart-1/queued", 1_005.0)
    assert (again.cancelled, ids(again.already_left)) == ([], [("cart-1/queued", "cancelled")])
    theirs = await store.get("other", others.id)
    assert theirs is not None and theirs.status == "sending"


async def test_an_exact_reference_matches_only_itself(store: Store) -> None:
    await store.accept([new_message(1, client_ref="cart-1"), new_message(2, client_ref="cart-1/a")])
    got = await store.cancel_refs(["shop"], "cart-1", 1_001.0)
    assert ids(got.cancelled) == [("cart-1", "cancelled")] and got.already_left == []
    rest = await store.cancel_refs(["other"], "cart-1/a", 1_001.0)
    assert (rest.cancelled, rest.already_left, rest.more) == ([], [], False)


async def test_a_prefix_is_literal(store: Store) -> None:
    refs = ["a%b/1", "axb/1", "a_/1", "ab/1", "A%b/1", "a\\%/1"]
    await store.accept([new_message(i, client_ref=r) for i, r in enumerate(refs)])
    for prefix, matched in (("a%", ["a%b/1"]), ("a_", ["a_/1"]), ("a\\", ["a\\%/1"])):
        got = await store.cancel_refs(["shop"], prefix, 1_001.0, prefix=True)
        assert [m.client_ref for m in got.cancelled] == matched, prefix


async def test_a_prefix_at_the_ends_of_unicode(store: Store) -> None:
    refs = ["z\U0010ffff1", "z\U0010ffff", "{", "\ud7ffx", "\ue000", "\U0010ffff\U0010ffffq"]
    await store.accept([new_message(i, client_ref=r) for i, r in enumerate(refs)])
    for prefix, matched in (
        ("z\U0010ffff", ["z\U0010ffff", "z\U0010ffff1"]),
        ("\ud7ff", ["\ud7ffx"]),
        ("\U0010ffff\U0010ffff", ["\U0010ffff\U0010ffffq"]),
    ):
        got = await store.cancel_refs(["shop"], prefix, 1_001.0, prefix=True)
        assert [m.client_ref for m in got.cancelled] == matched, ascii(prefix)


async def test_the_answer_is_bounded_and_waiting_matches_come_first(store: Store) -> None:
    await store.accept([new_message(i, client_ref=f"r/{i}") for i in range(5)])
    first = await store.cancel_refs(["shop"], "r/", 1_001.0, prefix=True, limit=2)
    assert (ids(first.cancelled), first.already_left, first.more) == (
        [("r/0", "cancelled"), ("r/1", "cancelled")],
        [],
        True,
    )
    second = await store.cancel_refs(["shop"], "r/", 1_002.0, prefix=True, limit=2)
    assert [m.client_ref for m in second.cancelled] == ["r/2", "r/3"] and second.more
    third = await store.cancel_refs(["shop"], "r/", 1_003.0, prefix=True, limit=2)
    assert [m.client_ref for m in third.cancelled] == ["r/4"]
    assert ids(third.already_left) == [("r/0", "cancelled")] and third.more
    assert await store.claim("sim", 10, 1_004.0) == []
    every = await store.cancel_refs(["shop"], "r/", 1_005.0, prefix=True, limit=5)
    assert (every.cancelled, len(every.already_left), every.more) == ([], 5, False)


async def test_keys_are_named_by_the_caller(store: Store) -> None:
    await store.accept(
        [
            new_message(1, client_ref="x/1"),
            new_message(2, client_ref="x/1", key="other"),
            new_message(3, client_ref="x/2", key="careful"),
        ]
    )
    got = await store.cancel_refs(["other", "shop"], "x/", 1_001.0, prefix=True)
    assert [(m.key, m.client_ref) for m in got.cancelled] == [("other", "x/1"), ("shop", "x/1")]
    assert await store.claim("sim", 10, 1_002.0) != []


async def test_a_cancel_racing_a_claim_never_reports_a_sent_message_cancelled(
    store: Store,
) -> None:
    accepted = await store.accept(
        [new_message(i, client_ref=f"race/{i}", segments=("a", "b")) for i in range(200)]
    )
    claimed: list[str] = []
    answers = []
    started = trio.Event()

    async def claimer() -> None:
        # 40 claims of 7 parts take at most 140 of the 200 messages: some are always left
        # for the cancel, whichever way the two tasks' calls fall into the writer's batches.
        for i in range(40):
            claimed.extend(p.message_id for p in await store.claim("sim", 7, 1_001.0 + i))
            started.set()
            await trio.lowlevel.checkpoint()

    async def canceller() -> None:
        await started.wait()
        for i in range(5):
            answers.append(await store.cancel_refs(["shop"], "race/", 1_001.5 + i, prefix=True))
            await trio.lowlevel.checkpoint()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(claimer)
            nursery.start_soon(canceller)
    cancelled = {m.id for a in answers for m in a.cancelled}
    assert cancelled and claimed
    assert cancelled.isdisjoint(claimed)
    assert cancelled | set(claimed) == {r.id for r in accepted}
    left = {m.id for a in answers for m in a.already_left if m.status != "cancelled"}
    assert left <= set(claimed)
    for r in accepted:
        row = await store.get("shop", r.id)
        assert row is not None
        statuses = {p.status for p in row.parts}
        assert statuses == {"cancelled"} if r.id in cancelled else "cancelled" not in statuses
