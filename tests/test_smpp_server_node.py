"""The SMPP server against a second third-party client: node-smpp (Node.js), run as a
subprocess by tests/node_smpp/client.js, which takes one JSON command per line and answers
one JSON line each. The gateway is real, on a loopback port, with a real SQLite store."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.smpp.pdu import Status
from smsgw.gateway.service import Gateway
from smsgw.queue.store.sqlite.smpp_held import HeldReceipt
from tests.conftest import StartGateway
from tests.test_smpp_server_e2e import SERVER, start

CONFIG = {"rate": 1000, "burst": 100, "max_binds": 4, "window": 50}
HERE = Path(__file__).parent / "node_smpp"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="Node.js is not installed (node-smpp needs it)"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "smpp").is_dir(),
        reason="node-smpp is not installed: run `npm ci --prefix tests/node_smpp`",
    ),
]

PDU = {
    "source_addr_ton": 5,
    "source_addr": "MyShop",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "4917012345678",
    "registered_delivery": 1,
}


class NodeClient:
    """One node-smpp process; :meth:`ask` sends a command and returns its answer."""

    def __init__(self, process: trio.Process, address: tuple[str, int]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._buffer = b""
        self.address = address

    async def ask(self, op: str, session: str = "a", **fields: Any) -> Any:
        line = msgspec.json.encode({"op": op, "s": session, **fields}) + b"\n"
        with trio.fail_after(30):
            await self._stdin.send_all(line)
            while b"\n" not in self._buffer:
                chunk = await self._stdout.receive_some()
                assert chunk, "the node-smpp client exited"
                self._buffer += chunk
        answer, _, self._buffer = self._buffer.partition(b"\n")
        reply = msgspec.json.decode(answer)
        assert reply["ok"], f"{op}: {reply['error']}"
        return reply["result"]

    async def bind(self, mode: str = "transceiver", session: str = "a", **creds: str) -> int:
        """Connect and bind; returns the bind_resp command_status."""
        host, port = self.address
        await self.ask("connect", session, host=host, port=port)
        creds = {"system_id": "crm", "password": "secret"} | creds
        reply = await self.ask("bind", session, mode=mode, **creds)
        return int(reply["status"])


@asynccontextmanager
async def node_client(address: tuple[str, int]) -> AsyncIterator[NodeClient]:
    assert NODE is not None
    process = await trio.lowlevel.open_process(
        [NODE, str(HERE / "client.js")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        yield NodeClient(process, address)
    finally:
        assert process.stdin is not None
        await process.stdin.aclose()
        with trio.move_on_after(10) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def held(gateway: Gateway) -> list[HeldReceipt]:
    return await gateway.store.smpp_held_page("crm", 100)


def receipted(pdu: dict[str, Any]) -> str:
    return str(pdu["receipted_message_id"])


async def test_single_and_long_submits_and_their_receipts(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)
    text = "Grüße aus dem Shop – Ihre Bestellung ist unterwegs. " * 4
    async with node_client(address) as node:
        assert await node.bind() == Status.ROK
        single = await node.ask("submit", pdu=PDU | {"short_message": "Your order shipped"})
        parts = await node.ask("long", pdu=PDU, text=text, ref=42)
        receipts = await node.ask("deliveries", n=2)
        await node.ask("ping")
        await node.ask("close")

    assert single["status"] == Status.ROK
    row = await running.gateway.store.get("shop", single["message_id"])
    assert row is not None and row.text == "Your order shipped"
    assert len(parts) == 4 and all(p["status"] == Status.ROK for p in parts)
    [long_id] = {p["message_id"] for p in parts}
    long_row = await running.gateway.store.get("shop", long_id)
    assert long_row is not None and long_row.text == text and long_row.parts_total == 4
    by_id = {receipted(r): r for r in receipts}
    assert set(by_id) == {single["message_id"], long_id}, "one receipt per submitted message"
    for mid, r in by_id.items():
        assert r["esm_class"] == 0x04 and r["message_state"] == 2
        # node-smpp decodes the text by its data_coding: the id there is the same id.
        assert r["short_message"]["message"].startswith(f"id:{mid} ")
        assert "stat:DELIVRD" in r["short_message"]["message"]
    assert await held(running.gateway) == []


async def test_an_inbound_message_comes_as_deliver_sm(start_gateway: StartGateway) -> None:
    running = await start_gateway(SERVER.format(**CONFIG), shop='inbound_numbers = ["+4930123456"]')
    address = running.gateway.smpp_address
    assert address is not None
    [mid] = await running.gateway.store.add_inbound(
        [
            InboundMessage(
                route="sim",
                sender="+4917099999",
                to="+4930123456",
                text="Wann kommt mein Paket?",
                received_at=1.0,
            )
        ]
    )
    async with node_client(address) as node:
        assert await node.bind("receiver") == Status.ROK
        [pdu] = await node.ask("deliveries", n=1)
        await node.ask("ping")
        await node.ask("close")
    assert pdu["esm_class"] == 0 and pdu["data_coding"] == 0
    assert pdu["short_message"]["message"] == "Wann kommt mein Paket?"
    assert (pdu["source_addr"], pdu["destination_addr"]) == ("4917099999", "4930123456")
    assert await held(running.gateway) == [], f"{mid} was answered and dropped"


async def test_rebind_after_an_outage_gets_what_was_held(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway)
    async with node_client(address) as node:
        assert await node.bind("transmitter") == Status.ROK
        sent = await node.ask("submit", pdu=PDU | {"short_message": "while you were away"})
        await node.ask("close")
        mid = sent["message_id"]
        await running.wait_final(mid)
        [row] = await held(running.gateway)
        assert (row.public_id, row.status) == (mid, "delivered")

        assert await node.bind("receiver") == Status.ROK
        [receipt] = await node.ask("deliveries", n=1)
        await node.ask("ping")
        await node.ask("close")
    assert receipted(receipt) == mid
    assert await held(running.gateway) == []


async def test_throttled_beyond_the_rate_with_rthrottled(start_gateway: StartGateway) -> None:
    running, address = await start(start_gateway, rate=0.01, burst=3)
    async with node_client(address) as node:
        assert await node.bind() == Status.ROK
        # A 2-part text, then single parts: the 3 tokens cover the first two messages only.
        texts = ["y" * 200, "hi", "hi", "hi"]
        statuses = [
            (await node.ask("submit", pdu=PDU | {"short_message": t}))["status"] for t in texts
        ]
        await node.ask("close")
    assert statuses == [Status.ROK, Status.ROK, Status.RTHROTTLED, Status.RTHROTTLED]
    registry = running.gateway.metrics.registry
    labels = {"account": "crm", "result": "throttled"}
    assert registry.get_sample_value("smsgw_smpp_server_submits_total", labels) == 2


async def test_wrong_password_and_too_many_binds(start_gateway: StartGateway) -> None:
    _, address = await start(start_gateway, max_binds=1)
    async with node_client(address) as node:
        assert await node.bind(session="bad", password="wrong") == Status.RINVPASWD
        assert await node.bind(session="nobody", system_id="nobody") == Status.RINVPASWD
        assert await node.bind(session="first") == Status.ROK
        assert await node.bind(session="second") == Status.RBINDFAIL
        await node.ask("close", "first")
        assert await node.bind(session="third") == Status.ROK, "the freed slot binds again"
        await node.ask("close", "third")


async def test_a_client_that_never_answers_keeps_its_receipts_held(
    start_gateway: StartGateway,
) -> None:
    running, address = await start(start_gateway)
    async with node_client(address) as node:
        assert await node.bind("transmitter") == Status.ROK
        mids = [
            (await node.ask("submit", pdu=PDU | {"short_message": f"n{i}"}))["message_id"]
            for i in range(2)
        ]
        await node.ask("close")
        for mid in mids:
            await running.wait_final(mid)

        await node.ask("connect", "silent", host=address[0], port=address[1])
        await node.ask("answer", "silent", on=False)
        await node.ask("bind", "silent", mode="receiver", system_id="crm", password="secret")
        got = [receipted(p) for p in await node.ask("deliveries", "silent", n=2)]
        await node.ask("ping", "silent")
        # Unanswered receipts are not sent again before their response timeout (10 s).
        assert (await node.ask("count", "silent"))["n"] == 0
        assert sorted(r.public_id for r in await held(running.gateway)) == sorted(mids)
        await node.ask("close", "silent")

        assert await node.bind("receiver") == Status.ROK
        again = [receipted(p) for p in await node.ask("deliveries", n=2)]
        await node.ask("ping")
        await node.ask("close")
    assert sorted(got) == sorted(mids) and again == got, "sent again, in the same order"
    assert await held(running.gateway) == []


async def test_a_flood_without_waiting_is_held_to_the_window(
    start_gateway: StartGateway,
) -> None:
    _, address = await start(start_gateway, window=2)
    async with node_client(address) as node:
        assert await node.bind() == Status.ROK
        replies = await node.ask("flood", pdu=PDU, n=20)
        await node.ask("close")
    statuses = [r["status"] for r in replies]
    assert len(statuses) == 20 and set(statuses) <= {Status.ROK, Status.RTHROTTLED}
    assert Status.RTHROTTLED in statuses and Status.ROK in statuses
