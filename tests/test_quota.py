"""Per-key quotas that a client can meet, and that refusals do not eat; authentication before
routing. A real gateway on a loopback socket with a real SQLite file."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import StartGateway
from tests.policy_helpers import BERLIN, at

pytestmark = pytest.mark.trio

BULK = "bulk-token-0123456789abcdef"
THRIFTY = "thrifty-token-0123456789ab"
DAYTIME = at("2027-01-15T10:00:00")


def _key(name: str, token: str, lines: str) -> str:
    return f'[[keys]]\nname = "{name}"\ntoken = "{token}"\n{lines}\n'


def _batch(n: int, to: str = "+4917012345678") -> dict[str, Any]:
    return {"messages": [{"to": to, "text": f"m{i}"} for i in range(n)]}


async def test_the_default_burst_fits_a_full_batch(start_gateway: StartGateway) -> None:
    # rate 100/s and no burst: before, the bucket held 100 and a batch of 1,000 got
    # "429 Retry-After: 10" forever.
    gw = await start_gateway(extra=_key("bulk", BULK, "rate = 100"))
    status, body = await gw.call("POST", "/v1/messages", _batch(1000), token=BULK)
    assert status == 202 and isinstance(body, dict)
    assert all("id" in m for m in body["messages"]) and len(body["messages"]) == 1000
    # The bucket is empty now: the next full batch waits about ten seconds, and can succeed.
    status, body = await gw.call("POST", "/v1/messages", _batch(1000), token=BULK)
    assert status == 429 and isinstance(body, dict)
    assert body["error"]["code"] == "rate_limited"


async def test_a_batch_larger_than_an_explicit_burst_is_a_422_that_says_so(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(extra=_key("bulk", BULK, "rate = 100\nburst = 10"))
    status, body = await gw.call("POST", "/v1/messages", _batch(11), token=BULK)
    assert status == 422 and isinstance(body, dict)
    assert body["error"]["code"] == "batch_exceeds_burst"
    assert body["error"]["field"] == "messages" and "10" in body["error"]["message"]
    assert gw.gateway.store.active_total == 0
    # Nothing was spent on it: a batch of the burst's size goes at once.
    status, body = await gw.call("POST", "/v1/messages", _batch(10), token=BULK)
    assert status == 202 and isinstance(body, dict) and len(body["messages"]) == 10


async def test_refused_messages_cost_no_quota(start_gateway: StartGateway) -> None:
    # Two tokens, refilled once in a thousand seconds: every token spent shows.
    gw = await start_gateway(
        extra=_key("thrifty", THRIFTY, "rate = 0.001\nburst = 2"), wall=lambda: DAYTIME
    )
    assert (await gw.call("POST", "/v1/optouts", {"number": BERLIN}))[0] == 201
    marketing = {"to": BERLIN, "text": "Sale", "class": "marketing"}
    # Refused by the policy after the quota was taken: given back.
    for _ in range(3):
        status, body = await gw.call("POST", "/v1/messages", marketing, token=THRIFTY)
        assert status == 422 and isinstance(body, dict)
        assert body["error"]["code"] == "opted_out"
    status, body = await gw.call(
        "POST", "/v1/messages", {"messages": [marketing, marketing]}, token=THRIFTY
    )
    assert status == 202 and isinstance(body, dict)
    assert [m["error"]["code"] for m in body["messages"]] == ["opted_out", "opted_out"]
    # Refused at the door (bad number): never taken.
    bad = {"to": "12", "text": "x"}
    assert (await gw.call("POST", "/v1/messages", bad, token=THRIFTY))[0] == 422
    # The two tokens are still there, and then gone.
    good = {"to": "+4917012345678", "text": "Your order shipped"}
    codes = [(await gw.call("POST", "/v1/messages", good, token=THRIFTY))[0] for _ in range(3)]
    assert codes == [202, 202, 429]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/v1/secret-admin"),
        ("POST", "/v1/routes"),
        ("PUT", "/v1/messages"),
        ("GET", "/v1/optouts/"),
    ],
)
async def test_unauthenticated_requests_get_401_before_404_or_405(
    start_gateway: StartGateway, method: str, path: str
) -> None:
    gw = await start_gateway()
    status, body = await gw.call(method, path, token=None)
    assert status == 401 and isinstance(body, dict) and body["error"]["code"] == "unauthorized"
    status, body = await gw.call(method, path, token="wrong-token-0123456789abcdef")
    assert status == 401
    # With a valid token the shape of the API is told as before.
    status, body = await gw.call(method, path)
    assert status in (404, 405) and isinstance(body, dict)


async def test_public_endpoints_stay_public(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    for path in ("/healthz", "/readyz", "/metrics", "/v1/openapi.json"):
        assert (await gw.call("GET", path, token=None))[0] == 200, path
    assert (await gw.call("POST", "/healthz", token=None))[0] == 405
