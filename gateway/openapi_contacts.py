"""The paths of the OpenAPI document under ``/v1/contacts`` and ``/v1/segments``, each
operation with its parameters, body and every answer the server gives it."""

from __future__ import annotations

from smsgw.config.schema import Config
from smsgw.gateway.openapi_paths import (
    MAX_AFTER,
    Doc,
    _error,
    _int_query,
    _json,
    _responses,
    number_pattern,
    ref,
)
from smsgw.gateway.schemas import TEMPLATE_NAME_PATTERN
from smsgw.queue.campaigns.contacts_csv import HEADER_PATTERN

__all__ = ["contact_paths"]


def _owner(what: str) -> Doc:
    return {
        "name": "key",
        "in": "query",
        "schema": {"type": "string"},
        "description": f"Another key's {what}: for an admin key only (403 admin_only).",
    }


def _forbidden(what: str) -> Doc:
    return {
        "403": _error(
            f"Another key's {what}, asked for by a key that is not admin.", ("admin_only",)
        )
    }


_CONTACT_CODES = ("invalid", "invalid_text", "invalid_number", "invalid_tz", "invalid_attribute")


def contact_paths(config: Config) -> Doc:
    """``/v1/contacts``, ``/v1/segments`` and below, for a gateway running ``config``."""
    after = _int_query("after", 0, MAX_AFTER, "The `next` cursor of the previous page.")
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": number_pattern(config)},
    }
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": TEMPLATE_NAME_PATTERN},
    }
    tag = {
        "name": "tag",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Only contacts carrying this tag.",
    }
    no_contact = {"404": _error("No contact of that number for this key.", ("not_found",))}
    no_segment = {"404": _error("No such segment for this key.", ("not_found",))}
    contact_owner, segment_owner = _owner("contact"), _owner("segment")
    return {
        "/v1/contacts": {
            "post": {
                "summary": "Write up to 1,000 contacts, each whole (created or replaced)",
                "requestBody": {
                    **_json(ref("ContactBatch"), "The contacts."),
                    "required": True,
                },
                "responses": _responses(
                    {"200": _json(ref("ContactsReply"), "One answer per item, in order.")},
                    body=("invalid", "invalid_text", "empty_batch", "batch_too_large"),
                ),
            },
            "get": {
                "summary": "List the key's contacts (every key's for an admin key)",
                "parameters": [after, limit, tag, contact_owner],
                "responses": _responses(
                    {"200": _json(ref("ContactPage"), "A page and a cursor.")},
                    query=("invalid",),
                    more=_forbidden("contacts"),
                ),
            },
        },
        "/v1/contacts/import": {
            "post": {
                "summary": "Import contacts from CSV (a header row names the columns)",
                "requestBody": {
                    "required": True,
                    "description": "CSV: number, first_name, last_name, locale, time_zone, tags"
                    " (separated by ;); any other column is an attribute. At most"
                    " server.max_body_bytes; `smsgw contacts import` sends bigger files in"
                    " pieces.",
                    "content": {
                        "text/csv": {"schema": {"type": "string", "pattern": HEADER_PATTERN}}
                    },
                },
                "responses": _responses(
                    {"200": _json(ref("ImportSummary"), "Counts and the first refused rows.")},
                    body=("invalid_csv",),
                ),
            }
        },
        "/v1/contacts/{number}": {
            "get": {
                "summary": "One contact",
                "parameters": [number, contact_owner],
                "responses": _responses(
                    {"200": _json(ref("ContactView"), "The contact.")},
                    more={**no_contact, **_forbidden("contact")},
                ),
            },
            "patch": {
                "summary": "Change a contact: given fields replace, attributes merge",
                "parameters": [number, contact_owner],
                "requestBody": {
                    **_json(ref("ContactPatchBody"), "The changes."),
                    "required": True,
                },
                "responses": _responses(
                    {"200": _json(ref("ContactView"), "Changed.")},
                    body=_CONTACT_CODES,
                    more={**no_contact, **_forbidden("contact")},
                ),
            },
            "delete": {
                "summary": "Delete a contact",
                "parameters": [number, contact_owner],
                "responses": _responses(
                    {"200": _json(ref("ContactDeleted"), "Deleted.")},
                    more={**no_contact, **_forbidden("contact")},
                ),
            },
        },
        "/v1/segments": {
            "post": {
                "summary": "Create a segment: a saved filter over the key's contacts",
                "requestBody": {**_json(ref("SegmentBody"), "The segment."), "required": True},
                "responses": _responses(
                    {"201": _json(ref("SegmentView"), "Created.")},
                    body=("invalid", "invalid_text", "invalid_tz"),
                    more={
                        "409": _error("The key has a segment of that name.", ("segment_exists",))
                    },
                ),
            },
            "get": {
                "summary": "List the key's segments (every key's for an admin key)",
                "parameters": [after, limit],
                "responses": _responses(
                    {"200": _json(ref("SegmentPage"), "A page and a cursor.")},
                    query=("invalid",),
                ),
            },
        },
        "/v1/segments/{name}": {
            "get": {
                "summary": "One segment",
                "parameters": [name, segment_owner],
                "responses": _responses(
                    {"200": _json(ref("SegmentView"), "The segment.")},
                    more={**no_segment, **_forbidden("segment")},
                ),
            },
            "put": {
                "summary": "Replace a segment's filter",
                "parameters": [name, segment_owner],
                "requestBody": {**_json(ref("SegmentRules"), "The filter."), "required": True},
                "responses": _responses(
                    {"200": _json(ref("SegmentView"), "Replaced.")},
                    body=("invalid", "invalid_text", "invalid_tz"),
                    more={**no_segment, **_forbidden("segment")},
                ),
            },
            "delete": {
                "summary": "Delete a segment (its contacts stay)",
                "parameters": [name, segment_owner],
                "responses": _responses(
                    {"200": _json(ref("SegmentDeleted"), "Deleted.")},
                    more={**no_segment, **_forbidden("segment")},
                ),
            },
        },
        "/v1/segments/{name}/contacts": {
            "get": {
                "summary": "The contacts the segment selects now, opted-out numbers left out",
                "description": "A page reads a bounded stretch of the key's list: it may hold"
                " fewer than `limit` contacts with a `next` to go on. Follow `next` until null.",
                "parameters": [name, segment_owner, after, limit],
                "responses": _responses(
                    {"200": _json(ref("SegmentContacts"), "A page and a cursor.")},
                    query=("invalid",),
                    more={**no_segment, **_forbidden("segment")},
                ),
            }
        },
        "/v1/segments/{name}/count": {
            "get": {
                "summary": "How many contacts the segment selects now, and how many opt-outs"
                " leave out",
                "parameters": [name, segment_owner],
                "responses": _responses(
                    {"200": _json(ref("SegmentCount"), "The counts.")},
                    more={**no_segment, **_forbidden("segment")},
                ),
            }
        },
    }
