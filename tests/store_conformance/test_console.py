"""What the ops console reads of the store: the backlog of parts waiting for a time, and the
opt-outs of the day by source."""

from __future__ import annotations

from tests.helpers import new_message

from .backends import Harness
from .interface import OptoutRequest


async def test_the_backlog_counts_scheduled_and_deferred_parts(harness: Harness) -> None:
    store = harness.store
    backlog, _ = await store.console_figures(0.0)
    assert (backlog.scheduled, backlog.deferred, backlog.capped) == (0, 0, False)
    assert backlog.oldest_due_at is None
    await store.accept(
        [
            new_message(1, send_at=5_000.0),
            new_message(2, send_at=4_000.0, segments=("a", "b")),
            new_message(3),
        ]
    )
    backlog, _ = await store.console_figures(0.0)
    assert (backlog.scheduled, backlog.deferred) == (3, 0)
    assert backlog.oldest_due_at == 4_000.0


async def test_the_opt_outs_since_a_time_are_counted_by_source(harness: Harness) -> None:
    await harness.consents.opt_out(
        [
            OptoutRequest(number="+4915100000001", source="keyword", at=100.0),
            OptoutRequest(number="+4915100000002", source="keyword", at=200.0),
            OptoutRequest(number="+4915100000003", source="api", at=200.0, key="shop"),
        ]
    )
    _, since = await harness.store.console_figures(150.0)
    assert since == {"keyword": 1, "api": 1}
