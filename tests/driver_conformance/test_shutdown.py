"""Parts in flight when the driver stops or its link drops: each still gets exactly one
outcome, and one that did not go through is TEMPORARY (it returns to the queue), never a
silent loss and never a permanent failure the peer did not give."""

from __future__ import annotations

import trio

from smsgw.drivers.seam import FailureKind, OutboundPart

from .backends import Rig
from .conftest import OpenRig
from .parts import message, singles

SLOW = 0.5
"""Seconds the peer takes per part in these tests: long enough to stop the driver mid-way."""


def assert_one_each(rig: Rig, parts: list[OutboundPart]) -> None:
    assert rig.sink.per_part() == {p.part_id: 1 for p in parts}
    for o in rig.sink.outcomes_got:
        assert o.failure in (None, FailureKind.TEMPORARY), o
        assert (o.failure is None) == (o.carrier_id is not None), o


async def test_stopping_mid_flight_leaves_no_part_without_an_outcome(open_rig: OpenRig) -> None:
    async with open_rig(slow=SLOW) as rig:
        parts = [*singles(1, 2 * rig.full), *message(100)]
        with trio.fail_after(20):
            await rig.start()
            await rig.wait_full()
            rig.spawn(rig.driver.submit, parts)  # as the scheduler does: stopped with it
            await rig.peer_got(1)
            await rig.wait_for(lambda: rig.driver.capacity() == 0)  # the room is taken
            await rig.stop()
        assert_one_each(rig, parts)
        assert any(o.failure is FailureKind.TEMPORARY for o in rig.sink.outcomes_got)


async def test_a_link_lost_mid_flight_leaves_no_part_without_an_outcome(
    open_rig: OpenRig,
) -> None:
    async with open_rig(slow=SLOW) as rig:
        parts = singles(1, rig.full)
        with trio.fail_after(20):
            await rig.start()
            await rig.wait_full()
            await rig.driver.submit(parts)
            await rig.peer_got(1)
            await rig.outage()
            await rig.wait_for(lambda: len(rig.sink.outcomes_got) >= len(parts))
            await rig.restore()
            await rig.wait_full()
            await rig.stop()
        assert_one_each(rig, parts)
