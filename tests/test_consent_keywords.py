"""STOP / START / HELP arriving through a route's sink (the path every driver reports on)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from smsgw.config.schema import AutoReplyConfig
from smsgw.drivers.seam import Driver, DriverState, InboundMessage, OutboundPart, Sink
from smsgw.queue.consent.keyword_handler import KeywordHandler, sender_number
from smsgw.queue.consent.policy import SYSTEM_KEY
from smsgw.queue.model import NewMessage
from smsgw.queue.scheduling.limiter import RouteLimiter
from smsgw.queue.scheduling.scheduler import RouteRunner, RouteSink
from tests.policy_helpers import BERLIN, PolicyStore, at, config, message

NOW = at("2027-01-15T10:00:00")
OUR_NUMBER = "+4930901820"


class IdleDriver(Driver):
    """A route that never sends (the tests claim by hand); only its sink is used."""

    name = "sim"

    async def run(self, sink: Sink, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep_forever()

    def capacity(self) -> int:
        return 0

    async def submit(self, parts: Sequence[OutboundPart]) -> None:
        raise AssertionError("not used")

    def state(self) -> DriverState:
        return DriverState(up=True)

    async def wait_capacity(self) -> None:
        await trio.sleep_forever()


def reply_builder(msg: InboundMessage, text: str, client_ref: str, now: float) -> NewMessage | None:
    """What the gateway builds (its Acceptor also encodes and splits the text)."""
    to = sender_number(msg.sender)
    if not to.startswith("+"):
        return None
    return NewMessage(
        key=SYSTEM_KEY,
        to=to,
        sender=msg.to,
        text=text,
        encoding="gsm7",
        segments=(text,),
        msg_class="transactional",
        routes=(msg.route,),
        ref=0,
        ref_bits=8,
        created_at=now,
        expires_at=now + 86_400,
        client_ref=client_ref,
    )


@dataclass
class Env:
    ps: PolicyStore
    sink: RouteSink
    path: Path

    async def mo(self, text: str, sender: str = BERLIN, *, complete: bool = True) -> None:
        await self.sink.inbound(
            [
                InboundMessage(
                    route="sim",
                    sender=sender,
                    to=OUR_NUMBER,
                    text=text,
                    received_at=NOW,
                    complete=complete,
                )
            ]
        )

    def replies(self) -> list[tuple[str, str, str, str, str]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(
                "SELECT to_number, sender, text, route, msg_class FROM messages WHERE key = ?"
                " ORDER BY mid",
                (SYSTEM_KEY,),
            ).fetchall()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    path = tmp_path / "q.db"
    ps = PolicyStore(path, config())
    await ps.store.open()
    handler = KeywordHandler(
        ps.policy.matcher,
        AutoReplyConfig(),
        ps.consents,
        ps.store,
        reply_builder,
        lambda: NOW,
    )
    runner = RouteRunner(
        "sim", IdleDriver(), RouteLimiter(10, 10, 0.0), ps.store, ps.metrics, lambda: NOW
    )

    async def on_inbound(items: Sequence[InboundMessage], ids: Sequence[str]) -> None:
        await handler.handle(items, ids)

    sink = RouteSink(runner, ps.store, ps.metrics, lambda: NOW, on_inbound)
    try:
        yield Env(ps, sink, path)
    finally:
        await ps.store.close()


async def test_stop_opts_out_and_confirms_once_through_the_same_route(env: Env) -> None:
    [queued] = await env.ps.accept(message(BERLIN, NOW - 60))
    assert queued.result is not None and queued.result.status == "queued"
    await env.mo("Stop!")
    row = await env.ps.consents.blocking(BERLIN, "shop")
    assert row is not None and row.source == "keyword"
    assert row.inbound_id is not None and row.inbound_id.startswith("in_")
    assert env.replies() == [(BERLIN, OUR_NUMBER, AutoReplyConfig().optout, "sim", "transactional")]
    # The confirmation leaves; the waiting promo does not.
    parts = await env.ps.store.claim("sim", 10, NOW + 1)
    assert [p.text for p in parts] == [AutoReplyConfig().optout]
    promo = await env.ps.store.get("shop", queued.result.id)
    assert promo is not None and promo.status == "rejected"
    # A second STOP is on the record but gets no second confirmation.
    await env.mo("STOP")
    assert len(env.replies()) == 1
    _, events = await env.ps.consents.history(BERLIN, "shop")
    assert [e.action for e in events] == ["out", "out"]
    assert env.ps.counter("smsgw_optouts_total", source="keyword") == 1


async def test_start_opts_back_in_with_a_consent_record(env: Env) -> None:
    await env.mo("стоп")
    await env.mo(" start ")
    assert await env.ps.consents.blocking(BERLIN, "shop") is None
    assert [r[2] for r in env.replies()] == [AutoReplyConfig().optout, AutoReplyConfig().optin]
    with sqlite3.connect(env.path) as conn:
        [(source, inbound_id)] = conn.execute("SELECT source, inbound_id FROM consents").fetchall()
    assert source == "keyword" and inbound_id.startswith("in_")
    assert env.ps.counter("smsgw_optins_total", source="keyword") == 1
    [after] = await env.ps.accept(message(BERLIN, NOW + 5))
    assert after.result is not None and after.result.status == "queued"


async def test_help_answers_every_time_and_changes_nothing(env: Env) -> None:
    await env.mo("HELP")
    await env.mo("Hilfe")
    assert [r[2] for r in env.replies()] == [AutoReplyConfig().help] * 2
    assert await env.ps.consents.blocking(BERLIN, "shop") is None


@pytest.mark.parametrize(
    ("text", "complete"),
    [("Please don't stop my order", True), ("where is my parcel", True), ("STOP", False)],
)
async def test_other_texts_change_nothing(env: Env, text: str, complete: bool) -> None:
    await env.mo(text, complete=complete)
    assert env.replies() == []
    assert await env.ps.consents.blocking(BERLIN, "shop") is None
    _, events = await env.ps.consents.history(BERLIN, "shop")
    assert events == []


async def test_senders_without_plus_are_read_as_international(env: Env) -> None:
    await env.mo("STOP", sender=BERLIN[1:])  # SMPP peers often send TON=1 digits
    assert await env.ps.consents.blocking(BERLIN, "shop") is not None
    assert env.replies()[0][0] == BERLIN


async def test_an_alphanumeric_sender_is_recorded_and_not_answered(env: Env) -> None:
    await env.mo("STOP", sender="PROMO")
    assert await env.ps.consents.blocking("PROMO", "shop") is not None
    assert env.replies() == []


@pytest.mark.parametrize(
    ("raw", "country", "number"),
    [
        ("+4915112345678", "", BERLIN),
        ("4915112345678", "", BERLIN),  # SMPP, TON international without "+"
        ("004915112345678", "", BERLIN),
        ("015112345678", "DE", BERLIN),  # a modem reporting the national form
        ("015112345678", "", "015112345678"),  # no country to read it in: kept as it came
        ("PROMO", "DE", "PROMO"),
        ("12345", "DE", "12345"),
    ],
)
def test_inbound_senders_are_read_as_e164_where_they_can_be(
    raw: str, country: str, number: str
) -> None:
    assert sender_number(raw, country) == number
