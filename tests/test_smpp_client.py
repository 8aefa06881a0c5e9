"""The SMPP driver against real peers on loopback: the simulator, and scripted SMSCs that send
hand-built byte sequences (out-of-order answers, garbage, early receipts).

The link's timers (the idle probe, a silent peer, throttling, a full window, backoff) are
tested on the virtual clock in ``test_smpp_link_timing.py``."""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client import CollectorRegistry

from smsgw.config.schema import SmppRouteConfig, TextConfig
from smsgw.drivers.seam import FailureKind, InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.pdu import (
    BindRequest,
    BindResponse,
    Cmd,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
)
from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim
from smsgw.metrics.instruments import Metrics


class RecordingSink:
    """A real Sink: keeps what it is given and lets tests wait for it (no mocks)."""

    def __init__(self) -> None:
        self.got_outcomes: list[Outcome] = []
        self.got_receipts: list[Receipt] = []
        self.got_inbound: list[InboundMessage] = []
        self.log: list[str] = []
        self.receipt_gate: trio.Event | None = None
        self._changed = trio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        self.got_outcomes += items
        self._notify()

    async def receipts(self, items: Sequence[Receipt]) -> None:
        self.log.append("receipts called")
        self._notify()
        if self.receipt_gate is not None:
            await self.receipt_gate.wait()
        self.got_receipts += items
        self.log.append("receipts stored")
        self._notify()

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        self.got_inbound += items
        self._notify()


def part(i: int, **kw: Any) -> OutboundPart:
    fields: dict[str, Any] = {
        "part_id": i,
        "message_id": f"msg_{i}",
        "route": "op",
        "to": "+4917012345678",
        "sender": "MyShop",
        "text": f"Your code is {i:06d}",
        "encoding": "gsm7",
        "seq": 1,
        "total": 1,
        "ref": 0,
    }
    fields.update(kw)
    return OutboundPart(**fields)


def route(port: int, **kw: Any) -> SmppRouteConfig:
    fields: dict[str, Any] = {
        "name": "op",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "shop",
        "password": "pw",
        "binds": 2,
        "window": 10,
        "response_timeout": 5.0,
        "reconnect_min": 0.01,
        "reconnect_max": 0.05,
        "throttle_pause": 0.01,
    }
    fields.update(kw)
    return SmppRouteConfig(**fields)


class Env:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.metrics = Metrics(CollectorRegistry())
        self.sink = RecordingSink()

    async def sim(self, **kw: Any) -> SmscSim:
        sim: SmscSim = await self.nursery.start(
            serve_smsc_sim, SimSettings(**{"port": 0, "seed": 7, **kw})
        )
        return sim

    async def driver(self, port: int, **kw: Any) -> tuple[SmppDriver, trio.CancelScope]:
        driver = SmppDriver(route(port, **kw), self.metrics, TextConfig())
        scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None]) -> None:
            with scope:
                await driver.run(self.sink, task_status=task_status)

        await self.nursery.start(run)
        return driver, scope

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
def env(nursery: trio.Nursery) -> Env:
    return Env(nursery)


def submitted(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.failure is None]


# -- against the simulator --------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["trx", "tx+rx"])
async def test_instant_receipts_on_several_binds_none_lost(env: Env, bind: str) -> None:
    sim = await env.sim(accounts={"shop": "pw"}, id_format="hex", receipt_id_format="hex")
    driver, _ = await env.driver(sim.port, binds=3, bind=bind, window=20)
    await driver.wait_capacity()
    await driver.wait_until(lambda: driver.capacity() == 60)
    n = 500
    await driver.submit([part(i) for i in range(n)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == n and len(env.sink.got_receipts) == n)
    assert sorted(o.part_id for o in env.sink.got_outcomes) == list(range(n))
    ids = {o.carrier_id for o in submitted(env.sink.got_outcomes)}
    assert len(ids) == n
    assert {r.carrier_id for r in env.sink.got_receipts} == ids  # every receipt matches, exactly
    assert all(r.route == "op" and r.state == "delivered" for r in env.sink.got_receipts)
    await sim.wait_until(lambda s: s.receipts_acked == n)
    state = driver.state()
    assert state.up and len(state.links) == (3 if bind == "trx" else 6)
    assert env.metric("smsgw_link_up", route="op", link=str(state.links[0]["name"])) == 1


async def test_reconnects_after_the_server_drops_every_connection(env: Env) -> None:
    sim = await env.sim(response_delay=0.5)
    driver, _ = await env.driver(sim.port, binds=2, window=5)
    await driver.wait_until(lambda: driver.capacity() == 10)
    await driver.submit([part(i) for i in range(4)])
    await sim.wait_until(lambda s: s.submits == 4)
    sim.drop_connections()
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 4)
    for o in env.sink.got_outcomes:  # sent, never answered: maybe delivered
        assert (o.failure, o.maybe_sent) == (FailureKind.TEMPORARY, True)
    await sim.wait_until(lambda s: s.binds == 4 and s.bound_now == 2)
    await driver.wait_until(lambda: driver.capacity() == 10)
    await driver.submit([part(10)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 5)
    assert env.sink.got_outcomes[-1].failure is None
    reconnects = sum(
        env.metric("smsgw_reconnects_total", route="op", link=f"bind{i}") for i in range(2)
    )
    assert reconnects >= 2


async def test_unbinds_on_shutdown(env: Env) -> None:
    sim = await env.sim()
    driver, scope = await env.driver(sim.port, binds=3)
    await driver.wait_until(lambda: driver.capacity() == 30)
    scope.cancel()
    await sim.wait_until(lambda s: s.unbinds == 3 and s.bound_now == 0)


async def test_decimal_receipt_ids_match_hex_submit_ids(env: Env) -> None:
    sim = await env.sim(id_format="hex", receipt_id_format="decimal", receipt_tlvs=False)
    driver, _ = await env.driver(sim.port, binds=2, message_id_format="decimal")
    await driver.wait_capacity()
    await driver.submit([part(i) for i in range(20)])
    await env.sink.wait(
        lambda: len(env.sink.got_receipts) == 20 and len(env.sink.got_outcomes) == 20
    )
    assert {r.carrier_id for r in env.sink.got_receipts} == {
        o.carrier_id for o in env.sink.got_outcomes
    }


async def test_undeliverable_receipts_and_permanent_failures(env: Env) -> None:
    sim = await env.sim(undeliverable=1.0, fail_permanent=0.5, seed=3)
    driver, _ = await env.driver(sim.port, binds=1)
    await driver.wait_capacity()
    await driver.submit([part(i) for i in range(20)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 20)
    ok = submitted(env.sink.got_outcomes)
    failed = [o for o in env.sink.got_outcomes if o.failure is not None]
    assert ok and failed
    assert all(o.failure is FailureKind.PERMANENT and o.code == "0x0000000B" for o in failed)
    await env.sink.wait(lambda: len(env.sink.got_receipts) == len(ok))
    assert {r.state for r in env.sink.got_receipts} == {"undelivered"}


async def test_inbound_message_is_stored_then_acknowledged(env: Env) -> None:
    sim = await env.sim()
    driver, _ = await env.driver(sim.port, binds=2)
    await driver.wait_capacity()
    await sim.wait_until(lambda s: s.bound_now == 2)
    sim.inject_mo("+4917099999999", "12345", "STOP")
    long_text = "Hello shop, " * 30  # three parts with a UDH
    assert sim.inject_mo("+4917099999998", "12345", long_text) == 3
    await env.sink.wait(lambda: len(env.sink.got_inbound) == 2)
    await sim.wait_until(lambda s: s.mo_acked == 4)
    by_sender = {m.sender: m for m in env.sink.got_inbound}
    assert by_sender["+4917099999999"].text == "STOP"
    joined = by_sender["+4917099999998"]
    assert (joined.text, joined.parts, joined.complete, joined.to) == (long_text, 3, True, "12345")
    assert env.sink.got_receipts == []  # an inbound message is never a receipt


async def test_tls(env: Env, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    sim = await env.sim(tls_cert=str(cert), tls_key=str(key))
    driver, _ = await env.driver(sim.port, binds=1, tls=True, tls_verify=False)
    await driver.wait_capacity()
    await driver.submit([part(1)])
    await env.sink.wait(lambda: len(env.sink.got_receipts) == 1)
    assert env.sink.got_receipts[0].carrier_id == env.sink.got_outcomes[0].carrier_id


async def test_tls_verified_against_a_private_ca(env: Env, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=smsc.test", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    sim = await env.sim(tls_cert=str(cert), tls_key=str(key))
    driver, _ = await env.driver(sim.port, binds=1, tls=True, tls_ca=str(cert))
    await driver.wait_capacity()
    await driver.submit([part(1)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 1)
    assert env.sink.got_outcomes[0].failure is None


# -- against scripted SMSCs (hand-built bytes) ---------------------------------------------------


Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """One accepted connection of a scripted SMSC: read PDUs, write raw bytes."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.framer = Framer()
        self.pending: list[Pdu] = []

    async def read(self) -> Pdu:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            frames, err = self.framer.feed(data)
            assert err is None
            self.pending += [decode(f) for f in frames]
        return self.pending.pop(0)

    async def read_kind(self, kind: type[Any]) -> Any:
        while True:
            pdu = await self.read()
            if isinstance(pdu, EnquireLink):
                await self.send(encode(EnquireLinkResp(), pdu.sequence))
                continue
            assert isinstance(pdu, kind), pdu
            return pdu

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def bind(self) -> None:
        req = await self.read_kind(BindRequest)
        await self.send(encode(BindResponse(mode=req.mode, system_id="scripted"), req.sequence))


async def scripted(env: Env, *scripts: Script) -> tuple[int, list[Peer]]:
    """A server running ``scripts[i]`` on its i-th connection; later ones just bind and idle."""
    peers: list[Peer] = []

    async def handler(stream: trio.SocketStream) -> None:
        peer = Peer(stream)
        peers.append(peer)
        script = scripts[len(peers) - 1] if len(peers) <= len(scripts) else idle
        try:
            await script(peer)
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    listeners = await env.nursery.start(trio.serve_tcp, handler, 0)
    return listeners[0].socket.getsockname()[1], peers


async def idle(peer: Peer) -> None:
    """Bind, then answer enquire_link and unbind until the connection goes."""
    await peer.bind()
    await serve_idle(peer)


async def serve_idle(peer: Peer) -> None:
    while True:
        pdu = await peer.read()
        if isinstance(pdu, SubmitSm):
            await peer.send(encode(SubmitSmResp(message_id=f"x{pdu.sequence}"), pdu.sequence))
        if isinstance(pdu, Unbind):
            await peer.send(encode(UnbindResp(), pdu.sequence))
            return
        if isinstance(pdu, EnquireLink):
            await peer.send(encode(EnquireLinkResp(), pdu.sequence))


async def test_out_of_order_responses_go_to_the_right_parts(env: Env) -> None:
    async def script(peer: Peer) -> None:
        await peer.bind()
        subs = [await peer.read_kind(SubmitSm) for _ in range(3)]
        for sub in reversed(subs):  # answer last first, each with an id naming its text
            await peer.send(
                encode(
                    SubmitSmResp(message_id="ID" + sub.short_message[-2:].decode()), sub.sequence
                )
            )
        await serve_idle(peer)

    port, _ = await scripted(env, script)
    driver, _ = await env.driver(port, binds=1)
    await driver.wait_capacity()
    await driver.submit([part(i) for i in (11, 22, 33)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 3)
    assert {o.part_id: o.carrier_id for o in env.sink.got_outcomes} == {
        11: "id11",
        22: "id22",
        33: "id33",
    }


async def test_garbage_is_nacked_counted_and_the_bind_reestablished(env: Env) -> None:
    nack = trio.Event()
    got: list[Pdu] = []

    async def script(peer: Peer) -> None:
        await peer.bind()
        await peer.send(struct.pack(">IIII", 70_000, Cmd.DELIVER_SM, 0, 99) + b"\xff" * 32)
        got.append(await peer.read())
        nack.set()

    port, peers = await scripted(env, script)
    driver, _ = await env.driver(port, binds=1)
    await nack.wait()
    assert got == [GenericNack(sequence=99, status=0x02)]
    await driver.wait_until(lambda: len(peers) == 2 and driver.capacity() == 10)  # bound again
    assert env.metric("smsgw_protocol_errors_total", route="op", kind="pdu_too_large") == 1


async def test_unknown_command_gets_generic_nack_and_the_bind_stays(env: Env) -> None:
    answered = trio.Event()
    got: list[Pdu] = []

    async def script(peer: Peer) -> None:
        await peer.bind()
        await peer.send(struct.pack(">IIII", 16, 0x00000103 + 0x40, 0, 41))  # no such command
        got.append(await peer.read())
        answered.set()
        await serve_idle(peer)

    port, peers = await scripted(env, script)
    driver, _ = await env.driver(port, binds=1)
    await answered.wait()
    assert got == [GenericNack(sequence=41, status=0x03)]
    await driver.submit([part(1)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 1)
    assert env.sink.got_outcomes[0].failure is None
    assert len(peers) == 1
    assert env.metric("smsgw_protocol_errors_total", route="op", kind="unknown_command") == 1


async def test_receipt_before_submit_response_and_ack_only_after_storing(env: Env) -> None:
    env.sink.receipt_gate = trio.Event()
    timeline: list[str] = env.sink.log
    resp_sent, acked = trio.Event(), trio.Event()

    async def script(peer: Peer) -> None:
        await peer.bind()
        sub = await peer.read_kind(SubmitSm)
        receipt = DeliverSm(
            source_addr=sub.destination_addr,
            destination_addr=sub.source_addr,
            esm_class=0x04,
            short_message=b"id:00000000AB sub:001 dlvrd:001 submit date:2501011200 "
            b"done date:2501011201 stat:DELIVRD err:000 text:",
        )
        await peer.send(encode(receipt, 7))  # the receipt first ...
        await env.sink.wait(lambda: "receipts called" in timeline)
        await peer.send(encode(SubmitSmResp(message_id="ab"), sub.sequence))  # ... then the id
        resp_sent.set()
        ack = await peer.read_kind(DeliverSmResp)
        timeline.append("deliver_sm_resp received")
        acked.set()
        assert ack.sequence == 7
        await serve_idle(peer)

    port, _ = await scripted(env, script)
    driver, _ = await env.driver(port, binds=1)
    await driver.wait_capacity()
    await driver.submit([part(1)])
    await resp_sent.wait()
    env.sink.receipt_gate.set()  # the store commits only now
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 1)
    await acked.wait()
    assert timeline == ["receipts called", "receipts stored", "deliver_sm_resp received"]
    assert env.sink.got_receipts[0].carrier_id == env.sink.got_outcomes[0].carrier_id == "ab"


async def test_receipt_tlvs_and_vendor_tlvs_on_the_wire(env: Env) -> None:
    async def script(peer: Peer) -> None:
        await peer.bind()
        receipt = DeliverSm(
            esm_class=0x04,
            tlvs=(
                (0x1401, b"vendor-data"),
                (Tag.RECEIPTED_MESSAGE_ID, b"0A1B\0"),
                (Tag.MESSAGE_STATE, b"\x03"),
                (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x1b"),
            ),
        )
        await peer.send(encode(receipt, 3))
        await peer.read_kind(DeliverSmResp)
        await serve_idle(peer)

    port, _ = await scripted(env, script)
    await env.driver(port, binds=1)
    await env.sink.wait(lambda: len(env.sink.got_receipts) == 1)
    assert env.sink.got_receipts[0] == Receipt(
        route="op", carrier_id="a1b", state="expired", error_code="net3:27"
    )


async def test_bind_level_status_on_submit_rebinds(env: Env) -> None:
    async def script(peer: Peer) -> None:
        await peer.bind()
        sub = await peer.read_kind(SubmitSm)
        await peer.send(encode(SubmitSmResp(status=0x04), sub.sequence))
        await serve_idle(peer)

    port, peers = await scripted(env, script)
    driver, _ = await env.driver(port, binds=1)
    await driver.wait_capacity()
    await driver.submit([part(1)])
    await env.sink.wait(lambda: len(env.sink.got_outcomes) == 1)
    await driver.wait_until(lambda: len(peers) == 2 and driver.capacity() == 10)
    [o] = env.sink.got_outcomes
    assert (o.failure, o.code, o.maybe_sent) == (FailureKind.TEMPORARY, "0x00000004", False)


async def test_data_sm_receipt_is_answered_with_data_sm_resp_after_storing(env: Env) -> None:
    got: list[Pdu] = []
    answered = trio.Event()

    async def script(peer: Peer) -> None:
        await peer.bind()
        receipt = DataSm(
            source_addr="4917012345678",
            esm_class=0x04,
            tlvs=(
                (Tag.RECEIPTED_MESSAGE_ID, b"77\0"),
                (Tag.MESSAGE_STATE, b"\x02"),
                (Tag.MESSAGE_PAYLOAD, b"id:77 stat:DELIVRD err:000"),
            ),
        )
        await peer.send(encode(receipt, 12))
        got.append(await peer.read_kind(DataSmResp))
        answered.set()
        await serve_idle(peer)

    port, _ = await scripted(env, script)
    await env.driver(port, binds=1)
    await answered.wait()
    assert got == [DataSmResp(sequence=12)]
    assert env.sink.got_receipts == [Receipt(route="op", carrier_id="77", state="delivered")]
