"""The OpenAPI paths of ``/v1/events`` and ``/v1/flows`` (merged into the document by
:mod:`smsgw.gateway.openapi`), built with the helpers of :mod:`smsgw.gateway.openapi_paths`."""

from __future__ import annotations

from smsgw.config.schema import Config
from smsgw.gateway.openapi_paths import (
    MAX_AFTER,
    Doc,
    _error,
    _int_query,
    _json,
    _responses,
    ref,
)

__all__ = ["EVENT_CODES", "flow_paths"]

EVENT_CODES = (
    "invalid",
    "invalid_number",
    "not_mobile",
    "invalid_time",
    "at_in_future",
    "batch_too_large",
    "empty_batch",
)
"""The 422 codes of ``POST /v1/events``."""


def flow_paths(config: Config) -> Doc:
    """``/v1/events`` and ``/v1/flows`` and below."""
    after = _int_query("after", 0, MAX_AFTER, "The `next` cursor of the previous page.")
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    number = {
        "name": "number",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Only this number's runs.",
    }
    not_found = {"404": _error("No such flow for this key.", ("unknown_flow",))}
    batch = config.limits.max_batch
    return {
        "/v1/events": {
            "post": {
                "summary": f"Report an event, or a batch of up to {batch}",
                "description": "The event is recorded and, in the same commit, starts the"
                " key's flows it triggers and stops the number's runs of the flows it stops."
                ' A batch {"events": [...]} is answered per item.',
                "requestBody": {
                    **_json(
                        {"anyOf": [ref("EventBody"), ref("EventBatch")]},
                        "One event, or a batch.",
                    ),
                    "required": True,
                },
                "responses": _responses(
                    {
                        "202": _json(
                            {"anyOf": [ref("EventReply"), ref("EventsReply")]},
                            "Recorded: the runs started, stopped and skipped (per item).",
                        )
                    },
                    body=EVENT_CODES,
                ),
            }
        },
        "/v1/flows": {
            "get": {
                "summary": "The key's flows (from config) with their runs by state",
                "responses": _responses({"200": _json(ref("FlowList"), "The flows.")}),
            }
        },
        "/v1/flows/{name}": {
            "get": {
                "summary": "A flow's definition and per-step counts",
                "parameters": [name],
                "responses": _responses(
                    {"200": _json(ref("FlowDetail"), "The flow.")}, more=not_found
                ),
            }
        },
        "/v1/flows/{name}/runs": {
            "get": {
                "summary": "A flow's runs and each step's state",
                "parameters": [name, number, after, limit],
                "responses": _responses(
                    {"200": _json(ref("RunPage"), "A page and a cursor.")},
                    query=("invalid", "invalid_number", "not_mobile"),
                    more=not_found,
                ),
            }
        },
    }
