"""Exactly one outcome per submitted part: for one part, a batch, a batch larger than the
driver's room, and every part of a long concatenated message; a refusal is a failed outcome
with the peer's error, never silence.

Each test stops the driver before it counts: whatever a driver reports late (on its way out)
is in the sink by then, so a second outcome for a part cannot hide after the count.
"""

from __future__ import annotations

import trio

from smsgw.drivers.seam import FailureKind

from .backends import Rig
from .conftest import OpenRig
from .parts import message, singles


async def test_a_batch_gets_one_outcome_per_part(rig: Rig) -> None:
    with trio.fail_after(20):
        await rig.wait_full()
        batch = singles(1, rig.full)
        await rig.driver.submit(batch)
        await rig.wait_for(lambda: len(rig.sink.outcomes_got) >= len(batch))
        await rig.stop()
    assert rig.sink.per_part() == {p.part_id: 1 for p in batch}
    assert all(o.failure is None and o.carrier_id for o in rig.sink.outcomes_got)
    assert len({o.carrier_id for o in rig.sink.outcomes_got}) == len(batch)


async def test_a_batch_larger_than_the_room_waits_and_gets_one_outcome_per_part(
    rig: Rig,
) -> None:
    with trio.fail_after(20):
        await rig.wait_full()
        batch = singles(1, 2 * rig.full + 1)
        await rig.driver.submit(batch)  # waits for room as answers come back
        await rig.wait_for(lambda: len(rig.sink.outcomes_got) >= len(batch))
        await rig.stop()
    assert rig.sink.per_part() == {p.part_id: 1 for p in batch}
    assert all(o.failure is None for o in rig.sink.outcomes_got)


async def test_every_part_of_a_long_text_gets_one_outcome(rig: Rig) -> None:
    parts = message(100)
    assert len(parts) == 3
    with trio.fail_after(20):
        await rig.wait_full()
        await rig.driver.submit(parts)
        await rig.wait_for(lambda: len(rig.sink.outcomes_got) >= len(parts))
        await rig.stop()
    assert rig.sink.per_part() == {100: 1, 101: 1, 102: 1}
    assert all(o.failure is None and o.carrier_id for o in rig.sink.outcomes_got)
    assert len({o.carrier_id for o in rig.sink.outcomes_got}) == 3


async def test_a_part_the_peer_refuses_is_a_failed_outcome_with_its_error(
    open_rig: OpenRig,
) -> None:
    async with open_rig(refuse=2) as rig:
        with trio.fail_after(20):
            await rig.start()
            await rig.wait_full()
            batch = singles(1, 2)
            await rig.driver.submit(batch)
            await rig.wait_for(lambda: len(rig.sink.outcomes_got) >= len(batch))
            await rig.stop()
    assert rig.sink.per_part() == {1: 1, 2: 1}
    for o in rig.sink.outcomes_got:
        assert o.failure is FailureKind.PERMANENT and o.carrier_id is None, o
        assert o.code and o.reason, o  # the peer's code, and words for people
    assert rig.sink.receipts_got == []  # nothing was accepted, so nothing is delivered
