"""Builders for the policy and consent tests: a store with the policy wired in, and messages
to real numbers with the facts the accept path would have found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from smsgw.config.loader import parse
from smsgw.config.schema import Config
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.numbers import parse_number
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.consent.policy import Facts, Policy, Screened
from smsgw.queue.model import MessageClass, NewMessage
from smsgw.queue.store.factory import make_store
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy

BERLIN = "+4915112345678"
HONOLULU = "+18085551234"
SYDNEY_MOBILE = "+61412345678"
RUSSIA_MOBILE = "+79161234567"
SHANGHAI = "+8613812345678"


def at(text: str) -> float:
    """Unix time of a UTC wall-clock time written without zone."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def config(policy: str = "", keys: str = "") -> Config:
    toml = f"""
[[keys]]
name = "shop"
token = "shop-token-0123456789"
{keys}

[[keys]]
name = "other"
token = "other-token-0123456789"

[[routes]]
name = "sim"
driver = "simulator"

[[rules]]
route = ["sim"]

[policy]
{policy}
"""
    return parse(toml.encode(), "test.toml", {})


def message(
    to: str,
    now: float,
    *,
    msg_class: MessageClass = "marketing",
    key: str = "shop",
    send_at: float | None = None,
    client_ref: str | None = None,
    segments: tuple[str, ...] = ("Big sale today",),
    validity: float = 86_400.0,
) -> tuple[NewMessage, Facts]:
    info = parse_number(to, details=True)
    msg = NewMessage(
        key=key,
        to=info.e164,
        sender="Shop",
        text="".join(segments),
        encoding="gsm7",
        segments=segments,
        msg_class=msg_class,
        routes=("sim",),
        ref=7 if len(segments) > 1 else 0,
        ref_bits=8,
        created_at=now,
        expires_at=(send_at or now) + validity,
        send_at=send_at,
        client_ref=client_ref,
        status="scheduled" if send_at else "queued",
        due_at=send_at,
    )
    return msg, Facts(zones=info.zones, country=info.country)


class PolicyStore:
    """A store on a real SQLite file with the policy at accept and as the claim gate."""

    def __init__(self, path: Path, cfg: Config) -> None:
        self.metrics = Metrics()
        self.policy = Policy(cfg, self.metrics)
        where = msgspec.structs.replace(cfg.store, path=str(path), synchronous="normal")
        self.store = make_store(
            msgspec.structs.replace(cfg, store=where),
            metrics=self.metrics,
            policy=DispatchPolicy(max_attempts={"sim": 5}),
        )
        self.store.gate = self.policy
        self.consents = Consents(self.store, self.metrics)

    async def accept(self, *items: tuple[NewMessage, Facts]) -> list[Screened]:
        return await self.store.accept_screened(list(items), self.policy)

    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@asynccontextmanager
async def policy_store(path: Path, cfg: Config | None = None) -> AsyncIterator[PolicyStore]:
    ps = PolicyStore(path, cfg or config())
    await ps.store.open()
    try:
        yield ps
    finally:
        await ps.store.close()
