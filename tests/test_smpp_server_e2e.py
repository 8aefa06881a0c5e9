"""The SMPP server end to end: a third-party client (smpplib's blocking Client, run in a
thread) binds to a real gateway on a loopback port and submits to the simulator route."""

from __future__ import annotations

import shutil
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
import trio

from smsgw.drivers.smpp.pdu import Status
from tests.conftest import Running, StartGateway

T = TypeVar("T")

SERVER = """
[smpp_server]
listen = "127.0.0.1:0"

[[smpp_server.accounts]]
system_id = "crm"
password = "secret"
key = "shop"
rate = {rate}
burst = {burst}
max_binds = {max_binds}
window = {window}

[[smpp_server.accounts]]
system_id = "strict"
password = "pw2"
key = "other"
"""


async def start(
    start_gateway: StartGateway,
    *,
    rate: float = 10000,
    burst: int = 1000,
    max_binds: int = 2,
    window: int = 50,
) -> tuple[Running, tuple[str, int]]:
    running = await start_gateway(
        SERVER.format(rate=rate, burst=burst, max_binds=max_binds, window=window)
    )
    address = running.gateway.smpp_address
    assert address is not None
    return running, address


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def client(address: tuple[str, int]) -> smpplib.client.Client:
    c = smpplib.client.Client(address[0], address[1], timeout=10, allow_unknown_opt_params=True)
    c.connect()
    return c


def bind(address: tuple[str, int], mode: str = "transceiver", **kw: str) -> smpplib.client.Client:
    c = client(address)
    try:
        getattr(c, "bind_" + mode)(**({"system_id": "crm", "password": "secret"} | kw))
    except BaseException:
        c.disconnect()
        raise
    return c


def submit(c: smpplib.client.Client, text: str = "hello", **kw: Any) -> Any:
    """One submit_sm; returns its submit_sm_resp."""
    fields: dict[str, Any] = {
        "source_addr_ton": smpplib.consts.SMPP_TON_ALNUM,
        "source_addr": "MyShop",
        "dest_addr_ton": smpplib.consts.SMPP_TON_INTL,
        "dest_addr_npi": smpplib.consts.SMPP_NPI_ISDN,
        "destination_addr": "4917012345678",
        "short_message": text.encode(),
        "registered_delivery": 1,
    } | kw
    c.send_message(**fields)
    return c.read_pdu()


def resp_id(pdu: Any) -> str:
    mid = pdu.message_id
    return mid.decode() if isinstance(mid, bytes) else str(mid)


async def test_bind_submit_and_the_message_is_committed_and_delivered(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)

    def work() -> Any:
        c = bind(address)
        try:
            return submit(c, "Your order shipped")
        finally:
            c.disconnect()

    resp = await in_thread(work)
    assert resp.status == Status.ROK
    row = await running.gateway.store.get("shop", resp_id(resp))
    assert row is not None, "submit_sm_resp came before the commit"
    assert (row.to, row.sender, row.text, row.key) == (
        "+4917012345678", "MyShop", "Your order shipped", "shop",
    )  # fmt: skip
    final = await running.wait_final(row.id)
    assert final.status == "delivered"


async def test_a_long_message_as_udh_parts_is_one_message(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)
    text = "Ünïcödé long message " * 12

    def work() -> list[Any]:
        c = bind(address)
        try:
            parts, coding, esm = smpplib.gsm.make_parts(text)
            resps = []
            for part in parts:
                c.send_message(
                    source_addr_ton=5, source_addr="MyShop", dest_addr_ton=1,
                    destination_addr="4917012345678", short_message=part, data_coding=coding,
                    esm_class=esm,
                )  # fmt: skip
            for _ in parts:
                resps.append(c.read_pdu())
            return resps
        finally:
            c.disconnect()

    resps = await in_thread(work)
    assert len(resps) > 1 and all(r.status == Status.ROK for r in resps)
    ids = {resp_id(r) for r in resps}
    assert len(ids) == 1, "every part of one long message carries the message's id"
    row = await running.gateway.store.get("shop", ids.pop())
    assert row is not None and row.text == text and row.parts_total == len(resps)


async def test_a_long_message_in_message_payload(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)
    text = "x" * 400

    def work() -> Any:
        c = bind(address)
        try:
            return submit(c, "", short_message=b"", message_payload=text.encode())
        finally:
            c.disconnect()

    resp = await in_thread(work)
    assert resp.status == Status.ROK
    row = await running.gateway.store.get("shop", resp_id(resp))
    assert row is not None and row.text == text and row.parts_total == 3


def bind_error(address: tuple[str, int], **kw: str) -> int:
    try:
        c = bind(address, **kw)
    except smpplib.exceptions.PDUError as e:
        return int(e.args[1])
    c.disconnect()
    return 0


async def test_wrong_password_and_unknown_system_id_look_the_same(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)
    assert await in_thread(lambda: bind_error(address, password="wrong")) == Status.RINVPASWD
    assert await in_thread(lambda: bind_error(address, system_id="nobody")) == Status.RINVPASWD
    registry = running.gateway.metrics.registry
    labels = {"reason": "credentials"}
    assert registry.get_sample_value("smsgw_smpp_server_bind_failures_total", labels) == 2


async def test_too_many_binds_fail_and_a_freed_slot_binds_again(
    start_gateway: StartGateway,
) -> None:
    _, address = await start(start_gateway, max_binds=1)
    first = await in_thread(lambda: bind(address))
    try:
        assert await in_thread(lambda: bind_error(address)) == Status.RBINDFAIL
    finally:
        await in_thread(first.unbind)
        await in_thread(first.disconnect)
    assert await in_thread(lambda: bind_error(address)) == 0


async def test_throttling_in_parts_beyond_rate_and_burst(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway, rate=0.01, burst=3)

    def work() -> list[int]:
        c = bind(address)
        try:
            # A 2-part text then single parts: 3 tokens cover the first two messages only.
            statuses = [submit(c, "y" * 200).status]
            statuses += [submit(c, "hi").status for _ in range(3)]
            return statuses
        finally:
            c.disconnect()

    statuses = await in_thread(work)
    assert statuses == [Status.ROK, Status.ROK, Status.RTHROTTLED, Status.RTHROTTLED]
    registry = running.gateway.metrics.registry
    for result, n in (("accepted", 2), ("throttled", 2), ("refused", 0)):
        labels = {"account": "crm", "result": result}
        assert registry.get_sample_value("smsgw_smpp_server_submits_total", labels) == n
    assert registry.get_sample_value("smsgw_smpp_server_binds", {"account": "crm"}) is not None


async def test_a_flood_beyond_the_window_is_refused_not_queued(
    start_gateway: StartGateway,
) -> None:
    _, address = await start(start_gateway, window=2)

    def work() -> list[int]:
        c = bind(address)
        try:
            pdus = []
            for i in range(20):
                p = smpplib.smpp.make_pdu(
                    "submit_sm", client=c, source_addr_ton=5, source_addr="MyShop",
                    dest_addr_ton=1, destination_addr="4917012345678",
                    short_message=f"flood {i}".encode(),
                )  # fmt: skip
                pdus.append(p.generate())
            c._socket.sendall(b"".join(pdus))  # one write: the server reads them together
            return [c.read_pdu().status for _ in pdus]
        finally:
            c.disconnect()

    statuses = await in_thread(work)
    assert len(statuses) == 20
    assert set(statuses) <= {Status.ROK, Status.RTHROTTLED}
    assert Status.RTHROTTLED in statuses and Status.ROK in statuses


async def test_errors_map_to_command_status(start_gateway: StartGateway) -> None:
    _, address = await start(start_gateway)

    def work() -> tuple[int, int, int]:
        c = bind(address)
        strict = bind(address, system_id="strict", password="pw2")
        try:
            bad_dest = submit(c, destination_addr="12").status
            bad_sender = submit(strict, source_addr="Evil").status
            receiver_only = bind(address, "receiver")
            try:
                # smpplib itself refuses to submit on a receiver bind: the raw PDU, then.
                p = smpplib.smpp.make_pdu(
                    "submit_sm", client=receiver_only, source_addr="MyShop",
                    destination_addr="4917012345678", short_message=b"x",
                )  # fmt: skip
                receiver_only._socket.sendall(p.generate())
                wrong_bind = receiver_only.read_pdu().status
            finally:
                receiver_only.disconnect()
            return bad_dest, bad_sender, wrong_bind
        finally:
            c.disconnect()
            strict.disconnect()

    assert await in_thread(work) == (Status.RINVDSTADR, Status.RINVSRCADR, Status.RINVBNDSTS)


async def test_query_sm_reports_the_state(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)

    def first() -> tuple[smpplib.client.Client, str]:
        c = bind(address)
        return c, resp_id(submit(c))

    c, mid = await in_thread(first)
    try:
        await running.wait_final(mid)

        def query() -> Any:
            c.query_message(message_id=mid, source_addr_ton=5, source_addr="MyShop")
            return c.read_pdu()

        resp = await in_thread(query)
        assert resp.status == 0 and resp.message_state == 2  # DELIVERED (§5.2.28)
    finally:
        await in_thread(c.disconnect)


async def test_a_raw_client_that_sends_garbage_is_dropped(start_gateway: StartGateway) -> None:
    _, address = await start(start_gateway)

    def work() -> bytes:
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"\x00\x00\x00\x05junk")
            out = b""
            while chunk := s.recv(100):
                out += chunk
            return out

    reply = await in_thread(work)
    assert reply[4:8] == b"\x80\x00\x00\x00"  # generic_nack, then the server hangs up


@pytest.mark.parametrize("mode", ["transmitter", "receiver"])
async def test_each_bind_mode_binds(start_gateway: StartGateway, mode: str) -> None:
    _, address = await start(start_gateway)
    c = await in_thread(lambda: bind(address, mode))
    await in_thread(c.unbind)
    await in_thread(c.disconnect)


async def test_smpp_over_tls_with_the_configured_certificate(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )  # fmt: skip
    tls = SERVER.replace(
        "[smpp_server]\n", f'[smpp_server]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    )
    running = await start_gateway(tls.format(rate=1000, burst=100, max_binds=2, window=50))
    address = running.gateway.smpp_address
    assert address is not None
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False  # smpplib wraps without a server name; the chain is checked

    def work() -> Any:
        c = smpplib.client.Client(
            address[0], address[1], timeout=10, ssl_context=ctx, allow_unknown_opt_params=True
        )
        c.connect()
        try:
            c.bind_transceiver(system_id="crm", password="secret")
            return submit(c, "over TLS")
        finally:
            c.disconnect()

    resp = await in_thread(work)
    assert resp.status == Status.ROK
    row = await running.gateway.store.get("shop", resp_id(resp))
    assert row is not None and row.text == "over TLS"
