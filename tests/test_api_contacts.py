"""Contacts over the real HTTP API and a real SQLite file: a batch upsert read back under two
keys (each sees only its own; an admin key sees all), per-item errors that name the field, a
PATCH that merges attributes, the list by tag with a cursor, and the CSV import with its
counts and the refused rows' line numbers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OTHER_TOKEN, Running, StartGateway

pytestmark = pytest.mark.trio

OPS_TOKEN = "ops-token-0123456789abcdef"
OPS = f'[[keys]]\nname = "ops"\ntoken = "{OPS_TOKEN}"\nadmin = true\n'
A, B, C = "+4917011111111", "+4917022222222", "+4917033333333"
ADA = {
    "number": A,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "locale": "en-GB",
    "time_zone": "Europe/London",
    "tags": ["vip", "newsletter"],
    "attributes": {"orders": 3, "since": "2024-05-01", "gold": True},
}
CSV = {"Content-Type": "text/csv"}


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


async def _import(gw: Running, text: str, token: str | None = None) -> Any:
    kw: dict[str, Any] = {"headers": list(CSV.items()), "raw": text.encode()}
    if token is not None:
        kw["token"] = token
    return await _ok(gw, "POST", "/v1/contacts/import", **kw)


async def test_upsert_and_read_back_scoped_to_the_key(start_gateway: StartGateway) -> None:
    gw = await start_gateway(extra=OPS)
    reply = await _ok(gw, "POST", "/v1/contacts", {"contacts": [ADA, {"number": B}]})
    assert reply == {"contacts": [{"number": A, "created": True}, {"number": B, "created": True}]}
    got = await _ok(gw, "GET", f"/v1/contacts/{A}")
    assert {k: got[k] for k in ADA} == ADA and "key" not in got
    assert got["created_at"].endswith("Z")

    # The other key has none of them, and its own of the same number is its own.
    error = await _error(gw, "GET", f"/v1/contacts/{A}", None, 404, token=OTHER_TOKEN)
    assert (error["code"], error["field"]) == ("not_found", "number")
    theirs = {"contacts": [{"number": A, "first_name": "Bob"}]}
    assert (await _ok(gw, "POST", "/v1/contacts", theirs, token=OTHER_TOKEN))["contacts"] == [
        {"number": A, "created": True}
    ]
    assert (await _ok(gw, "GET", f"/v1/contacts/{A}"))["first_name"] == "Ada"
    listed = await _ok(gw, "GET", "/v1/contacts", token=OTHER_TOKEN)
    assert [c["number"] for c in listed["contacts"]] == [A]
    error = await _error(gw, "GET", f"/v1/contacts/{A}?key=shop", None, 403, token=OTHER_TOKEN)
    assert (error["code"], error["field"]) == ("admin_only", "key")

    # An admin key lists every key's, each with its key, and reaches one by ?key=.
    every = await _ok(gw, "GET", "/v1/contacts", token=OPS_TOKEN)
    assert [(c["key"], c["number"]) for c in every["contacts"]] == [
        ("shop", A),
        ("shop", B),
        ("other", A),
    ]
    bob = await _ok(gw, "GET", f"/v1/contacts/{A}?key=other", token=OPS_TOKEN)
    assert (bob["key"], bob["first_name"]) == ("other", "Bob")

    # Written again: replaced whole, not created.
    again = await _ok(gw, "POST", "/v1/contacts", {"contacts": [{"number": A, "tags": ["x"]}]})
    assert again["contacts"] == [{"number": A, "created": False}]
    replaced = await _ok(gw, "GET", f"/v1/contacts/{A}")
    assert (replaced["first_name"], replaced["tags"], replaced["attributes"]) == ("", ["x"], {})
    assert replaced["created_at"] == got["created_at"]


async def test_a_bad_item_gets_its_own_error_the_others_are_written(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    items = [
        {"number": "0170 1234567"},
        {"number": B, "time_zone": "Mars/Olympus"},
        {"number": C, "tags": ["ok", "not a tag"]},
        {"number": C, "attributes": {"note": "x" * 101}},
        {"number": C, "colour": "red"},
        {"number": " +49 170 3333 3333 ".strip().replace(" ", "")},
    ]
    reply = await _ok(gw, "POST", "/v1/contacts", {"contacts": items})
    errors = [r.get("error") for r in reply["contacts"]]
    assert [(e["code"], e["field"]) if e else None for e in errors] == [
        ("invalid_number", "contacts[0].number"),
        ("invalid_tz", "contacts[1].time_zone"),
        ("invalid", "contacts[2].tags[1]"),
        ("invalid_attribute", "contacts[3].attributes.note"),
        ("invalid", "contacts[4].colour"),
        None,
    ]
    assert reply["contacts"][5] == {"number": "+4917033333333", "created": True}
    listed = await _ok(gw, "GET", "/v1/contacts")
    assert [c["number"] for c in listed["contacts"]] == [C]
    error = await _error(gw, "POST", "/v1/contacts", {"contacts": []}, 422)
    assert error["code"] == "empty_batch"
    many = {"contacts": [{"number": A}] * 1001}
    error = await _error(gw, "POST", "/v1/contacts", many, 422)
    assert (error["code"], error["field"]) == ("batch_too_large", "contacts")


async def test_patch_merges_attributes_and_replaces_given_fields(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    await _ok(gw, "POST", "/v1/contacts", {"contacts": [ADA]})
    patch = {
        "last_name": "Byron",
        "locale": None,
        "tags": ["vip"],
        "attributes": {"orders": 4, "gold": None, "plan": "annual"},
    }
    got = await _ok(gw, "PATCH", f"/v1/contacts/{A}", patch)
    assert (got["first_name"], got["last_name"], got["locale"], got["time_zone"]) == (
        "Ada",
        "Byron",
        None,
        "Europe/London",
    )
    assert got["tags"] == ["vip"]
    assert got["attributes"] == {"orders": 4, "since": "2024-05-01", "plan": "annual"}
    assert await _ok(gw, "GET", f"/v1/contacts/{A}") == got
    error = await _error(gw, "PATCH", f"/v1/contacts/{A}", {"time_zone": "Nowhere/Else"}, 422)
    assert (error["code"], error["field"]) == ("invalid_tz", "time_zone")
    full = {"attributes": {f"a{i}": i for i in range(23)}}
    error = await _error(gw, "PATCH", f"/v1/contacts/{A}", full, 422)
    assert (error["code"], error["field"]) == ("invalid_attribute", "attributes")
    error = await _error(gw, "PATCH", f"/v1/contacts/{B}", {"first_name": "X"}, 404)
    assert error["code"] == "not_found"
    deleted = await _ok(gw, "DELETE", f"/v1/contacts/{A}")
    assert deleted == {"number": A, "deleted": True}
    await _error(gw, "GET", f"/v1/contacts/{A}", None, 404)
    await _error(gw, "GET", "/v1/contacts/not-a-number", None, 404)


async def test_the_list_follows_a_cursor_and_filters_by_tag(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    numbers = [f"+49170{i:08d}" for i in range(1, 6)]
    contacts = [
        {"number": n, "tags": ["even" if i % 2 == 0 else "odd"]} for i, n in enumerate(numbers)
    ]
    await _ok(gw, "POST", "/v1/contacts", {"contacts": contacts})
    first = await _ok(gw, "GET", "/v1/contacts?limit=2")
    assert [c["number"] for c in first["contacts"]] == numbers[:2]
    rest = await _ok(gw, "GET", f"/v1/contacts?limit=10&after={first['next']}")
    assert [c["number"] for c in rest["contacts"]] == numbers[2:] and rest["next"] is None
    even = await _ok(gw, "GET", "/v1/contacts?tag=even")
    assert [c["number"] for c in even["contacts"]] == numbers[0::2]
    error = await _error(gw, "GET", "/v1/contacts?limit=0", None, 422)
    assert error["field"] == "limit"


async def test_csv_import_counts_and_names_bad_rows_by_line(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    await _ok(gw, "POST", "/v1/contacts", {"contacts": [{"number": C, "first_name": "Old"}]})
    text = (
        "number,first_name,locale,time_zone,tags,plan,formula\r\n"
        f'{A},Ada,en-GB,Europe/London,vip; newsletter,annual,=HYPERLINK("http://x")\r\n'
        "\r\n"
        "12345,Bad,,,,,\r\n"
        f'{B},"Multi\nline",de,Mars/Base,,,\r\n'
        f"{C},New,,,,monthly,\r\n"
        f"{B},Bee,de,,bad tag!,,+1+2\r\n"
    )
    summary = await _import(gw, text)
    assert (summary["rows"], summary["created"], summary["updated"], summary["failed"]) == (
        5,
        1,
        1,
        3,
    )
    assert [(e["line"], e["row"], e["code"], e.get("field")) for e in summary["errors"]] == [
        (4, 2, "invalid_number", "number"),
        (5, 3, "invalid_tz", "time_zone"),
        (8, 5, "invalid_tag", "tags"),
    ]
    ada = await _ok(gw, "GET", f"/v1/contacts/{A}")
    assert (ada["first_name"], ada["locale"], ada["time_zone"]) == ("Ada", "en-GB", "Europe/London")
    assert ada["tags"] == ["vip", "newsletter"]
    # A cell a spreadsheet would run as a formula is kept as the text it is.
    assert ada["attributes"] == {"plan": "annual", "formula": '=HYPERLINK("http://x")'}
    c = await _ok(gw, "GET", f"/v1/contacts/{C}")
    assert (c["first_name"], c["attributes"]) == ("New", {"plan": "monthly"})


async def test_csv_import_refuses_a_bad_header_or_media_type(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    bad = ("first_name\r\nAda\r\n", f"number,number\r\n{A},{A}\r\n", "number,bad column\r\n", "")
    for text in bad:
        status, reply = await gw.call(
            "POST", "/v1/contacts/import", headers=list(CSV.items()), raw=text.encode() or b"{}"
        )
        assert status == 422 and isinstance(reply, dict), (text, status, reply)
        assert (reply["error"]["code"], reply["error"]["field"]) == ("invalid_csv", "line 1")
    error = await _error(gw, "POST", "/v1/contacts/import", {"number": A}, 415)
    assert error["code"] == "unsupported_media_type"
    assert (await _ok(gw, "GET", "/v1/contacts"))["contacts"] == []


async def test_many_import_errors_are_counted_and_the_list_is_bounded(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    text = "number\n" + "nope\n" * 250 + f"{A}\n"
    summary = await _import(gw, text)
    assert (summary["rows"], summary["created"], summary["failed"]) == (251, 1, 250)
    assert len(summary["errors"]) == 100
    assert summary["errors"][-1]["line"] == 101
