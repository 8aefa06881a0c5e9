"""Accept through the store interface: ids, idempotency per key and client_ref, and the
consent policy deciding in the same commit."""

from __future__ import annotations

import msgspec

from tests.helpers import new_message
from tests.policy_helpers import BERLIN, SHANGHAI, at, message

from .backends import Harness
from .interface import OptoutRequest, Store

NOW = at("2027-01-15T10:00:00")


async def test_each_message_gets_its_own_id_and_what_the_client_is_told(store: Store) -> None:
    results = await store.accept(
        [new_message(1), new_message(2, segments=("a" * 153, "b")), new_message(3, send_at=5e3)]
    )
    assert len({r.id for r in results}) == 3 and all(r.id.startswith("msg_") for r in results)
    assert [(r.status, r.parts, r.encoding, r.route, r.created) for r in results] == [
        ("queued", 1, "gsm7", "sim", True),
        ("queued", 2, "gsm7", "sim", True),
        ("scheduled", 1, "gsm7", "sim", True),
    ]
    assert results[2].send_at == 5e3
    row = await store.get("shop", results[1].id)
    assert row is not None
    assert (row.to, row.sender, row.text, row.parts_total) == (
        "+491700000002",
        "Shop",
        "a" * 153 + "b",
        2,
    )
    assert [p.seq for p in row.parts] == [1, 2]
    assert store.active == {"otp": 0, "transactional": 3, "marketing": 0}


async def test_a_replay_of_the_same_client_ref_returns_the_original(store: Store) -> None:
    [first] = await store.accept([new_message(1, client_ref="order-1")])
    [again] = await store.accept([new_message(1, client_ref="order-1")])
    assert again == msgspec.structs.replace(first, created=False)
    page = await store.list_messages("shop", client_ref="order-1")
    assert [m.id for m in page] == [first.id]
    assert store.active["transactional"] == 1


async def test_a_conflicting_replay_changes_nothing(store: Store) -> None:
    # The same client_ref with another recipient, text and class: the original stands, whole.
    [first] = await store.accept([new_message(1, client_ref="order-1")])
    [again] = await store.accept(
        [
            new_message(
                2, client_ref="order-1", msg_class="otp", segments=("other", "text"), now=1_005.0
            )
        ]
    )
    assert again.id == first.id and not again.created
    assert (again.parts, again.status) == (1, "queued")
    row = await store.get("shop", first.id)
    assert row is not None
    assert (row.to, row.text, row.msg_class, row.created_at) == (
        "+491700000001",
        "hello",
        "transactional",
        1_000.0,
    )
    assert store.active == {"otp": 0, "transactional": 1, "marketing": 0}
    parts = await store.claim("sim", 10, 1_010.0)
    assert [p.message_id for p in parts] == [first.id]


async def test_client_refs_belong_to_their_key(store: Store) -> None:
    [mine] = await store.accept([new_message(1, client_ref="r")])
    [theirs] = await store.accept([new_message(1, client_ref="r", key="other")])
    assert theirs.created and theirs.id != mine.id
    assert await store.get("other", mine.id) is None
    assert [m.id for m in await store.list_messages("other", client_ref="r")] == [theirs.id]


async def test_the_consent_policy_refuses_in_the_same_commit(harness: Harness) -> None:
    await harness.consents.opt_out([OptoutRequest(number=BERLIN, source="api", at=NOW - 5)])
    refused, taken, transactional = await harness.accept_screened(
        [
            message(BERLIN, NOW),
            message(SHANGHAI, NOW),
            message(BERLIN, NOW, msg_class="transactional"),
        ]
    )
    assert refused.result is None and refused.refusal is not None
    assert refused.refusal.code == "opted_out"
    assert taken.result is not None and taken.result.created
    assert transactional.result is not None  # shipping notices still go (the default)
    assert harness.store.active == {"otp": 0, "transactional": 1, "marketing": 1}
    page = await harness.store.list_messages("shop")
    assert sorted(m.to for m in page) == [BERLIN, SHANGHAI]
