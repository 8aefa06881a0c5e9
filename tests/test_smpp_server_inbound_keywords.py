"""Inbound messages routed to SMPP server accounts by their first word: among the accounts of
the key that owns the message (by number), the one whose ``inbound_keywords`` hold it; STOP and
START stay with the consent handling. A real gateway, a real store, the driver's own inbound
path, and smpplib clients bound as each account."""

from __future__ import annotations

from typing import Any

import smpplib.client

from smsgw.config.smpp_server import SmppAccountConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.text.gsm7 import decode_gsm7
from smsgw.gateway.smpp_server.inbound import InboundAccounts, first_word
from smsgw.queue.consent.keyword_matching import KeywordMatcher
from smsgw.queue.scheduling.scheduler import RouteSink
from tests.conftest import Running, StartGateway
from tests.test_smpp_server_e2e import bind, in_thread
from tests.test_smpp_server_receipts import ack, next_pdu, round_trip

NUMBER = "+4930123456"
SERVER = """
[smpp_server]
listen = "127.0.0.1:0"

[[smpp_server.accounts]]
system_id = "crm"
password = "secret"
key = "shop"

[[smpp_server.accounts]]
system_id = "orders"
password = "pw-o"
key = "shop"
inbound_keywords = ["SHOP", "Info"]

[[smpp_server.accounts]]
system_id = "strict"
password = "pw2"
key = "other"
inbound_keywords = ["SHOP"]
"""
TEXTS = {
    "Shop: where is my parcel?": "orders",
    "info opening hours": "orders",
    "Hello there": "crm",
    "shopping list": "crm",
    "STOP": "crm",
}


def mo(text: str, to: str = NUMBER, sender: str = "+4917099999") -> InboundMessage:
    return InboundMessage(route="sim", sender=sender, to=to, text=text, received_at=1.0)


async def held_texts(running: Running, account: str) -> list[str]:
    return [r.text for r in await running.gateway.store.smpp_held_page(account, 100)]


def receive_all(address: tuple[str, int], system_id: str, password: str, n: int) -> list[str]:
    c: smpplib.client.Client = bind(address, "receiver", system_id=system_id, password=password)
    try:
        out = []
        for _ in range(n):
            pdu: Any = next_pdu(c, "deliver_sm")
            ack(c, pdu)
            out.append(decode_gsm7(pdu.short_message))
        round_trip(c)
        return out
    finally:
        c.disconnect()


async def test_the_first_word_picks_the_account_and_stop_stays_by_number(
    start_gateway: StartGateway,
) -> None:
    running = await start_gateway(SERVER, shop=f'inbound_numbers = ["{NUMBER}"]')
    gateway = running.gateway
    address = gateway.smpp_address
    assert address is not None
    sink = RouteSink(
        gateway.scheduler.runners["sim"], gateway.store, gateway.metrics, gateway.wall,
        gateway._on_inbound,
    )  # fmt: skip
    # The route's driver hands these over as it would any inbound: stored, then keywords.
    await sink.inbound([mo(text) for text in TEXTS] + [mo("SHOP now", to="+4930999999")])

    for account in ("orders", "crm"):
        assert await held_texts(running, account) == [t for t, a in TEXTS.items() if a == account]
    assert await held_texts(running, "strict") == [], "keywords never cross keys"
    optout = await gateway.store.blocking_optout("+4917099999", "shop")
    assert optout is not None, "the STOP was handled by smsgw's consent handling"

    orders = await in_thread(lambda: receive_all(address, "orders", "pw-o", 2))
    assert orders == ["Shop: where is my parcel?", "info opening hours"]
    crm = await in_thread(lambda: receive_all(address, "crm", "secret", 3))
    assert crm == ["Hello there", "shopping list", "STOP"]
    assert await held_texts(running, "orders") == await held_texts(running, "crm") == []


def _accounts(*configs: tuple[str, str, list[str]]) -> InboundAccounts:
    return InboundAccounts(
        [
            SmppAccountConfig(system_id=s, password="pw", key=k, inbound_keywords=w)
            for s, k, w in configs
        ],
        KeywordMatcher(),
    )


def test_first_word_folds_case_and_drops_the_punctuation_around_it() -> None:
    assert [first_word(t) for t in ("  SHOP: hi", "#Info!", "ÜBER alles", "", "  ", "!!")] == [
        "shop", "info", "über", "", "", "",
    ]  # fmt: skip


def test_without_a_keyword_account_the_first_plain_account_gets_it_or_none() -> None:
    only_keywords = _accounts(("a", "shop", ["SHOP"]))
    assert only_keywords.account_for("shop", mo("shop 1")) == "a"
    assert only_keywords.account_for("shop", mo("hello")) is None
    assert only_keywords.account_for(None, mo("shop 1")) is None
    plain = _accounts(("a", "shop", []), ("b", "shop", []))
    assert plain.account_for("shop", mo("anything")) == "a"


def test_an_optout_or_optin_text_is_never_routed_by_keyword() -> None:
    # "STOP SMS" is a French opt-out as a whole; its first word would match this account.
    accounts = _accounts(("plain", "shop", []), ("stopper", "shop", ["STOP"]))
    assert accounts.account_for("shop", mo("Stop sms")) == "plain"
    assert accounts.account_for("shop", mo("START")) == "plain"
    assert accounts.account_for("shop", mo("stop the parcel please")) == "stopper"
