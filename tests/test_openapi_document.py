"""The OpenAPI document follows the config the gateway runs and lists what the server answers.

(schemathesis checks the document against a running server: tests/test_openapi_conformance.py.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from smsgw.config.loader import parse
from smsgw.gateway.openapi import documented_operations, openapi_document
from smsgw.gateway.schemas import REFUSAL_CODES
from tests.conftest import StartGateway, gateway_toml

PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json"}


def _doc(tmp_path: Path, extra: str = "") -> dict[str, Any]:
    config = parse(gateway_toml(tmp_path, extra).encode(), "test.toml", {})
    doc = msgspec.json.decode(openapi_document(config))
    assert isinstance(doc, dict)
    return doc


def _to(doc: dict[str, Any]) -> dict[str, Any]:
    prop = doc["components"]["schemas"]["SendRequest"]["properties"]["to"]
    assert isinstance(prop, dict)
    return prop


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("validate_numbers = false", []),
        ("validate_numbers = true", ["invalid_number"]),
        ("validate_numbers = false\nrefuse_non_mobile = true", ["not_mobile"]),
    ],
)
def test_what_the_number_pattern_cannot_say_is_said_in_words(
    tmp_path: Path, policy: str, words: list[str]
) -> None:
    to = _to(_doc(tmp_path, f"[policy]\n{policy}"))
    pattern = re.compile(to["pattern"])
    assert pattern.fullmatch("+4917012345678") and not pattern.fullmatch("+49 170 12345678")
    assert not pattern.fullmatch("+2101234567")  # no country has calling code 210
    description = to.get("description", "")
    assert [w for w in ("invalid_number", "not_mobile") if w in description] == words


def test_every_non_public_operation_answers_401_and_sends_list_the_refusals(
    tmp_path: Path,
) -> None:
    doc = _doc(tmp_path, "[limits]\nmax_batch = 50")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert ("401" in op["responses"]) == (path not in PUBLIC), (method, path)
            assert ("security" in op) == (path in PUBLIC), (method, path)
    send = doc["paths"]["/v1/messages"]["post"]
    codes = send["responses"]["422"]["content"]["application/json"]["schema"]["allOf"][1]
    assert set(codes["properties"]["error"]["properties"]["code"]["enum"]) >= set(REFUSAL_CODES)
    batch = doc["components"]["schemas"]["BatchRequest"]["properties"]["messages"]
    assert batch["maxItems"] == 50


async def test_the_document_lists_exactly_the_routes_the_api_serves(
    start_gateway: StartGateway,
) -> None:
    """Every (method, path) of the API's route table is in the document and nothing else is:
    a route added to one and not the other fails here."""
    gw = await start_gateway()
    api = gw.gateway.api
    assert api is not None
    documented = {(m, p) for m, p, _ in documented_operations(gw.gateway.config)}
    served = set(api.operations())
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
