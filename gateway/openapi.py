"""The OpenAPI 3.1 document, generated from the msgspec Structs the API decodes and encodes."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from smsgw import __version__
from smsgw.gateway.api_consent import ConsentBody, OptoutBody
from smsgw.gateway.schemas import (
    Accepted,
    ErrorReply,
    InboundPage,
    MessagePage,
    MessageView,
    PreviewReply,
    PreviewRequest,
    SendRequest,
)

__all__ = ["documented_operations", "openapi_document"]

_REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("ErrorReply"), "Malformed JSON."),
    "401": _json(_ref("ErrorReply"), "Missing or invalid bearer token."),
    "413": _json(_ref("ErrorReply"), "Body larger than server.max_body_bytes."),
    "415": _json(_ref("ErrorReply"), "Body is not JSON."),
    "422": _json(_ref("ErrorReply"), "A field's value is refused; `field` names it."),
    "429": _json(_ref("ErrorReply"), "Rate limit or queue full; see Retry-After."),
    "503": _json(_ref("ErrorReply"), "Shutting down."),
}


@functools.cache
def openapi_document() -> bytes:
    """The document as JSON bytes (built once)."""
    _, components = msgspec.json.schema_components(
        [
            SendRequest,
            Accepted,
            ErrorReply,
            MessageView,
            MessagePage,
            InboundPage,
            PreviewRequest,
            PreviewReply,
            OptoutBody,
            ConsentBody,
        ],
        ref_template=_REF,
    )
    # msgspec cannot describe an untagged union of Structs, so the batch reply is spelt out.
    components["BatchReply"] = {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {"oneOf": [_ref("Accepted"), _ref("ErrorReply")]},
                "description": "One answer per item, in the order sent.",
            }
        },
        "required": ["messages"],
    }
    components["BatchRequest"] = {
        "type": "object",
        "properties": {
            "messages": {"type": "array", "items": _ref("SendRequest"), "maxItems": 1000}
        },
        "required": ["messages"],
    }
    send_body = {"oneOf": [_ref("SendRequest"), _ref("BatchRequest")]}
    page_params = [
        {"name": "after", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
    ]
    number_param = [
        {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    scope_param = {
        "name": "scope",
        "in": "query",
        "schema": {"type": "string", "enum": ["all", "key"]},
    }
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "smsgw", "version": __version__},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/messages": {
                "post": {
                    "summary": "Send one message, or a batch of up to 1,000",
                    "requestBody": _json(send_body, "A message, or {messages: [...]}"),
                    "responses": {
                        "202": _json(
                            {"oneOf": [_ref("Accepted"), _ref("BatchReply")]},
                            "Committed to disk.",
                        ),
                        "200": _json(_ref("Accepted"), "Same client_ref seen: the original."),
                        **_ERRORS,
                    },
                },
                "get": {
                    "summary": "List messages",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "client_ref", "in": "query", "schema": {"type": "string"}},
                        *page_params,
                    ],
                    "responses": {"200": _json(_ref("MessagePage"), "A page and a cursor.")},
                },
            },
            "/v1/messages/preview": {
                "post": {
                    "summary": "Encoding and part count of a text, without sending",
                    "requestBody": _json(_ref("PreviewRequest"), "The text."),
                    "responses": {"200": _json(_ref("PreviewReply"), "The plan."), **_ERRORS},
                }
            },
            "/v1/messages/{id}": {
                "get": {
                    "summary": "One message with parts and history",
                    "parameters": id_param,
                    "responses": {"200": _json(_ref("MessageView"), "The message.")},
                },
                "delete": {
                    "summary": "Cancel a message that has not left",
                    "parameters": id_param,
                    "responses": {
                        "200": {"description": "Cancelled."},
                        "409": _json(_ref("ErrorReply"), "Already left."),
                    },
                },
            },
            "/v1/optouts": {
                "get": {
                    "summary": "Opted-out numbers (JSON pages, or CSV with ?format=csv)",
                    "parameters": page_params,
                    "responses": {"200": {"description": "A page and a cursor, or CSV."}},
                },
                "post": {
                    "summary": "Opt a number out, or import a CSV list (Content-Type: text/csv)",
                    "requestBody": _json(_ref("OptoutBody"), "The number and scope."),
                    "responses": {
                        "201": {"description": "Opted out."},
                        "200": {"description": "Already out, or the CSV import's counts."},
                        **_ERRORS,
                    },
                },
            },
            "/v1/optouts/{number}": {
                "get": {
                    "summary": "Whether a number is opted out, with its audit trail",
                    "parameters": number_param,
                    "responses": {"200": {"description": "State and trail."}},
                },
                "delete": {
                    "summary": "Opt a number back in",
                    "parameters": [*number_param, scope_param],
                    "responses": {
                        "200": {"description": "Opted back in."},
                        "404": _json(_ref("ErrorReply"), "Not opted out."),
                    },
                },
            },
            "/v1/consents": {
                "post": {
                    "summary": "Record consent to marketing messages",
                    "requestBody": _json(_ref("ConsentBody"), "The evidence."),
                    "responses": {"201": {"description": "Recorded."}, **_ERRORS},
                }
            },
            "/v1/routes": {"get": {"summary": "Routes and their health", "responses": {}}},
            "/v1/inbound": {
                "get": {
                    "summary": "Inbound messages",
                    "parameters": page_params,
                    "responses": {"200": _json(_ref("InboundPage"), "A page and a cursor.")},
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {}}},
            "/readyz": {"get": {"summary": "Readiness", "security": [], "responses": {}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {}}},
            "/v1/openapi.json": {
                "get": {"summary": "This document", "security": [], "responses": {}}
            },
        },
    }
    for path in doc["paths"].values():  # type: ignore[attr-defined]
        for op in path.values():
            op["responses"].setdefault("default", {"description": "Error"})
    return msgspec.json.encode(doc)


def documented_operations() -> list[tuple[str, str, tuple[str, ...]]]:
    """(METHOD, path template, documented 2xx status codes) of every operation in the
    document; the path templates are the ``endpoint`` labels of the HTTP metrics."""
    doc = msgspec.json.decode(openapi_document())
    return [
        (method.upper(), path, tuple(c for c in op["responses"] if c.startswith("2")))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]
