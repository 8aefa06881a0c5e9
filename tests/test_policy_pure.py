"""The consent and courtesy decisions as pure functions: facts in, verdicts out, no store."""

from __future__ import annotations

from smsgw.queue.consent.policy import Policy
from smsgw.queue.consent.records import ALL, OptoutRow
from smsgw.queue.store.screening import AcceptFacts, ClaimCandidate, ClaimFacts
from tests.policy_helpers import BERLIN, at, config, message

NIGHT = at("2027-01-15T23:30:00")  # 00:30 in Berlin
DAY = at("2027-01-15T10:00:00")
STOP = OptoutRow(
    cursor=1,
    number=BERLIN,
    scope=ALL,
    source="keyword",
    at=DAY - 60,
    inbound_id="in_1",
    key=None,
    note="",
)


def _candidate(attempts: int = 0) -> ClaimCandidate:
    return ClaimCandidate(
        mid=1,
        key="shop",
        msg_class="marketing",
        to=BERLIN,
        zones=("Europe/Berlin",),
        country="DE",
        attempts=attempts,
    )


def test_an_opt_out_on_record_refuses_marketing_at_accept() -> None:
    policy = Policy(config())
    items = [message(BERLIN, DAY)]
    [ask] = policy.accept_asks(items)
    assert ask is not None and ask.optouts
    [verdict] = policy.screen(items, [AcceptFacts(optout=STOP)])
    assert verdict.refusal is not None and verdict.refusal.code == "opted_out"


def test_quiet_hours_defer_at_accept_until_morning_with_validity_moved() -> None:
    policy = Policy(config("frequency_cap = 0"))
    items = [message(BERLIN, NIGHT)]
    [verdict] = policy.screen(items, [AcceptFacts()])
    assert verdict.refusal is None and verdict.reasons == ("quiet_hours",)
    assert verdict.msg.status == "deferred"
    assert verdict.msg.due_at is not None and verdict.msg.due_at > NIGHT
    assert verdict.msg.expires_at - verdict.msg.due_at == items[0][0].expires_at - NIGHT


def test_a_stop_that_came_while_it_waited_stops_it_before_it_leaves() -> None:
    policy = Policy(config())
    [verdict] = policy.check([_candidate()], [ClaimFacts(optout=STOP)], DAY)
    assert verdict is not None and verdict.action == "stop"
    assert verdict.error is not None and verdict.error.startswith("opted_out:")


def test_courtesy_is_checked_again_only_at_the_first_attempt() -> None:
    policy = Policy(config("frequency_cap = 0"))
    [first] = policy.check([_candidate()], [ClaimFacts()], NIGHT)
    assert first is not None and first.action == "defer" and first.reasons == ("quiet_hours",)
    [retry] = policy.check([_candidate(attempts=1)], [ClaimFacts()], NIGHT)
    assert retry is None


def test_a_capped_message_that_goes_counts_from_now() -> None:
    policy = Policy(config("quiet_classes = []\nfrequency_cap = 2"))
    [ask] = policy.claim_asks([_candidate()], DAY)
    assert ask.slots_since is not None and ask.slots_since < DAY
    [goes] = policy.check([_candidate()], [ClaimFacts(slots=(DAY - 100,))], DAY)
    assert goes is not None and goes.action == "left"
    [held] = policy.check([_candidate()], [ClaimFacts(slots=(DAY - 100, DAY - 50))], DAY)
    assert held is not None and held.action == "defer" and held.reasons == ("frequency_cap",)
