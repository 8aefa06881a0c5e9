"""Webhook delivery end to end: a gateway in-process (real SQLite file, real sockets), the
simulator route, and scripted receivers on loopback."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from smsgw.config.loader import parse
from smsgw.gateway.service import Gateway
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import OTHER_TOKEN, TOKEN, Running, StartGateway, gateway_toml
from tests.helpers import hold_clock_while_busy
from tests.receivers import (
    STALL,
    Received,
    Receiver,
    chunked,
    close_delimited,
    content_length,
    start_receiver,
)

SECRET = "whsec-0123456789"
EPOCH = 1_800_000_000.0


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time that jumps once everything has been idle for 50 ms of real time (not at
    once): a loopback byte on a loaded machine can take a moment to be readable, and a jump
    in that moment would fire a delivery timeout the test did not ask for."""
    mock_clock.autojump_threshold = 0.05
    return mock_clock


def virtual_wall() -> Callable[[], float]:
    """Wall time that follows trio's (virtual) clock."""
    return lambda: EPOCH + trio.current_time()


async def send(
    gw: Running, receiver: Receiver | str, n: int = 1, *, token: str | None = None, **extra: object
) -> list[str]:
    url = receiver if isinstance(receiver, str) else receiver.url
    msgs = [
        {"to": f"+49170{i:07d}", "text": f"m{i}", "callback_url": url, **extra} for i in range(n)
    ]
    status, body = await gw.call(
        "POST", "/v1/messages", {"messages": msgs}, token=TOKEN if token is None else token
    )
    assert status == 202, body
    assert isinstance(body, dict)
    return [m["id"] for m in body["messages"]]


def by_message(requests: list[Received]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in requests:
        body = r.json()
        out.setdefault(str(body["id"]), []).append(str(body["status"]))
    return out


def metric(gw: Running, name: str, **labels: str) -> float:
    value = gw.gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_a_keep_alive_receiver_gets_every_status_in_order_over_few_connections(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    rng = random.Random(7)

    async def answer(req: Received) -> object:
        await trio.sleep(rng.random() / 500)  # answers take a little while, in any order
        return content_length(204, b"")

    receiver = await start_receiver(nursery, answer)
    gw = await start_gateway()
    ids = await send(gw, receiver, 40)
    await receiver.wait_for(40 * 3)
    statuses = by_message(receiver.requests)
    assert set(statuses) == set(ids)
    for seq in statuses.values():
        assert seq == ["sending", "submitted", "delivered"]
    # Different messages went concurrently, over at most per_origin (8) connections.
    assert 1 < receiver.connections <= 8
    events = [r.json()["event_id"] for r in receiver.requests]
    assert len(set(events)) == 120
    for r in receiver.requests:
        assert r.headers["x-smsgw-event-id"] == r.json()["event_id"]
        assert r.signed_with(SECRET)
    worker = gw.gateway.webhooks
    assert worker is not None and worker.steps < 120  # results recorded in batches


async def test_chunked_and_close_delimited_answers_count_as_delivered(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, chunked(200, (b"thanks",)))
    closing = await start_receiver(nursery, close_delimited(200, b"bye"), closes_after_answer=True)
    gw = await start_gateway()
    await send(gw, receiver, 5, webhook_events="final")
    await send(gw, closing, 5, webhook_events="final")
    await receiver.wait_for(5)
    await closing.wait_for(5)
    await wait_until_empty(gw)
    assert receiver.connections <= 5 and closing.connections == 5
    assert metric(gw, "smsgw_webhook_deliveries_total", result="ok") == 10
    assert metric(gw, "smsgw_webhook_deliveries_total", result="failed") == 0


async def wait_until_empty(gw: Running) -> None:
    """Until every delivery queued so far has its outcome committed."""
    worker = gw.gateway.webhooks
    assert worker is not None
    with trio.fail_after(30):
        while True:
            # Counted before the store is asked: an outcome recorded while stats() runs
            # (after its read) then ends the wait below instead of being waited for again.
            recorded = worker.recorded
            if not (await gw.gateway.store.stats()).webhooks_pending:
                return
            await worker.wait_recorded(recorded + 1)


async def test_a_dead_receiver_does_not_delay_another_keys(
    start_gateway: StartGateway, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    # Issue 12's case: one key's receiver never answers, 40 deliveries pending, 16 slots, 10 s
    # timeout. It used to delay another key's healthy receiver by 50 s.
    stalled = await start_receiver(nursery, lambda req: _stall())
    healthy = await start_receiver(nursery)
    gw = await start_gateway(
        webhooks="allow_private = true\nallow_unsigned = true\nconcurrency = 16\ntimeout = 10",
        wall=virtual_wall(),
    )
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    await send(gw, stalled, 40, webhook_events="final")
    await stalled.wait_for(8)  # per receiver: 8 slots held, the rest wait
    start = trio.current_time()
    await send(gw, healthy, 1, token=OTHER_TOKEN, webhook_events="final")
    await healthy.wait_for(1)
    # Before any stalled delivery timed out: the healthy one waited for none of them.
    assert trio.current_time() - start < 10.0
    assert len(stalled.requests) == 8
    assert metric(gw, "smsgw_webhook_deliveries_total", result="failed") == 0


async def _stall() -> object:
    return STALL


async def test_a_receiver_that_keeps_timing_out_is_left_alone_then_probed(
    start_gateway: StartGateway, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Every delivery here stalls until its timeout: an early jump of the clock only hastens
    # what the test waits for, so the clock may jump at once.
    stalled = await start_receiver(nursery, lambda req: _stall())
    gw = await start_gateway(
        webhooks="allow_private = true\ntimeout = 1\nper_origin = 1\nbreaker_failures = 3\n"
        "breaker_cooldown = 30\nretry_base = 0.5\nretry_max = 1",
        wall=virtual_wall(),
    )
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    await send(gw, stalled, 5, webhook_events="final")
    await stalled.wait_for(3)
    opened = trio.current_time()
    await stalled.wait_for(4, timeout=60)  # the probe
    assert trio.current_time() - opened >= 30.0 - 1.5
    assert metric(gw, "smsgw_webhook_circuits_open") == 1
    # The probe timed out too: left alone twice as long.
    probed = trio.current_time()
    await stalled.wait_for(5, timeout=120)
    assert trio.current_time() - probed >= 60.0


async def test_deliveries_start_at_their_commit(
    start_gateway: StartGateway, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    receiver = await start_receiver(nursery)
    gw = await start_gateway(wall=virtual_wall())
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    await trio.sleep(5)  # long idle: nothing polls
    start = trio.current_time()
    await send(gw, receiver, 1, webhook_events="final")
    await receiver.wait_for(1)
    assert trio.current_time() - start < 0.05


async def test_a_retry_keeps_the_order_of_a_messages_statuses(
    start_gateway: StartGateway, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    failed_once: set[str] = set()

    async def answer(req: Received) -> object:
        body = req.json()
        if body["status"] == "sending" and body["id"] not in failed_once:
            failed_once.add(str(body["id"]))
            return content_length(503, b"busy")
        return content_length()

    receiver = await start_receiver(nursery, answer)
    gw = await start_gateway(
        webhooks="allow_private = true\nretry_base = 5\nretry_max = 5\ntimeout = 60",
        wall=virtual_wall(),
    )
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    ids = await send(gw, receiver, 10)
    await receiver.wait_for(40, timeout=120)
    for seq in by_message(receiver.requests).values():
        assert seq == ["sending", "sending", "submitted", "delivered"], by_message(
            receiver.requests
        )
    assert metric(gw, "smsgw_webhook_deliveries_total", result="failed") == 10
    assert len(by_message(receiver.requests)) == len(ids)


async def test_a_stalled_delivery_holds_one_slot_and_the_others_flow(
    start_gateway: StartGateway, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    async def answer(req: Received) -> object:
        return STALL if req.json()["id"] == first[0] else content_length()

    first: list[str] = []
    receiver = await start_receiver(nursery, answer)
    gw = await start_gateway(webhooks="allow_private = true\ntimeout = 60", wall=virtual_wall())
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    first.extend(await send(gw, receiver, 1, webhook_events="final"))
    await receiver.wait_for(1)
    start = trio.current_time()
    await send(gw, receiver, 30, webhook_events="final")
    await receiver.wait_for(31)
    # All delivered while the stalled one still holds its slot (its timeout has not come).
    assert trio.current_time() - start < 60.0
    assert gw.gateway.webhooks is not None
    await gw.gateway.webhooks.wait_recorded(30)
    assert metric(gw, "smsgw_webhook_deliveries_total", result="ok") == 30
    assert metric(gw, "smsgw_webhook_deliveries_total", result="failed") == 0


async def test_restart_with_deliveries_in_flight_loses_none(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    phase = ["stall"]

    async def answer(req: Received) -> object:
        return STALL if phase[0] == "stall" else content_length()

    receiver = await start_receiver(nursery, answer)
    config = parse(gateway_toml(tmp_path).encode(), "test.toml", {})
    async with trio.open_nursery() as inner:
        gw1 = Gateway(config)
        host, port = await inner.start(gw1.run)
        ids = await send(
            Running(gw1, f"http://{host}:{port}"), receiver, 20, webhook_events="final"
        )
        await receiver.wait_for(8)  # 8 in flight (per receiver), 12 waiting
        in_flight = {r.json()["event_id"] for r in receiver.requests}
        inner.cancel_scope.cancel()  # the process stops with deliveries in flight
    phase[0] = "answer"
    gw2 = await start_gateway()
    await receiver.wait_for(28)
    await wait_until_empty(gw2)
    got: dict[str, int] = {}
    for r in receiver.requests:
        got[str(r.json()["event_id"])] = got.get(str(r.json()["event_id"]), 0) + 1
    assert {r.json()["id"] for r in receiver.requests} == set(ids)
    repeated = {e for e, n in got.items() if n > 1}
    assert repeated <= in_flight and len(got) == 20


async def test_unsendable_urls_are_refused_at_accept(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    gw = await start_gateway()
    for url in (
        "http://127.0.0.1:99999/x",
        "http://h.example/€",
        "http://h.example/a b",
        "http://h\x01.example/",
        "ftp://h.example/",
        "http://u:p@h.example/",
        "http://[::1/",
    ):
        status, body = await gw.call(
            "POST", "/v1/messages", {"to": "+4917012345678", "text": "x", "callback_url": url}
        )
        assert status == 422 and isinstance(body, dict), (url, body)
        assert body == {
            "error": {
                "code": "invalid_url",
                "message": body["error"]["message"],
                "field": "callback_url",
            }
        }


async def test_internal_targets_are_refused_at_accept(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    gw = await start_gateway(webhooks="allow_private = false")
    for host in (
        "127.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "169.254.169.254",
        "10.0.0.5",
        "192.168.1.1",
        "100.64.0.1",
        "[fc00::1]",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
    ):
        status, body = await gw.call(
            "POST",
            "/v1/messages",
            {"to": "+4917012345678", "text": "x", "callback_url": f"http://{host}:8081/hook"},
        )
        assert status == 422 and isinstance(body, dict), (host, body)
        assert (
            body["error"]["code"] == "url_not_allowed" and body["error"]["field"] == "callback_url"
        )
    # The batch form names the item.
    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {"messages": [{"to": "+4917012345678", "text": "x", "callback_url": "http://127.1/"}]},
    )
    assert isinstance(body, dict)
    assert body["messages"][0]["error"]["field"] == "messages[0].callback_url"


async def test_the_gateways_own_api_is_never_a_target(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    gw = await start_gateway()  # allow_private = true
    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {"to": "+4917012345678", "text": "x", "callback_url": gw.url + "/v1/messages"},
    )
    assert status == 422 and isinstance(body, dict)
    assert body["error"]["code"] == "url_not_allowed"
    assert "own listener" in body["error"]["message"]


async def test_a_key_without_a_secret_cannot_ask_for_callbacks(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    gw = await start_gateway()
    status, body = await gw.call(
        "POST",
        "/v1/messages",
        {"to": "+4917012345678", "text": "x", "callback_url": "http://hooks.example/h"},
        token=OTHER_TOKEN,
    )
    assert status == 422 and isinstance(body, dict)
    assert body["error"]["code"] == "webhook_secret_required"


CRM_TOKEN = "crm-token-0123456789abcdef"
CRM_KEY = f"""
[[keys]]
name = "crm"
token = "{CRM_TOKEN}"
rate = 100000
webhook_secret = ["crm-new-secret", "crm-old-secret"]
callback_hosts = ["127.0.0.1", "hooks.internal", "10.1.0.0/16"]
"""


async def test_callback_hosts_let_one_key_reach_its_own_network(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)
    gw = await start_gateway(webhooks="allow_private = false", extra=CRM_KEY)
    status, _ = await gw.call(
        "POST", "/v1/messages", {"to": "+4917012345678", "text": "x", "callback_url": receiver.url}
    )
    assert status == 422  # "shop" lists no callback_hosts
    for url in (receiver.url, "http://10.1.2.3/h", "http://hooks.internal/h"):
        status, body = await gw.call(
            "POST",
            "/v1/messages",
            {"to": "+4917012345678", "text": "x", "callback_url": url, "webhook_events": "final"},
            token=CRM_TOKEN,
        )
        assert status == 202, body
    status, _ = await gw.call(
        "POST",
        "/v1/messages",
        {"to": "+4917012345678", "text": "x", "callback_url": "http://10.2.0.1/h"},
        token=CRM_TOKEN,
    )
    assert status == 422
    [r] = await receiver.wait_for(1)
    # Rotation: signed with both secrets, newest first; either one verifies.
    assert len(r.signatures()) == 2
    assert r.signed_with("crm-new-secret") and r.signed_with("crm-old-secret")
    assert not r.signed_with(SECRET)


async def test_signature_covers_the_timestamp_and_the_event_id_is_stable(
    start_gateway: StartGateway, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> None:
    answers = iter([content_length(500, b"no"), content_length()])

    async def answer(req: Received) -> object:
        return next(answers)

    receiver = await start_receiver(nursery, answer)
    gw = await start_gateway(
        webhooks="allow_private = true\nretry_base = 5\nretry_max = 5\ntimeout = 60",
        wall=virtual_wall(),
    )
    nursery.start_soon(hold_clock_while_busy, gw.gateway.store)
    await send(gw, receiver, 1, webhook_events="final")
    first, second = await receiver.wait_for(2, timeout=60)
    for r in (first, second):
        assert r.signed_with(SECRET)
        assert abs(int(r.headers["x-smsgw-timestamp"]) - (EPOCH + trio.current_time())) < 10
    assert first.json()["event_id"] == second.json()["event_id"]  # the retry: same event
    assert first.headers["x-smsgw-timestamp"] != second.headers["x-smsgw-timestamp"]
    # A replay with a new timestamp does not verify.
    replay = Received(
        second.method,
        second.target,
        {**second.headers, "x-smsgw-timestamp": "1"},
        second.body,
        0,
        0,
    )
    assert not replay.signed_with(SECRET)


async def test_a_poisoned_row_from_an_old_version_fails_alone(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    # Rows an older smsgw stored: a bad port, a non-ASCII path, loopback by name, a receiver
    # that answers chunked garbage. Each fails on its own; the gateway goes on.
    garbage = await start_receiver(
        nursery, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
    )
    good = await start_receiver(nursery)
    store = SqliteStore(
        str(tmp_path / "smsgw.db"), metrics=Metrics(), policy=DispatchPolicy({}, 1, 1)
    )
    await store.open()
    await store.close()
    conn = sqlite3.connect(tmp_path / "smsgw.db")
    rows = [
        ("shop", "http://127.0.0.1:99999/x"),
        ("shop", "http://h.example/€"),
        ("shop", f"http://localhost:{good.port}/x"),
        ("crm", garbage.url),
        ("crm", good.url),
    ]
    for key, url in rows:
        conn.execute(
            "INSERT INTO webhooks (key, url, body, next_at, created_at, event_id, origin)"
            " VALUES (?, ?, '{}', 0, 0, 'evt_old', '')",
            (key, url),
        )
    conn.commit()
    conn.close()
    gw = await start_gateway(webhooks="allow_private = false\nretry_base = 600", extra=CRM_KEY)
    worker = gw.gateway.webhooks
    assert worker is not None
    with trio.fail_after(30):
        await worker.wait_recorded(5)
    assert len(good.requests) == 1 and good.requests[0].target == "/hook"
    conn = sqlite3.connect(tmp_path / "smsgw.db")
    dead = dict(conn.execute("SELECT url, last_error FROM webhooks WHERE dead = 1").fetchall())
    assert "port must be a number from 1 to 65535" in dead["http://127.0.0.1:99999/x"]
    assert "non-ASCII" in dead["http://h.example/€"]
    assert "loopback" in dead[f"http://localhost:{good.port}/x"]
    [(error, attempts)] = conn.execute(
        "SELECT last_error, attempts FROM webhooks WHERE dead = 0"
    ).fetchall()
    assert "not valid HTTP" in error and attempts == 1  # retried later, not dead
    assert metric(gw, "smsgw_webhook_deliveries_total", result="refused") == 3
    assert metric(gw, "smsgw_task_failures_total", task="webhooks") == 0
    status, _ = await gw.call("GET", "/healthz", token=None)
    assert status == 200


async def test_a_key_asking_for_final_statuses_gets_one_webhook_per_message(
    start_gateway: StartGateway, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)
    final_key = CRM_KEY.replace("callback_hosts", 'webhook_events = "final"\ncallback_hosts')
    gw = await start_gateway(extra=final_key)
    [quiet] = await send(gw, receiver, 1, token=CRM_TOKEN)
    [chatty] = await send(gw, receiver, 1, token=CRM_TOKEN, webhook_events="all")
    try:
        await receiver.wait_for(4, timeout=5)
    except trio.TooSlowError:
        raise AssertionError(by_message(receiver.requests)) from None
    await wait_until_empty(gw)
    statuses = by_message(receiver.requests)
    assert statuses == {quiet: ["delivered"], chatty: ["sending", "submitted", "delivered"]}
