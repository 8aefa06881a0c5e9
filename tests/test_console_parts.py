"""The ops console's pieces on their own: the throughput ring on the virtual clock, since-when
bookkeeping and an operator's hold of a link, the store's retry of a multipart message, a
modem held down and let go, and the ``[server] ops_token`` config."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from smsgw.config.loader import ConfigError, parse
from smsgw.config.schema import Config
from smsgw.drivers.link_control import LinkMarks, OperatorHold
from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.seam import FailureKind, Outcome, Receipt
from smsgw.gateway.console_history import Reading, Throughput
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.helpers import new_message
from tests.modem_helpers import fast, running_bank

# -- the throughput ring ---------------------------------------------------------------------


async def test_throughput_ring_reads_rates_between_readings(autojump_clock: object) -> None:
    ring = Throughput(interval=10.0, span=60.0)
    total = {"sim": 0.0}

    def counts() -> tuple[dict[str, float], dict[tuple[str, str], float]]:
        return dict(total), {("sim", "sim"): total["sim"] / 2}

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ring.run, counts)
        start = trio.current_time()
        for second in range(95):  # 100 parts a second for 95 seconds
            await trio.sleep_until(start + second + 0.5)
            total["sim"] += 100
        nursery.cancel_scope.cancel()
    now = trio.current_time()
    assert len(ring.readings) == 7  # 60 s of 10 s readings, both ends kept
    series = ring.series("sim", total["sim"], now)
    assert series[:-1] == [100.0] * 6
    assert ring.rate_now("sim", total["sim"], now) == pytest.approx(100.0, rel=0.1)
    assert ring.rate_now(("sim", "sim"), total["sim"] / 2, now) == pytest.approx(50, rel=0.1)
    assert len(ring.ages(now)) == len(series)
    assert ring.start_age(now) == pytest.approx(now - ring.readings[0].t)
    # A route that sent nothing, and a ring with nothing in it.
    assert ring.rate_now("quiet", 0.0, now) == 0.0
    assert Throughput().rate_now("sim", 5.0, now) == 0.0
    assert Throughput().series("sim", 5.0, now) == []


def test_a_new_reading_too_close_to_now_is_not_a_rate() -> None:
    ring = Throughput(interval=10.0)
    ring.sample(Reading(100.0, {"sim": 0.0}, {}))
    assert ring.series("sim", 50.0, 100.2) == []  # 0.2 s: no rate yet
    assert ring.series("sim", 50.0, 101.0) == [50.0]
    assert ring.ages(101.0) == [0.0]


# -- links: since when, and an operator's hold --------------------------------------------------


def test_since_moves_only_across_the_line_between_up_and_not_up() -> None:
    clock = [10.0]
    marks = LinkMarks(lambda: clock[0])
    assert marks.since == 10.0
    clock[0] = 20.0
    marks.state_changed("down", "connecting")
    marks.state_changed("connecting", "down")
    assert marks.since == 10.0  # failing to reconnect is still "down since 10"
    marks.state_changed("down", "up")
    assert marks.since == 20.0
    clock[0] = 30.0
    marks.error("connection refused")
    marks.error("")  # the driver clearing its current error keeps the last one
    assert (marks.last_error, marks.last_error_at) == ("connection refused", 30.0)


async def test_a_hold_cancels_the_served_connection_and_release_ends_a_backoff(
    autojump_clock: object,
) -> None:
    hold = OperatorHold()
    await hold.wait_released()  # not held: at once
    with trio.CancelScope() as served:
        hold.serving(served)
        hold.hold()
        await trio.sleep_forever()
    assert served.cancelled_caught and hold.held and hold.held_since is not None
    with trio.CancelScope() as late:  # a connection opened while held is cancelled at once
        hold.serving(late)
        await trio.sleep_forever()
    assert late.cancelled_caught
    async with trio.open_nursery() as nursery:
        released_at: list[float] = []

        async def waiter() -> None:
            await hold.wait_released()
            released_at.append(trio.current_time())

        nursery.start_soon(waiter)
        await trio.sleep(5)
        start = trio.current_time()
        hold.release()
    assert released_at == [start]
    # Reconnect during a backoff: it ends now, not after the 60 s.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold.backoff, 60.0)
        await trio.sleep(1)
        hold.release()
    assert trio.current_time() - start == pytest.approx(1.0)


# -- the store's retry ----------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore(
        str(tmp_path / "q.db"),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
    )
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_retry_queues_only_the_parts_that_never_reached_the_recipient(store: Store) -> None:
    [r] = await store.accept([new_message(1, segments=("a" * 153, "b" * 10))])
    p1, p2 = await store.claim("sim", 5, 1_001.0)
    await store.record_outcomes(
        [
            Outcome(part_id=p1.part_id, carrier_id="c1"),
            Outcome(part_id=p2.part_id, failure=FailureKind.PERMANENT, code="0x0B"),
        ],
        1_002.0,
    )
    await store.record_receipts([Receipt(route="sim", carrier_id="c1", state="delivered")], 1_003)
    row = await store.get(None, r.id)
    assert row is not None and row.status == "failed"
    assert [p.status for p in row.parts] == ["delivered", "failed"]
    active = store.active["transactional"]
    ready: list[set[str]] = []
    store.on_ready = lambda routes: ready.append(set(routes))
    # Another key's message is not found; its own key's is retried.
    assert (await store.retry_message("other", r.id, 1_004, {}, "x")).result == "not_found"
    result = await store.retry_message("shop", r.id, 1_004.0, {"transactional": 60.0}, "by hand")
    assert (result.result, result.status, result.previous, result.parts) == (
        "retried",
        "queued",
        "failed",
        1,
    )
    assert store.active["transactional"] == active + 1 and ready == [{"sim"}]
    row = await store.get(None, r.id)
    assert row is not None and row.error is None and row.expires_at >= 1_064.0
    assert [(p.status, p.carrier_id, p.attempts) for p in row.parts] == [
        ("delivered", "c1", 1),
        ("queued", None, 0),
    ]
    assert (row.history[-1].status, row.history[-1].note) == ("queued", "by hand")
    # Only the failed part leaves again; when it is delivered, the message is.
    [again] = await store.claim("sim", 5, 1_005.0)
    assert (again.part_id, again.attempt) == (p2.part_id, 1)
    await store.record_outcomes([Outcome(part_id=again.part_id, carrier_id="c2")], 1_006.0)
    await store.record_receipts([Receipt(route="sim", carrier_id="c2", state="delivered")], 1_007)
    row = await store.get(None, r.id)
    assert row is not None and row.status == "delivered"
    # Now it is not given up on: nothing to retry.
    refused = await store.retry_message(None, r.id, 1_008.0, {}, "again")
    assert (refused.result, refused.status) == ("not_retryable", "delivered")


# -- a modem held down ------------------------------------------------------------------------


async def test_a_held_modem_closes_its_port_and_reopens_when_let_go(tmp_path: Path) -> None:
    emus = [ModemEmulator(fast("generic")), ModemEmulator(fast("generic"))]
    async with running_bank(str(tmp_path), emus) as b:
        await b.up()
        bank = b.bank
        name = b.link(0)
        assert bank.hold_link(name, True)
        await bank.wait_link(name, "down")
        state = {ln["name"]: ln for ln in bank.state().links}
        assert state[name]["held"] is True
        assert state[name]["last_error"] == "disconnected by an operator"
        assert state[b.link(1)]["state"] == "up" and bank.state().up
        assert bank.hold_link(name, False)
        await bank.wait_link(name, "up", ready=True)
        assert not bank.hold_link("no-such-modem", True)


# -- config ----------------------------------------------------------------------------------

BASE = """
[server]
{server}

[[keys]]
name = "shop"
token = "shop-token-0123456789"

[[routes]]
name = "sim"
driver = "simulator"
"""


def _parse(server: str) -> Config:
    return parse(BASE.format(server=server).encode(), "smsgw.toml", {"OPS": "o" * 24})


@pytest.mark.parametrize(
    ("server", "key", "reason"),
    [
        ('ops_token = "short"', "server.ops_token", "at least 16 characters"),
        ('ops_token = "shop-token-0123456789"', "server.ops_token", "same token as an API key"),
        ('ops_token_sha256 = "abc"', "server.ops_token_sha256", "64 hex digits"),
        (
            f'ops_token = "{"x" * 20}"\nops_token_sha256 = "{"0" * 64}"',
            "server.ops_token",
            "at most one",
        ),
    ],
)
def test_a_bad_ops_token_is_refused_with_its_key(server: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(server)
    assert info.value.key == key and reason in info.value.reason


def test_the_ops_token_comes_from_the_environment_or_as_its_digest() -> None:
    config = _parse('ops_token = "env:OPS"')
    assert config.server.ops_token_digest() == hashlib.sha256(b"o" * 24).digest()
    digest = hashlib.sha256(b"ops-secret-0123456789").hexdigest()
    config = _parse(f'ops_token_sha256 = "{digest}"')
    assert config.server.ops_token_digest().hex() == digest
    assert _parse("").server.ops_token_digest() == b""
