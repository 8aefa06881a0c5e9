"""The gateway as a real process: graceful SIGTERM, and nothing lost across SIGKILL.

Status webhooks tell the test when messages are final, so it waits on events, not on timers.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response
from smsgw.gateway.httpclient import HttpClientError, request
from smsgw.queue.model import FINAL
from tests.conftest import TOKEN, gateway_toml

pytestmark = pytest.mark.slow

SLOW_SIM = (
    '[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 400\nburst = 40\n'
    "latency = 0.02\nreceipt_delay = 0.3\n"
)


class Receiver:
    """A webhook receiver: records the final status of each message id."""

    def __init__(self) -> None:
        self.final: dict[str, str] = {}
        self.changed = trio.Event()
        self.url = ""

    async def handle(self, req: Request) -> Response:
        event = msgspec.json.decode(req.body)
        if event.get("status") in FINAL:
            self.final[event["id"]] = event["status"]
            self.changed.set()
            self.changed = trio.Event()
        return Response(204)

    async def wait_for(self, ids: set[str], timeout: float) -> None:
        with trio.fail_after(timeout):
            while not ids <= self.final.keys():
                await self.changed.wait()


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> AsyncIterator[Receiver]:
    r = Receiver()
    server = HttpServer(r.handle, HttpLimits())
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    r.url = f"http://{host}:{port}/hook"
    yield r


class GatewayProcess:
    def __init__(self, proc: trio.Process, url: str) -> None:
        self.proc = proc
        self.url = url


async def start_process(nursery: trio.Nursery, config: Path) -> GatewayProcess:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "smsgw", "serve", "-c", str(config), "--log-level", "warning"],
        stdout=-1,
        stderr=-2,
    )
    assert proc.stdout is not None
    buf = b""
    try:
        with trio.fail_after(30):
            while b"listening on " not in buf or not buf.split(b"listening on ", 1)[1].count(b"\n"):
                chunk = await proc.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"gateway exited: {buf.decode()}")
                buf += chunk
    except BaseException:
        proc.kill()
        raise
    url = buf.split(b"listening on ", 1)[1].split(b"\n", 1)[0].decode().strip()

    async def drain() -> None:
        assert proc.stdout is not None
        async for _ in proc.stdout:
            pass

    async def reap() -> None:
        # A failing test must not leave a gateway running behind it.
        try:
            await trio.sleep_forever()
        finally:
            if proc.returncode is None:
                proc.kill()

    nursery.start_soon(drain)
    nursery.start_soon(reap)
    return GatewayProcess(proc, url)


async def post_batch(url: str, msgs: list[dict[str, object]]) -> list[str]:
    status, body = await request(
        "POST",
        url + "/v1/messages",
        msgspec.json.encode({"messages": msgs}),
        [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
    )
    assert status == 202, body
    return [m["id"] for m in msgspec.json.decode(body)["messages"]]


async def test_sigterm_finishes_in_flight_and_exits_zero(
    tmp_path: Path, nursery: trio.Nursery, receiver: Receiver
) -> None:
    cfg = tmp_path / "smsgw.toml"
    cfg.write_text(gateway_toml(tmp_path, route=SLOW_SIM))
    gw = await start_process(nursery, cfg)
    ids = await post_batch(
        gw.url,
        [
            {"to": "+4917012345678", "text": f"m{i}", "callback_url": receiver.url}
            for i in range(50)
        ],
    )
    gw.proc.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        assert await gw.proc.wait() == 0
    # Whatever had not finished is still in the store and finishes after a restart.
    gw2 = await start_process(nursery, cfg)
    await receiver.wait_for(set(ids), timeout=60)
    assert set(receiver.final[i] for i in ids) == {"delivered"}
    gw2.proc.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        assert await gw2.proc.wait() == 0


async def test_sigkill_mid_load_loses_nothing(
    tmp_path: Path, nursery: trio.Nursery, receiver: Receiver
) -> None:
    cfg = tmp_path / "smsgw.toml"
    cfg.write_text(gateway_toml(tmp_path, route=SLOW_SIM))
    gw = await start_process(nursery, cfg)
    accepted: set[str] = set()
    killed = trio.Event()

    async def load() -> None:
        for b in range(40):
            msgs = [
                {
                    "to": f"+49170{b:03d}{i:04d}",
                    "text": f"order {b}-{i}",
                    "callback_url": receiver.url,
                }
                for i in range(50)
            ]
            try:
                accepted.update(await post_batch(gw.url, msgs))
            except (HttpClientError, AssertionError):
                assert killed.is_set()
                return
            if b == 12:
                gw.proc.send_signal(signal.SIGKILL)
                killed.set()

    await load()
    assert killed.is_set()
    await gw.proc.wait()
    assert len(accepted) >= 13 * 50
    gw2 = await start_process(nursery, cfg)
    await receiver.wait_for(accepted, timeout=90)
    assert set(receiver.final[i] for i in accepted) == {"delivered"}
    gw2.proc.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        assert await gw2.proc.wait() == 0
