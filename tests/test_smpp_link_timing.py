"""The SMPP driver's timers on trio's virtual clock, with the production defaults.

Each bind's byte stream is an in-memory stream (the driver's ``connect`` seam) to a scripted
SMSC written with the project's codec; under ``autojump_clock`` the clock moves only when
both sides wait, so the tests assert the exact times the link acts at: the idle
enquire_link, a link declared dead for want of an answer and bound again after its backoff,
a throttled bind's pause, a submit waiting for room in a full window, a refused bind's
doubling backoff.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
import trio
import trio.testing

from smsgw.config.schema import SmppRouteConfig, TextConfig
from smsgw.drivers.seam import FailureKind, InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.drivers.smpp.client import SmppDriver
from smsgw.drivers.smpp.codec import Framer, decode, encode
from smsgw.drivers.smpp.pdu import (
    BindRequest,
    BindResponse,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    Status,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from smsgw.metrics.instruments import Metrics

CONFIG = SmppRouteConfig(name="op", host="smsc.invalid", system_id="shop", password="pw")
"""One bind with every timer at its default: what a route gets from a config without them."""
IDLE = CONFIG.enquire_link
ANSWER = CONFIG.response_timeout
PAUSE = CONFIG.throttle_pause
WINDOW = CONFIG.window


class Conn:
    """The SMSC's end of one in-memory connection: PDUs in (with their times), bytes out."""

    def __init__(self, stream: trio.abc.Stream, opened_at: float) -> None:
        self.stream = stream
        self.opened_at = opened_at
        self.closed_at: float | None = None
        self.got: list[tuple[float, Pdu]] = []
        self._framer = Framer()
        self._pending: list[Pdu] = []
        self._changed = trio.Event()

    def times(self, kind: type[Any]) -> list[float]:
        return [t for t, pdu in self.got if isinstance(pdu, kind)]

    async def wait(self, predicate: Callable[[Conn], bool]) -> None:
        while not predicate(self):
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def read(self) -> Pdu:
        while not self._pending:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            frames, error = self._framer.feed(data)
            assert error is None
            self._pending += [decode(f) for f in frames]
        pdu = self._pending.pop(0)
        self.got.append((trio.current_time(), pdu))
        self._notify()
        return pdu

    async def read_kind(self, kind: type[Any]) -> Any:
        """The next PDU of ``kind``, answering enquire_link on the way."""
        while True:
            pdu = await self.read()
            if isinstance(pdu, EnquireLink):
                await self.send(EnquireLinkResp(), pdu.sequence)
                continue
            assert isinstance(pdu, kind), pdu
            return pdu

    async def send(self, pdu: Pdu, sequence: int) -> None:
        await self.stream.send_all(encode(pdu, sequence))

    async def bind(self, status: int = 0) -> None:
        req = await self.read_kind(BindRequest)
        await self.send(
            BindResponse(mode=req.mode, status=status, system_id="scripted"), req.sequence
        )

    async def serve(self) -> None:
        """Answer everything at once (submits accepted) until unbound."""
        while True:
            pdu = await self.read()
            if isinstance(pdu, SubmitSm):
                await self.send(SubmitSmResp(message_id=f"{pdu.sequence:x}"), pdu.sequence)
            elif isinstance(pdu, EnquireLink):
                await self.send(EnquireLinkResp(), pdu.sequence)
            elif isinstance(pdu, Unbind):
                await self.send(UnbindResp(), pdu.sequence)
                return

    async def ignore(self) -> None:
        """Read everything, answer nothing (a hung front end with TCP up)."""
        while True:
            await self.read()


Script = Callable[[Conn], Awaitable[None]]


async def bind_and_serve(conn: Conn) -> None:
    await conn.bind()
    await conn.serve()


class ScriptedSmsc:
    """Runs ``scripts[i]`` on the i-th connection the driver opens (later ones bind and
    serve); :meth:`connect` is the driver's ``connect``."""

    def __init__(self, nursery: trio.Nursery, *scripts: Script) -> None:
        self.nursery = nursery
        self.scripts = scripts
        self.conns: list[Conn] = []
        self._changed = trio.Event()

    async def connect(self) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        conn = Conn(server, trio.current_time())
        i = len(self.conns)
        self.conns.append(conn)
        script = self.scripts[i] if i < len(self.scripts) else bind_and_serve
        self.nursery.start_soon(self._run, script, conn)
        self._notify()
        return client

    async def _run(self, script: Script, conn: Conn) -> None:
        try:
            await script(conn)
            await conn.stream.aclose()
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        conn.closed_at = trio.current_time()
        self._notify()

    async def wait_conns(self, n: int) -> Conn:
        """The n-th connection (1-based), once it is open."""
        while len(self.conns) < n:
            await self._changed.wait()
        return self.conns[n - 1]

    async def wait_closed(self, conn: Conn) -> float:
        while conn.closed_at is None:
            await self._changed.wait()
        return conn.closed_at

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


class TimedSink:
    """A real Sink that keeps each outcome with the virtual time it was handed over."""

    def __init__(self) -> None:
        self.outcomes_at: list[tuple[float, Outcome]] = []
        self._changed = trio.Event()

    async def wait_outcomes(self, n: int) -> list[tuple[float, Outcome]]:
        while len(self.outcomes_at) < n:
            await self._changed.wait()
        return self.outcomes_at

    async def outcomes(self, items: Sequence[Outcome]) -> None:
        now = trio.current_time()
        self.outcomes_at += [(now, o) for o in items]
        self._changed.set()
        self._changed = trio.Event()

    async def receipts(self, items: Sequence[Receipt]) -> None:
        return None

    async def inbound(self, items: Sequence[InboundMessage]) -> None:
        return None


class Rig:
    def __init__(self, nursery: trio.Nursery, smsc: ScriptedSmsc) -> None:
        self.metrics = Metrics()
        self.smsc = smsc
        self.sink = TimedSink()
        self.driver = SmppDriver(CONFIG, self.metrics, TextConfig(), connect=smsc.connect)
        self.nursery = nursery

    async def start(self) -> None:
        await self.nursery.start(self.driver.run, self.sink)

    async def bound(self) -> float:
        """Wait until the bind is up with its whole window; returns the time."""
        await self.driver.wait_until(lambda: self.driver.capacity() == WINDOW)
        return trio.current_time()

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


async def started(nursery: trio.Nursery, *scripts: Script) -> Rig:
    rig = Rig(nursery, ScriptedSmsc(nursery, *scripts))
    with trio.fail_after(ANSWER):
        await rig.start()
    return rig


def part(i: int) -> OutboundPart:
    return OutboundPart(
        part_id=i,
        message_id=f"msg_{i}",
        route="op",
        to="+4917012345678",
        sender="MyShop",
        text=f"Your code is {i:06d}",
        encoding="gsm7",
        seq=1,
        total=1,
        ref=0,
    )


def backoff_bounds(base: float) -> tuple[float, float]:
    """A reconnect waits half the base plus up to half again (jitter)."""
    return base / 2, base


# -- the idle probe ------------------------------------------------------------------------------


async def test_an_idle_link_sends_enquire_link_after_each_idle_interval(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    rig = await started(nursery)
    with trio.fail_after(10 * IDLE):
        bound = await rig.bound()
        conn = await rig.smsc.wait_conns(1)
        await conn.wait(lambda c: len(c.times(EnquireLink)) == 3)
    assert conn.times(EnquireLink) == pytest.approx(
        [bound + IDLE, bound + 2 * IDLE, bound + 3 * IDLE]
    )
    assert rig.driver.state().up and len(rig.smsc.conns) == 1


async def test_traffic_from_the_smsc_postpones_the_probe(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def script(conn: Conn) -> None:
        await conn.bind()
        await trio.sleep(IDLE / 2)  # the SMSC probes us half-way through the interval
        await conn.send(EnquireLink(), 900)
        await conn.serve()

    rig = await started(nursery, script)
    with trio.fail_after(10 * IDLE):
        bound = await rig.bound()
        conn = await rig.smsc.wait_conns(1)
        await conn.wait(lambda c: len(c.times(EnquireLink)) == 1)
    assert conn.times(EnquireLink) == pytest.approx([bound + IDLE / 2 + IDLE])


# -- a peer that stops answering ---------------------------------------------------------------


async def test_an_unanswered_enquire_link_kills_the_link_and_it_rebinds_after_the_backoff(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(conn: Conn) -> None:
        await conn.bind()
        await conn.ignore()

    rig = await started(nursery, silent)
    with trio.fail_after(10 * IDLE):
        bound = await rig.bound()
        first = await rig.smsc.wait_conns(1)
        dead = await rig.smsc.wait_closed(first)
        await rig.driver.wait_until(lambda: not rig.driver.state().up)
        assert rig.driver.capacity() == 0 and trio.current_time() == dead
        second = await rig.smsc.wait_conns(2)
        again = await rig.bound()
    assert first.times(EnquireLink) == pytest.approx([bound + IDLE])
    assert dead == pytest.approx(bound + IDLE + ANSWER)  # the probe's answer is overdue
    low, high = backoff_bounds(CONFIG.reconnect_min)  # it had been bound: the shortest backoff
    assert dead + low <= second.opened_at <= dead + high
    assert again == second.opened_at
    assert rig.metric("smsgw_protocol_errors_total", route="op", kind="peer_silent") == 1
    assert rig.metric("smsgw_reconnects_total", route="op", link="bind0") == 1


async def test_a_silent_smsc_with_a_submit_outstanding_is_dead_and_its_part_resent(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent_after_submit(conn: Conn) -> None:
        await conn.bind()
        await conn.read_kind(SubmitSm)
        await conn.ignore()

    rig = await started(nursery, silent_after_submit)
    with trio.fail_after(10 * IDLE):
        await rig.bound()
        sent = trio.current_time()
        await rig.driver.submit([part(5)])
        [(at, o)] = await rig.sink.wait_outcomes(1)
        await rig.smsc.wait_conns(2)
        await rig.bound()  # bound again with the whole window
    assert at == pytest.approx(sent + ANSWER)
    assert (o.part_id, o.failure, o.maybe_sent, o.resend, o.code) == (
        5,
        FailureKind.TEMPORARY,
        True,
        True,
        "link_down",
    )
    assert rig.metric("smsgw_protocol_errors_total", route="op", kind="peer_silent") == 1


async def test_one_unanswered_submit_on_a_live_link_is_a_timeout_only(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def talkative(conn: Conn) -> None:
        await conn.bind()
        await conn.read_kind(SubmitSm)  # never answered...
        seq = 900
        while True:  # ...but the SMSC keeps talking: it probes us every few seconds
            await conn.send(EnquireLink(), seq)
            seq += 1
            await trio.sleep(ANSWER / 5)

    rig = await started(nursery, talkative)
    with trio.fail_after(10 * IDLE):
        await rig.bound()
        sent = trio.current_time()
        await rig.driver.submit([part(5)])
        [(at, o)] = await rig.sink.wait_outcomes(1)
    assert at == pytest.approx(sent + ANSWER)
    assert (o.failure, o.maybe_sent, o.resend, o.code) == (
        FailureKind.TEMPORARY,
        True,
        False,
        "timeout",
    )
    assert rig.driver.capacity() == WINDOW and len(rig.smsc.conns) == 1  # the slot is free


# -- throttling and the window -----------------------------------------------------------------


async def test_a_throttled_bind_pauses_for_the_configured_time_then_resumes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def throttles_once(conn: Conn) -> None:
        await conn.bind()
        sub = await conn.read_kind(SubmitSm)
        await conn.send(SubmitSmResp(status=Status.RTHROTTLED), sub.sequence)
        await conn.serve()

    rig = await started(nursery, throttles_once)
    with trio.fail_after(10 * IDLE):
        await rig.bound()
        sent = trio.current_time()
        await rig.driver.submit([part(1)])
        [(at, o)] = await rig.sink.wait_outcomes(1)
        assert rig.driver.capacity() == 0  # paused, not down
        link = rig.driver.state().links[0]
        assert link["state"] == "up" and link["throttled"] and link["throttles"] == 1
        await rig.driver.wait_capacity()
        resumed = trio.current_time()
        await rig.driver.submit([part(1)])  # the route sends it again: never failed for it
        [_, (_, again)] = await rig.sink.wait_outcomes(2)
    assert at == sent
    assert (o.failure, o.code) == (FailureKind.THROTTLED, "0x00000058")
    assert resumed == pytest.approx(sent + PAUSE)
    assert rig.driver.capacity() == WINDOW and not rig.driver.state().links[0]["throttled"]
    assert again.failure is None and again.carrier_id
    conn = rig.smsc.conns[0]
    assert conn.times(SubmitSm) == pytest.approx([sent, sent + PAUSE])


async def test_a_full_window_makes_submit_wait_until_a_response_frees_a_slot(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    hold = ANSWER / 2  # the SMSC answers the first submit this late (within the timeout)

    async def slow_first(conn: Conn) -> None:
        await conn.bind()
        subs = [await conn.read_kind(SubmitSm) for _ in range(WINDOW)]
        await trio.sleep(hold)
        await conn.send(SubmitSmResp(message_id="first"), subs[0].sequence)
        subs.append(await conn.read_kind(SubmitSm))  # the one that waited for room
        for sub in subs[1:]:
            await conn.send(SubmitSmResp(message_id=f"{sub.sequence:x}"), sub.sequence)
        await conn.serve()

    rig = await started(nursery, slow_first)
    done: list[float] = []

    async def submit_all() -> None:
        await rig.driver.submit([part(i) for i in range(WINDOW + 1)])
        done.append(trio.current_time())

    with trio.fail_after(10 * IDLE):
        await rig.bound()
        sent = trio.current_time()
        nursery.start_soon(submit_all)
        conn = await rig.smsc.wait_conns(1)
        await conn.wait(lambda c: len(c.times(SubmitSm)) == WINDOW)
        assert rig.driver.capacity() == 0 and rig.driver.state().in_flight == WINDOW
        await conn.wait(lambda c: len(c.times(SubmitSm)) == WINDOW + 1)
        outcomes = await rig.sink.wait_outcomes(WINDOW + 1)
    assert done == pytest.approx([sent + hold])  # it waited exactly until the slot freed
    assert conn.times(SubmitSm) == pytest.approx([sent] * WINDOW + [sent + hold])
    assert sorted(o.part_id for _, o in outcomes) == list(range(WINDOW + 1))
    assert all(o.failure is None for _, o in outcomes)


# -- a bind the SMSC refuses -------------------------------------------------------------------


async def test_a_refused_bind_backs_off_doubling_up_to_the_maximum(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def refuse(conn: Conn) -> None:
        await conn.bind(status=Status.RINVPASWD)
        await conn.ignore()  # until the driver closes the connection

    attempts = 10
    rig = await started(nursery, *[refuse] * attempts)
    with trio.fail_after(attempts * CONFIG.reconnect_max):
        await rig.smsc.wait_conns(attempts)
    opened = [c.opened_at for c in rig.smsc.conns]
    for k, (before, after) in enumerate(itertools.pairwise(opened), 1):
        low, high = backoff_bounds(min(CONFIG.reconnect_max, CONFIG.reconnect_min * 2**k))
        assert before + low <= after <= before + high, (k, after - before)
    assert rig.driver.capacity() == 0 and not rig.driver.state().up
    assert (
        rig.metric("smsgw_protocol_errors_total", route="op", kind="bind_rejected") >= attempts - 1
    )
    assert "bind refused" in str(rig.driver.state().links[0]["error"])
