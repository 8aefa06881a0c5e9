"""The OpenAPI paths of ``/v1/campaigns`` (merged into the document by
:mod:`smsgw.gateway.openapi`), built with the helpers of :mod:`smsgw.gateway.openapi_paths`."""

from __future__ import annotations

from typing import Any

from smsgw.gateway.openapi_paths import MAX_AFTER, Doc, _error, _int_query, _json, _responses, ref

__all__ = ["CAMPAIGN_CODES", "campaign_components", "campaign_paths"]

CAMPAIGN_CODES = (
    "invalid",
    "invalid_template",
    "invalid_variable",
    "no_route",
    "links_off",
)
"""The 422 codes of ``POST /v1/campaigns``."""


def campaign_components(components: dict[str, Any], routes: list[str]) -> None:
    """What the Structs cannot say: exactly one of the ways to give a text and the
    recipients, and the route names."""
    body = components["CampaignBody"]
    body["allOf"] = [
        {
            "oneOf": [
                {"required": ["template"]},
                {"required": ["text"]},
                {"required": ["variants"]},
            ]
        },
        {"oneOf": [{"required": ["segment"]}, {"required": ["recipients"]}]},
    ]
    components["VariantBody"]["oneOf"] = [{"required": ["template"]}, {"required": ["text"]}]
    route = body["properties"]["route"]
    for option in route.get("anyOf", [route]):
        if option.get("type") == "string":
            option["enum"] = routes


def campaign_paths() -> Doc:
    """``/v1/campaigns`` and below."""
    after = _int_query("after", 0, MAX_AFTER, "The `next` cursor of the previous page.")
    limit = _int_query("limit", 1, 1000, "Entries per page (100).")
    cid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    not_found = {"404": _error("No such campaign for this key.", ("not_found",))}
    state = {"409": _error("The campaign is in no state for this action.", ("campaign_state",))}
    out: Doc = {
        "/v1/campaigns": {
            "post": {
                "summary": "Create a campaign draft",
                "requestBody": {**_json(ref("CampaignBody"), "The draft."), "required": True},
                "responses": _responses(
                    {"201": _json(ref("CampaignView"), "Created, a draft.")},
                    body=CAMPAIGN_CODES,
                    more={
                        "404": _error(
                            "A template or segment the key does not have.",
                            ("unknown_template", "unknown_segment"),
                        )
                    },
                ),
            },
            "get": {
                "summary": "List the key's campaigns (every key's for an admin key)",
                "parameters": [after, limit],
                "responses": _responses(
                    {"200": _json(ref("CampaignPage"), "A page and a cursor.")},
                    query=("invalid",),
                ),
            },
        },
        "/v1/campaigns/{id}": {
            "get": {
                "summary": "One campaign, with its recipients by state once started",
                "parameters": [cid],
                "responses": _responses(
                    {"200": _json(ref("CampaignView"), "The campaign.")}, more=not_found
                ),
            }
        },
    }
    summaries = {
        "start": "Fix the recipients (a segment is evaluated now) and start sending",
        "pause": "Stop sending; messages not yet left are taken back until resume",
        "resume": "Go on sending a paused campaign",
        "cancel": "Stop for good; messages not yet left are cancelled",
    }
    for action, summary in summaries.items():
        more = {**not_found, **state}
        if action == "start":
            more["404"] = _error(
                "No such campaign for this key, or its segment is gone.",
                ("not_found", "unknown_segment"),
            )
        out[f"/v1/campaigns/{{id}}/{action}"] = {
            "post": {
                "summary": summary,
                "parameters": [cid],
                "responses": _responses(
                    {"200": _json(ref("CampaignView"), "The campaign now.")}, more=more
                ),
            }
        }
    return out
