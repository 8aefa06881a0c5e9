"""The policy at accept and just before leaving, on a real SQLite file and a fixed clock."""

from __future__ import annotations

from pathlib import Path

from smsgw.queue.consent.policy import SYSTEM_KEY
from smsgw.queue.consent.records import OptinRequest, OptoutRequest
from tests.policy_helpers import (
    BERLIN,
    HONOLULU,
    RUSSIA_MOBILE,
    SHANGHAI,
    SYDNEY_MOBILE,
    at,
    config,
    message,
    policy_store,
)

NIGHT_IN_BERLIN = at("2027-01-15T03:00:00")  # 04:00 local, a Friday
BERLIN_OPENS = at("2027-01-15T08:00:00")  # 09:00 local
DAY = 86_400.0
WEEK = 7 * DAY


async def test_marketing_at_night_waits_for_the_recipients_morning(tmp_path: Path) -> None:
    async with policy_store(tmp_path / "q.db") as ps:
        [s] = await ps.accept(message(BERLIN, NIGHT_IN_BERLIN))
        assert s.result is not None and s.result.status == "deferred"
        assert s.deferred_until == BERLIN_OPENS
        row = await ps.store.get("shop", s.result.id)
        assert row is not None and row.status == "deferred"
        assert row.history[0].note == (
            "deferred by quiet hours (09:00-21:00 in Europe/Berlin) until 2027-01-15T08:00:00Z"
        )
        # Validity counts from the time it may leave.
        assert row.expires_at == BERLIN_OPENS + DAY
        assert ps.counter("smsgw_policy_deferred_total", reason="quiet_hours") == 1

        # Released at the opening, not a second before.
        await ps.store.promote_due(BERLIN_OPENS - 1)
        assert await ps.store.claim("sim", 10, BERLIN_OPENS - 1) == []
        await ps.store.promote_due(BERLIN_OPENS)
        [part] = await ps.store.claim("sim", 10, BERLIN_OPENS)
        assert part.message_id == s.result.id


async def test_numbers_from_several_zones_at_one_instant(tmp_path: Path) -> None:
    now = at("2027-01-15T03:00:00")
    async with policy_store(tmp_path / "q.db") as ps:
        results = await ps.accept(
            message(HONOLULU, now),  # 17:00 the day before: open
            message(SYDNEY_MOBILE, now),  # 11:00 Perth .. 14:00 Sydney: open in all its zones
            message(RUSSIA_MOBILE, now),  # 05:00 Moscow: deferred to 07:00 UTC
            message(BERLIN, now),  # 04:00: deferred to 08:00 UTC
            message(SHANGHAI, now),  # 11:00: open
        )
        got = [(s.result.status if s.result else None, s.deferred_until) for s in results]
        assert got == [
            ("queued", None),
            ("queued", None),
            ("deferred", at("2027-01-15T07:00:00")),
            ("deferred", BERLIN_OPENS),
            ("queued", None),
        ]
        assert "16 time zones" in results[2].note


async def test_otp_and_transactional_are_not_held_by_default(tmp_path: Path) -> None:
    async with policy_store(tmp_path / "q.db") as ps:
        otp, tx = await ps.accept(
            message(BERLIN, NIGHT_IN_BERLIN, msg_class="otp"),
            message(BERLIN, NIGHT_IN_BERLIN, msg_class="transactional"),
        )
        assert otp.result is not None and otp.result.status == "queued"
        assert tx.result is not None and tx.result.status == "queued"
        assert len(await ps.store.claim("sim", 10, NIGHT_IN_BERLIN)) == 2


async def test_config_holds_transactional_per_country(tmp_path: Path) -> None:
    cfg = config(
        """
[[policy.quiet_windows]]
class = "transactional"
country = "DE"
start = "07:00"
end = "22:00"
"""
    )
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        de, us = await ps.accept(
            message(BERLIN, NIGHT_IN_BERLIN, msg_class="transactional"),
            message(HONOLULU, at("2027-01-15T12:00:00"), msg_class="transactional"),  # 02:00
        )
        assert de.deferred_until == at("2027-01-15T06:00:00")
        assert us.result is not None and us.result.status == "queued"


async def test_send_at_inside_quiet_hours_moves_to_the_opening(tmp_path: Path) -> None:
    now = at("2027-01-15T12:00:00")
    send_at = at("2027-01-15T22:00:00")  # 23:00 in Berlin
    async with policy_store(tmp_path / "q.db") as ps:
        [s] = await ps.accept(message(BERLIN, now, send_at=send_at))
        assert s.result is not None and s.result.status == "deferred"
        assert s.deferred_until == at("2027-01-16T08:00:00")
        assert s.result.send_at == send_at


async def test_cap_defers_the_third_message_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    t0 = at("2027-01-15T10:00:00")
    async with policy_store(path) as ps:
        a, b = await ps.accept(message(BERLIN, t0), message(BERLIN, t0 + 60))
        assert [a.result and a.result.status, b.result and b.result.status] == ["queued"] * 2
        assert len(await ps.store.claim("sim", 10, t0 + 120)) == 2
    # A new process on the same file still knows what left.
    async with policy_store(path) as ps:
        [c] = await ps.accept(message(BERLIN, t0 + DAY))
        assert c.result is not None and c.result.status == "deferred"
        # The first left at t0 + 120 and counts until then plus a week.
        assert c.deferred_until == t0 + 120 + WEEK
        assert "frequency cap (2 per 7 days)" in c.note
        assert ps.counter("smsgw_policy_deferred_total", reason="frequency_cap") == 1
        # Other keys count apart (scope "key"), and other classes are not capped.
        other, tx = await ps.accept(
            message(BERLIN, t0 + DAY, key="other"),
            message(BERLIN, t0 + DAY, msg_class="transactional"),
        )
        assert other.result is not None and other.result.status == "queued"
        assert tx.result is not None and tx.result.status == "queued"


async def test_messages_accepted_together_do_not_share_the_last_slot(tmp_path: Path) -> None:
    t0 = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db") as ps:
        results = await ps.accept(*(message(BERLIN, t0) for _ in range(3)))
        assert [s.result and s.result.status for s in results] == ["queued", "queued", "deferred"]
        assert results[2].deferred_until == t0 + WEEK


async def test_a_cancelled_message_frees_its_slot(tmp_path: Path) -> None:
    t0 = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db") as ps:
        a, _ = await ps.accept(message(BERLIN, t0), message(BERLIN, t0))
        assert a.result is not None
        assert await ps.store.cancel("shop", a.result.id, t0 + 1) == "cancelled"
        [c] = await ps.accept(message(BERLIN, t0 + 2))
        assert c.result is not None and c.result.status == "queued"


async def test_cap_refuses_when_config_says_so_and_per_key_limits(tmp_path: Path) -> None:
    cfg = config(
        'frequency_exceeded = "refuse"\nfrequency_scope = "all"',
        keys="frequency_cap = 1\nfrequency_window_days = 1",
    )
    t0 = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        a, b = await ps.accept(message(BERLIN, t0), message(BERLIN, t0 + 1))
        assert a.result is not None
        assert b.refusal is not None and b.refusal.code == "frequency_capped"
        assert "1 marketing messages within 1 day" in b.refusal.message
        # "other" has the default cap of 2, but scope "all" counts shop's message too.
        c, d = await ps.accept(
            message(BERLIN, t0 + 2, key="other"), message(BERLIN, t0 + 3, key="other")
        )
        assert c.result is not None and d.refusal is not None
        assert ps.counter("smsgw_policy_refused_total", reason="frequency_capped") == 2


async def test_opted_out_numbers_are_refused_for_marketing_only(tmp_path: Path) -> None:
    now = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db") as ps:
        await ps.consents.opt_out([OptoutRequest(number=BERLIN, source="api", at=now - 5)])
        mkt, tx, otp = await ps.accept(
            message(BERLIN, now),
            message(BERLIN, now, msg_class="transactional"),
            message(BERLIN, now, msg_class="otp"),
        )
        assert mkt.refusal is not None and mkt.refusal.code == "opted_out"
        assert "through the API at 2027-01-15T09:59:55Z" in mkt.refusal.message
        assert tx.result is not None and otp.result is not None
        assert ps.counter("smsgw_policy_refused_total", reason="opted_out") == 1
        assert ps.counter("smsgw_optouts_total", source="api") == 1


async def test_transactional_respects_opt_outs_when_config_says_so(tmp_path: Path) -> None:
    now = at("2027-01-15T10:00:00")
    cfg = config("transactional_to_optouts = false")
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        await ps.consents.opt_out(
            [OptoutRequest(number=BERLIN, scope="shop", source="api", at=now)]
        )
        shop, other = await ps.accept(
            message(BERLIN, now, msg_class="transactional"),
            message(BERLIN, now, msg_class="transactional", key="other"),
        )
        assert shop.refusal is not None and shop.refusal.code == "opted_out"
        assert other.result is not None  # the opt-out was for shop only


async def test_opt_out_while_waiting_stops_the_message_before_it_leaves(tmp_path: Path) -> None:
    now = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db") as ps:
        one, multi, tx = await ps.accept(
            message(BERLIN, now),
            message(BERLIN, now, segments=("part one ", "part two")),
            message(BERLIN, now, msg_class="transactional"),
        )
        assert one.result and multi.result and tx.result
        # The recipient texts STOP after the 202, before the route gets to the message.
        await ps.consents.opt_out(
            [OptoutRequest(number=BERLIN, source="keyword", at=now + 1, inbound_id="in_1")]
        )
        parts = await ps.store.claim("sim", 10, now + 2)
        assert [p.message_id for p in parts] == [tx.result.id]
        for public_id in (one.result.id, multi.result.id):
            row = await ps.store.get("shop", public_id)
            assert row is not None and row.status == "rejected"
            assert row.error is not None and row.error.startswith("opted_out:")
            assert "by keyword at 2027-01-15T10:00:01Z" in row.error
            assert all(p.status == "rejected" for p in row.parts)
            assert row.history[-1].note.startswith("stopped before leaving")
        assert ps.counter("smsgw_policy_refused_total", reason="opted_out") == 2
        assert (
            ps.counter("smsgw_messages_final_total", **{"class": "marketing"}, status="rejected")
            == 2
        )


async def test_quiet_hours_are_checked_again_before_leaving(tmp_path: Path) -> None:
    late = at("2027-01-15T19:59:00")  # 20:59 in Berlin: may go
    async with policy_store(tmp_path / "q.db") as ps:
        [s] = await ps.accept(message(BERLIN, late))
        assert s.result is not None and s.result.status == "queued"
        # The route was busy; by the time it claims, it is 21:00 in Berlin.
        assert await ps.store.claim("sim", 10, late + 60) == []
        row = await ps.store.get("shop", s.result.id)
        assert row is not None and row.status == "deferred"
        assert row.history[-1].note.endswith("until 2027-01-16T08:00:00Z")
        await ps.store.promote_due(at("2027-01-16T08:00:00"))
        assert len(await ps.store.claim("sim", 10, at("2027-01-16T08:00:00"))) == 1


async def test_cap_is_checked_again_with_the_times_messages_really_left(tmp_path: Path) -> None:
    cfg = config("frequency_cap = 1\nfrequency_window_days = 1")
    t0 = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        a, b = await ps.accept(message(BERLIN, t0), message(BERLIN, t0, send_at=t0 + DAY))
        assert a.result and a.result.status == "queued"
        assert b.result and b.result.status == "scheduled"  # a's day is over by then
        # The route was down: a leaves only at t0 + 9 h (20:00 in Berlin).
        left = t0 + 9 * 3600
        assert len(await ps.store.claim("sim", 10, left)) == 1
        await ps.store.promote_due(t0 + DAY)
        assert await ps.store.claim("sim", 10, t0 + DAY) == []
        row = await ps.store.get("shop", b.result.id)
        assert row is not None and row.status == "deferred"
        assert row.history[-1].note == (
            "deferred by frequency cap (1 per 1 day) until 2027-01-16T19:00:00Z"
        )


async def test_consent_required_means_a_record_younger_than_the_last_opt_out(
    tmp_path: Path,
) -> None:
    from smsgw.queue.consent.records import ConsentRecord

    cfg = config(keys="marketing_requires_consent = true")
    now = at("2027-01-15T10:00:00")
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        [s] = await ps.accept(message(BERLIN, now))
        assert s.refusal is not None and s.refusal.code == "consent_required"
        [other] = await ps.accept(message(BERLIN, now, key="other"))
        assert other.result is not None  # "other" does not require consent
        await ps.consents.add_consents(
            [ConsentRecord(number=BERLIN, scope="shop", source="web", at=now, text_shown="Yes!")],
            now,
        )
        [s] = await ps.accept(message(BERLIN, now + 1))
        assert s.result is not None
        await ps.consents.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=now + 2)])
        await ps.consents.opt_in([OptinRequest(number=BERLIN, source="api", at=now + 3)])
        [s] = await ps.accept(message(BERLIN, now + 4))
        assert s.refusal is not None and s.refusal.code == "consent_required"


async def test_keyword_replies_are_exempt_and_replays_get_the_original(tmp_path: Path) -> None:
    now = at("2027-01-15T03:00:00")  # night in Berlin
    # Even where transactional messages obey opt-outs and quiet hours, the confirmation of a
    # STOP goes at once.
    cfg = config('transactional_to_optouts = false\nquiet_classes = ["marketing", "transactional"]')
    async with policy_store(tmp_path / "q.db", cfg) as ps:
        await ps.consents.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=now)])
        reply, other = await ps.accept(
            message(BERLIN, now, msg_class="transactional", key=SYSTEM_KEY),
            message(BERLIN, now, msg_class="transactional"),
        )
        assert reply.result is not None and reply.result.status == "queued"
        assert other.refusal is not None and other.refusal.code == "opted_out"
        assert len(await ps.store.claim("sim", 10, now)) == 1
        # A marketing message accepted before the opt-out and retried with its client_ref
        # after it gets the original answer, not a refusal.
        await ps.consents.opt_in([OptinRequest(number=BERLIN, source="keyword", at=now + 1)])
        [first] = await ps.accept(message(BERLIN, now + 2, client_ref="promo-1"))
        await ps.consents.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=now + 3)])
        [again] = await ps.accept(message(BERLIN, now + 4, client_ref="promo-1"))
        assert first.result is not None and again.result is not None
        assert again.result.id == first.result.id and not again.result.created
