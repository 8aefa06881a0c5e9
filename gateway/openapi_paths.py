"""The paths of the OpenAPI document: each operation with its parameters, body and every answer
the server gives it, error codes included.

Each error answer lists the ``code`` values it can carry as an enum on ``error.code``, so a
client (and schemathesis' response check) knows the whole vocabulary: the HTTP server's own
answers (``gateway/http_server.py``), authentication, decoding, the accept path's refusals
(:data:`~smsgw.gateway.schemas.REFUSAL_CODES`), the consent API's, the quota's and the store's.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from smsgw.config.schema import Config
from smsgw.gateway.schemas import REFUSAL_CODES, STATUSES

__all__ = ["known_number_pattern", "number_pattern", "paths", "ref"]

_REF = "#/components/schemas/{name}"
MAX_AFTER = 2**62
"""The largest ``after`` cursor the message and inbound lists take."""
MAX_OPTOUT_AFTER = 10**18 - 1
"""The opt-out list reads cursors of up to 18 digits."""

Doc = dict[str, Any]


def ref(name: str) -> dict[str, str]:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": _REF.format(name=name)}


def _json(schema: Doc, description: str) -> Doc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, codes: tuple[str, ...], headers: tuple[str, ...] = ()) -> Doc:
    """An error answer whose ``error.code`` is one of ``codes``."""
    codes = tuple(dict.fromkeys(codes))
    schema = {
        "allOf": [
            ref("ErrorReply"),
            {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}},
        ]
    }
    out = _json(schema, f"{description} Codes: {', '.join(codes)}.")
    if headers:
        out["headers"] = {h: {"schema": {"type": "string"}} for h in headers}
    return out


def known_number_pattern() -> str:
    """E.164 with a calling code phonenumbers knows: what the opt-out and consent endpoints
    read (``+`` then 7 to 15 digits). Calling codes are prefix-free, so each is followed by
    the rest of the digits."""
    by_length: dict[int, list[str]] = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        if code > 0:
            by_length.setdefault(len(str(code)), []).append(str(code))
    alternatives = [
        f"(?:{'|'.join(codes)})[0-9]{{{7 - n},{15 - n}}}" for n, codes in sorted(by_length.items())
    ]
    return rf"^\+(?:{'|'.join(alternatives)})$"


def number_pattern(config: Config) -> str:
    """The phone numbers a gateway running ``config`` reads: E.164 with a known calling code,
    and with ``policy.default_country`` also that country's national numbers, with or without
    its national prefix (the region's number pattern from phonenumbers' metadata, digits
    only: the server reads spaces and dashes too, the document keeps to the plain form)."""
    e164 = known_number_pattern()[1:-1]
    country = config.policy.default_country.upper()
    md = phonenumbers.PhoneMetadata.metadata_for_region(country) if country else None
    if md is None or md.general_desc is None or not md.general_desc.national_number_pattern:
        return f"^{e164}$"
    prefix = f"(?:{re.escape(md.national_prefix)})?" if md.national_prefix else ""
    return rf"^(?:{e164}|{prefix}(?:{md.general_desc.national_number_pattern}))$"


def _csv_import(config: Config) -> Doc:
    """An opt-out import in its simplest form: a ``number`` header, then one number a line
    (an export's other columns, ``scope``, ``at`` and ``note`` are read too; see the README)."""
    number = number_pattern(config)[1:-1]  # without its anchors
    return {
        "type": "string",
        "description": _csv_import.__doc__,
        "pattern": rf"^number\r?\n(?:{number}\r?\n)*$",
    }


# -- answers -------------------------------------------------------------------------------------

_TEXT_CODES = ("invalid_text", "too_many_parts")
_SEND_CODES = (*REFUSAL_CODES, "empty_batch", "batch_too_large", "batch_exceeds_burst")
_NUMBER_CODES = ("invalid_number",)


def _responses(
    ok: Doc,
    *,
    auth: bool = True,
    body: tuple[str, ...] | None = None,
    query: tuple[str, ...] | None = None,
    store: bool = True,
    send: bool = False,
    more: Doc | None = None,
) -> Doc:
    """``ok`` and the errors an operation can answer. ``body``: it reads a JSON body refused
    with these 422 codes; ``query``: its path or query is refused with these; ``store``: it
    reads or writes the store (503 store_unavailable); ``send``: it takes quota (429, and 503
    while shutting down)."""
    out: Doc = dict(ok)
    bad_request = ("bad_request", "malformed_json") if body is not None else ("bad_request",)
    out["400"] = _error("Not HTTP, or (for a body) not JSON.", bad_request)
    if auth:
        out["401"] = _error(
            "Missing or invalid bearer token.", ("unauthorized",), ("WWW-Authenticate",)
        )
    out["408"] = _error(
        "The request did not arrive whole within server.read_timeout.", ("request_timeout",)
    )
    if body is not None:
        out["413"] = _error("Body larger than server.max_body_bytes.", ("body_too_large",))
        out["415"] = _error("Body is not JSON.", ("unsupported_media_type",))
    out["414"] = _error("Request target longer than server.max_header_bytes.", ("uri_too_long",))
    refused = (*(body or ()), *(query or ()))
    if refused:
        out["422"] = _error("A value is refused: `code` says why, `field` names it.", refused)
    if send:
        out["429"] = _error(
            "Over the key's rate, or the queue is full.",
            ("rate_limited", "queue_full"),
            ("Retry-After",),
        )
    out["431"] = _error("Headers larger than server.max_header_bytes.", ("headers_too_large",))
    unavailable = ("overloaded", *(("shutting_down",) if send else ()))
    unavailable += ("store_unavailable",) if store else ()
    out["503"] = _error(
        "Over server.max_connections, shutting down, or the store cannot write just now.",
        unavailable,
        ("Retry-After",),
    )
    out.update(more or {})
    return dict(sorted(out.items()))


_MESSAGE_LINKS = {
    name: {
        "operationRef": f"#/paths/~1v1~1messages~1{{id}}/{method}",
        "parameters": {"id": "$response.body#/id"},
        "description": f"{name} the message just accepted (a single message's answer).",
    }
    for name, method in (("Get", "get"), ("Cancel", "delete"))
}
"""Where an accepted message's id leads (schemathesis' stateful phase follows these)."""


def _or_empty(schema: Doc) -> Doc:
    """A query parameter given empty (``?status=&limit=``) counts as not given."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _int_query(name: str, lo: int, hi: int, description: str) -> Doc:
    schema = _or_empty({"type": "integer", "minimum": lo, "maximum": hi})
    return {"name": name, "in": "query", "schema": schema, "description": description}


def paths(config: Config) -> Doc:
    """The ``paths`` object for a gateway running ``config``."""
    after = _int_query("after", 0, MAX_AFTER, "The `next` cursor of the previous page.")
    optout_after = _int_query("after", 0, MAX_OPTOUT_AFTER, after["description"])
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    number_schema: Doc = {"type": "string", "pattern": number_pattern(config)}
    number = {"name": "number", "in": "path", "required": True, "schema": number_schema}
    scope = {
        "name": "scope",
        "in": "query",
        "schema": {"type": "string", "enum": ["all", "key"]},
        "description": "Which opt-out to lift: the key's own (key, the default) or the one for"
        " every key (all).",
    }
    message_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string"},
        "description": "A client_ref for a message that has none (first 128 characters).",
    }
    page = ("invalid",)
    public: Doc = {"security": []}
    not_found = {"404": _error("No such message for this key.", ("not_found",))}
    return {
        "/v1/messages": {
            "post": {
                "summary": f"Send one message, or a batch of up to {config.limits.max_batch}",
                "description": "A batch larger than the key's burst is refused whole (422"
                " batch_exceeds_burst). A key with a route list may use only those routes"
                " (422 route_not_allowed). send_at may lie at most limits.max_send_ahead"
                " seconds ahead (422 send_at_too_far).",
                "parameters": [idempotency],
                "requestBody": {
                    "required": True,
                    "description": "A message, or {messages: [...]}",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref("SendRequest"), ref("BatchRequest")]}
                        }
                    },
                },
                "responses": _responses(
                    {
                        "200": _json(ref("Accepted"), "Same client_ref seen: the original."),
                        "202": {
                            **_json(
                                {"oneOf": [ref("Accepted"), ref("BatchReply")]},
                                "Committed to disk.",
                            ),
                            "links": _MESSAGE_LINKS,
                        },
                    },
                    body=_SEND_CODES,
                    send=True,
                    more={
                        "404": _error(
                            "A single message names a template the key does not have (in a"
                            " batch, that item's error).",
                            ("unknown_template",),
                        ),
                        "409": _error(
                            "A single message's dedupe_key was seen for its number inside its"
                            " window (in a batch, that item's error).",
                            ("duplicate",),
                        ),
                    },
                ),
            },
            "get": {
                "summary": "List messages, newest last, a page at a time",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": _or_empty({"type": "string", "enum": STATUSES}),
                    },
                    {"name": "client_ref", "in": "query", "schema": {"type": "string"}},
                    after,
                    limit,
                ],
                "responses": _responses(
                    {"200": _json(ref("MessagePage"), "A page and a cursor.")}, query=page
                ),
            },
        },
        "/v1/messages/preview": {
            "post": {
                "summary": "Encoding and part count of a text, without sending",
                "requestBody": {**_json(ref("PreviewRequest"), "The text."), "required": True},
                "responses": _responses(
                    {"200": _json(ref("PreviewReply"), "The plan.")},
                    body=("invalid", *_TEXT_CODES),
                    store=False,
                ),
            }
        },
        "/v1/messages/cancel": {
            "post": {
                "summary": "Cancel every waiting message with a client_ref or client_ref prefix",
                "description": "Scheduled, deferred (quiet hours, caps, a retry) and queued"
                " messages of the key are cancelled in one store transaction: once answered,"
                " none of them goes out. A message a part of which was handed to a route is"
                " listed under already_left with its status. At most 10,000 messages per call,"
                " waiting ones first; more: true when more matched.",
                "requestBody": {
                    **_json(ref("CancelRefsRequest"), "What to cancel."),
                    "required": True,
                },
                "responses": _responses(
                    {"200": _json(ref("CancelRefsReply"), "What was cancelled, what had left.")},
                    body=("invalid", "invalid_text"),
                    more={
                        "403": _error(
                            "Another key's messages need an admin key.", ("not_your_key",)
                        )
                    },
                ),
            }
        },
        "/v1/messages/{id}": {
            "get": {
                "summary": "One message with parts and history",
                "parameters": [message_id],
                "responses": _responses(
                    {"200": _json(ref("MessageView"), "The message.")}, more=not_found
                ),
            },
            "delete": {
                "summary": "Cancel a message that has not left",
                "parameters": [message_id],
                "responses": _responses(
                    {"200": _json(ref("CancelReply"), "Cancelled.")},
                    more={
                        **not_found,
                        "409": _error("It has already left.", ("already_sent",)),
                    },
                ),
            },
        },
        "/v1/optouts": {
            "get": {
                "summary": "Opted-out numbers (JSON pages, or CSV with ?format=csv)",
                "parameters": [
                    optout_after,
                    limit,
                    {"name": "format", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": _responses(
                    {
                        "200": {
                            "description": "A page and a cursor, or the whole list as CSV.",
                            "content": {
                                "application/json": {"schema": ref("OptoutPage")},
                                "text/csv; charset=utf-8": {"schema": {"type": "string"}},
                            },
                        }
                    },
                    query=page,
                ),
            },
            "post": {
                "summary": "Opt a number out, or import a CSV list (Content-Type: text/csv)",
                "requestBody": {
                    "required": True,
                    "description": "The number and scope, or CSV lines.",
                    "content": {
                        "application/json": {"schema": ref("OptoutBody")},
                        "text/csv": {"schema": _csv_import(config)},
                    },
                },
                "responses": _responses(
                    {
                        "201": _json(ref("OptoutView"), "Opted out."),
                        "200": _json(
                            {"oneOf": [ref("OptoutView"), ref("ImportReply")]},
                            "Already out (the opt-out), or the CSV import's counts.",
                        ),
                    },
                    body=("invalid", "invalid_text", *_NUMBER_CODES, "invalid_csv"),
                ),
            },
        },
        "/v1/optouts/{number}": {
            "get": {
                "summary": "Whether a number is opted out, with its audit trail",
                "parameters": [number],
                "responses": _responses(
                    {"200": _json(ref("OptoutState"), "State and trail.")}, query=_NUMBER_CODES
                ),
            },
            "delete": {
                "summary": "Opt a number back in",
                "parameters": [number, scope],
                "responses": _responses(
                    {"200": _json(ref("OptinReply"), "Opted back in.")},
                    query=(*_NUMBER_CODES, "invalid"),
                    more={
                        "403": _error(
                            "Not this key's to lift: the recipient's own STOP, or another"
                            " key's opt-out for every key.",
                            ("optout_by_recipient", "optout_not_yours"),
                        ),
                        "404": _error("Not opted out (in that scope).", ("not_found",)),
                    },
                ),
            },
        },
        "/v1/consents": {
            "post": {
                "summary": "Record consent to marketing messages",
                "requestBody": {**_json(ref("ConsentBody"), "The evidence."), "required": True},
                "responses": _responses(
                    {"201": _json(ref("ConsentReply"), "Recorded.")},
                    body=("invalid", "invalid_text", *_NUMBER_CODES, "invalid_time"),
                    more={
                        "403": _error(
                            "Consent for every key (scope all) needs an admin key.",
                            ("admin_only",),
                        )
                    },
                ),
            }
        },
        **_template_paths(after, limit),
        "/v1/routes": {
            "get": {
                "summary": "The routes the key may use, and their health",
                "responses": _responses({"200": _json(ref("RouteList"), "Each route.")}),
            }
        },
        "/v1/inbound": {
            "get": {
                "summary": "Inbound messages that belong to the key",
                "parameters": [after, limit],
                "responses": _responses(
                    {"200": _json(ref("InboundPage"), "A page and a cursor.")}, query=page
                ),
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                **public,
                "responses": _responses(
                    {"200": _json(ref("HealthReply"), "Alive.")}, auth=False, store=False
                ),
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the store can write and a route is up",
                **public,
                "responses": {
                    **_responses({}, auth=False, store=False),
                    "200": _json(ref("ReadyReply"), "Ready."),
                    "503": _json(
                        {"anyOf": [ref("ReadyReply"), ref("ErrorReply")]},
                        "Not ready (`reason` says why), or over server.max_connections.",
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                **public,
                "responses": _responses(
                    {
                        "200": {
                            "description": "Prometheus text exposition.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                    auth=False,
                    store=False,
                ),
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                **public,
                "responses": _responses(
                    {"200": _json({"type": "object"}, "OpenAPI 3.1.")}, auth=False, store=False
                ),
            }
        },
    }


def _template_paths(after: Doc, limit: Doc) -> Doc:
    """``/v1/templates`` and below."""
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    owner = {
        "name": "key",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Another key's template: for an admin key only (403 admin_only).",
    }
    not_found = {"404": _error("No such template for this key.", ("not_found",))}
    forbidden = {
        "403": _error(
            "Another key's template, asked for by a key that is not admin.", ("admin_only",)
        )
    }
    body_codes = ("invalid", "invalid_text", "invalid_template")
    return {
        "/v1/templates": {
            "post": {
                "summary": "Create a message template",
                "requestBody": {**_json(ref("TemplateBody"), "The template."), "required": True},
                "responses": _responses(
                    {"201": _json(ref("TemplateView"), "Created.")},
                    body=body_codes,
                    more={
                        "409": _error("The key has a template of that name.", ("template_exists",))
                    },
                ),
            },
            "get": {
                "summary": "List the key's templates (every key's for an admin key)",
                "parameters": [after, limit],
                "responses": _responses(
                    {"200": _json(ref("TemplatePage"), "A page and a cursor.")},
                    query=("invalid",),
                ),
            },
        },
        "/v1/templates/{name}": {
            "get": {
                "summary": "One template",
                "parameters": [name, owner],
                "responses": _responses(
                    {"200": _json(ref("TemplateView"), "The template.")},
                    more={**not_found, **forbidden},
                ),
            },
            "put": {
                "summary": "Replace a template (all of it but its name)",
                "parameters": [name, owner],
                "requestBody": {
                    **_json(ref("TemplateUpdate"), "The new template."),
                    "required": True,
                },
                "responses": _responses(
                    {"200": _json(ref("TemplateView"), "Replaced.")},
                    body=body_codes,
                    more={**not_found, **forbidden},
                ),
            },
            "delete": {
                "summary": "Delete a template",
                "parameters": [name, owner],
                "responses": _responses(
                    {"200": _json(ref("TemplateDeleted"), "Deleted.")},
                    more={**not_found, **forbidden},
                ),
            },
        },
        "/v1/templates/{name}/preview": {
            "post": {
                "summary": "Render a template for one recipient or up to 1,000, without sending",
                "parameters": [name, owner],
                "requestBody": {
                    **_json(ref("TemplatePreviewRequest"), "The recipients' variables."),
                    "required": True,
                },
                "responses": _responses(
                    {"200": _json(ref("TemplatePreviewReply"), "Each rendering, the worst case.")},
                    body=("invalid", "invalid_text"),
                    more={**not_found, **forbidden},
                ),
            }
        },
    }
