"""Receipts from the SMPP server as deliver_sm: held durably for the account, sent in order
to a bind that can receive, dropped only after deliver_sm_resp, sent again otherwise, kept
over a restart. The client is smpplib's (a third party's), on a real socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.gsm
import smpplib.smpp
import trio

from smsgw.config.loader import parse
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.smpp.pdu import Status
from smsgw.drivers.text.gsm7 import decode_gsm7
from smsgw.gateway.service import Gateway
from smsgw.queue.store.records import HeldReceipt
from tests.conftest import StartGateway, gateway_toml
from tests.test_smpp_server_e2e import SERVER, bind, in_thread, resp_id, start, submit

CONFIG = {"rate": 1000, "burst": 100, "max_binds": 4, "window": 50}


async def held(gateway: Gateway) -> list[HeldReceipt]:
    return await gateway.store.smpp_held_page("crm", 100)


def next_pdu(c: smpplib.client.Client, command: str) -> Any:
    """Read PDUs until one of ``command`` (answering nothing)."""
    while True:
        pdu = c.read_pdu()
        if pdu.command == command:
            return pdu


def ack(c: smpplib.client.Client, pdu: Any) -> None:
    resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=c)
    resp.sequence = pdu.sequence
    c.send_pdu(resp)


def round_trip(c: smpplib.client.Client) -> Any:
    """enquire_link and its answer: the server has handled everything sent before it."""
    c.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=c))
    return c.read_pdu()


def receipt_id(pdu: Any) -> str:
    raw = pdu.receipted_message_id
    return (raw.decode() if isinstance(raw, bytes) else str(raw)).rstrip("\0")


async def test_the_receipt_comes_as_deliver_sm_and_is_dropped_after_its_answer(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)

    def work() -> tuple[str, Any, Any]:
        c = bind(address)
        try:
            mid = resp_id(submit(c, "receipt please"))
            receipt = next_pdu(c, "deliver_sm")
            ack(c, receipt)
            return mid, receipt, round_trip(c)
        finally:
            c.disconnect()

    mid, receipt, after = await in_thread(work)
    assert receipt_id(receipt) == mid and receipt.esm_class == 0x04
    text = receipt.short_message.decode()
    assert text.startswith(f"id:{mid} ") and "stat:DELIVRD" in text
    assert receipt.source_addr.decode() == "4917012345678"
    assert after.command == "enquire_link_resp"
    assert await held(running.gateway) == []


async def test_a_receipt_waits_for_a_receiver_bind_and_comes_on_rebind(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)

    def submit_only() -> str:
        c = bind(address, "transmitter")
        try:
            return resp_id(submit(c))
        finally:
            c.disconnect()

    mid = await in_thread(submit_only)
    await running.wait_final(mid)
    [row] = await held(running.gateway)
    assert (row.public_id, row.status) == (mid, "delivered")

    def receive() -> Any:
        c = bind(address, "receiver")
        try:
            receipt = next_pdu(c, "deliver_sm")
            ack(c, receipt)
            round_trip(c)
            return receipt
        finally:
            c.disconnect()

    assert receipt_id(await in_thread(receive)) == mid
    assert await held(running.gateway) == []


async def test_a_client_that_never_answers_keeps_its_receipt_held_and_is_not_flooded(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)

    def submit_only() -> list[str]:
        c = bind(address, "transmitter")
        try:
            return [resp_id(submit(c, f"n{i}")) for i in range(2)]
        finally:
            c.disconnect()

    mids = await in_thread(submit_only)
    for mid in mids:
        await running.wait_final(mid)

    def silent() -> tuple[list[str], Any]:
        c = bind(address, "receiver")
        try:
            got = [receipt_id(next_pdu(c, "deliver_sm")) for _ in mids]
            # No answer: the receipts are not sent again before their response timeout.
            return got, round_trip(c)
        finally:
            c.disconnect()

    got, after = await in_thread(silent)
    assert sorted(got) == sorted(mids) and after.command == "enquire_link_resp"
    assert sorted(r.public_id for r in await held(running.gateway)) == sorted(mids)

    def answering() -> list[str]:
        c = bind(address, "receiver")
        try:
            out = []
            for _ in mids:
                pdu = next_pdu(c, "deliver_sm")
                out.append(receipt_id(pdu))
                ack(c, pdu)
            round_trip(c)
            return out
        finally:
            c.disconnect()

    assert await in_thread(answering) == got, "sent again, in the same order"
    assert await held(running.gateway) == []


async def test_held_receipts_survive_a_restart(tmp_path: Path) -> None:
    toml = gateway_toml(tmp_path, SERVER.format(**CONFIG))
    config = parse(toml.encode(), "test.toml", {})

    async with trio.open_nursery() as nursery:
        first = Gateway(config)
        await nursery.start(first.run)
        assert first.smpp_address is not None
        address: tuple[str, int] = first.smpp_address

        def submit_only() -> str:
            c = bind(address, "transmitter")
            try:
                resp = submit(c, "before the restart")
                assert resp.status == Status.ROK
                return resp_id(resp)
            finally:
                c.disconnect()

        mid = await in_thread(submit_only)
        with trio.fail_after(20):
            while True:
                version = first.store.version
                if await held(first):
                    break
                await first.store.wait_changed(version)
        first.shutdown()

    async with trio.open_nursery() as nursery:
        second = Gateway(config)
        await nursery.start(second.run)
        assert second.smpp_address is not None
        address = second.smpp_address

        def receive() -> str:
            c = bind(address, "receiver")
            try:
                pdu = next_pdu(c, "deliver_sm")
                ack(c, pdu)
                round_trip(c)
                return receipt_id(pdu)
            finally:
                c.disconnect()

        assert await in_thread(receive) == mid
        assert await held(second) == []
        second.shutdown()


async def test_an_inbound_message_to_the_accounts_number_comes_as_deliver_sm(
    start_gateway: StartGateway,
) -> None:
    running = await start_gateway(SERVER.format(**CONFIG), shop='inbound_numbers = ["+4930123456"]')
    address = running.gateway.smpp_address
    assert address is not None
    text = "Wann kommt mein Paket? " * 12  # longer than one part: joined, in message_payload
    [short_id, long_id, _] = await running.gateway.store.add_inbound(
        [
            InboundMessage(
                route="sim", sender="+4917099999", to="+4930123456", text="Hallo €", received_at=1.0
            ),
            InboundMessage(
                route="sim", sender="+4917099999", to="+4930123456", text=text, received_at=2.0
            ),
            InboundMessage(
                route="sim",
                sender="+4917099999",
                to="+4930999999",
                text="not ours",
                received_at=3.0,
            ),
        ]
    )
    assert [r.public_id for r in await held(running.gateway)] == [short_id, long_id]

    def receive() -> list[Any]:
        c = bind(address, "receiver")
        try:
            out = []
            for _ in range(2):
                pdu = next_pdu(c, "deliver_sm")
                ack(c, pdu)
                out.append(pdu)
            round_trip(c)
            return out
        finally:
            c.disconnect()

    first, second = await in_thread(receive)
    assert first.esm_class == 0 and first.data_coding == 0
    assert decode_gsm7(first.short_message) == "Hallo €"
    assert first.source_addr.decode() == "4917099999"
    assert first.destination_addr.decode() == "4930123456"
    payload = second.message_payload
    assert decode_gsm7(payload if isinstance(payload, bytes) else payload.encode()) == text
    assert await held(running.gateway) == []


async def test_held_receipts_expire_after_the_hold(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)

    def submit_only() -> str:
        c = bind(address, "transmitter")
        try:
            return resp_id(submit(c))
        finally:
            c.disconnect()

    mid = await in_thread(submit_only)
    await running.wait_final(mid)
    [row] = await held(running.gateway)
    store = running.gateway.store
    assert await store.expire_smpp_held(row.done_at) == 0  # not older than that
    assert await store.expire_smpp_held(row.done_at + 0.001) == 1
    assert await held(running.gateway) == []


async def test_a_long_message_gets_one_receipt_with_its_one_id_even_asked_on_its_last_part(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)
    text = "Ihre Bestellung 4711 ist unterwegs und kommt morgen. " * 5  # 265 chars: 2 parts

    def work() -> tuple[list[Any], Any, Any]:
        c = bind(address)
        try:
            parts, coding, esm = smpplib.gsm.make_parts(text)
            for i, part in enumerate(parts):
                c.send_message(
                    source_addr_ton=5, source_addr="MyShop", dest_addr_ton=1,
                    destination_addr="4917012345678", short_message=part, data_coding=coding,
                    esm_class=esm, registered_delivery=int(i == len(parts) - 1),
                )  # fmt: skip
            resps = [c.read_pdu() for _ in parts]
            receipt = next_pdu(c, "deliver_sm")
            ack(c, receipt)
            return resps, receipt, round_trip(c)
        finally:
            c.disconnect()

    resps, receipt, after = await in_thread(work)
    assert len(resps) == 2 and all(r.status == Status.ROK for r in resps)
    [mid] = {resp_id(r) for r in resps}
    assert receipt_id(receipt) == mid, "the receipt names the id every part was answered with"
    assert receipt.data_coding == 3 and receipt.short_message.decode("latin-1").startswith(
        f"id:{mid} "
    )
    assert after.command == "enquire_link_resp"
    assert await held(running.gateway) == [], "one receipt for the whole message, not per part"
    row = await running.gateway.store.get("shop", mid)
    assert row is not None and row.status == "delivered" and row.parts_total == 2
