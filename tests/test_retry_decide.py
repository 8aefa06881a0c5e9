"""Retry decisions as a table: outcome, attempts so far, the route's rules -> what the store
does."""

from __future__ import annotations

import random

import pytest

from smsgw.drivers.seam import FailureKind, Outcome
from smsgw.queue.scheduling.retry import Decision, DispatchPolicy, RetryPolicy, backoff, decide

NOW = 1_800_000_000.0


class _Fixed(random.Random):
    """Jitter pinned to one value, so due times are exact."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self._value = value

    def random(self) -> float:
        return self._value


def _policy(max_attempts: int = 3, jitter: float = 0.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, base=2.0, cap=600.0, rng=_Fixed(jitter))


def _out(failure: FailureKind | None, code: str = "0x58", reason: str = "busy") -> Outcome:
    carrier = "c-1" if failure is None else None
    return Outcome(part_id=1, carrier_id=carrier, failure=failure, code=code, reason=reason)


T, TH, P = FailureKind.TEMPORARY, FailureKind.THROTTLED, FailureKind.PERMANENT

TABLE = [
    # outcome, attempts, policy, expected decision
    (_out(None), 1, _policy(), Decision(action="submitted")),
    (_out(None), 9, _policy(), Decision(action="submitted")),
    (_out(TH), 1, _policy(), Decision(action="requeue", reason="0x58 busy")),
    # A throttle never fails a part, however many attempts it has seen.
    (_out(TH), 50, _policy(), Decision(action="requeue", reason="0x58 busy")),
    # Temporary with attempts left: half the step at the lowest jitter, the whole at the highest.
    (_out(T), 1, _policy(), Decision(action="retry", reason="0x58 busy", due_at=NOW + 1.0)),
    (
        _out(T),
        2,
        _policy(jitter=1.0),
        Decision(action="retry", reason="0x58 busy", due_at=NOW + 4.0),
    ),
    (
        _out(T),
        3,
        _policy(),
        Decision(action="fail", reason="0x58 busy", error="gave up after 3 attempts: 0x58 busy"),
    ),
    (
        _out(T),
        3,
        _policy(max_attempts=4),
        Decision(action="retry", reason="0x58 busy", due_at=NOW + 4.0),
    ),
    (
        _out(P, code="0x0b", reason="bad dest"),
        1,
        _policy(),
        Decision(action="fail", reason="0x0b bad dest", error="0x0b bad dest"),
    ),
    (_out(P, code="", reason=""), 1, _policy(), Decision(action="fail", reason="", error="")),
]


@pytest.mark.parametrize(("outcome", "attempts", "policy", "expected"), TABLE)
def test_decide(outcome: Outcome, attempts: int, policy: RetryPolicy, expected: Decision) -> None:
    assert decide(outcome, attempts, policy, NOW) == expected


def test_the_backoff_is_capped() -> None:
    policy = _policy(max_attempts=100, jitter=1.0)
    d = decide(_out(T), 40, policy, NOW)
    assert d.due_at == NOW + 600.0
    assert backoff(40, 2.0, 600.0, _Fixed(0.0)) == 300.0


def test_a_route_without_configured_attempts_gets_five() -> None:
    rules = DispatchPolicy(max_attempts={"smpp": 2}, rng=_Fixed(0.0))
    assert rules.for_route("smpp").max_attempts == 2
    assert rules.for_route("modems").max_attempts == 5
    assert decide(_out(T), 4, rules.for_route("modems"), NOW).action == "retry"
    assert decide(_out(T), 5, rules.for_route("modems"), NOW).action == "fail"
