"""A running gateway through a store outage, over its real HTTP API: 503 store_unavailable
without charging the quota, /readyz and metrics that say why, one log line, every task alive
afterwards and everything resumed without a restart.

The outage is real: another connection holds the database in ``BEGIN EXCLUSIVE`` (what an
``sqlite3`` shell left in a transaction does), so every write of the gateway gets SQLITE_BUSY
once ``[store] busy_timeout`` has passed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.config.loader import parse
from smsgw.drivers.seam import InboundMessage
from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response
from smsgw.gateway.service import Gateway
from smsgw.queue.model import FINAL
from smsgw.queue.scheduling.scheduler import RouteSink
from smsgw.queue.store.health import StoreFatal
from tests.conftest import Running, StartGateway, gateway_toml
from tests.helpers import sqlite_store

SMALL_TOKEN = "small-token-0123456789abcdef"
SMALL_KEY = f"""
[[keys]]
name = "small"
token = "{SMALL_TOKEN}"
rate = 0.01
burst = 2
"""
WAIT = 60.0


@contextmanager
def locked_by_another_process(db: Path) -> Iterator[None]:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


class Receiver:
    """A webhook receiver: the events it got, and a wake-up per event."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.changed = trio.Event()
        self.url = ""
        self.gate = trio.Event()
        """Answers wait for this (set: they go at once)."""
        self.gate.set()
        self.held = 0

    async def handle(self, req: Request) -> Response:
        if not self.gate.is_set():
            self.held += 1
            self.changed.set()
            self.changed = trio.Event()
            await self.gate.wait()
        self.events.append(msgspec.json.decode(req.body))
        self.changed.set()
        self.changed = trio.Event()
        return Response(204)

    async def wait_for(self, pred: Callable[[dict[str, object]], bool]) -> None:
        with trio.fail_after(WAIT):
            while not any(pred(e) for e in self.events):
                await self.changed.wait()


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> AsyncIterator[Receiver]:
    r = Receiver()
    host, port = await nursery.start(HttpServer(r.handle, HttpLimits()).serve, "127.0.0.1", 0)
    r.url = f"http://{host}:{port}/hook"
    yield r


def metric(gw: Running, name: str, labels: dict[str, str] | None = None) -> float | None:
    return gw.gateway.metrics.registry.get_sample_value(name, labels or {})


async def send(gw: Running, token: str, **fields: object) -> tuple[int, object]:
    body = {"to": "+4917012345678", "text": "Your order shipped", **fields}
    return await gw.call("POST", "/v1/messages", body, token=token)


async def test_sends_get_503_without_charging_the_quota_and_readyz_says_why(
    start_gateway: StartGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "smsgw.store")
    gw = await start_gateway(extra=SMALL_KEY, store="busy_timeout = 0.05")
    with locked_by_another_process(tmp_path / "smsgw.db"):
        for _ in range(6):
            status, body = await send(gw, SMALL_TOKEN)
            assert status == 503, body
            assert isinstance(body, dict) and body["error"]["code"] == "store_unavailable"
        status, headers, _ = await raw(gw, "POST", "/v1/messages")
        assert status == 503 and headers.get("retry-after") == "5"
        status, ready = await gw.call("GET", "/readyz", token=None)
        assert status == 503 and isinstance(ready, dict)
        assert ready["status"] == "not ready" and ready["store"] is False
        assert "locked by another process" in str(ready["reason"])
        assert metric(gw, "smsgw_store_up") == 0
        busy = metric(gw, "smsgw_store_errors_total", {"kind": "busy"})
        assert busy is not None and busy >= 1
    with trio.fail_after(WAIT):
        await gw.gateway.store.health.wait_up()
    # The six refused sends cost nothing: the key's burst of two is still there.
    assert (await send(gw, SMALL_TOKEN))[0] == 202
    assert (await send(gw, SMALL_TOKEN))[0] == 202
    assert (await send(gw, SMALL_TOKEN))[0] == 429
    status, ready = await gw.call("GET", "/readyz", token=None)
    assert status == 200 and metric(gw, "smsgw_store_up") == 1
    # One line for the outage and one for its end, not one per request.
    store_logs = [r for r in caplog.records if r.name == "smsgw.store"]
    assert [r.levelno for r in store_logs] == [logging.ERROR, logging.WARNING]


async def raw(gw: Running, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection, for the response headers."""
    host, port = gw.url.removeprefix("http://").rsplit(":", 1)
    body = msgspec.json.encode({"to": "+4917012345678", "text": "x"})
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {SMALL_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(head.encode() + body)
        data = b""
        with trio.fail_after(WAIT):
            while chunk := await stream.receive_some(65536):
                data += chunk
    top, _, content = data.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    return int(status_line.split()[1]), headers, content


async def test_every_task_that_calls_the_store_survives_an_outage(
    start_gateway: StartGateway, tmp_path: Path, receiver: Receiver, nursery: trio.Nursery
) -> None:
    extra = (
        f'\n[[keys]]\nname = "mo"\ntoken = "mo-token-0123456789abcdef"\n'
        f'inbound_url = "{receiver.url}"\nwebhook_secret = "whsec-mo-0123456789"\n'
        'inbound_routes = ["sim"]\n'
    )
    gw = await start_gateway(extra=extra, store="busy_timeout = 0.05")
    gateway = gw.gateway
    status, sent = await send(gw, "test-token-0123456789abcdef", callback_url=receiver.url)
    assert status == 202 and isinstance(sent, dict)
    await receiver.wait_for(lambda e: e.get("id") == sent["id"] and e["status"] in FINAL)

    runner = gateway.scheduler.runners["sim"]
    sink = RouteSink(runner, gateway.store, gateway.metrics, gateway.wall, gateway._on_inbound)
    stop = InboundMessage(
        route="sim", sender="+4917099999999", to="12345", text="STOP", received_at=gateway.wall()
    )
    [stored_id] = await gateway.store.add_inbound([stop])
    acked = trio.Event()
    kept = trio.Event()

    async def modem_delivers_mo() -> None:
        await sink.inbound([stop])  # the driver acknowledges only once this returns
        acked.set()

    async def keyword_path() -> None:
        await gateway._on_inbound([stop], [stored_id])
        kept.set()

    # A delivery in flight when the outage begins: the worker records it during the outage.
    receiver.gate = trio.Event()
    status, held = await send(gw, "test-token-0123456789abcdef", callback_url=receiver.url)
    assert status == 202 and isinstance(held, dict)
    with trio.fail_after(WAIT):
        while not receiver.held:
            await receiver.changed.wait()

    with locked_by_another_process(tmp_path / "smsgw.db"):
        receiver.gate.set()
        runner.wake()  # the runner looks for work: its claim meets the lock
        assert (await gw.call("GET", f"/v1/messages/{sent['id']}"))[0] == 503
        nursery.start_soon(modem_delivers_mo)
        nursery.start_soon(keyword_path)
        with trio.fail_after(WAIT):
            # The runner, the timers, the stats loop, the webhook worker, the API, the sink
            # and the keyword handler each met the outage at least once.
            await sqlite_store(gateway.store)._writer.wait_refused(
                {
                    "claim",
                    "promote_due",
                    "queue_stats",
                    "step",
                    "get_message",
                    "add_inbound",
                    "opt_out",
                }
            )
        assert not acked.is_set() and not kept.is_set()
    with trio.fail_after(WAIT):
        await acked.wait()
        await kept.wait()

    # Nothing crashed and nothing was restarted: every task is counted from the first scrape,
    # at zero.
    _, text = await gw.call("GET", "/metrics", token=None)
    assert isinstance(text, bytes)
    for task in gateway.task_names():
        assert f'smsgw_task_failures_total{{task="{task}"}} 0.0' in text.decode(), task
    # And each goes on: dispatch and status webhooks, inbound webhooks, the keyword's opt-out.
    status, again = await send(gw, "test-token-0123456789abcdef", callback_url=receiver.url)
    assert status == 202 and isinstance(again, dict)
    await receiver.wait_for(lambda e: e.get("id") == again["id"] and e["status"] == "delivered")
    await receiver.wait_for(lambda e: e.get("event") == "message.inbound")
    status, optout = await gw.call("GET", "/v1/optouts/+4917099999999")
    assert status == 200 and isinstance(optout, dict), optout


async def test_a_store_removed_under_a_running_gateway_stops_it_cleanly(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse(gateway_toml(tmp_path).encode(), "test.toml", {})
    gateway = Gateway(config)
    ended: list[BaseException | None] = []
    done = trio.Event()

    async def run(task_status: trio.TaskStatus[tuple[str, int]]) -> None:
        try:
            await gateway.run(task_status=task_status)
            ended.append(None)
        except BaseException as e:
            ended.append(e)
        done.set()

    await nursery.start(run)
    (tmp_path / "smsgw.db").unlink()  # what a careless clean-up of the data dir does
    with trio.fail_after(WAIT):
        await done.wait()  # the timers' next commit finds the file gone
    [error] = ended
    assert isinstance(error, StoreFatal) and error.kind == "gone"
    assert str(tmp_path / "smsgw.db") in str(error) and "\n" not in str(error)
    assert not gateway.store.opened
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and str(tmp_path / "smsgw.db") in critical[0].getMessage()
