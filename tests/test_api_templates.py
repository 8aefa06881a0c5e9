"""Templates over the real HTTP API and a real SQLite file: create, list, get, replace and
delete under two keys (each sees only its own; an admin key sees all), refusals that name the
field, and the preview of one recipient or many with their worst case."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OTHER_TOKEN, Running, StartGateway

pytestmark = pytest.mark.trio

OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
SHIPPED = {
    "name": "shipped",
    "text": "Hi {{first_name|there}}, order {{order}} has shipped.",
    "variants": {"de": "Hallo {{first_name|du}}, Bestellung {{order}} ist unterwegs."},
    "class": "transactional",
    "description": "shipping update",
}


async def _ok(gw: Running, method: str, path: str, body: object = None, **kw: Any) -> Any:
    status, reply = await gw.call(method, path, body, **kw)
    assert status in (200, 201), (status, reply)
    return reply


async def _error(
    gw: Running, method: str, path: str, body: object, status: int, **kw: Any
) -> dict[str, Any]:
    got, reply = await gw.call(method, path, body, **kw)
    assert got == status and isinstance(reply, dict), (got, reply)
    error: dict[str, Any] = reply["error"]
    return error


async def test_create_get_list_replace_delete(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    status, made = await gw.call("POST", "/v1/templates", SHIPPED)
    assert status == 201 and isinstance(made, dict)
    assert {k: made[k] for k in SHIPPED} == SHIPPED
    assert made["created_at"] == made["updated_at"] and made["created_at"].endswith("Z")
    assert "key" not in made
    assert await _ok(gw, "GET", "/v1/templates/shipped") == made
    error = await _error(gw, "POST", "/v1/templates", {**SHIPPED, "text": "other"}, 409)
    assert (error["code"], error["field"]) == ("template_exists", "name")

    replaced = await _ok(gw, "PUT", "/v1/templates/shipped", {"text": "Order {{order}} shipped"})
    assert replaced["text"] == "Order {{order}} shipped"
    assert replaced["variants"] == {} and replaced["class"] is None
    assert replaced["created_at"] == made["created_at"]
    error = await _error(gw, "PUT", "/v1/templates/shipped", {"name": "x", "text": "y"}, 422)
    assert error["field"] == "name"
    error = await _error(gw, "PUT", "/v1/templates/nope", {"text": "y"}, 404)
    assert error["code"] == "not_found"

    for i in range(3):
        await _ok(gw, "POST", "/v1/templates", {"name": f"t-{i}", "text": "x"})
    first = await _ok(gw, "GET", "/v1/templates?limit=2")
    assert [t["name"] for t in first["templates"]] == ["shipped", "t-0"]
    rest = await _ok(gw, "GET", f"/v1/templates?limit=2&after={first['next']}")
    assert [t["name"] for t in rest["templates"]] == ["t-1", "t-2"]
    last = await _ok(gw, "GET", f"/v1/templates?limit=2&after={rest['next']}")
    assert last == {"templates": [], "next": None}

    assert await _ok(gw, "DELETE", "/v1/templates/shipped") == {
        "name": "shipped",
        "deleted": True,
    }
    await _error(gw, "GET", "/v1/templates/shipped", None, 404)
    await _error(gw, "DELETE", "/v1/templates/shipped", None, 404)


async def test_one_key_never_sees_or_changes_anothers_an_admin_sees_all(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(extra=OPS)
    await _ok(gw, "POST", "/v1/templates", SHIPPED)
    other = OTHER_TOKEN
    await _error(gw, "GET", "/v1/templates/shipped", None, 404, token=other)
    await _error(gw, "PUT", "/v1/templates/shipped", {"text": "mine now"}, 404, token=other)
    await _error(gw, "DELETE", "/v1/templates/shipped", None, 404, token=other)
    assert await _ok(gw, "GET", "/v1/templates", token=other) == {"templates": [], "next": None}
    error = await _error(gw, "GET", "/v1/templates/shipped?key=shop", None, 403, token=other)
    assert (error["code"], error["field"]) == ("admin_only", "key")
    # The same name under another key is another template.
    await _ok(gw, "POST", "/v1/templates", {**SHIPPED, "text": "Theirs"}, token=other)
    assert (await _ok(gw, "GET", "/v1/templates/shipped"))["text"] == SHIPPED["text"]

    listed = await _ok(gw, "GET", "/v1/templates", token=OPS_TOKEN)
    assert [(t["key"], t["name"]) for t in listed["templates"]] == [
        ("shop", "shipped"),
        ("other", "shipped"),
    ]
    theirs = await _ok(gw, "GET", "/v1/templates/shipped?key=other", token=OPS_TOKEN)
    assert theirs["text"] == "Theirs" and theirs["key"] == "other"
    await _ok(gw, "DELETE", "/v1/templates/shipped?key=other", token=OPS_TOKEN)
    assert (await _ok(gw, "GET", "/v1/templates/shipped"))["text"] == SHIPPED["text"]
    await _error(gw, "GET", "/v1/templates/shipped", None, 404, token=other)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**SHIPPED, "text": "Hi {{first_name"}, "text", "invalid_template"),
        ({**SHIPPED, "text": "Hi {{first name}}"}, "text", "invalid_template"),
        ({**SHIPPED, "variants": {"de": "Hallo {{1x}}"}}, "variants.de", "invalid_template"),
        ({**SHIPPED, "variants": {"german!": "Hallo"}}, "variants", "invalid"),
        ({**SHIPPED, "name": "Shipped"}, "name", "invalid"),
        ({**SHIPPED, "name": "x" * 65}, "name", "invalid"),
        ({**SHIPPED, "name": ""}, "name", "invalid"),
        ({**SHIPPED, "text": ""}, "text", "invalid"),
        ({**SHIPPED, "class": "spam"}, "class", "invalid"),
        ({"name": "x"}, "text", "invalid"),
    ],
)
async def test_an_invalid_template_is_refused_naming_the_field(
    start_gateway: StartGateway, body: dict[str, object], field: str, code: str
) -> None:
    gw = await start_gateway()
    error = await _error(gw, "POST", "/v1/templates", body, 422)
    assert (error["field"], error["code"]) == (field, code), error
    assert await _ok(gw, "GET", "/v1/templates") == {"templates": [], "next": None}


async def test_preview_one_recipient_and_the_worst_case_of_many(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    text = "Hi {{name}}, your order shipped and arrives tomorrow, thank you! {{pad|}}"
    await _ok(
        gw,
        "POST",
        "/v1/templates",
        {"name": "eta", "text": text, "variants": {"de": "Hallo {{name}}"}},
    )
    one = await _ok(gw, "POST", "/v1/templates/eta/preview", {"vars": {"name": "Ana"}})
    [ana] = one["recipients"]
    assert ana["text"] == "Hi Ana, your order shipped and arrives tomorrow, thank you! "
    assert (ana["encoding"], ana["parts"], ana["ucs2_chars"]) == ("gsm7", 1, [])
    assert one["worst"] == {"parts": 1, "ucs2": False, "within_limit": True, "refused": 0}
    missing = await _ok(gw, "POST", "/v1/templates/eta/preview", {"vars": {}})
    assert missing["recipients"][0]["error"]["field"] == "vars.name"
    assert missing["recipients"][0]["error"]["code"] == "missing_variable"
    assert missing["worst"]["refused"] == 1

    many = await _ok(
        gw,
        "POST",
        "/v1/templates/eta/preview",
        {
            "recipients": [
                {"vars": {"name": "Ana"}},
                {"vars": {"name": "Zoë", "pad": "李" * 12}},
                {"vars": {}},
                {"vars": {"name": "Jan"}, "locale": "de-AT"},
            ]
        },
    )
    ana, zoe, nobody, jan = many["recipients"]
    assert (ana["encoding"], ana["parts"]) == ("gsm7", 1)
    assert (zoe["encoding"], zoe["parts"], zoe["ucs2_chars"]) == ("ucs2", 2, ["ë", "李"])
    assert nobody["error"]["field"] == "recipients[2].vars.name"
    assert jan["text"] == "Hallo Jan"
    assert many["worst"] == {"parts": 2, "ucs2": True, "within_limit": True, "refused": 1}

    await _error(gw, "POST", "/v1/templates/none/preview", {"vars": {}}, 404)
    error = await _error(gw, "POST", "/v1/templates/eta/preview", {}, 422)
    assert error["field"] == "vars"
    too_many = {"recipients": [{"vars": {"name": "x"}}] * 1001}
    error = await _error(gw, "POST", "/v1/templates/eta/preview", too_many, 422)
    assert error["field"] == "recipients"
    bad = await _ok(gw, "POST", "/v1/templates/eta/preview", {"vars": {"name": True}})
    assert bad["recipients"][0]["error"]["code"] == "invalid_variable"
