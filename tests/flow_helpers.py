"""Helpers for the flow tests: a wall clock the test moves, one runner round, the runs view,
posting an event, and the example config's flows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from tests.conftest import TOKEN, Running

ROOT = Path(__file__).resolve().parent.parent
NUMBER = "+4917012345678"


class Wall:
    """The gateway's wall clock, moved by the test."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def example_flows() -> str:
    """The ``[[flows]]`` tables of config/smsgw.example.toml, as TOML text."""
    text = (ROOT / "config" / "smsgw.example.toml").read_text()
    start = text.index("\n[[flows]]")
    return text[start:]


async def tick(gw: Running) -> None:
    """One round of the gateway's flow runner (its own loop may fire the same steps first:
    the store lets each step fire once)."""
    assert gw.gateway.flows is not None
    with trio.fail_after(10):
        await gw.gateway.flows.tick()


async def runs(gw: Running, flow: str, query: str = "") -> list[dict[str, Any]]:
    status, body = await gw.call("GET", f"/v1/flows/{flow}/runs{query}")
    assert status == 200, body
    assert isinstance(body, dict)
    out: list[dict[str, Any]] = body["runs"]
    return out


async def event(gw: Running, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    status, reply = await gw.call("POST", "/v1/events", body, token=token)
    assert status == 202, reply
    assert isinstance(reply, dict)
    return reply


async def message(gw: Running, public_id: str) -> dict[str, Any]:
    status, body = await gw.call("GET", f"/v1/messages/{public_id}")
    assert status == 200 and isinstance(body, dict), body
    return body


def states(run: dict[str, Any]) -> list[str]:
    return [s["state"] for s in run["steps"]]
