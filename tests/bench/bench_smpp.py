"""CPU per SMPP operation on the hot path, ours against smpplib; prints one JSON object.

    .venv/bin/python tests/bench/bench_smpp.py [--n 20000] [--e2e 50000]

Figures are µs per operation (the best of 5 runs, so background noise on a shared machine
inflates them less). ``session_round_trip`` is everything the sans-IO layer does for one
message: submit_sm encoded and queued, its submit_sm_resp framed and decoded, the receipt
framed, decoded and parsed into a seam Receipt, and the deliver_sm_resp queued — no sockets.

``--e2e N`` also runs the trio driver against ``smsgw smsc-sim`` in a child process on
loopback (4 binds, window 100, instant receipts) with a sink that only counts, and reports
messages per second and the driver process's CPU µs per message (submit_sm out, its response
and its receipt in, deliver_sm_resp out: everything but the store).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import trio
from prometheus_client import CollectorRegistry
from smpplib import smpp as smpplib_smpp

from smsgw.config.schema import SmppRouteConfig, TextConfig
from smsgw.drivers.seam import InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.codec import decode, encode
from smsgw.drivers.smpp.events import DeliverSmReceived, SubmitResponse
from smsgw.drivers.smpp.pdu import BindResponse, DeliverSm, SubmitSm, SubmitSmResp, Tag
from smsgw.drivers.smpp.receipts import IdNormaliser, parse_receipt
from smsgw.drivers.smpp.session import Session
from smsgw.metrics.instruments import Metrics


class _Holder:
    sequence = 0

    def next_sequence(self) -> int:
        return 0


SUBMIT = SubmitSm(
    source_addr_ton=5,
    source_addr="MyShop",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="4917012345678",
    priority_flag=1,
    registered_delivery=1,
    validity_period="250101120000000+",
    short_message=b"Your order 12345 has shipped and will arrive tomorrow. Track: shop.example",
)
RECEIPT_TEXT = (
    b"id:1A2B3C4D sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 "
    b"stat:DELIVRD err:000 text:Your order 12345"
)
RECEIPT = DeliverSm(
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="4917012345678",
    dest_addr_ton=5,
    destination_addr="MyShop",
    esm_class=0x04,
    short_message=RECEIPT_TEXT,
    tlvs=((Tag.RECEIPTED_MESSAGE_ID, b"1A2B3C4D\0"), (Tag.MESSAGE_STATE, b"\x02")),
)
RECEIPT_BYTES = encode(RECEIPT, 7)
RESP_BYTES = encode(SubmitSmResp(message_id="1A2B3C4D"), 7)


def best_us(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` µs per call of ``fn`` over ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return round(best, 2)


def smpplib_submit() -> bytes:
    pdu: Any = smpplib_smpp.make_pdu(
        "submit_sm",
        client=_Holder(),
        source_addr_ton=5,
        source_addr="MyShop",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="4917012345678",
        priority_flag=1,
        registered_delivery=1,
        validity_period="250101120000000+",
        short_message=SUBMIT.short_message,
    )
    pdu.sequence = 7
    data: bytes = pdu.generate()
    return data


def smpplib_receipt() -> Any:
    return smpplib_smpp.parse_pdu(RECEIPT_BYTES, client=_Holder(), allow_unknown_opt_params=True)


def ours_receipt() -> Any:
    pdu = decode(RECEIPT_BYTES)
    assert isinstance(pdu, DeliverSm)
    return IDS.receipt("route", parse_receipt(pdu))


IDS = IdNormaliser("auto")


def session_round_trips(n: int) -> float:
    """µs per message through a bound session, in batches of 100 like a loaded bind.

    Only the session's work is timed; building the SMSC's answers is the peer's cost.
    """
    s = Session("trx", window=100, response_timeout=10, enquire_link=30, now=0)
    s.bind(system_id="bench", now=0)
    s.data_to_send()
    s.receive_data(encode(BindResponse(mode="trx", system_id="x"), 1), 0)
    best = float("inf")
    for _ in range(5):
        spent = 0.0
        for _ in range(n // 100):
            t0 = time.perf_counter()
            seqs = [s.submit(SUBMIT, 1.0) for _ in range(100)]
            s.data_to_send()
            spent += time.perf_counter() - t0
            inbound = b"".join(
                encode(SubmitSmResp(message_id=f"{q:08X}"), q) + RECEIPT_BYTES for q in seqs
            )
            t0 = time.perf_counter()
            for ev in s.receive_data(inbound, 1.0):
                if type(ev) is SubmitResponse:
                    IDS.from_response(ev.message_id)
                elif type(ev) is DeliverSmReceived:
                    IDS.receipt("route", parse_receipt(ev.pdu))
                    s.answer(ev.pdu.sequence)
            s.data_to_send()
            spent += time.perf_counter() - t0
        best = min(best, spent / (n // 100 * 100) * 1e6)
    return round(best, 2)


class _CountingSink:
    def __init__(self) -> None:
        self.outcomes_n = self.receipts_n = self.failed = 0
        self.changed = trio.Event()

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        self.outcomes_n += len(items)
        self.failed += sum(1 for o in items if o.failure is not None)
        self.changed.set()

    async def receipts(self, items: Sequence[Receipt]) -> None:
        self.receipts_n += len(items)
        self.changed.set()

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        pass


async def _e2e(port: int, n: int) -> dict[str, float]:
    config = SmppRouteConfig(
        name="bench", host="127.0.0.1", port=port, system_id="bench", binds=4, window=100
    )
    driver = SmppDriver(config, Metrics(CollectorRegistry()), TextConfig())
    sink = _CountingSink()
    parts = [
        OutboundPart(
            part_id=i,
            message_id=f"m{i}",
            route="bench",
            to="+4917012345678",
            sender="MyShop",
            text="Your order 12345 has shipped and will arrive tomorrow.",
            encoding="gsm7",
            seq=1,
            total=1,
            ref=0,
        )
        for i in range(n)
    ]
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run, sink)
        await driver.wait_until(lambda: driver.capacity() == 400)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(0, n, 400):
            await driver.submit(parts[i : i + 400])
        while sink.outcomes_n < n or sink.receipts_n < n - sink.failed:
            sink.changed = trio.Event()
            await sink.changed.wait()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return {
        "e2e_messages": n,
        "e2e_msgs_per_s": round(n / wall),
        "e2e_driver_cpu_us_per_msg": round(cpu / n * 1e6, 1),
        "e2e_failed": sink.failed,
    }


def run_e2e(n: int) -> dict[str, float]:
    """The driver here, the simulator in a child process (so its CPU is not counted)."""
    sim = subprocess.Popen(
        [sys.executable, "-c", "import sys; from smsgw.drivers.smpp.sim import main; "
         "sys.exit(main(['--port', '0', '--window', '400']))"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()  # "smsc-sim: listening on 127.0.0.1:PORT (...)"
        port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
        return trio.run(_e2e, port, n)
    finally:
        sim.terminate()
        sim.wait()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--e2e", type=int, default=0, metavar="N", help="also run N messages e2e")
    a = p.parse_args(argv)
    n = a.n
    assert encode(SUBMIT, 7) == smpplib_submit(), "fast path and oracle disagree"
    result = {
        "submit_sm_encode_us": best_us(lambda: encode(SUBMIT, 7), n),
        "submit_sm_encode_smpplib_us": best_us(smpplib_submit, n // 4),
        "submit_sm_resp_decode_us": best_us(lambda: decode(RESP_BYTES), n),
        "receipt_decode_us": best_us(ours_receipt, n),
        "receipt_decode_smpplib_us": best_us(smpplib_receipt, n // 4),
        "session_round_trip_us": session_round_trips(n),
        "python": sys.version.split()[0],
    }
    if a.e2e:
        result.update(run_e2e(a.e2e))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
