"""The OpenAPI 3.1 document, generated from the msgspec Structs the API decodes and encodes.

The document says what this server enforces, so a request it allows is accepted and one it
forbids is refused (checked by schemathesis, ``tests/test_openapi_conformance.py``). What the
Structs cannot know comes from the config the gateway runs: the route names a message may ask
for, the batch size, the longest text ``text.max_parts`` can take, whether national number
formats are read (``policy.default_country``). Refusals that depend on data rather than shape
(a number phonenumbers does not know, a key's sender list, an opted-out number, a full queue)
are documented as the 4xx answers they are.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import msgspec
import phonenumbers

from smsgw import __version__
from smsgw.config.schema import Config
from smsgw.gateway.api_consent import ConsentBody, OptoutBody
from smsgw.gateway.schemas import (
    E164_PATTERN,
    STATUSES,
    Accepted,
    CancelReply,
    ConsentReply,
    ErrorReply,
    HealthReply,
    ImportReply,
    InboundPage,
    MessagePage,
    MessageView,
    OptinReply,
    OptoutPage,
    OptoutState,
    PreviewReply,
    PreviewRequest,
    ReadyReply,
    RouteList,
    SendRequest,
)

__all__ = ["documented_operations", "known_number_pattern", "openapi_document"]

_REF = "#/components/schemas/{name}"
_STRUCTS = (
    SendRequest, Accepted, ErrorReply, MessageView, MessagePage, InboundPage, PreviewRequest,
    PreviewReply, OptoutBody, ConsentBody, CancelReply, RouteList, HealthReply, ReadyReply,
    OptoutPage, OptoutState, OptinReply, ImportReply, ConsentReply,
)  # fmt: skip
_MAX_AFTER = 2**62
"""The largest ``after`` cursor the message and inbound lists take."""
_MAX_OPTOUT_AFTER = 10**18 - 1
"""The opt-out list reads cursors of up to 18 digits."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    out = _json(_ref("ErrorReply"), description)
    if headers:
        out["headers"] = {h: {"schema": {"type": "string"}} for h in headers}
    return out


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**_json(schema, description), "required": True}


# The server's own answers, on any request (gateway/http_server.py), and the API's.
_SERVER = {
    "408": _error("The request did not arrive whole within server.read_timeout."),
    "431": _error("Request line and headers larger than server.max_header_bytes."),
    "503": _error("Shutting down, or over server.max_connections.", ("Retry-After",)),
}
_AUTH = {"401": _error("Missing or invalid bearer token.", ("WWW-Authenticate",))}
_BODY = {
    "400": _error("Malformed JSON (malformed_json), or not HTTP."),
    "413": _error("Body larger than server.max_body_bytes."),
    "415": _error("Body is not JSON."),
    "422": _error("A field's value is refused; `code` says why, `field` names it."),
}
_QUERY = {"422": _error("A query parameter is refused; `field` names it.")}
_NOT_FOUND = {"404": _error("No such message or number for this key.")}
_RATE = {"429": _error("Rate limit (rate_limited) or queue full (queue_full).", ("Retry-After",))}


def _set_string(props: dict[str, Any], name: str, **changes: Any) -> None:
    """Apply ``changes`` to the string schema of ``props[name]``; ``None`` drops a key."""
    prop = props[name]
    branches = prop.get("anyOf")
    targets = [b for b in branches if b.get("type") == "string"] if branches else [prop]
    for t in targets:
        for k, v in changes.items():
            if v is None:
                t.pop(k, None)
            else:
                t[k] = v


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


def _csv_import(config: Config) -> dict[str, Any]:
    """An opt-out import in its simplest form: a ``number`` header, then one number a line
    (an export's other columns, ``scope``, ``at`` and ``note`` are read too; see the README)."""
    schema: dict[str, Any] = {"type": "string", "description": _csv_import.__doc__}
    if not config.policy.default_country:
        number = known_number_pattern()[1:-1]  # without its anchors
        schema["pattern"] = rf"^number\r?\n(?:{number}\r?\n)*$"
    return schema


def _max_text(config: Config) -> int:
    """Characters no text of more than ``max_parts`` parts can be shorter than: a longer text
    is always refused (too_many_parts), a shorter one may be (UCS-2 fits fewer per part)."""
    parts = config.text.max_parts
    return 160 if parts == 1 else 153 * parts


def _components(config: Config) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=_REF)
    send = components["SendRequest"]["properties"]
    routes = [r.name for r in config.routes]
    _set_string(send, "route", enum=routes)
    _set_string(send, "tz", enum=sorted(zoneinfo.available_timezones()))
    _set_string(send, "text", maxLength=_max_text(config))
    # With a default country, national formats are read too: only the server can tell.
    national = bool(config.policy.default_country)
    _set_string(send, "to", pattern=None if national else E164_PATTERN, minLength=1)
    number = {"pattern": None if national else known_number_pattern(), "minLength": 1}
    for name in ("OptoutBody", "ConsentBody"):
        _set_string(components[name]["properties"], "number", **number)
    _set_string(
        components["ConsentBody"]["properties"],
        "at",
        format="date-time",
        description="When consent was given (default: now); not in the future (422 invalid_time).",
    )
    _set_string(components["PreviewRequest"]["properties"], "text", maxLength=153 * 255)
    # msgspec cannot describe an untagged union of Structs, so the batch is spelt out. Items
    # are answered one by one: an item that is not a SendRequest gets its own error in a 202.
    components["BatchRequest"] = {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {"anyOf": [_ref("SendRequest"), {}]},
                "minItems": 1,
                "maxItems": config.limits.max_batch,
                "description": "Each item a SendRequest; one that is not gets its own error.",
            }
        },
        "required": ["messages"],
        "additionalProperties": False,
    }
    components["BatchReply"] = {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {"anyOf": [_ref("Accepted"), _ref("ErrorReply")]},
                "description": "One answer per item, in the order sent.",
            }
        },
        "required": ["messages"],
    }
    return components


def _or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter given empty (``?status=&limit=``) counts as not given."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _int_query(name: str, lo: int, hi: int, description: str) -> dict[str, Any]:
    schema = _or_empty({"type": "integer", "minimum": lo, "maximum": hi})
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _paths(config: Config) -> dict[str, Any]:
    after = _int_query("after", 0, _MAX_AFTER, "The `next` cursor of the previous page.")
    optout_after = _int_query("after", 0, _MAX_OPTOUT_AFTER, after["description"])
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    number_schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if not config.policy.default_country:
        number_schema["pattern"] = known_number_pattern()
    number = {"name": "number", "in": "path", "required": True, "schema": number_schema}
    scope = {"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["all", "key"]}}
    message_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string"},
        "description": "A client_ref for a message that has none (first 128 characters).",
    }
    send_body = {"oneOf": [_ref("SendRequest"), _ref("BatchRequest")]}
    csv = {"text/csv": {"schema": _csv_import(config)}}
    public: dict[str, Any] = {"security": []}
    return {
        "/v1/messages": {
            "post": {
                "summary": f"Send one message, or a batch of up to {config.limits.max_batch}",
                "parameters": [idempotency],
                "requestBody": _body(send_body, "A message, or {messages: [...]}"),
                "responses": {
                    "202": _json(
                        {"oneOf": [_ref("Accepted"), _ref("BatchReply")]}, "Committed to disk."
                    ),
                    "200": _json(_ref("Accepted"), "Same client_ref seen: the original."),
                    **_AUTH,
                    **_BODY,
                    **_RATE,
                    **_SERVER,
                },
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
                "responses": {
                    "200": _json(_ref("MessagePage"), "A page and a cursor."),
                    **_AUTH,
                    **_QUERY,
                    **_SERVER,
                },
            },
        },
        "/v1/messages/preview": {
            "post": {
                "summary": "Encoding and part count of a text, without sending",
                "requestBody": _body(_ref("PreviewRequest"), "The text."),
                "responses": {
                    "200": _json(_ref("PreviewReply"), "The plan."),
                    **_AUTH,
                    **_BODY,
                    **_SERVER,
                },
            }
        },
        "/v1/messages/{id}": {
            "get": {
                "summary": "One message with parts and history",
                "parameters": [message_id],
                "responses": {
                    "200": _json(_ref("MessageView"), "The message."),
                    **_AUTH,
                    **_NOT_FOUND,
                    **_SERVER,
                },
            },
            "delete": {
                "summary": "Cancel a message that has not left",
                "parameters": [message_id],
                "responses": {
                    "200": _json(_ref("CancelReply"), "Cancelled."),
                    "409": _error("Already left (already_sent)."),
                    **_AUTH,
                    **_NOT_FOUND,
                    **_SERVER,
                },
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
                "responses": {
                    "200": {
                        "description": "A page and a cursor, or the whole list as CSV.",
                        "content": {
                            "application/json": {"schema": _ref("OptoutPage")},
                            "text/csv; charset=utf-8": {"schema": {"type": "string"}},
                        },
                    },
                    **_AUTH,
                    **_QUERY,
                    **_SERVER,
                },
            },
            "post": {
                "summary": "Opt a number out, or import a CSV list (Content-Type: text/csv)",
                "requestBody": {
                    "required": True,
                    "description": "The number and scope, or CSV lines.",
                    "content": {"application/json": {"schema": _ref("OptoutBody")}, **csv},
                },
                "responses": {
                    "201": _json(_ref("OptoutView"), "Opted out."),
                    "200": {
                        "description": "Already out (the opt-out), or the CSV import's counts.",
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [_ref("OptoutView"), _ref("ImportReply")]}
                            }
                        },
                    },
                    **_AUTH,
                    **_BODY,
                    **_SERVER,
                },
            },
        },
        "/v1/optouts/{number}": {
            "get": {
                "summary": "Whether a number is opted out, with its audit trail",
                "parameters": [number],
                "responses": {
                    "200": _json(_ref("OptoutState"), "State and trail."),
                    **_AUTH,
                    **_QUERY,
                    **_SERVER,
                },
            },
            "delete": {
                "summary": "Opt a number back in",
                "parameters": [number, scope],
                "responses": {
                    "200": _json(_ref("OptinReply"), "Opted back in."),
                    "404": _error("Not opted out (in that scope)."),
                    **_AUTH,
                    **_QUERY,
                    **_SERVER,
                },
            },
        },
        "/v1/consents": {
            "post": {
                "summary": "Record consent to marketing messages",
                "requestBody": _body(_ref("ConsentBody"), "The evidence."),
                "responses": {
                    "201": _json(_ref("ConsentReply"), "Recorded."),
                    **_AUTH,
                    **_BODY,
                    **_SERVER,
                },
            }
        },
        "/v1/routes": {
            "get": {
                "summary": "Routes and their health",
                "responses": {
                    "200": _json(_ref("RouteList"), "Each route."),
                    **_AUTH,
                    **_SERVER,
                },
            }
        },
        "/v1/inbound": {
            "get": {
                "summary": "Inbound messages",
                "parameters": [after, limit],
                "responses": {
                    "200": _json(_ref("InboundPage"), "A page and a cursor."),
                    **_AUTH,
                    **_QUERY,
                    **_SERVER,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                **public,
                "responses": {"200": _json(_ref("HealthReply"), "Alive."), **_SERVER},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the store is open and a route is up",
                **public,
                "responses": {
                    "200": _json(_ref("ReadyReply"), "Ready."),
                    "503": _json(_ref("ReadyReply"), "Not ready (or shutting down)."),
                    **{k: v for k, v in _SERVER.items() if k != "503"},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                **public,
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_SERVER,
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                **public,
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1."), **_SERVER},
            }
        },
    }


def _build(config: Config) -> bytes:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "smsgw", "version": __version__},
        "components": {
            "schemas": _components(config),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": _paths(config),
    }
    return msgspec.json.encode(doc)


_cache: dict[tuple[object, ...], bytes] = {}


def openapi_document(config: Config | None = None) -> bytes:
    """The document for a gateway running ``config`` (the default config when None), as JSON
    bytes; built once per distinct set of the settings it depends on."""
    if config is None:
        config = Config()
    facts = (
        tuple(r.name for r in config.routes),
        config.limits.max_batch,
        config.text.max_parts,
        config.policy.default_country,
    )
    doc = _cache.get(facts)
    if doc is None:
        doc = _cache[facts] = _build(config)
    return doc


def documented_operations(config: Config | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """(METHOD, path template, documented 2xx status codes) of every operation in the
    document; the path templates are the ``endpoint`` labels of the HTTP metrics."""
    doc = msgspec.json.decode(openapi_document(config))
    return [
        (method.upper(), path, tuple(c for c in op["responses"] if c.startswith("2")))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]
