"""The OpenAPI paths of ``/v1/conversions`` (merged into the document by
:mod:`smsgw.gateway.openapi`), built with the helpers of :mod:`smsgw.gateway.openapi_paths`."""

from __future__ import annotations

from smsgw.gateway.api_conversions import MAX_FRACTION_DIGITS, MAX_WHOLE_DIGITS
from smsgw.gateway.openapi_paths import MAX_AFTER, Doc, _error, _int_query, _json, _responses, ref

__all__ = ["CONVERSION_CODES", "conversion_paths", "patch_conversion_body"]

CONVERSION_CODES = (
    "invalid",
    "invalid_value",
    "one_of",
    "invalid_number",
    "not_mobile",
    "invalid_time",
    "at_in_future",
)
"""The 422 codes of ``POST /v1/conversions``."""


def conversion_paths() -> Doc:
    """``/v1/conversions`` and ``/v1/conversions/{order_id}``."""
    after = _int_query("after", 0, MAX_AFTER, "The `next` cursor of the previous page.")
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    order_id = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/v1/conversions": {
            "post": {
                "summary": "Report an order and attribute it to the message that brought it",
                "description": "Exactly one of `number` (the key's message last clicked by"
                " that number within `[conversions] window` before `at`, else its last"
                " marketing message delivered there), `code` (a tracked link's message) or"
                " `client_ref` (that message). Recorded with its attribution in one commit;"
                " the key's same `order_id` again answers 200 with the first, changing"
                " nothing.",
                "requestBody": {
                    **_json(ref("ConversionBody"), "The order."),
                    "required": True,
                },
                "responses": _responses(
                    {
                        "201": _json(ref("ConversionView"), "Recorded, and what it is due to."),
                        "200": _json(ref("ConversionView"), "Reported before: the first."),
                    },
                    body=CONVERSION_CODES,
                ),
            },
            "get": {
                "summary": "The key's conversions, oldest first",
                "parameters": [after, limit],
                "responses": _responses(
                    {"200": _json(ref("ConversionPage"), "A page and a cursor.")},
                    query=("invalid",),
                ),
            },
        },
        "/v1/conversions/{order_id}": {
            "get": {
                "summary": "The key's conversion of an order",
                "parameters": [order_id],
                "responses": _responses(
                    {"200": _json(ref("ConversionView"), "The conversion.")},
                    more={"404": _error("The key reported no such order.", ("unknown_order",))},
                ),
            }
        },
    }


def patch_conversion_body(components: Doc) -> None:
    """What msgspec's schema of ``ConversionBody`` cannot say: the written form and bounds of
    ``value``, and that exactly one of ``number``, ``code`` and ``client_ref`` is given."""
    body = components["ConversionBody"]
    value = body["properties"]["value"]
    whole, fraction = MAX_WHOLE_DIGITS, MAX_FRACTION_DIGITS
    value.pop("anyOf", None)
    value["anyOf"] = [
        {
            "type": "string",
            "pattern": rf"^(0|[1-9][0-9]{{0,{whole - 1}}})(\.[0-9]{{1,{fraction}}})?$",
        },
        {"type": "integer", "minimum": 0, "maximum": 10**whole - 1},
    ]
    body["oneOf"] = [{"required": [f]} for f in ("number", "code", "client_ref")]
    at = body["properties"]["at"]
    at["format"] = "date-time"
    at["description"] = "When the order was placed (default: now); not in the future."
