"""Held receipts reach the next bind that can receive within a second of its bind, on trio's
virtual clock: the server wakes on the bind itself, not on a timer. A real gateway and store,
and an ESME on a real loopback socket written with smsgw's own sans-IO PDU codec (trio only,
no threads, so virtual time passes only when everything waits)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.pdu import (
    BindMode,
    BindRequest,
    BindResponse,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    Status,
    SubmitSm,
    SubmitSmResp,
    Tag,
)
from tests.conftest import StartGateway
from tests.helpers import hold_clock_while_busy
from tests.test_smpp_server_e2e import start


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time that jumps once everything has been idle for 50 ms of real time: a
    loopback byte on a loaded machine can take a moment to be readable."""
    mock_clock.autojump_threshold = 0.05
    return mock_clock


class Esme:
    """One SMPP client connection: PDUs out, PDUs in, in order."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.framer = Framer()
        self.frames: list[bytes] = []
        self.sequence = 0

    async def send(self, pdu: Pdu, sequence: int | None = None) -> int:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        await self.stream.send_all(encode(pdu, sequence))
        return sequence

    async def next(self) -> Pdu:
        while not self.frames:
            data = await self.stream.receive_some()
            assert data, "the server hung up"
            frames, error = self.framer.feed(data)
            assert error is None
            self.frames += frames
        return decode(self.frames.pop(0))

    async def bind(self, mode: BindMode) -> None:
        await self.send(BindRequest(mode=mode, system_id="crm", password="secret"))
        resp = await self.next()
        assert isinstance(resp, BindResponse) and resp.status == Status.ROK


async def test_held_receipts_go_within_a_second_of_the_next_receiver_bind(
    start_gateway: StartGateway, clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    running, address = await start(start_gateway)
    nursery.start_soon(hold_clock_while_busy, running.gateway.store)
    with trio.fail_after(300):
        tx = Esme(await trio.open_tcp_stream(*address))
        await tx.bind("tx")
        mids = []
        for i in range(3):
            submit = SubmitSm(
                source_addr_ton=5,
                source_addr="MyShop",
                dest_addr_ton=1,
                destination_addr="4917012345678",
                short_message=f"n{i}".encode(),
                registered_delivery=1,
            )
            await tx.send(submit)
            resp = await tx.next()
            assert isinstance(resp, SubmitSmResp) and resp.status == Status.ROK
            mids.append(resp.message_id)
        for mid in mids:
            await running.wait_final(mid)
        held = await running.gateway.store.smpp_held_page("crm", 10)
        assert sorted(r.public_id for r in held) == sorted(mids)

        # A while later (the transmitter still bound: it cannot take them), a receiver binds.
        await trio.sleep(37.0)
        bound_at = trio.current_time()
        rx = Esme(await trio.open_tcp_stream(*address))
        await rx.bind("rx")
        got: list[str] = []
        while len(got) < len(mids):
            pdu = await rx.next()
            assert isinstance(pdu, DeliverSm)
            got.append((pdu.tlv(Tag.RECEIPTED_MESSAGE_ID) or b"").rstrip(b"\0").decode())
            await rx.send(DeliverSmResp(), pdu.sequence)
        took = trio.current_time() - bound_at
        await tx.stream.aclose()
        await rx.stream.aclose()
    assert sorted(got) == sorted(mids)
    assert took <= 1.0, f"the held receipts took {took:.3f} s of virtual time after the bind"
