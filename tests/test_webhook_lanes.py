"""The worker's pure parts: which delivery goes next (caps, turns, order per message) and
the breaker's states, with time as a parameter."""

from __future__ import annotations

from smsgw.gateway.webhook_breaker import Breaker
from smsgw.gateway.webhook_lanes import Lanes
from smsgw.queue.store.sqlite.webhooks import Claim, WebhookJob

_wid = iter(range(1, 10_000))


def job(key: str, origin: str, mid: int | None = None) -> WebhookJob:
    return WebhookJob(next(_wid), key, f"{origin}/h", b"{}", 0, mid, "evt_x", origin)


def take(lanes: Lanes, claims: list[tuple[str, str, list[WebhookJob]]]) -> None:
    for key, origin, jobs in claims:
        lanes.claimed(Claim(key, origin, 100), jobs, None)


def never(origin: str) -> bool:
    return False


def test_keys_take_turns_and_caps_hold() -> None:
    lanes = Lanes(concurrency=10, per_key=3, per_origin=2)
    take(
        lanes,
        [
            ("a", "http://a1", [job("a", "http://a1") for _ in range(10)]),
            ("a", "http://a2", [job("a", "http://a2") for _ in range(10)]),
            ("b", "http://b", [job("b", "http://b") for _ in range(10)]),
        ],
    )
    started = []
    while (j := lanes.next_job(never)) is not None:
        started.append((j.key, j.origin))
    # Turns: a, b, a, b, ...; per key 3, per receiver 2.
    assert started[:2] == [("a", "http://a1"), ("b", "http://b")]
    assert sum(1 for k, _ in started if k == "a") == 3
    assert sum(1 for _, o in started if o == "http://b") == 2
    assert sum(1 for _, o in started if o == "http://a1") <= 2


def test_a_receiver_shared_by_two_keys_has_one_cap() -> None:
    lanes = Lanes(concurrency=10, per_key=10, per_origin=2)
    take(
        lanes,
        [
            ("a", "http://x", [job("a", "http://x") for _ in range(5)]),
            ("b", "http://x", [job("b", "http://x") for _ in range(5)]),
        ],
    )
    started = [lanes.next_job(never) for _ in range(3)]
    assert started[2] is None and lanes.origin_flight == {"http://x": 2}


def test_a_blocked_receiver_is_skipped() -> None:
    lanes = Lanes(concurrency=10, per_key=10, per_origin=5)
    take(
        lanes,
        [
            ("a", "http://dead", [job("a", "http://dead")]),
            ("a", "http://ok", [job("a", "http://ok")]),
        ],
    )
    j = lanes.next_job(lambda origin: origin == "http://dead")
    assert j is not None and j.origin == "http://ok"
    assert lanes.next_job(lambda origin: origin == "http://dead") is None
    released = lanes.release_origin("http://dead")
    assert [r.origin for r in released] == ["http://dead"] and lanes.lanes[
        "a", "http://dead"
    ].held == 0


def test_one_delivery_at_a_time_per_message_in_order() -> None:
    lanes = Lanes(concurrency=10, per_key=10, per_origin=10)
    first, second, third = (job("a", "http://x", mid=7) for _ in range(3))
    other = job("a", "http://x", mid=8)
    take(lanes, [("a", "http://x", [first, second, other])])
    assert lanes.next_job(never) is first
    assert lanes.next_job(never) is other  # another message goes meanwhile
    assert lanes.next_job(never) is None  # second waits for first
    take(lanes, [("a", "http://x", [third])])  # claimed later: queued behind them
    assert lanes.finish(first) == []
    assert lanes.next_job(never) is second
    assert lanes.next_job(never) is None
    # second is to be retried: third goes back to the store with it.
    assert lanes.finish(second, retry_at=1_100.0) == [third]
    assert lanes.retrying == {7: 1_100.0}
    # A claim that was under way brings third again: it is handed back, not started.
    back = lanes.claimed(Claim("a", "http://x", 10), [third], None)
    assert back == [(third, 1_100.0)] and lanes.next_job(never) is None
    assert lanes.lanes["a", "http://x"].held == 1  # only "other", in flight


def test_room_bounds_what_a_lane_holds() -> None:
    lanes = Lanes(concurrency=10, per_key=4, per_origin=2)
    state = lanes.lane("a", "http://x")
    state.more = True
    [claim] = lanes.plan(0.0, never)
    assert claim.limit == 8  # four times per_origin
    take(lanes, [("a", "http://x", [job("a", "http://x") for _ in range(8)])])
    state.more = True
    assert lanes.plan(0.0, never) == []  # full
    state.due_at = 5.0
    lanes.lane("a", "http://y").due_at = 5.0
    assert lanes.plan(4.0, never) == []  # not due yet
    assert [c.origin for c in lanes.plan(5.0, never)] == ["http://y"]
    assert lanes.plan(5.0, lambda origin: True) == []  # paused receivers are not claimed


def test_the_breaker_opens_probes_and_backs_off() -> None:
    b = Breaker(threshold=3, cooldown=30.0)
    assert b.allows(0.0)
    assert not b.failed(1.0) and not b.failed(2.0)
    b.answered()  # an HTTP answer (even a 500) resets the count
    assert not b.failed(3.0) and not b.failed(4.0)
    assert b.failed(5.0) and b.state == "open"
    assert not b.allows(34.9)
    # mypy keeps b.state narrowed to "open" across allows(), which changes it.
    assert b.allows(35.0) and b.state == "half_open"  # type: ignore[comparison-overlap]
    b.started()  # type: ignore[unreachable]
    assert not b.allows(35.1)  # one probe at a time
    assert b.failed(40.0) and b.opened_until == 40.0 + 60.0  # twice as long
    assert b.allows(100.0)
    b.started()
    b.succeeded()
    assert b.state == "closed" and b.allows(100.0) and b.idle


def test_a_retry_that_ends_while_a_claim_is_under_way_is_claimed_at_its_time() -> None:
    # The worker claims a lane, then claims it again (new rows were committed); the first
    # delivery fails while that second claim runs. The claim's answer predates the retry:
    # it must not make the lane forget it, or the retry is never attempted.
    lanes = Lanes(concurrency=10, per_key=10, per_origin=10)
    state = lanes.lane("a", "http://x")
    state.more = True
    [claim] = lanes.plan(1_000.0, never)
    first = job("a", "http://x", mid=7)
    lanes.claimed(claim, [first], None)
    assert lanes.next_job(never) is first
    state.more = True  # a commit: the message's next status is in the store
    [claim] = lanes.plan(1_000.0, never)
    assert lanes.finish(first, retry_at=1_005.0) == []  # meanwhile: 503, retry at 1005
    # The claim ran before the retry was recorded: all it saw is leased, nothing waits.
    lanes.claimed(claim, [], None)
    lanes.retrying.pop(7)  # the next step recorded the retry
    assert [c.origin for c in lanes.plan(1_005.0, never)] == ["http://x"]


def test_a_receiver_paused_by_its_breaker_is_claimed_again_after() -> None:
    lanes = Lanes(concurrency=10, per_key=10, per_origin=10)
    take(lanes, [("b", "http://x", [job("b", "http://x")])])  # another key's, not started
    assert lanes.release_origin("http://x") != []
    paused = True
    assert lanes.plan(1_000.0, lambda origin: paused) == []
    paused = False
    assert [c.key for c in lanes.plan(1_030.0, lambda origin: paused)] == ["b"]
