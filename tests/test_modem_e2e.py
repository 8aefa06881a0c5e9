"""The real modem driver and bank, end to end, against emulated modems on real ptys.

No sleeps: every wait is on an event (the sink got something, the bank changed, the emulator
saw a command), each test bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from smsgw.drivers.modem.emulator import PERSONALITIES, ModemEmulator
from smsgw.drivers.seam import FailureKind
from tests.modem_helpers import Bench, fast, part, running_bank


async def left_up(b: Bench, i: int = 0) -> None:
    while b.bank.modems[i].state == "up":
        await b.bank.wait_changed()


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
async def test_bring_up_each_personality(tmp_path: Path, name: str) -> None:
    emu = ModemEmulator(fast(name))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            (link,) = b.bank.state().links
            p = emu.personality
            assert link["state"] == "up" and link["registered"] is True
            assert link["imei"] == p.imei
            assert link["model"] == p.model
            assert link["operator"] == p.operator
            assert link["signal_dbm"] == -113 + 2 * p.rssi
            assert b.bank.state().up and b.bank.capacity() == 2
            assert b.sample("smsgw_link_up", route="modems", link=b.link(0)) == 1
            assert b.sample("smsgw_modem_registered", route="modems", link=b.link(0)) == 1
            assert b.sample("smsgw_modem_signal_dbm", route="modems", link=b.link(0)) == -73
            assert (
                b.sample(
                    "smsgw_modem_info",
                    route="modems",
                    link=b.link(0),
                    model=p.model,
                    operator=p.operator,
                )
                == 1
            )
            log = [c.upper() for c in emu.log]
            assert log.index("ATE0") < log.index("AT+CMGF=0") < log.index("AT+CNMI=2,1,0,1,0")
            assert ("AT^CURC=0" in log) == (name == "huawei_e3372")
            # Nothing the modem said was misread or left over.
            errors = [
                s
                for m in b.metrics.registry.collect()
                if m.name == "smsgw_protocol_errors"
                for s in m.samples
                if s.name.endswith("_total")
            ]
            assert errors == []


async def test_huawei_noise_stops_after_curc(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("huawei_e3372"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            # URCs kept coming (and splitting echoes) until AT^CURC=0; nothing was misread.
            assert b.bank.modems[0].info.manufacturer == "huawei"
            assert b.bank.modems[0].quiet
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.sink.outcomes_got[0].carrier_id is not None


@pytest.mark.parametrize("name", ["sim800", "zte", "huawei_e3372", "quectel_ec25", "sim7670g"])
async def test_send_and_receipt_matched(tmp_path: Path, name: str) -> None:
    emu = ModemEmulator(fast(name, mr_start=254))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.bank.submit([part(1, "first"), part(2, "second", to="+4915199999999")])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            o1, o2 = sorted(b.sink.outcomes_got, key=lambda o: o.part_id)
            link = b.link(0)
            assert o1.failure is None and o1.carrier_id == f"{link}:254:+4917012345678"
            assert o2.failure is None and o2.carrier_id == f"{link}:255:+4915199999999"
            assert [(s.to, s.text, s.srr) for s in emu.sent] == [
                ("+4917012345678", "first", True),
                ("+4915199999999", "second", True),
            ]
            await b.sink.wait_for(lambda: len(b.sink.receipts_got) == 2)
            got = {r.carrier_id: r for r in b.sink.receipts_got}
            assert set(got) == {o1.carrier_id, o2.carrier_id}
            assert all(r.state == "delivered" and r.route == "modems" for r in got.values())
            if emu.personality.status_reports == "cdsi":
                # Stored reports are deleted once handed over.
                await emu.wait_until(lambda: not emu.storage)
            if emu.personality.csms_service == 1:
                await emu.wait_until(lambda: emu.cnma_count == 2)


async def test_per_modem_counts_are_scraped(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    emu.fail_next_send(38)
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.bank.submit([part(1), part(2)])
            await b.sink.wait_for(lambda: len(b.sink.receipts_got) == 1)
            await emu.inject_sms("+4917099999999", "hi")
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            link = {"route": "modems", "link": b.link(0)}
            assert b.sample("smsgw_modem_parts_total", **link, result="sent") == 1
            assert b.sample("smsgw_modem_parts_total", **link, result="failed") == 1
            assert b.sample("smsgw_modem_receipts_total", **link) == 1
            assert b.sample("smsgw_modem_inbound_total", **link) == 1
            assert b.sample("smsgw_modem_queued", **link) == 0
            (link_state,) = b.bank.state().links
            assert link_state["last_error"] == "CMS 38 network out of order"
            assert (link_state["parts_sent"], link_state["parts_failed"]) == (1, 1)


async def test_per_modem_rate_spaces_the_sends(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], rate=4.0, status_report=False) as b:
            await b.up()
            await b.bank.submit([part(1), part(2), part(3)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 3)
            # Sends start 1/rate apart; the emulator's clock sees them a round trip later.
            assert emu.sent[-1].at - emu.sent[0].at >= 2 / 4.0 - 0.05


async def test_reference_wraps_after_255(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", mr_start=255))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], status_report=False) as b:
            await b.up()
            await b.bank.submit([part(1), part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            ids = sorted(o.carrier_id or "" for o in b.sink.outcomes_got)
            assert [i.split(":")[1] for i in ids] == ["0", "255"]
            assert not any(s.srr for s in emu.sent)


async def test_multipart_goes_through_one_modem_with_cmms(tmp_path: Path) -> None:
    emus = [ModemEmulator(fast("sim800")), ModemEmulator(fast("sim800", imei="867567040000099"))]
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), emus) as b:
            await b.up()
            texts = ["part one, ", "part two, ", "part three"]
            parts = [
                part(10 + i, t, message_id="msg_multi", seq=i + 1, total=3, ref=200)
                for i, t in enumerate(texts)
            ]
            await b.bank.submit(parts)
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 3)
            assert all(o.failure is None for o in b.sink.outcomes_got)
            used = [e for e in emus if e.sent]
            assert len(used) == 1
            sent = used[0].sent
            assert [s.concat for s in sent] == [(200, 3, 1), (200, 3, 2), (200, 3, 3)]
            assert "".join(s.text for s in sent) == "".join(texts)
            assert len(used[0].commands("AT+CMMS=1")) == 2


async def test_ucs2_part(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.bank.submit([part(1, "Привет 👋", encoding="ucs2")])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert emu.sent[0].text == "Привет 👋"


@pytest.mark.parametrize(
    ("code", "sent_anyway", "kind", "maybe_sent"),
    [
        (500, True, FailureKind.TEMPORARY, True),  # unknown error, yet it went out
        (38, False, FailureKind.TEMPORARY, False),  # network out of order: refused
        (1, False, FailureKind.PERMANENT, False),  # unassigned number
    ],
)
async def test_error_after_pdu(
    tmp_path: Path, code: int, sent_anyway: bool, kind: FailureKind, maybe_sent: bool
) -> None:
    emu = ModemEmulator(fast("generic"))
    emu.fail_next_send(code, sent_anyway=sent_anyway)
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.bank.submit([part(1), part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            first, second = b.sink.outcomes_got
            assert first.part_id == 1 and first.failure is kind
            assert first.code == f"CMS {code}" and first.maybe_sent is maybe_sent
            assert second.failure is None  # the modem stays in service
            assert b.bank.modems[0].state == "up"


async def test_inbound_read_stored_then_deleted(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("sim800"))
    seen: list[tuple[int, int]] = []
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            b.sink.on_inbound = lambda m: seen.append(
                (len(emu.commands("AT+CMGR=")), len(emu.commands("AT+CMGD=")))
            )
            await b.up()
            (idx,) = await emu.inject_sms("+4917099999999", "STOP")
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            msg = b.sink.inbound_got[0]
            assert (msg.sender, msg.text, msg.parts, msg.complete) == (
                "+4917099999999",
                "STOP",
                1,
                True,
            )
            assert msg.route == "modems"
            # Read before it was stored, deleted only after.
            assert seen == [(1, 0)]
            await emu.wait_until(lambda: not emu.storage)
            assert emu.commands("AT+CMGD=") == [f"AT+CMGD={idx}"]


async def test_inbound_multipart_and_alphanumeric_sender(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await emu.inject_sms("Shop", ["Your code ", "is 123456"], ref=9)
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            msg = b.sink.inbound_got[0]
            assert (msg.sender, msg.text, msg.parts) == ("Shop", "Your code is 123456", 2)
            await emu.wait_until(lambda: not emu.storage)


async def test_direct_delivery_is_acknowledged_after_it_is_stored(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("quectel_ec25", cnma_timeout=5.0))
    acks_when_stored: list[int] = []
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            b.sink.on_inbound = lambda m: acks_when_stored.append(emu.cnma_count)
            await b.up()
            await emu.inject_sms("+4917099999999", ["direct ", "and whole"], direct=True)
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            assert b.sink.inbound_got[0].text == "direct and whole"
            await emu.wait_until(lambda: emu.cnma_count == 2)
            # Part one was acknowledged on arrival (the network would resend it otherwise),
            # the last part only once the whole message was stored.
            assert acks_when_stored == [1]
            assert not emu.storage


async def test_incomplete_message_is_stored_after_the_timeout(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], reassembly_timeout=0.3) as b:
            await b.up()
            await emu.inject_sms("+4917099999999", ["first, ", "lost", ", third"], only={1, 3})
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            msg = b.sink.inbound_got[0]
            assert (msg.text, msg.parts, msg.complete) == ("first, , third", 2, False)
            await emu.wait_until(lambda: not emu.storage)


@pytest.mark.parametrize("name", ["generic", "quectel_ep06"])
async def test_messages_stored_before_start_are_read(tmp_path: Path, name: str) -> None:
    emu = ModemEmulator(
        fast(name), stored=[("+4917011111111", "old one"), ("+4917022222222", "old two")]
    )
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 2)
            assert sorted(m.text for m in b.sink.inbound_got) == ["old one", "old two"]
            await emu.wait_until(lambda: not emu.storage)


async def test_wrong_pin_stops_without_retrying(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", pin="1234"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], pin="0000") as b:
            modem = b.bank.modems[0]
            while modem.failed is None:
                await b.bank.wait_changed()
            assert "PIN" in modem.failed
            assert b.bank.state().links[0]["stopped"] == modem.failed
            assert modem.state == "down" and not b.bank.state().up
            assert emu.commands('AT+CPIN="') == ['AT+CPIN="0000"']
            assert b.sample("smsgw_reconnects_total", route="modems", link=b.link(0)) is None
            assert "0000" not in modem.failed


async def test_right_pin_unlocks(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", pin="1234"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], pin="1234") as b:
            await b.up()
            assert emu.commands('AT+CPIN="') == ['AT+CPIN="1234"']


async def test_reboot_mid_session_is_brought_up_again(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("sim800"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            assert len(emu.commands("ATZ")) == 1
            await emu.reboot()
            await left_up(b)
            await b.up()
            assert len(emu.commands("ATZ")) == 2
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.sink.outcomes_got[0].failure is None


async def test_hang_times_out_marks_down_and_recovers(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [emu], command_timeout=0.5) as b:
            await b.up()
            emu.hang()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            (o,) = b.sink.outcomes_got
            assert o.failure is FailureKind.TEMPORARY and not o.maybe_sent
            assert b.bank.modems[0].state != "up"
            assert "no prompt" in b.bank.modems[0].last_error
            emu.unhang()
            await b.up()
            await b.bank.submit([part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            assert b.sink.outcomes_got[1].failure is None


async def test_hang_after_pdu_is_maybe_sent(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", send_delay=5.0))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [emu], send_timeout=0.3) as b:
            await b.up()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            (o,) = b.sink.outcomes_got
            assert o.failure is FailureKind.TEMPORARY and o.maybe_sent


async def test_unplug_and_replug_under_a_new_tty(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            first = emu.path
            await emu.unplug()
            await left_up(b)
            await emu.replug()
            await b.up()
            assert emu.path != first
            assert b.bank.modems[0].path == emu.path
            assert (b.sample("smsgw_reconnects_total", route="modems", link=b.link(0)) or 0) >= 1


async def test_found_by_imei(tmp_path: Path) -> None:
    emus = [ModemEmulator(fast("sim800")), ModemEmulator(fast("huawei_e3372"))]
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), emus, ports=["imei:866123040000022"]) as b:
            await b.up(0)
            assert b.bank.modems[0].info.model == "E3372"
            assert b.bank.modems[0].path == emus[1].path


async def test_one_bad_modem_never_stalls_another(tmp_path: Path) -> None:
    good = ModemEmulator(fast("generic"))
    bad = ModemEmulator(fast("generic", imei="356938035600000"))
    with trio.fail_after(20):
        async with running_bank(str(tmp_path), [bad, good], command_timeout=2.0) as b:
            await b.up()
            bad.hang()
            await b.bank.submit([part(i) for i in range(1, 7)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 6)
            failed = [o for o in b.sink.outcomes_got if o.failure is not None]
            done = [o for o in b.sink.outcomes_got if o.failure is None]
            # The hung modem held at most its two slots; the good one sent the rest, and did
            # so while the hung one was still waiting for its prompt.
            assert 1 <= len(failed) <= 2
            assert all(o.failure is FailureKind.TEMPORARY for o in failed)
            assert len(good.sent) == len(done) == 6 - len(failed)
            first_failure = b.sink.outcomes_got.index(failed[0])
            assert first_failure >= len(done)


async def test_daily_cap_takes_modem_out_of_rotation(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], daily_cap=1) as b:
            await b.up()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.bank.capacity() == 0 and not b.bank.state().up
            assert b.bank.state().links[0]["sent_today"] == 1


async def test_daily_cap_holds_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with trio.fail_after(15):
        async with running_bank(
            str(tmp_path), [ModemEmulator(fast("generic"))], daily_cap=2, state_dir=str(state)
        ) as b:
            await b.up()
            await b.bank.submit([part(1)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
        # A new process: the SIM has one part left today, not two.
        emu = ModemEmulator(fast("generic"))
        async with running_bank(str(tmp_path), [emu], daily_cap=2, state_dir=str(state)) as b:
            await b.up()
            assert b.bank.state().links[0]["sent_today"] == 1
            await b.bank.submit([part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 1)
            assert b.bank.capacity() == 0 and b.bank.state().links[0]["sent_today"] == 2


async def test_daily_cap_gives_back_what_the_sim_still_holds(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", send_delay=0.2))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu], daily_cap=1) as b:
            await b.up()
            await b.bank.submit([part(1), part(2)])
            await b.sink.wait_for(lambda: len(b.sink.outcomes_got) == 2)
            first, second = b.sink.outcomes_got
            assert first.failure is None
            assert second.failure is FailureKind.TEMPORARY and second.code == "DAILY CAP"
            assert len(emu.sent) == 1


async def test_inbound_names_our_number(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("generic", own_number="+4915100000001"))
    with trio.fail_after(15):
        async with running_bank(str(tmp_path), [emu]) as b:
            await b.up()
            await emu.inject_sms("+4917099999999", "HELP")
            await b.sink.wait_for(lambda: len(b.sink.inbound_got) == 1)
            assert b.sink.inbound_got[0].to == "+4915100000001"


_PROBE = "import sys; from smsgw.drivers.modem.probe import main; sys.exit(main(sys.argv[1:]))"


async def test_probe_command_identifies_a_modem_and_a_silent_port(tmp_path: Path) -> None:
    emu = ModemEmulator(fast("sim800"))
    silent = ModemEmulator(fast("generic"))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(emu.run)
            await nursery.start(silent.run)
            silent.hang()
            args = [sys.executable, "-c", _PROBE, "--json", "--timeout", "0.5"]
            res = await trio.run_process([*args, emu.path, silent.path], capture_stdout=True)
            rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
            assert [r["device"] for r in rows] == [emu.path, silent.path]
            found, quiet = rows[0]["probe"], rows[1]["probe"]
            assert found["answers"] and found["model"] == "SIMCOM_SIM800L"
            assert found["imei"] == emu.personality.imei and found["sim"] == "READY"
            assert found["signal_dbm"] == -73
            assert not quiet["answers"] and "AT" in quiet["error"]
            helped = await trio.run_process(
                [sys.executable, "-c", _PROBE, "--help"], capture_stdout=True
            )
            assert b"smsgw modems" in helped.stdout
            nursery.cancel_scope.cancel()
