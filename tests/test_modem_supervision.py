"""A modem's failures stay that modem's: contained, counted, reopened, nothing lost; and each
modem keeps its own rate, measured at the emulated modem.

Real ptys and the real clock (the pty's kernel side is asynchronous, so trio's virtual clock
cannot jump safely over it); every wait is on an event, bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import trio

from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.seam import FailureKind
from tests.modem_helpers import fast, part, running_bank
from tests.wire_helpers import max_in_window


async def test_a_corrupt_result_line_never_ends_the_bank(tmp_path: Path) -> None:
    # Byte B3 ("³") is a digit to str.isdigit() but not to int(): the line once ended the
    # whole process through the port's reader. Whatever the parser makes of it, the part in
    # flight gets one TEMPORARY outcome and the modem goes on (or comes back) sending.
    emu = ModemEmulator(fast("generic", send_delay=0.5))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            # The modem answers the send with the corrupt line in place of its result.
            emu.fail_next_send(0, line=b"+CMS ERROR: \xb38")
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) >= 1)
            (first,) = b.sink.outcomes_got
            assert first.part_id == 1 and first.failure is FailureKind.TEMPORARY
            await b.up()
            await b.bank.submit([part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            assert b.sink.outcomes_got[1].failure is None


async def test_an_unexpected_exception_in_a_session_is_contained_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    # The store behind the sink falls over once while an inbound message is being stored:
    # not a modem problem, not a known error. The modem is taken down and reopened, the
    # message (still on the SIM, as it was never acknowledged) is read again and stored once.
    emu = ModemEmulator(fast("sim800"))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            b.sink.fail_next_inbound = RuntimeError("the store fell over")
            await emu.inject_sms("+4917099999999", "where is my parcel")
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            assert b.sink.inbound_got[0].text == "where is my parcel"
            assert b.sample("smsgw_task_failures_total", task="modem") == 1
            assert (b.sample("smsgw_reconnects_total", route="modems", link=b.link(0)) or 0) >= 1
            await emu.wait_until(lambda: not emu.storage)
            assert len(emu.commands("AT+CMGD=")) == 1  # deleted once, after it was stored
            await b.up()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.sink.outcomes_got[0].failure is None


async def test_a_modem_that_goes_down_gives_its_parts_back_for_resending(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [emu], command_timeout=0.5) as b:
            await b.up()
            emu.hang()
            await b.bank.submit([part(1), part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            assert all(o.failure is FailureKind.TEMPORARY for o in b.sink.outcomes_got)
            assert all(o.resend for o in b.sink.outcomes_got)
            assert not any(o.maybe_sent for o in b.sink.outcomes_got)  # no PDU was written


async def test_each_modem_keeps_its_own_rate_at_the_modem(tmp_path: Path) -> None:
    rate = 2.5  # not whole: 1/rate spacing alone would put 3 into some second
    emus = [ModemEmulator(fast("generic")), ModemEmulator(fast("generic", imei="356938035600000"))]
    with trio.fail_after(30):
        async with running_bank(str(tmp_path), emus, rate=rate, status_report=False) as b:
            await b.up()
            n = 12
            for i in range(n):  # the bank takes two per modem; the rest wait for room
                await b.bank.submit([part(i + 1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == n)
            assert all(o.failure is None for o in b.sink.outcomes_got)
            for emu in emus:
                times = [s.at for s in emu.sent]
                assert len(times) >= 4
                # Never more than ``rate`` in any second as the modem received them, and never
                # two closer than 1/rate (less a little pty delivery jitter).
                assert max_in_window(times, 1.0) <= 2
                gaps = [b2 - a for a, b2 in itertools.pairwise(times)]
                assert min(gaps) >= 1 / rate - 0.01
