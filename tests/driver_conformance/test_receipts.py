"""A delivery receipt names a part by the carrier id its outcome carried, and is handed over
only after that outcome.

The seam lets a store match a receipt that arrives before its outcome (an SMSC may send it on
another bind before the submit_sm_resp); each backend here has one link and a peer that
answers a part before it reports its delivery, and then the driver keeps that order.
"""

from __future__ import annotations

import trio

from smsgw.drivers.seam import Outcome, Receipt

from .backends import ROUTE, Rig
from .parts import message, singles


async def test_each_receipt_follows_the_outcome_with_its_carrier_id(rig: Rig) -> None:
    parts = [*singles(1, 2), *message(10)]
    with trio.fail_after(20):
        await rig.wait_full()
        await rig.driver.submit(parts)
        await rig.wait_for(lambda: len(rig.sink.receipts_got) >= len(parts))
        await rig.stop()
    assert rig.sink.per_part() == {p.part_id: 1 for p in parts}
    seen: set[str] = set()
    for item in rig.sink.log:
        if isinstance(item, Outcome):
            assert item.failure is None and item.carrier_id is not None
            seen.add(item.carrier_id)
        elif isinstance(item, Receipt):
            assert item.carrier_id in seen, f"receipt before its outcome: {item}"
            assert (item.route, item.state) == (ROUTE, "delivered")
    assert sorted(r.carrier_id for r in rig.sink.receipts_got) == sorted(seen)
