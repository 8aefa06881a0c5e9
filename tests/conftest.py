"""Fixtures: a real gateway in-process on a loopback port with a real SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.config.loader import parse
from smsgw.gateway.httpclient import request
from smsgw.gateway.service import Gateway
from smsgw.queue.model import FINAL, MessageRow
from tests import property_helpers  # noqa: F401  (registers and loads the hypothesis profiles)

TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "other-token-0123456789abcdef"


def gateway_toml(
    tmp: Path,
    extra: str = "",
    route: str | None = None,
    store: str = "",
    *,
    shop: str = "",
    other: str = "",
    rules: str = '[[rules]]\nroute = ["sim"]\n',
    webhooks: str = "allow_private = true",
    server: str = "",
) -> str:
    """Two keys, "shop" and "other" (``shop``/``other``: more lines for their tables), one
    simulator route "sim" (or ``route``), a catch-all rule (or ``rules``), then ``extra``. Its
    webhooks may reach loopback receivers (tests run them there); pass ``webhooks`` for other
    ``[webhooks]`` settings; ``server``: more lines for ``[server]``."""
    route = route or (
        '[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 1000\nburst = 100\n'
        "latency = 0\nreceipt_delay = 0\nseed = 1\n"
    )
    return f"""
[server]
listen = "127.0.0.1:0"
{server}

[store]
path = "{tmp / "smsgw.db"}"
{store}

[webhooks]
{webhooks}

[[keys]]
name = "shop"
token = "{TOKEN}"
rate = 100000
senders = []
webhook_secret = "whsec-0123456789"
{shop}

[[keys]]
name = "other"
token = "{OTHER_TOKEN}"
rate = 100000
senders = ["MyShop"]
{other}

{route}

{rules}

{extra}
"""


@dataclass
class Running:
    gateway: Gateway
    url: str

    async def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        token: str | None = TOKEN,
        headers: list[tuple[str, str]] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, object]:
        hdrs = list(headers or [])
        if token is not None:
            hdrs.append(("Authorization", f"Bearer {token}"))
        data = raw if raw is not None else (b"" if body is None else msgspec.json.encode(body))
        if data and not any(k.lower() == "content-type" for k, _ in hdrs):
            hdrs.append(("Content-Type", "application/json"))
        status, reply = await request(method, self.url + path, data, hdrs)
        try:
            return status, msgspec.json.decode(reply) if reply else None
        except msgspec.DecodeError:
            return status, reply

    async def wait_final(self, public_id: str, timeout: float = 20.0) -> MessageRow:
        """Wait on the store's commits (not a timer) until the message is final."""
        store = self.gateway.store
        with trio.fail_after(timeout):
            while True:
                version = store.version
                row = await store.get(None, public_id)
                assert row is not None
                if row.status in FINAL:
                    return row
                await store.wait_changed(version)


StartGateway = Callable[..., Awaitable[Running]]


@pytest.fixture
def start_gateway(tmp_path: Path, nursery: trio.Nursery) -> StartGateway:
    async def start(
        extra: str = "",
        route: str | None = None,
        store: str = "",
        *,
        shop: str = "",
        other: str = "",
        rules: str | None = None,
        webhooks: str = "allow_private = true",
        server: str = "",
        **kw: object,
    ) -> Running:
        more = {} if rules is None else {"rules": rules}
        toml = gateway_toml(
            tmp_path,
            extra,
            route,
            store,
            shop=shop,
            other=other,
            webhooks=webhooks,
            server=server,
            **more,
        )
        config = parse(toml.encode(), "test.toml", {})
        gw = Gateway(config, **kw)  # type: ignore[arg-type]
        host, port = await nursery.start(gw.run)
        return Running(gw, f"http://{host}:{port}")

    return start
