"""The gateway as a real process: graceful SIGTERM, and nothing lost across SIGKILL.

Status webhooks tell the test when messages are final, so it waits on events, not on timers.
Every process is started with :func:`tests.processes.gateway_process`: killed, reaped and its
pipe closed however the test ends. The limits catch a hang on a loaded box, they do not
measure speed: a wait fails when nothing has happened for a long while, and says what it
waited for.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response
from smsgw.gateway.httpclient import request
from smsgw.queue.model import FINAL
from tests.conftest import TOKEN, gateway_toml
from tests.processes import gateway_process, waiting

pytestmark = pytest.mark.slow

SLOW_SIM = (
    '[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 400\nburst = 40\n'
    "latency = 0.02\nreceipt_delay = 0.3\n"
)
# A receiver in this (busy) test process may answer late on a loaded box: a delivery gets
# long to answer, and one that still fails is tried again soon, so the test waits for
# messages, not for retry backoff or an open breaker.
PATIENT_WEBHOOKS = (
    "allow_private = true\ntimeout = 30\nretry_base = 1\nretry_max = 5\nbreaker_cooldown = 5"
)
STALLED = 120.0
"""Seconds without one more final status after which a wait for them fails."""


def config(tmp_path: Path) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(gateway_toml(tmp_path, route=SLOW_SIM, webhooks=PATIENT_WEBHOOKS))
    return path


class Receiver:
    """A webhook receiver: records the final status of each message id."""

    def __init__(self) -> None:
        self.final: dict[str, str] = {}
        self.events = 0
        self.changed = trio.Event()
        self.url = ""

    async def handle(self, req: Request) -> Response:
        event = msgspec.json.decode(req.body)
        self.events += 1
        if event.get("status") in FINAL:
            self.final[event["id"]] = event["status"]
            self.changed.set()
            self.changed = trio.Event()
        return Response(204)

    async def wait_for(self, ids: set[str], context: Callable[[], str] = str) -> None:
        """Until every message in ``ids`` had its final status. Fails (saying how far it got)
        once no final status arrived for :data:`STALLED` seconds."""

        def progress() -> str:
            missing = ids - self.final.keys()
            return (
                f"one more final-status webhook: {len(ids) - len(missing)} of {len(ids)}"
                f" messages final, {self.events} webhooks in all, missing e.g."
                f" {sorted(missing)[:3]}{context()}"
            )

        while not ids <= self.final.keys():
            with waiting(STALLED, progress):
                await self.changed.wait()


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> AsyncIterator[Receiver]:
    r = Receiver()
    server = HttpServer(r.handle, HttpLimits())
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    r.url = f"http://{host}:{port}/hook"
    yield r


async def post_batch(url: str, msgs: list[dict[str, object]]) -> list[str]:
    status, body = await request(
        "POST",
        url + "/v1/messages",
        msgspec.json.encode({"messages": msgs}),
        [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
        timeout=60,  # a loaded box; the gateway answers within milliseconds on an idle one
    )
    assert status == 202, body
    return [m["id"] for m in msgspec.json.decode(body)["messages"]]


async def test_sigterm_finishes_in_flight_and_exits_zero(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path)
    async with gateway_process(cfg) as gw:
        ids = await post_batch(
            gw.url,
            [
                {"to": "+4917012345678", "text": f"m{i}", "callback_url": receiver.url}
                for i in range(50)
            ],
        )
        assert await gw.child.terminated() == 0, gw.child.tail()
    # Whatever had not finished is still in the store and finishes after a restart.
    async with gateway_process(cfg, name="restarted gateway") as gw2:
        await receiver.wait_for(set(ids), gw2.child.tail)
        assert set(receiver.final[i] for i in ids) == {"delivered"}
        assert await gw2.child.terminated() == 0, gw2.child.tail()


async def test_sigkill_mid_load_loses_nothing(tmp_path: Path, receiver: Receiver) -> None:
    cfg = config(tmp_path)
    accepted: set[str] = set()
    async with gateway_process(cfg) as gw:
        for b in range(13):
            msgs: list[dict[str, object]] = [
                {
                    "to": f"+49170{b:03d}{i:04d}",
                    "text": f"order {b}-{i}",
                    "callback_url": receiver.url,
                }
                for i in range(50)
            ]
            accepted.update(await post_batch(gw.url, msgs))
        # Mid-load: parts are being submitted, receipts and webhooks are in flight.
        gw.proc.send_signal(signal.SIGKILL)
        assert await gw.child.exits() == -signal.SIGKILL
    assert len(accepted) == 13 * 50
    async with gateway_process(cfg, name="restarted gateway") as gw2:
        await receiver.wait_for(accepted, gw2.child.tail)
        assert set(receiver.final[i] for i in accepted) == {"delivered"}
        assert await gw2.child.terminated() == 0, gw2.child.tail()
