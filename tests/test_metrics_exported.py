"""What /metrics says about the API's own traffic."""

from __future__ import annotations

from tests.conftest import Running, StartGateway


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def _scrape(gw: Running) -> dict[str, float]:
    status, body = await gw.call("GET", "/metrics", token=None)
    assert status == 200 and isinstance(body, bytes)
    return _samples(body.decode())


async def test_each_request_is_counted_by_method_endpoint_and_code(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    msg = {"to": "+4917012345678", "text": "Your order has shipped"}
    for _ in range(2):
        assert (await gw.call("POST", "/v1/messages", msg))[0] == 202
    assert (await gw.call("POST", "/v1/messages", msg, token="wrong-token-xxxxxxxx"))[0] == 401
    assert (await gw.call("GET", "/v1/messages/msg_nope"))[0] == 404
    m = await _scrape(gw)
    ok = 'smsgw_http_requests_total{code="202",endpoint="/v1/messages",method="POST"}'
    refused = 'smsgw_http_requests_total{code="401",endpoint="/v1/messages",method="POST"}'
    missing = 'smsgw_http_requests_total{code="404",endpoint="/v1/messages/{id}",method="GET"}'
    assert (m[ok], m[refused], m[missing]) == (2.0, 1.0, 1.0)
    assert m['smsgw_http_request_duration_seconds_count{endpoint="/v1/messages"}'] == 3.0
