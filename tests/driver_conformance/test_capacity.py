"""Capacity: 0 before the driver runs and while its link is down (the peer unreachable, or an
operator's hold), the whole room once it is up again, and ``wait_capacity`` returns only then."""

from __future__ import annotations

import trio

from .backends import Rig
from .conftest import OpenRig
from .parts import singles


async def test_no_capacity_before_the_driver_runs(open_rig: OpenRig) -> None:
    async with open_rig() as rig:
        assert rig.driver.capacity() == 0
        with trio.fail_after(20):
            await rig.start()
            await rig.wait_full()
            await rig.driver.wait_capacity()
        assert rig.driver.state().up


async def test_no_capacity_while_the_peer_is_unreachable_and_all_of_it_back_after(
    rig: Rig,
) -> None:
    came_back = trio.Event()

    async def waiter() -> None:
        await rig.driver.wait_capacity()
        came_back.set()

    with trio.fail_after(20):
        await rig.wait_full()
        await rig.outage()
        await rig.wait_for(lambda: rig.driver.capacity() == 0)
        assert not rig.driver.state().up
        rig.spawn(waiter)
        await rig.wait_for(lambda: rig.driver.capacity() == 0 and not rig.driver.state().up)
        assert not came_back.is_set()
        await rig.restore()
        await came_back.wait()
        await rig.wait_full()
        assert rig.driver.state().up
        await rig.driver.submit(singles(1, 1))  # and it carries parts again
        await rig.wait_for(lambda: len(rig.sink.outcomes_got) == 1)
    [o] = rig.sink.outcomes_got
    assert o.failure is None and o.carrier_id


async def test_no_capacity_while_an_operator_holds_the_link(rig: Rig) -> None:
    with trio.fail_after(20):
        await rig.wait_full()
        assert rig.driver.hold_link(rig.link, True)
        await rig.wait_for(lambda: rig.driver.capacity() == 0)
        assert not rig.driver.state().up
        assert not rig.driver.hold_link("no-such-link", True)
        assert rig.driver.hold_link(rig.link, False)
        await rig.wait_full()
        await rig.driver.submit(singles(1, 1))
        await rig.wait_for(lambda: len(rig.sink.outcomes_got) == 1)
    assert rig.sink.outcomes_got[0].failure is None
