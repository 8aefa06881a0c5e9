"""Campaigns through the store interface: a draft per key, recipients fixed once at start,
a chunk accepted with its recipients marked in one commit (and not at all once a pause moved
the generation on), pause taking back what has not left, cancel, all across a restart."""

from __future__ import annotations

import msgspec

from tests.helpers import new_message

from .backends import Harness
from .interface import (
    HELD,
    AbSpec,
    CampaignSpec,
    NewCampaign,
    NewRecipient,
    RecipientFire,
    SpecVariant,
    Store,
    client_ref,
)

SPEC = CampaignSpec(variants=[SpecVariant(text="Hi {{name}}", weight=2)], rate=5.0)


def _draft(key: str = "shop") -> NewCampaign:
    return NewCampaign(key=key, name="January", spec=SPEC, at=1_000.0)


def _recipients(n: int) -> list[NewRecipient]:
    return [
        NewRecipient(number=f"+4917000{i:05d}", vars={"name": f"N{i}"}, variant=0) for i in range(n)
    ]


def _fires(campaign_id: str, gen: int, seqs: list[int]) -> list[RecipientFire]:
    return [
        RecipientFire(
            seq=s,
            msg=msgspec.structs.replace(
                new_message(s - 1), client_ref=client_ref(campaign_id, s, gen)
            ),
        )
        for s in seqs
    ]


async def test_a_draft_is_kept_per_key_across_a_restart(harness: Harness) -> None:
    made = await harness.store.add_campaign(_draft())
    assert made.id.startswith("cmp_") and (made.state, made.gen, made.spec) == ("draft", 0, SPEC)
    other = await harness.store.add_campaign(_draft("other"))
    store = await harness.reopen()
    assert await store.get_campaign("shop", made.id) == made
    assert await store.get_campaign("other", made.id) is None
    assert await store.get_campaign(None, other.id) == other
    assert [c.id for c in await store.campaigns_page("shop", 0, 10)] == [made.id]
    assert [c.id for c in await store.campaigns_page(None, 0, 10)] == [made.id, other.id]
    assert [c.id for c in await store.campaigns_page(None, made.cursor, 10)] == [other.id]


async def test_start_fixes_the_recipients_once(store: Store) -> None:
    made = await store.add_campaign(_draft())
    skipped = NewRecipient(
        number="+4917099999", vars={}, variant=0, state="skipped", reason="opted_out"
    )
    started = await store.start_campaign("shop", made.id, [*_recipients(3), skipped], 1_001.0)
    assert not isinstance(started, str) and started is not None
    assert (started.state, started.started_at) == ("running", 1_001.0)
    assert await store.start_campaign("shop", made.id, _recipients(1), 1_002.0) == "running"
    assert await store.start_campaign("other", made.id, _recipients(1), 1_002.0) is None
    counts = {(c.state, c.reason): c.n for c in await store.campaign_counts(made.cursor)}
    assert counts == {("pending", None): 3, ("skipped", "opted_out"): 1}
    pending = await store.pending_recipients(made.cursor, 2)
    assert [(r.seq, r.vars) for r in pending] == [(1, {"name": "N0"}), (2, {"name": "N1"})]


async def test_a_chunk_marks_its_recipients_in_its_commit(harness: Harness) -> None:
    store = harness.store
    made = await store.add_campaign(_draft())
    await store.start_campaign("shop", made.id, _recipients(3), 1_001.0)
    fires = _fires(made.id, 0, [1, 2])
    marked = await store.accept_campaign_chunk(harness.policy, made.cursor, 0, fires, 1_002.0)
    assert marked == [(1, "accepted", None), (2, "accepted", None)]
    store = await harness.reopen()
    # Run again (a restart re-running the chunk): not pending any more, not sent twice.
    again = await store.accept_campaign_chunk(harness.policy, made.cursor, 0, fires, 1_003.0)
    assert again == []
    last = [RecipientFire(seq=3, reason="invalid_number")]
    marked = await store.accept_campaign_chunk(harness.policy, made.cursor, 0, last, 1_004.0)
    assert marked == [(3, "skipped", "invalid_number")]
    done = await store.get_campaign("shop", made.id)
    assert done is not None and (done.state, done.ended_at) == ("completed", 1_004.0)
    # A completed campaign takes no more chunks.
    assert await store.accept_campaign_chunk(harness.policy, made.cursor, 0, last, 1_005.0) is None
    assert len(await store.list_messages("shop")) == 2
    tallies, clicks = await store.campaign_messages(made.cursor)
    assert [(t.messages, t.parts, t.sent) for t in tallies] == [(2, 2, 0)] and clicks == []


async def test_pause_takes_back_what_has_not_left_and_a_stale_chunk_writes_nothing(
    harness: Harness,
) -> None:
    store = harness.store
    made = await store.add_campaign(_draft())
    await store.start_campaign("shop", made.id, _recipients(3), 1_001.0)
    await store.accept_campaign_chunk(
        harness.policy, made.cursor, 0, _fires(made.id, 0, [1, 2]), 1_002.0
    )
    [left] = await store.claim("sim", 1, 1_002.5)  # the first has left: it stays accepted
    paused = await store.campaign_action("shop", made.id, "pause", 1_003.0)
    assert not isinstance(paused, str) and paused is not None
    assert (paused.state, paused.gen) == ("paused", 1)
    counts = {c.state: c.n for c in await store.campaign_counts(made.cursor)}
    assert counts == {"accepted": 1, "pending": 2}
    statuses = {m.client_ref: m.status for m in await store.list_messages("shop")}
    assert statuses[client_ref(made.id, 2, 0)] == "cancelled"
    assert statuses[client_ref(made.id, 1, 0)] != "cancelled"
    assert left.message_id in {m.id for m in await store.list_messages("shop")}
    # A chunk taken before the pause and committed after it finds the generation moved on.
    stale = await store.accept_campaign_chunk(
        harness.policy, made.cursor, 0, _fires(made.id, 0, [3]), 1_004.0
    )
    assert stale is None
    assert await store.campaign_action("shop", made.id, "pause", 1_004.0) == "paused"
    store = await harness.reopen()
    resumed = await store.campaign_action("shop", made.id, "resume", 1_005.0)
    assert not isinstance(resumed, str) and resumed is not None and resumed.state == "running"
    assert [r.seq for r in await store.pending_recipients(made.cursor, 10)] == [2, 3]
    cancelled = await store.campaign_action("shop", made.id, "cancel", 1_006.0)
    assert not isinstance(cancelled, str) and cancelled is not None
    assert cancelled.state == "cancelled"
    counts = {c.state: c.n for c in await store.campaign_counts(made.cursor)}
    assert counts == {"accepted": 1, "cancelled": 2}
    assert await store.campaign_action("shop", made.id, "resume", 1_007.0) == "cancelled"
    assert await store.campaign_action("other", made.id, "cancel", 1_007.0) is None


async def test_an_ab_winner_is_decided_once_when_due_and_gets_the_held(harness: Harness) -> None:
    store = harness.store
    ab = AbSpec(test_fraction=0.5, wait=100.0, metric="clicks")
    two = [SpecVariant(text="A"), SpecVariant(text="B")]
    spec = CampaignSpec(variants=two, ab=ab)
    made = await store.add_campaign(NewCampaign(key="shop", name="ab", spec=spec, at=1_000.0))
    held = [
        NewRecipient(number=f"+4917111{i:05d}", vars={}, variant=HELD, state="held")
        for i in range(2)
    ]
    await store.start_campaign("shop", made.id, [*_recipients(2), *held], 1_001.0)
    assert [r.seq for r in await store.pending_recipients(made.cursor, 10)] == [1, 2]
    assert await store.decide_campaign_ab(made.cursor, 2_000.0) is None  # the test is pending
    fires = _fires(made.id, 0, [1, 2])
    await store.accept_campaign_chunk(harness.policy, made.cursor, 0, fires, 1_002.0)
    running = await store.get_campaign("shop", made.id)
    assert running is not None and running.state == "running"  # the held are still to send
    assert await store.decide_campaign_ab(made.cursor, 1_101.0) is None  # the wait is not over
    store = await harness.reopen()
    decided = await store.decide_campaign_ab(made.cursor, 1_102.0)
    assert decided is not None and (decided.ab_winner, decided.ab_decided_at) == (0, 1_102.0)
    assert decided.ab_reason is not None and "clicks" in decided.ab_reason
    assert await store.decide_campaign_ab(made.cursor, 1_200.0) is None  # once
    pending = await store.pending_recipients(made.cursor, 10)
    assert [(r.seq, r.variant) for r in pending] == [(3, 0), (4, 0)]
    assert await store.campaign_ab_values(made.cursor, 2, "clicks") == [0.0, 0.0]


async def test_a_campaign_of_held_recipients_only_runs_until_its_winner(store: Store) -> None:
    spec = CampaignSpec(
        variants=[SpecVariant(text="A"), SpecVariant(text="B")],
        ab=AbSpec(test_fraction=0.1, wait=60.0, metric="conversions"),
    )
    made = await store.add_campaign(NewCampaign(key="shop", name="ab", spec=spec, at=1_000.0))
    held = NewRecipient(number="+4917111000", vars={}, variant=HELD, state="held")
    started = await store.start_campaign("shop", made.id, [held], 1_001.0)
    assert started is not None and not isinstance(started, str) and started.state == "running"
    assert await store.decide_campaign_ab(made.cursor, 1_060.0) is None
    decided = await store.decide_campaign_ab(made.cursor, 1_061.0)
    assert decided is not None and decided.ab_winner == 0
    assert [r.variant for r in await store.pending_recipients(made.cursor, 10)] == [0]
