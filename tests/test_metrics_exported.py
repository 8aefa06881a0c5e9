"""What /metrics says from the first scrape on, and about the API's own traffic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from smsgw.config.loader import parse
from smsgw.drivers.modem.error_codes import PROTOCOL_ERROR_KINDS as MODEM_KINDS
from smsgw.drivers.smpp.errors import PROTOCOL_ERROR_KINDS as SMPP_KINDS
from smsgw.gateway.http import HttpLimits, Request, Response
from smsgw.gateway.http_server import OWN_ANSWERS, HttpServer
from smsgw.gateway.known_series import known_series
from smsgw.gateway.openapi import documented_operations
from smsgw.gateway.schemas import REFUSAL_CODES
from smsgw.gateway.service import Gateway
from smsgw.metrics.instruments import Metrics
from tests.conftest import Running, StartGateway, gateway_toml


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


# -- from the first scrape -----------------------------------------------------------------------

FAILOVER_RULES = """
[[routes]]
name = "backup"
driver = "simulator"
latency = 0
receipt_delay = 0

[[rules]]
prefix = "+49"
route = ["sim", "backup"]
"""


async def test_known_series_are_exported_at_zero_before_any_event(
    start_gateway: StartGateway,
) -> None:
    """What rate() and the alert rules need is there before the first message."""
    gw = await start_gateway(FAILOVER_RULES)
    m = await _scrape(gw)
    for series in (
        'smsgw_messages_final_total{class="otp",status="expired"}',
        'smsgw_messages_refused_total{code="invalid_number"}',
        'smsgw_messages_refused_total{code="opted_out"}',
        'smsgw_receipts_total{result="unmatched",route="sim"}',
        'smsgw_submit_errors_total{kind="permanent",route="backup"}',
        'smsgw_failovers_total{from_route="sim",to_route="backup"}',
        'smsgw_failovers_total{from_route="backup",to_route="sim"}',
        'smsgw_webhook_deliveries_total{result="gave_up"}',
        'smsgw_policy_deferred_total{reason="quiet_hours"}',
        'smsgw_optins_total{source="keyword"}',
        'smsgw_reconnects_total{link="sim",route="sim"}',
        'smsgw_submit_latency_seconds_count{route="backup"}',
        'smsgw_end_to_end_latency_seconds_bucket{class="marketing",le="+Inf"}',
    ):
        assert m.get(series) == 0.0, series
    # A route pair no rule lists never fails over: no series for it.
    assert not any(
        k.startswith("smsgw_failovers_total")
        and 'to_route="backup"' in k
        and 'from_route="backup"' in k
        for k in m
    )


async def test_priming_again_keeps_what_was_counted(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, sent = await gw.call("POST", "/v1/messages", {"to": "+4917012345678", "text": "x"})
    assert status == 202 and isinstance(sent, dict)
    await gw.wait_final(sent["id"])
    gw.gateway.metrics.prime({"messages_final": [("transactional", "delivered")]})
    m = await _scrape(gw)
    assert m['smsgw_messages_final_total{class="transactional",status="delivered"}'] == 1.0
    assert m['smsgw_messages_final_total{class="transactional",status="failed"}'] == 0.0


def test_a_gauge_is_not_primed() -> None:
    with pytest.raises(ValueError, match="only counters and histograms"):
        Metrics().prime({"link_up": [("sim", "sim")]})


# -- the vocabularies cover what the code counts -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = [p for d in ("gateway", "queue", "drivers") for p in sorted((ROOT / d).rglob("*.py"))]


def _strings(node: ast.AST) -> set[str]:
    """The string constants in an expression (``"a" if x else "b"`` gives both)."""
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _calls(paths: list[Path]) -> list[tuple[Path, ast.Call]]:
    return [
        (path, node)
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
    ]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def test_every_label_value_the_code_counts_is_primed() -> None:
    """A literal label value in ``metrics.<family>.labels(...)`` must be in that family's
    known series, or its series would appear only with its first event."""
    flow = '[[flows]]\nname = "f"\nkey = "shop"\ntrigger = "t"\n[[flows.steps]]\ntext = "x"\n'
    config = parse(gateway_toml(Path("/nonexistent"), flow).encode(), "test.toml", {})
    known = known_series(config, {"sim": ["sim"]}, Gateway(config).task_names())
    values: dict[tuple[str, int], set[str]] = {}
    for family, label_sets in known.items():
        for labels in label_sets:
            for i, v in enumerate(labels):
                values.setdefault((family, i), set()).add(v)
    missing = []
    for path, call in _calls(PACKAGE):
        f = call.func
        if not (_name(call) == "labels" and isinstance(f, ast.Attribute)):
            continue
        family = f.value.attr if isinstance(f.value, ast.Attribute) else ""
        if family not in known:
            continue  # gauges, traffic-dependent labels (HTTP)
        for i, arg in enumerate(call.args):
            literal = arg.value if isinstance(arg, ast.Constant) else None
            if isinstance(literal, str) and literal not in values.get((family, i), set()):
                missing.append(f"{path.name}:{call.lineno} {family} {literal!r}")
    assert missing == []


def _kinds(paths: list[Path]) -> dict[str, str]:
    """Protocol error kinds counted in these files: kind -> where."""
    out = {}
    for path, call in _calls(paths):
        name = _name(call)
        found: set[str] = set()
        if name in ("protocol_error", "_on_protocol_error", "ProtocolViolation") and call.args:
            found |= _strings(call.args[0])
        found |= {s for kw in call.keywords if kw.arg == "kind" for s in _strings(kw.value)}
        if name == "append" and isinstance(call.func, ast.Attribute):
            target = call.func.value
            if isinstance(target, ast.Attribute) and target.attr == "errors" and call.args:
                found |= _strings(call.args[0])
        out.update({k: f"{path.name}:{call.lineno}" for k in found})
    return out


def test_every_protocol_error_kind_the_drivers_count_is_primed() -> None:
    smpp = _kinds(sorted((ROOT / "drivers" / "smpp").glob("*.py")))
    modem = _kinds(sorted((ROOT / "drivers" / "modem").glob("*.py")))
    assert {k: w for k, w in smpp.items() if k not in SMPP_KINDS} == {}
    assert {k: w for k, w in modem.items() if k not in MODEM_KINDS} == {}
    assert smpp and modem  # the scan sees the call sites


def test_every_refusal_code_of_the_accept_path_is_primed() -> None:
    codes = {}
    accept_path = [
        ROOT / "gateway" / name for name in ("accept.py", "webhook_targets.py", "decoding.py")
    ]
    for path, call in _calls([*accept_path, ROOT / "queue" / "consent" / "policy.py"]):
        if _name(call) in ("Invalid", "Refusal"):
            codes.update(
                {
                    s: f"{path.name}:{call.lineno}"
                    for kw in call.keywords
                    if kw.arg == "code"
                    for s in _strings(kw.value)
                }
            )
    assert codes and {c: w for c, w in codes.items() if c not in REFUSAL_CODES} == {}


async def test_the_servers_own_answers_are_the_ones_primed() -> None:
    server = HttpServer(_never, HttpLimits())
    assert sorted(server._errors) == sorted(OWN_ANSWERS)


async def _never(request: Request) -> Response:
    raise AssertionError("not called")


async def test_documented_operations_are_the_ones_the_api_serves(
    start_gateway: StartGateway,
) -> None:
    """HTTP series are primed per documented operation: each must be one the API answers
    (not 404, not 405) under the same endpoint label."""
    gw = await start_gateway()
    for method, path, _ in documented_operations():
        concrete = path.replace("{id}", "msg_nope").replace("{number}", "+4917012345678")
        status, _ = await gw.call(method, concrete)
        assert status not in (404, 405) or "{" in path, (method, path, status)
    m = await _scrape(gw)
    served = {
        (k.split('method="')[1].split('"')[0], k.split('endpoint="')[1].split('"')[0])
        for k, v in m.items()
        if k.startswith("smsgw_http_requests_total{") and v > 0
    }
    assert served == {(method, path) for method, path, _ in documented_operations()}
