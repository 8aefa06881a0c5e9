"""The SMSC simulator on a real loopback socket, driven by a bare ESME (our sans-IO session over
a trio socket), plus its command line."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

import pytest
import trio
import trio.testing

from smsgw.drivers.smpp.codec import decode, encode
from smsgw.drivers.smpp.events import (
    BindRejected,
    Bound,
    DeliverSmReceived,
    Event,
    SubmitResponse,
    Unbound,
)
from smsgw.drivers.smpp.pdu import BindMode, GenericNack, SubmitSm, Tag
from smsgw.drivers.smpp.receipts import IdNormaliser, parse_receipt
from smsgw.drivers.smpp.session import Session
from smsgw.drivers.smpp.sim import SimSettings, SmscSim, main, serve_smsc_sim

SM = SubmitSm(
    source_addr="Shop",
    source_addr_ton=5,
    destination_addr="4917012345678",
    dest_addr_ton=1,
    dest_addr_npi=1,
    registered_delivery=1,
    short_message=b"hello",
)


S = TypeVar("S", bound=trio.abc.Stream)


class Esme(Generic[S]):
    """A minimal ESME for poking the simulator: a session and a stream (a socket, or an
    in-memory stream on the virtual clock), no driver."""

    def __init__(self, stream: S, mode: BindMode = "trx") -> None:
        self.stream = stream
        self.session = Session(mode, window=1000, response_timeout=30, enquire_link=60, now=0)
        self.events: list[Event] = []

    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def read_until(self, n_events: int) -> list[Event]:
        while len(self.events) < n_events:
            data = await self.stream.receive_some(65536)
            assert data, "simulator closed the connection"
            self.events += self.session.receive_data(data, trio.current_time())
            await self.flush()
        got, self.events = self.events[:n_events], self.events[n_events:]
        return got

    async def bind(self, system_id: str = "shop", password: str = "pw") -> Event:
        self.session.bind(system_id=system_id, password=password, now=trio.current_time())
        await self.flush()
        [ev] = await self.read_until(1)
        return ev


_OPEN: list[trio.SocketStream] = []

StartSim = Callable[..., Awaitable[SmscSim]]
"""Starts an smsc-sim on a free port with the given :class:`SimSettings` fields."""


@pytest.fixture
async def sim_factory(nursery: trio.Nursery) -> AsyncIterator[StartSim]:
    async def start(**kw: object) -> SmscSim:
        settings = SimSettings(port=0, seed=1, **kw)  # type: ignore[arg-type]
        sim: SmscSim = await nursery.start(serve_smsc_sim, settings)
        return sim

    yield start
    while _OPEN:
        await _OPEN.pop().aclose()


async def connect(sim: SmscSim, mode: BindMode = "trx") -> Esme[trio.SocketStream]:
    stream = await trio.open_tcp_stream("127.0.0.1", sim.port)
    _OPEN.append(stream)
    return Esme(stream, mode)


async def test_bind_submit_and_instant_receipt(sim_factory: StartSim) -> None:
    sim = await sim_factory(accounts={"shop": "pw"})
    esme = await connect(sim)
    assert await esme.bind() == Bound("trx", "smsc-sim")
    seq = esme.session.submit(SM, trio.current_time())
    await esme.flush()
    resp, receipt = await esme.read_until(2)
    assert isinstance(resp, SubmitResponse) and resp.sequence == seq and resp.status == 0
    assert isinstance(receipt, DeliverSmReceived)
    pdu = receipt.pdu
    assert pdu.esm_class == 0x04
    assert (pdu.source_addr, pdu.destination_addr) == ("4917012345678", "Shop")
    parsed = parse_receipt(pdu)
    assert parsed.state == "delivered"
    ids = IdNormaliser("auto")
    assert ids.receipt("r", parsed).carrier_id == ids.from_response(resp.message_id)
    esme.session.answer(pdu.sequence)
    await esme.flush()
    await sim.wait_until(lambda s: s.receipts_acked == 1)


async def test_wrong_password_and_unknown_account_are_refused(sim_factory: StartSim) -> None:
    sim = await sim_factory(accounts={"shop": "pw"})
    assert await (await connect(sim)).bind(password="nope") == BindRejected(0x0E)
    assert await (await connect(sim)).bind(system_id="who") == BindRejected(0x0F)
    assert sim.stats.bind_failures == 2


async def test_receipts_spread_over_binds_and_survive_a_dropped_bind(sim_factory: StartSim) -> None:
    sim = await sim_factory()
    tx = await connect(sim, "tx")
    rx1, rx2 = await connect(sim, "rx"), await connect(sim, "rx")
    for esme in (tx, rx1, rx2):
        assert isinstance(await esme.bind(), Bound)
    for _ in range(4):
        tx.session.submit(SM, trio.current_time())
    await tx.flush()
    resps = await tx.read_until(4)
    ids = {r.message_id for r in resps if isinstance(r, SubmitResponse)}
    assert len(ids) == 4
    # two receipts went to each receiver; rx1 hangs up without answering its two
    got1 = await rx1.read_until(2)
    await rx1.stream.aclose()
    got2 = await rx2.read_until(4)  # its own two, then rx1's two again
    receipts = [e.pdu for e in got1 + got2 if isinstance(e, DeliverSmReceived)]
    assert {parse_receipt(p).message_id for p in receipts} == ids
    for e in got2:
        assert isinstance(e, DeliverSmReceived)
        rx2.session.answer(e.pdu.sequence)
    await rx2.flush()
    await sim.wait_until(lambda s: s.receipts_acked == 4)


async def test_throttle_and_failure_fractions(sim_factory: StartSim) -> None:
    sim = await sim_factory(throttle=0.5, fail_permanent=0.25, receipts=False)
    esme = await connect(sim)
    await esme.bind()
    for _ in range(200):
        esme.session.submit(SM, trio.current_time())
    await esme.flush()
    statuses = [e.status for e in await esme.read_until(200) if isinstance(e, SubmitResponse)]
    assert set(statuses) == {0, 0x58, 0x0B}
    assert 60 < statuses.count(0x58) < 140
    assert sim.stats.throttled == statuses.count(0x58)


async def test_decimal_ids_and_text_only_receipts_with_undeliverable(sim_factory: StartSim) -> None:
    sim = await sim_factory(
        id_format="hex", receipt_id_format="decimal", receipt_tlvs=False, undeliverable=1.0
    )
    esme = await connect(sim)
    await esme.bind()
    esme.session.submit(SM, trio.current_time())
    await esme.flush()
    resp, receipt = await esme.read_until(2)
    assert isinstance(resp, SubmitResponse) and isinstance(receipt, DeliverSmReceived)
    assert receipt.pdu.tlv(Tag.RECEIPTED_MESSAGE_ID) is None
    parsed = parse_receipt(receipt.pdu)
    assert parsed.state == "undelivered"
    assert len(parsed.message_id) == 10 and parsed.message_id.isdigit()
    ids = IdNormaliser("decimal")
    assert ids.receipt("r", parsed).carrier_id == ids.from_response(resp.message_id)


async def test_delayed_receipt_arrives_after_the_delay(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    delay = 5.0
    sim = SmscSim(SimSettings(port=0, seed=1, receipt_delay=delay))
    await nursery.start(partial(sim.serve, listen=False))
    with trio.fail_after(10 * delay):  # virtual seconds
        esme = Esme(await sim.connect_memory())
        await esme.bind()
        start = trio.current_time()
        esme.session.submit(SM, start)
        await esme.flush()
        [resp] = await esme.read_until(1)
        answered = trio.current_time()
        [receipt] = await esme.read_until(1)
    assert isinstance(resp, SubmitResponse) and isinstance(receipt, DeliverSmReceived)
    assert answered == start
    assert trio.current_time() == pytest.approx(start + delay)


async def test_garbage_gets_generic_nack_and_the_connection_closed(sim_factory: StartSim) -> None:
    sim = await sim_factory()
    stream = await trio.open_tcp_stream("127.0.0.1", sim.port)
    _OPEN.append(stream)
    await stream.send_all(struct.pack(">IIII", 0x7FFFFFFF, 4, 0, 5))
    data = b""
    while chunk := await stream.receive_some(1024):
        data += chunk
    assert decode(data) == GenericNack(sequence=5, status=0x02)
    assert sim.stats.protocol_errors == 1


async def test_a_connection_reset_by_the_peer_ends_that_bind_only(sim_factory: StartSim) -> None:
    sim = await sim_factory()
    esme = await connect(sim)
    await esme.bind()
    esme.session.submit(SM, trio.current_time())
    await esme.flush()
    await sim.wait_until(lambda s: s.receipts_sent == 1)
    # SO_LINGER 0: close sends RST, the simulator's next read raises ECONNRESET
    esme.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _OPEN.remove(esme.stream)
    esme.stream.socket.close()
    await sim.wait_until(lambda s: s.bound_now == 0)
    again = await connect(sim)
    assert await again.bind() == Bound("trx", "smsc-sim")


async def test_unbind_and_drop(sim_factory: StartSim) -> None:
    sim = await sim_factory()
    esme = await connect(sim)
    await esme.bind()
    esme.session.unbind(trio.current_time())
    await esme.flush()
    assert await esme.read_until(1) == [Unbound()]
    other = await connect(sim)
    await other.bind()
    sim.drop_connections()
    assert await other.stream.receive_some(100) == b""
    await sim.wait_until(lambda s: s.bound_now == 0)


async def test_submit_on_a_receiver_bind_is_refused(sim_factory: StartSim) -> None:
    sim = await sim_factory()
    rx = await connect(sim, "rx")
    await rx.bind()
    await rx.stream.send_all(encode(SM, 9))
    resp = decode(await rx.stream.receive_some(100))
    assert (resp.sequence, resp.status) == (9, 0x04)


def test_cli_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--receipt-delay" in capsys.readouterr().out
    assert main(["--throttle", "2"]) == 2
    assert main(["--tls-cert", "x.pem"]) == 2
