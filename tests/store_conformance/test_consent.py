"""Opt-outs and consent records through the store interface: added, lifted (by whom may),
listed per key, kept as an audit trail, and heeded at accept and again before leaving."""

from __future__ import annotations

from tests.policy_helpers import BERLIN, HONOLULU, SHANGHAI, at, message

from .backends import Harness
from .interface import ALL, ConsentRecord, Facts, NewMessage, OptinRequest, OptoutRequest

NOW = at("2027-01-15T10:00:00")


async def test_an_opt_out_is_added_once_and_every_stop_is_on_the_trail(harness: Harness) -> None:
    c = harness.consents
    stop = OptoutRequest(number=BERLIN, source="keyword", at=NOW, inbound_id="in_1")
    assert await c.opt_out([stop]) == [True]
    again = OptoutRequest(number=BERLIN, source="keyword", at=NOW + 1, inbound_id="in_2")
    assert await c.opt_out([again]) == [False]  # already out: changes nothing, but recorded
    blocking = await c.blocking(BERLIN, "shop")
    assert blocking is not None
    assert (blocking.scope, blocking.source, blocking.inbound_id) == (ALL, "keyword", "in_1")
    current, events = await c.history(BERLIN, None)
    assert [r.inbound_id for r in current] == ["in_1"]
    assert [(e.action, e.inbound_id, e.at) for e in events] == [
        ("out", "in_1", NOW),
        ("out", "in_2", NOW + 1),
    ]
    assert harness.counter("smsgw_optouts_total", source="keyword") == 1


async def test_who_may_lift_an_opt_out(harness: Harness) -> None:
    c = harness.consents
    await c.opt_out(
        [
            OptoutRequest(number=BERLIN, source="keyword", at=NOW),
            OptoutRequest(number=SHANGHAI, source="api", at=NOW, key="shop"),
            OptoutRequest(number=HONOLULU, scope="other", source="api", at=NOW, key="other"),
        ]
    )

    def lift(number: str, key: str, scope: str = ALL) -> OptinRequest:
        return OptinRequest(number=number, scope=scope, source="api", at=NOW + 10, key=key)

    # The recipient's own STOP: only the recipient (START) or an admin key lifts it.
    assert await c.lift(lift(BERLIN, "shop"), admin=False) == "by_recipient"
    # An every-key opt-out made through the API: its maker, never another key.
    assert await c.lift(lift(SHANGHAI, "other"), admin=False) == "by_other_key"
    assert await c.lift(lift(HONOLULU, "other", "shop"), admin=False) == "not_out"
    assert [r.number for r in await c.page(None, 0, 100)] == [BERLIN, SHANGHAI, HONOLULU]
    assert await c.lift(lift(SHANGHAI, "shop"), admin=False) == "lifted"
    assert await c.lift(lift(HONOLULU, "other", "other"), admin=False) == "lifted"
    assert await c.lift(lift(BERLIN, "anyone"), admin=True) == "lifted"
    assert await c.page(None, 0, 100) == []
    assert harness.counter("smsgw_optins_total", source="api") == 3
    _, events = await c.history(BERLIN, None)
    assert [(e.action, e.source) for e in events] == [("out", "keyword"), ("in", "api")]


async def test_a_start_lifts_every_scope(harness: Harness) -> None:
    c = harness.consents
    await c.opt_out(
        [
            OptoutRequest(number=BERLIN, source="keyword", at=NOW),
            OptoutRequest(number=BERLIN, scope="shop", source="api", at=NOW, key="shop"),
        ]
    )
    assert await c.opt_in([OptinRequest(number=BERLIN, source="keyword", at=NOW + 5)]) == [True]
    assert await c.blocking(BERLIN, "shop") is None
    current, events = await c.history(BERLIN, None)
    assert current == []
    assert sorted((e.action, e.scope) for e in events) == [
        ("in", ALL),
        ("in", "shop"),
        ("out", ALL),
        ("out", "shop"),
    ]


async def test_a_key_lists_the_every_key_scope_and_its_own(harness: Harness) -> None:
    c = harness.consents
    await c.opt_out(
        [
            OptoutRequest(number=BERLIN, scope="shop", source="api", at=NOW, key="shop"),
            OptoutRequest(number=SHANGHAI, source="import", at=NOW, key="other"),
            OptoutRequest(number=HONOLULU, scope="other", source="api", at=NOW, key="other"),
        ]
    )
    shop = await c.page("shop", 0, 100)
    assert [(r.number, r.scope) for r in shop] == [(BERLIN, "shop"), (SHANGHAI, ALL)]
    assert [r.number for r in await c.page("shop", shop[0].cursor, 100)] == [SHANGHAI]
    assert [r.number for r in await c.page("shop", 0, 1)] == [BERLIN]
    assert [r.number for r in await c.page("other", 0, 100)] == [SHANGHAI, HONOLULU]
    assert len(await c.export_all(None)) == 3
    assert await c.blocking(HONOLULU, "shop") is None
    _, trail = await c.history(HONOLULU, "shop")
    assert trail == []  # another key's own scope is not this key's to read


async def test_a_consent_record_opens_the_way_until_the_next_opt_out(harness: Harness) -> None:
    # The key "careful" sends marketing only to numbers with a consent record younger than
    # their last opt-out.
    def promo(now: float) -> tuple[NewMessage, Facts]:
        return message(BERLIN, now, key="careful")

    [before] = await harness.accept_screened([promo(NOW)])
    assert before.refusal is not None and before.refusal.code == "consent_required"
    ids = await harness.consents.add_consents(
        [
            ConsentRecord(
                number=BERLIN,
                scope="careful",
                source="web_form",
                at=NOW + 1,
                text_shown="Yes, send me offers",
                evidence="ip=203.0.113.7",
                key="careful",
            ),
            ConsentRecord(number=SHANGHAI, scope="shop", source="import", at=NOW + 1),
        ],
        NOW + 1,
    )
    assert len(set(ids)) == 2
    await harness.reopen()  # the record is on disk, not in memory
    [given] = await harness.accept_screened([promo(NOW + 2)])
    assert given.result is not None and given.result.created
    [elsewhere] = await harness.accept_screened([message(SHANGHAI, NOW + 2, key="careful")])
    assert elsewhere.refusal is not None  # another key's consent is not this key's
    await harness.consents.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=NOW + 3)])
    await harness.consents.opt_in([OptinRequest(number=BERLIN, source="keyword", at=NOW + 4)])
    [after] = await harness.accept_screened([promo(NOW + 5)])
    assert after.refusal is not None and after.refusal.code == "consent_required"
    more = await harness.consents.add_consents(
        [ConsentRecord(number=BERLIN, scope="careful", source="web_form", at=NOW + 6)], NOW + 6
    )
    assert not set(more) & set(ids)  # ids are never reused
    [again] = await harness.accept_screened([promo(NOW + 7)])
    assert again.result is not None


async def test_a_stop_after_accept_keeps_the_message_from_leaving(harness: Harness) -> None:
    [taken] = await harness.accept_screened([message(BERLIN, NOW)])
    assert taken.result is not None and taken.result.status == "queued"
    await harness.consents.opt_out(
        [OptoutRequest(number=BERLIN, source="keyword", at=NOW + 1, inbound_id="in_9")]
    )
    assert await harness.store.claim("sim", 10, NOW + 2) == []
    row = await harness.store.get("shop", taken.result.id)
    assert row is not None and row.status == "rejected"
    assert row.error is not None and "opted out" in row.error
    assert harness.store.active["marketing"] == 0


async def test_a_consent_on_record_is_asked_per_number_and_key(harness: Harness) -> None:
    store = harness.store
    assert not await store.consent_on_record(BERLIN, "shop")
    record = ConsentRecord(number=BERLIN, scope="shop", source="web_form", at=NOW, key="shop")
    await store.add_consents([record], NOW)
    assert await store.consent_on_record(BERLIN, "shop")
    assert not await store.consent_on_record(BERLIN, "other")  # another key's scope
    await store.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=NOW + 1)])
    assert not await store.consent_on_record(BERLIN, "shop")
